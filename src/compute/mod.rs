//! The compute contract: the only place that knows about devices.
//!
//! One Lloyd iteration is [`Resident::step`]: every row finds its nearest centroid (lowest index wins ties)
//! and the per-cluster sums, weights and SSE are accumulated into a [`Stats`]. Backends accumulate fixed-size
//! blocks of rows independently and merge the block results in block order, so the result does not depend on
//! the number of threads or on scheduling.

pub mod cpu;
pub mod gpu;
// The only module with `unsafe`: the SIMD kernels behind their instruction-set tokens.
#[allow(unsafe_code)]
pub mod kernel;
mod partial;
pub mod select;

pub use cpu::CpuBackend;
pub use gpu::{GpuBackend, GpuOptions};
pub use select::{DeviceChoice, select};

use crate::error::Result;

/// A borrowed view of the prepared data: `n` rows × `d` features, row-major, optional sample weights.
#[derive(Debug, Clone, Copy)]
pub struct Dataset<'a> {
    pub x: &'a [f32],
    pub n: usize,
    pub d: usize,
    pub weights: Option<&'a [f32]>,
}

impl<'a> Dataset<'a> {
    pub fn new(x: &'a [f32], d: usize, weights: Option<&'a [f32]>) -> Self {
        Dataset {
            x,
            n: x.len() / d.max(1),
            d,
            weights,
        }
    }
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }
    pub fn weight(&self, i: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[i] as f64)
    }
}

/// Mergeable per-cluster partial sums of one assignment pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub k: usize,
    pub d: usize,
    /// k × d weighted sums of the rows assigned to each cluster.
    pub sums: Vec<f64>,
    /// Per cluster: total weight (the row count when unweighted). (Inside the CPU backend, a block's
    /// moved-rows pass holds changes here and in `sums` instead: `kernel::assign`.)
    pub weights: Vec<f64>,
    /// Per cluster: Σ w·‖x − c‖² over its rows, computed from differences (not the expanded form).
    pub sse: Vec<f64>,
    /// Rows whose label differs from the previous pass (meaningless on the first pass of a restart).
    pub moved: u64,
}

impl Stats {
    pub fn zeros(k: usize, d: usize) -> Self {
        Stats {
            k,
            d,
            sums: vec![0.0; k * d],
            weights: vec![0.0; k],
            sse: vec![0.0; k],
            moved: 0,
        }
    }

    /// The weighted mean of each cluster; clusters without weight keep their row of `old` (k × d).
    pub fn means(&self, old: &[f32]) -> Vec<f32> {
        let d = self.d;
        let mut c = old.to_vec();
        for (j, &w) in self.weights.iter().enumerate() {
            if w > 0.0 {
                for (v, &s) in c[j * d..(j + 1) * d]
                    .iter_mut()
                    .zip(&self.sums[j * d..(j + 1) * d])
                {
                    *v = (s / w) as f32;
                }
            }
        }
        c
    }

    /// Σ over clusters (in cluster order) of the per-cluster SSE.
    pub fn total_sse(&self) -> f64 {
        self.sse.iter().sum()
    }

    /// Adds `other` into `self`. Callers merge in a fixed order, which makes the f64 result reproducible.
    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            *a += b;
        }
        for (a, b) in self.weights.iter_mut().zip(&other.weights) {
            *a += b;
        }
        for (a, b) in self.sse.iter_mut().zip(&other.sse) {
            *a += b;
        }
        self.moved += other.moved;
    }
}

/// Element-wise sum of per-block partial sums, in block order: the fixed merge that keeps parallel f64 sums
/// identical at any thread count.
pub fn sum_in_order(parts: &[Vec<f64>], len: usize) -> Vec<f64> {
    let mut total = vec![0.0f64; len];
    for p in parts {
        total.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    total
}

/// Labels and squared distances of the current assignment.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub labels: Vec<u32>,
    pub dist2: Vec<f32>,
}

/// Nearest and second-nearest centroid of every row: what `assign` reports and what a fit's final labels
/// are made of, so that assigning the training data reproduces them bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearest {
    pub labels: Vec<u32>,
    pub dist2: Vec<f32>,
    /// The nearest centroid other than `labels` (lowest index on ties); `u32::MAX` when k = 1.
    pub second: Vec<u32>,
    /// Squared distance to `second` (+∞ when k = 1).
    pub second_dist2: Vec<f32>,
}

