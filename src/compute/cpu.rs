//! The CPU backend: rayon over fixed-size row blocks, each accumulated sequentially in f64; block results
//! are merged in block order, so results are bit-identical at any thread count.

use rayon::prelude::*;

use super::{Assignment, Backend, Dataset, Resident, Stats};
use crate::error::Result;

/// Rows per block: the unit of parallel work and of the fixed merge order.
pub const BLOCK_ROWS: usize = 8_192;
/// Blocks whose partial statistics are held at once before merging (bounds memory at large k·d).
const BLOCKS_PER_GROUP: usize = 64;

#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn load<'a>(&'a self, data: Dataset<'a>) -> Result<Box<dyn Resident + 'a>> {
        Ok(Box::new(CpuResident {
            data,
            labels: vec![u32::MAX; data.n],
            dist2: vec![0.0; data.n],
        }))
    }
}

struct CpuResident<'a> {
    data: Dataset<'a>,
    labels: Vec<u32>,
    dist2: Vec<f32>,
}

/// ‖x − c‖² summed in feature order (k-means++ seeding; the step uses the blocked kernel below).
#[inline]
pub fn sq_dist(x: &[f32], c: &[f32]) -> f32 {
    x.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Centroids transposed to d × kp (kp = k rounded up to the lane block KB, padding = +∞ so padded lanes
/// never win). Distances to KB centroids are then computed side by side in SIMD lanes while each one is
/// still summed in feature order — the same arithmetic as `sq_dist`, so labels match it exactly.
struct Transposed {
    ct: Vec<f32>,
    kp: usize,
}

fn transpose(c: &[f32], k: usize, d: usize, kb: usize) -> Transposed {
    let kp = k.div_ceil(kb) * kb;
    let mut ct = vec![f32::INFINITY; d * kp];
    for (ci, row) in c.chunks_exact(d).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            ct[j * kp + ci] = v;
        }
    }
    Transposed { ct, kp }
}

#[inline]
fn nearest_blocked<const KB: usize>(x: &[f32], t: &Transposed) -> (u32, f32) {
    let mut best = f32::INFINITY;
    let mut arg = 0u32;
    for b in (0..t.kp).step_by(KB) {
        let mut acc = [0f32; KB];
        for (j, &xj) in x.iter().enumerate() {
            let lane: &[f32; KB] = t.ct[j * t.kp + b..j * t.kp + b + KB]
                .try_into()
                .expect("lane block");
            for c in 0..KB {
                let df = xj - lane[c];
                acc[c] += df * df;
            }
        }
        for (c, &v) in acc.iter().enumerate() {
            if v < best {
                best = v;
                arg = (b + c) as u32;
            }
        }
    }
    (arg, best)
}

/// Lane block for k centroids: wide enough to fill SIMD registers, narrow enough not to waste work.
fn lane_block(k: usize) -> usize {
    match k {
        0..=8 => 8,
        9..=16 => 16,
        _ => 32,
    }
}

impl CpuResident<'_> {
    fn block<const KB: usize>(
        &self,
        start: usize,
        labels: &mut [u32],
        dist2: &mut [f32],
        t: &Transposed,
        k: usize,
    ) -> Stats {
        let d = self.data.d;
        let mut s = Stats::zeros(k, d);
        for (i, (l, dd)) in labels.iter_mut().zip(dist2.iter_mut()).enumerate() {
            let row = start + i;
            let x = self.data.row(row);
            let (arg, dist) = nearest_blocked::<KB>(x, t);
            let w = self.data.weight(row);
            if *l != arg {
                s.moved += 1;
                *l = arg;
            }
            *dd = dist;
            let a = arg as usize;
            for (acc, &v) in s.sums[a * d..(a + 1) * d].iter_mut().zip(x) {
                *acc += w * v as f64;
            }
            s.weights[a] += w;
            s.sse += w * dist as f64;
        }
        s
    }

    fn block_any(
        &self,
        start: usize,
        labels: &mut [u32],
        dist2: &mut [f32],
        t: &Transposed,
        k: usize,
    ) -> Stats {
        match lane_block(k) {
            8 => self.block::<8>(start, labels, dist2, t, k),
            16 => self.block::<16>(start, labels, dist2, t, k),
            _ => self.block::<32>(start, labels, dist2, t, k),
        }
    }
}

impl Resident for CpuResident<'_> {
    fn step(&mut self, centroids: &[f32], k: usize) -> Result<Stats> {
        let d = self.data.d;
        let mut total = Stats::zeros(k, d);
        let n = self.data.n;
        let group = BLOCK_ROWS * BLOCKS_PER_GROUP;
        let t = transpose(centroids, k, d, lane_block(k));
        let mut labels = std::mem::take(&mut self.labels);
        let mut dist2 = std::mem::take(&mut self.dist2);
        for g in (0..n).step_by(group) {
            let end = (g + group).min(n);
            let this = &*self;
            let parts: Vec<Stats> = labels[g..end]
                .par_chunks_mut(BLOCK_ROWS)
                .zip(dist2[g..end].par_chunks_mut(BLOCK_ROWS))
                .enumerate()
                .map(|(b, (l, dd))| this.block_any(g + b * BLOCK_ROWS, l, dd, &t, k))
                .collect();
            for p in &parts {
                total.merge(p);
            }
        }
        self.labels = labels;
        self.dist2 = dist2;
        Ok(total)
    }

    fn assignment(&mut self) -> Result<Assignment> {
        Ok(Assignment {
            labels: self.labels.clone(),
            dist2: self.dist2.clone(),
        })
    }
}
