//! The CPU backend: rayon over fixed-size row blocks, each accumulated sequentially in f64; block results
//! are merged in block order, so results are bit-identical at any thread count.

use rayon::prelude::*;

use super::kernel::{self, Isa, NearestRows, Transposed};
use super::{Assignment, Backend, Dataset, Nearest, Resident, Stats};
use crate::error::Result;

/// Rows per block: the unit of parallel work and of the fixed merge order.
pub const BLOCK_ROWS: usize = 8_192;
/// Blocks whose partial statistics are held at once before merging (bounds memory at large k·d).
const BLOCKS_PER_GROUP: usize = 64;

/// The CPU backend with the kernels of one instruction set (`default()`: the best this CPU has).
#[derive(Debug, Clone, Copy)]
pub struct CpuBackend {
    isa: Isa,
}

impl Default for CpuBackend {
    fn default() -> Self {
        CpuBackend { isa: Isa::detect() }
    }
}

impl CpuBackend {
    /// A backend forced to `isa` (tests run the portable kernels on AVX2 machines too).
    pub fn new(isa: Isa) -> Self {
        CpuBackend { isa }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!(
            "cpu ({} threads, {})",
            rayon::current_num_threads(),
            self.isa.name()
        )
    }

    fn load<'a>(&'a self, data: Dataset<'a>) -> Result<Box<dyn Resident + 'a>> {
        Ok(Box::new(CpuResident {
            data,
            isa: self.isa,
            labels: vec![u32::MAX; data.n],
            last: None,
            running: None,
        }))
    }
}

impl CpuResident<'_> {
    /// Nearest centroid and squared distance of every row (the vectorised argmin), in parallel blocks.
    fn closest_t(&self, t: &Transposed) -> Assignment {
        let (n, d) = (self.data.n, self.data.d);
        let (mut labels, mut dist2) = (vec![0u32; n], vec![0f32; n]);
        labels
            .par_chunks_mut(BLOCK_ROWS)
            .zip(dist2.par_chunks_mut(BLOCK_ROWS))
            .enumerate()
            .for_each(|(b, (l, dd))| {
                let x = &self.data.x[b * BLOCK_ROWS * d..(b * BLOCK_ROWS + l.len()) * d];
                kernel::nearest(self.isa, x, t, l, dd);
            });
        Assignment { labels, dist2 }
    }
}

struct CpuResident<'a> {
    data: Dataset<'a>,
    isa: Isa,
    labels: Vec<u32>,
    /// The centroids of the last step: `assignment` recomputes the distances from them.
    last: Option<Transposed>,
    /// k, the k × d sums and the k weights of the last step's assignment: the next step with the same k
    /// adds to the sums (and to unweighted counts) only what the rows that changed cluster move.
    running: Option<(usize, Vec<f64>, Vec<f64>)>,
}

