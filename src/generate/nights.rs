//! Consecutive nights of the same customers, for testing the lifecycle against known truth.
//!
//! Night 0 has `clusters` well-separated clusters (centres at least 6 latent units apart, spread 0.5).
//! Each customer keeps an id and a personal offset from its cluster's centre on every night, plus a small
//! nightly jitter (0.05). Night t applies the first t events of the scenario list in turn:
//! - `stable`: nothing changes;
//! - `grow`: the smallest cluster gains 20 % new customers (new ids);
//! - `shrink`: 30 % of the largest cluster's customers leave;
//! - `split`: the largest cluster splits in two halves 5 units apart (one more cluster);
//! - `merge`: the two closest clusters merge at their midpoint (one cluster fewer);
//! - `emerge`: a new cluster of new customers appears, as large as the average cluster;
//! - `shift`: every customer's first feature moves by +3 latent units (memberships unchanged).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::Schema;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::{BATCH, render, schema};
use crate::data::sink::replace_file;
use crate::data::write::ParquetSink;
use crate::error::{Error, Result};

/// One night-to-night event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Stable,
    Grow,
    Shrink,
    Split,
    Merge,
    Emerge,
    Shift,
}

text_enum!(Scenario {
    Stable => "stable",
    Grow => "grow",
    Shrink => "shrink",
    Split => "split",
    Merge => "merge",
    Emerge => "emerge",
    Shift => "shift",
});

const SPREAD: f64 = 0.5;
const JITTER: f64 = 0.05;
const MIN_GAP: f64 = 6.0;

/// The population on one night.
struct World {
    d: usize,
    /// Cluster centres in the latent space (a merged-away cluster keeps its slot, unused).
    centres: Vec<Vec<f64>>,
    /// (id, cluster) of every customer, ids ascending.
    customers: Vec<(i64, usize)>,
    next_id: i64,
    /// Added to every customer's latent first feature (the `shift` event).
    shift: f64,
    rng: ChaCha8Rng,
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

impl World {
    fn new(rows: usize, d: usize, k: usize, seed: u64) -> Result<World> {
        let mut w = World {
            d,
            centres: Vec::new(),
            customers: Vec::new(),
            next_id: 1,
            shift: 0.0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6e69_6768_7473),
        };
        for _ in 0..k {
            let c = w.free_centre()?;
            w.centres.push(c);
        }
        let weights: Vec<f64> = (0..k).map(|_| 0.5 + w.rng.random::<f64>()).collect();
        let total: f64 = weights.iter().sum();
        let mut assigned = 0;
        for (c, wt) in weights.iter().enumerate() {
            let n = if c + 1 == k {
                rows - assigned
            } else {
                ((rows as f64 * wt / total) as usize).min(rows - assigned)
            };
            w.add(c, n);
            assigned += n;
        }
        // Interleave clusters in id order, as a real export would.
        let mut order: Vec<usize> = w.customers.iter().map(|c| c.1).collect();
        for i in (1..order.len()).rev() {
            let j = w.rng.random_range(0..=i);
            order.swap(i, j);
        }
        for (c, &cl) in w.customers.iter_mut().zip(&order) {
            c.1 = cl;
        }
        Ok(w)
    }

    /// A centre at least MIN_GAP from every live cluster.
    fn free_centre(&mut self) -> Result<Vec<f64>> {
        let live = self.live();
        for _ in 0..10_000 {
            let c: Vec<f64> = (0..self.d)
                .map(|_| self.rng.random_range(-6.0..6.0))
                .collect();
            if live.iter().all(|&l| dist(&c, &self.centres[l]) >= MIN_GAP) {
                return Ok(c);
            }
        }
        Err(Error::usage(format!(
            "cannot place that many well-separated clusters in {} features: use more --features",
            self.d
        )))
    }

    fn add(&mut self, cluster: usize, n: usize) {
        for _ in 0..n {
            self.customers.push((self.next_id, cluster));
            self.next_id += 1;
        }
    }

    fn sizes(&self) -> Vec<usize> {
        let mut s = vec![0; self.centres.len()];
        for c in &self.customers {
            s[c.1] += 1;
        }
        s
    }

    fn live(&self) -> Vec<usize> {
        let s = self.sizes();
        (0..self.centres.len()).filter(|&c| s[c] > 0).collect()
    }

    fn largest(&self) -> usize {
        let s = self.sizes();
        (0..s.len())
            .max_by_key(|&c| (s[c], usize::MAX - c))
            .expect("a cluster")
    }