impl Nearest {
    /// No rows.
    pub fn empty() -> Nearest {
        Nearest {
            labels: vec![],
            dist2: vec![],
            second: vec![],
            second_dist2: vec![],
        }
    }

    /// Euclidean distance of row `i` to its nearest centroid.
    pub fn distance(&self, i: usize) -> f32 {
        self.dist2[i].max(0.0).sqrt()
    }

    /// The second-nearest centroid of row `i` and the margin (its distance minus the nearest one's),
    /// None when there is a single centroid.
    pub fn second(&self, i: usize) -> Option<(u32, f32)> {
        (self.second[i] != u32::MAX).then(|| {
            (
                self.second[i],
                self.second_dist2[i].max(0.0).sqrt() - self.distance(i),
            )
        })
    }
}

/// A compute device. `load` makes the data resident (uploads it, for a GPU) for the duration of a fit.
pub trait Backend: Sync {
    /// Human-readable device name (for logs and summary.json).
    fn name(&self) -> String;
    fn load<'a>(&'a self, data: Dataset<'a>) -> Result<Box<dyn Resident + 'a>>;
}

/// A dataset resident on a backend, with the current labels.
pub trait Resident {
    /// One fused pass: assign every row to its nearest of the `k` centroids (row-major k × d),
    /// keep the labels, and return the accumulated statistics for that assignment.
    fn step(&mut self, centroids: &[f32], k: usize) -> Result<Stats>;
    /// Forget what earlier steps left for the next one (the CPU's running sums, to which a step adds
    /// only the moved rows' changes), so that the next step sums every row: a restart's result then does
    /// not depend on the restarts before it.
    fn restart(&mut self) {}
    /// Labels and squared distances from the last step.
    fn assignment(&mut self) -> Result<Assignment>;
    /// Nearest and second-nearest of the `k` centroids (row-major k × d) for every row, squared distances
    /// in the same exact form as `step` (lowest index wins ties). Leaves the step's labels alone.
    fn nearest(&mut self, centroids: &[f32], k: usize) -> Result<Nearest>;
    /// Nearest of the `k` centroids and the squared distance for every row: `nearest` without the
    /// second-nearest (the distance pass of k-means++ and k-means‖). Leaves the step's labels alone.
    fn closest(&mut self, centroids: &[f32], k: usize) -> Result<Assignment> {
        let n = self.nearest(centroids, k)?;
        Ok(Assignment {
            labels: n.labels,
            dist2: n.dist2,
        })
    }
    /// The k-means++ candidate pass: for each of the `m` candidates (row-major m × d), the weighted
    /// potential Σ_rows w·min(closest[row], ‖x − candidate‖²) if it were added. The default runs one
    /// `nearest` pass per candidate on the device and sums on the host over fixed row blocks in block
    /// order; backends with a fused kernel override it.
    fn potentials(&mut self, cands: &[f32], m: usize, closest: &[f32]) -> Result<Vec<f64>> {
        let d = cands.len() / m.max(1);
        let mut out = Vec::with_capacity(m);
        for c in cands.chunks_exact(d) {
            let near = self.closest(c, 1)?;
            let w = self.weights();
            let parts: Vec<f64> = (near
                .dist2
                .chunks(cpu::BLOCK_ROWS)
                .zip(closest.chunks(cpu::BLOCK_ROWS)))
            .enumerate()
            .map(|(b, (dd, cl))| {
                (dd.iter().zip(cl).enumerate())
                    .map(|(i, (&a, &c))| {
                        let wi = w.map_or(1.0, |w| w[b * cpu::BLOCK_ROWS + i] as f64);
                        wi * a.min(c) as f64
                    })
                    .sum::<f64>()
            })
            .collect();
            out.push(parts.iter().sum());
        }
        Ok(out)
    }
    /// The resident rows' sample weights, if any.
    fn weights(&self) -> Option<&[f32]>;
    /// This device's floor for one step with `k` centroids, ms, measured now: the larger of one streaming
    /// read of the resident data and the step's arithmetic at the device's multiply-add peak. None where
    /// there is no such floor (GPU data streamed from the host every step).
    fn floor_ms(&self, k: usize) -> Result<Option<f64>>;
}