impl Resident for CpuResident<'_> {
    fn step(&mut self, centroids: &[f32], k: usize) -> Result<Stats> {
        let d = self.data.d;
        let mut total = Stats::zeros(k, d);
        let n = self.data.n;
        let group = BLOCK_ROWS * BLOCKS_PER_GROUP;
        let t = Transposed::new(self.isa, centroids, k, d);
        let mut labels = std::mem::take(&mut self.labels);
        let running = self.running.take().filter(|(rk, ..)| *rk == k);
        let moves = running.is_some();
        for g in (0..n).step_by(group) {
            let end = (g + group).min(n);
            let this = &*self;
            let parts: Vec<Stats> = labels[g..end]
                .par_chunks_mut(BLOCK_ROWS)
                .enumerate()
                .map(|(b, l)| {
                    let start = g + b * BLOCK_ROWS;
                    let x = &this.data.x[start * d..(start + l.len()) * d];
                    let w = this.data.weights.map(|w| &w[start..start + l.len()]);
                    let mut s = Stats::zeros(k, d);
                    kernel::assign(this.isa, x, w, &t, l, &mut s, moves);
                    s
                })
                .collect();
            for p in &parts {
                total.merge(p);
            }
        }
        self.labels = labels;
        self.last = Some(t);
        if let Some((_, mut sums, mut counts)) = running {
            // The blocks' changes were merged in block order: the same totals at any thread count.
            for (a, &b) in sums.iter_mut().zip(&total.sums) {
                *a += b;
            }
            if self.data.weights.is_none() {
                // Changes of whole counts: exact.
                for (a, &b) in counts.iter_mut().zip(&total.weights) {
                    *a += b;
                }
                total.weights = counts;
            }
            // An emptied cluster's sums are exactly zero, not what the cancellations left.
            for (c, &wt) in total.weights.iter().enumerate() {
                if wt == 0.0 {
                    sums[c * d..(c + 1) * d].fill(0.0);
                }
            }
            total.sums = sums;
        }
        self.running = Some((k, total.sums.clone(), total.weights.clone()));
        Ok(total)
    }

    fn restart(&mut self) {
        self.running = None;
    }

    fn assignment(&mut self) -> Result<Assignment> {
        let Some(t) = self.last.take() else {
            return Ok(Assignment {
                labels: self.labels.clone(),
                dist2: vec![0.0; self.data.n],
            });
        };
        // The same kernel on the same tiles as the last step: the same labels and distances, bit for bit.
        let a = self.closest_t(&t);
        self.last = Some(t);
        assert!(
            a.labels == self.labels,
            "CPU kernels disagree with their last step"
        );
        Ok(a)
    }

    fn closest(&mut self, centroids: &[f32], k: usize) -> Result<Assignment> {
        Ok(self.closest_t(&Transposed::new(self.isa, centroids, k, self.data.d)))
    }

    fn nearest(&mut self, centroids: &[f32], k: usize) -> Result<Nearest> {
        let (n, d) = (self.data.n, self.data.d);
        let t = Transposed::new(self.isa, centroids, k, d);
        let mut out = Nearest {
            labels: vec![0; n],
            dist2: vec![0.0; n],
            second: vec![0; n],
            second_dist2: vec![0.0; n],
        };
        out.labels
            .par_chunks_mut(BLOCK_ROWS)
            .zip(out.dist2.par_chunks_mut(BLOCK_ROWS))
            .zip(out.second.par_chunks_mut(BLOCK_ROWS))
            .zip(out.second_dist2.par_chunks_mut(BLOCK_ROWS))
            .enumerate()
            .for_each(|(b, (((labels, dist2), second), second_dist2))| {
                let first = b * BLOCK_ROWS;
                let x = &self.data.x[first * d..(first + labels.len()) * d];
                let mut rows = NearestRows {
                    labels,
                    dist2,
                    second,
                    second_dist2,
                };
                kernel::nearest2(self.isa, x, &t, &mut rows);
            });
        Ok(out)
    }

    /// All candidates in one fused pass per block (`kernel::potential`), blocks merged in order.
    fn potentials(&mut self, cands: &[f32], m: usize, closest: &[f32]) -> Result<Vec<f64>> {
        let d = self.data.d;
        let t = Transposed::new(self.isa, cands, m, d);
        let parts: Vec<Vec<f64>> = closest
            .par_chunks(BLOCK_ROWS)
            .enumerate()
            .map(|(b, cl)| {
                let start = b * BLOCK_ROWS;
                let x = &self.data.x[start * d..(start + cl.len()) * d];
                let w = self.data.weights.map(|w| &w[start..start + cl.len()]);
                let mut p = vec![0.0f64; m];
                kernel::potential(self.isa, x, &t, cl, w, &mut p);
                p
            })
            .collect();
        Ok(super::sum_in_order(&parts, m))
    }

    fn weights(&self) -> Option<&[f32]> {
        self.data.weights
    }

    /// 2·n·d·k flops at the multiply-add peak: the exact form's subtracts run on separate adders.
    fn floor_ms(&self, k: usize) -> Result<Option<f64>> {
        let x = self.data.x;
        let read = (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box(kernel::stream_sum(x));
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let flops = 2.0 * (x.len() * k) as f64 / (kernel::peak_gflops(self.isa) * 1e9);
        Ok(Some(1e3 * read.max(flops)))
    }
}