    /// Applies one event; returns what happened, in words.
    fn apply(&mut self, e: Scenario) -> Result<String> {
        Ok(match e {
            Scenario::Stable => "stable".into(),
            Scenario::Grow => {
                let s = self.sizes();
                let live = self.live();
                let c = *live.iter().min_by_key(|&&c| (s[c], c)).expect("a cluster");
                let n = s[c] / 5;
                self.add(c, n);
                format!("cluster {c} grew by {n} new customers")
            }
            Scenario::Shrink => {
                let c = self.largest();
                let mut k = 0;
                self.customers.retain(|x| {
                    k += usize::from(x.1 == c);
                    x.1 != c || k % 10 >= 3
                });
                format!("30% of cluster {c} left")
            }
            Scenario::Split => {
                let c = self.largest();
                let old = self.centres[c].clone();
                // Try directions until both halves sit MIN_GAP from every other cluster.
                let others: Vec<usize> = self.live().into_iter().filter(|&l| l != c).collect();
                let mut found = None;
                for _ in 0..10_000 {
                    let u: Vec<f64> = (0..self.d)
                        .map(|_| self.rng.sample(StandardNormal))
                        .collect();
                    let norm = u.iter().map(|v: &f64| v * v).sum::<f64>().sqrt();
                    let a: Vec<f64> = old
                        .iter()
                        .zip(&u)
                        .map(|(o, v)| o - 2.5 * v / norm)
                        .collect();
                    let b: Vec<f64> = old
                        .iter()
                        .zip(&u)
                        .map(|(o, v)| o + 2.5 * v / norm)
                        .collect();
                    let clear =
                        |p: &Vec<f64>| others.iter().all(|&l| dist(p, &self.centres[l]) >= MIN_GAP);
                    if clear(&a) && clear(&b) {
                        found = Some((a, b));
                        break;
                    }
                }
                let (a, b) = found.ok_or_else(|| {
                    Error::usage("no room to split a cluster: use more --features")
                })?;
                self.centres[c] = a;
                self.centres.push(b);
                let new = self.centres.len() - 1;
                let mut k = 0;
                for x in self.customers.iter_mut().filter(|x| x.1 == c) {
                    k += 1;
                    if k % 2 == 0 {
                        x.1 = new;
                    }
                }
                format!("cluster {c} split into {c} and {new}")
            }
            Scenario::Merge => {
                let live = self.live();
                let (mut best, mut pair) = (f64::INFINITY, (0, 0));
                for (i, &a) in live.iter().enumerate() {
                    for &b in &live[i + 1..] {
                        let dd = dist(&self.centres[a], &self.centres[b]);
                        if dd < best {
                            (best, pair) = (dd, (a, b));
                        }
                    }
                }
                let (a, b) = pair;
                if a == b {
                    return Err(Error::usage("merge needs two clusters"));
                }
                self.centres[a] = (self.centres[a].iter().zip(&self.centres[b]))
                    .map(|(x, y)| (x + y) / 2.0)
                    .collect();
                for x in self.customers.iter_mut().filter(|x| x.1 == b) {
                    x.1 = a;
                }
                format!("clusters {a} and {b} merged into {a}")
            }
            Scenario::Emerge => {
                let c = self.free_centre()?;
                self.centres.push(c);
                let n = self.customers.len() / self.live().len();
                let new = self.centres.len() - 1;
                self.add(new, n);
                format!("cluster {new} emerged with {n} new customers")
            }
            Scenario::Shift => {
                self.shift += 3.0;
                "the first feature shifted by +3".into()
            }
        })
    }
}

/// A customer's latent point on `night`: its cluster centre, its own offset (the same every night) and
/// the night's jitter.
fn latent(w: &World, seed: u64, night: u64, id: i64, cluster: usize, out: &mut [f64]) {
    let mut own = ChaCha8Rng::seed_from_u64(seed);
    own.set_stream(id as u64);
    let mut jitter = ChaCha8Rng::seed_from_u64(seed ^ night.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    jitter.set_stream(id as u64);
    for (j, o) in out.iter_mut().enumerate() {
        let e: f64 = own.sample(StandardNormal);
        let n: f64 = jitter.sample(StandardNormal);
        *o = w.centres[cluster][j] + SPREAD * e + JITTER * n + if j == 0 { w.shift } else { 0.0 };
    }
}

fn batch(
    w: &World,
    schema: &Arc<Schema>,
    seed: u64,
    night: u64,
    rows: &[(i64, usize)],
) -> RecordBatch {
    let d = w.d;
    let mut z = vec![0f64; rows.len() * d];
    for (r, &(id, c)) in rows.iter().enumerate() {
        latent(w, seed, night, id, c, &mut z[r * d..(r + 1) * d]);
    }
    let ids = Int64Array::from_iter_values(rows.iter().map(|r| r.0));
    // Narrower money and higher counts than the base table: the clusters' latent range is wider.
    render(schema, ids, &z, d, (8.0, 0.35), 12.0)
}

/// Writes night `night` of the scenario list `events` (night t applies events[0..t]) to `out`; returns
/// what each applied event did, in words.
pub fn generate_night(
    out: &Path,
    rows: usize,
    d: usize,
    k: usize,
    seed: u64,
    night: usize,
    events: &[Scenario],
) -> Result<Vec<String>> {
    if rows == 0 || d == 0 || k == 0 || k > rows {
        return Err(Error::usage(
            "--rows, --features and --clusters must be at least 1, and --clusters at most --rows",
        ));
    }
    if night > events.len() {
        return Err(Error::usage(format!(
            "--night {night} needs {night} events in --scenarios (it has {})",
            events.len()
        )));
    }
    let mut w = World::new(rows, d, k, seed)?;
    let mut said = Vec::new();
    for (t, &e) in events[..night].iter().enumerate() {
        said.push(format!("night {}: {}", t + 1, w.apply(e)?));
    }
    let schema = schema(d);
    replace_file(out, |tmp| {
        let mut sink = ParquetSink::create(tmp.to_path_buf(), schema.clone())?;
        for group in w
            .customers
            .chunks(BATCH * rayon::current_num_threads().max(1) * 2)
        {
            let batches: Vec<RecordBatch> = group
                .par_chunks(BATCH)
                .map(|rows| batch(&w, &schema, seed, night as u64, rows))
                .collect();
            for b in &batches {
                sink.write(b)?;
            }
        }
        sink.finish()
    })?;
    Ok(said)
}
