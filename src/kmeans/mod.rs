//! k-means, device-agnostic: validated configuration, initialisation, the Lloyd driver with restarts,
//! convergence and empty-cluster repair. All heavy passes go through a [`Backend`].

pub(crate) mod estimator;
pub mod init;
pub mod params;
pub mod quality;
pub(crate) mod sample;
pub(crate) mod sweep;
pub mod ward;

pub use params::{KMeans, KMeansConfig, KMeansParams};

use std::time::Instant;

use serde::Serialize;

use crate::compute::{Backend, Dataset, Nearest, Resident, Stats};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// How the initial centroids are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// Greedy k-means++ below [`AUTO_PARALLEL_ROWS`] rows, k-means‖ from there on.
    Auto,
    KMeansPlusPlus,
    KMeansParallel,
    Random,
    /// k × d centroids in the prepared space.
    Given(Vec<f32>),
}

/// From this many rows `Init::Auto` uses k-means‖: greedy k-means++ needs k·(2 + ln k) passes over the data
/// (at 5M rows that costs as much as dozens of Lloyd iterations), k-means‖ six, and on small inputs both are
/// fast, so there the classic method (and scikit-learn's results) is kept.
pub const AUTO_PARALLEL_ROWS: usize = 200_000;

impl std::fmt::Display for Init {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Init::Auto => "auto",
            Init::KMeansPlusPlus => "k-means++",
            Init::KMeansParallel => "k-means||",
            Init::Random => "random",
            Init::Given(_) => "given centroids",
        })
    }
}

impl Init {
    /// The method `Auto` stands for at `n` rows; other choices are returned as they are.
    pub fn resolve(self, n: usize) -> Init {
        match self {
            Init::Auto if n >= AUTO_PARALLEL_ROWS => Init::KMeansParallel,
            Init::Auto => Init::KMeansPlusPlus,
            other => other,
        }
    }
}

impl KMeansConfig {
    /// Checks the parameters against the data: enough (distinct) rows, init of the right shape, weights.
    fn validate(&self, ds: &Dataset) -> Result<()> {
        if ds.n < 2 {
            return Err(Error::input(format!(
                "the input has {} usable row(s); k-means needs at least 2 customers",
                ds.n
            )));
        }
        if let Init::Given(c) = &self.init
            && c.len() != self.k * ds.d
        {
            return Err(Error::param(
                "init",
                format!(
                    "gives {} values; k = {} centroids of {} features need {}",
                    c.len(),
                    self.k,
                    ds.d,
                    self.k * ds.d
                ),
            ));
        }
        if self.k > ds.n {
            return Err(Error::input(format!(
                "k = {} is larger than the number of rows ({})",
                self.k, ds.n
            )));
        }
        let distinct = init::distinct_rows_up_to(ds, self.k);
        if distinct < self.k {
            return Err(Error::input(format!(
                "k = {} is larger than the number of distinct rows ({distinct}); choose k <= {distinct}",
                self.k
            )));
        }
        if let Some(w) = ds.weights
            && !w.iter().any(|&v| v > 0.0)
        {
            return Err(Error::input("all sample weights are zero"));
        }
        Ok(())
    }
}

/// One restart's outcome (reported in summary.json).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RestartReport {
    pub restart: usize,
    pub iterations: usize,
    pub converged: bool,
    pub sse: f64,
    pub empty_clusters_repaired: usize,
    pub init_seconds: f64,
    pub iterate_seconds: f64,
}

/// The fitted model, segments renumbered by size (segment 0 is the largest).
#[derive(Debug, Clone)]
pub struct KMeansResult {
    pub k: usize,
    pub d: usize,
    /// k × d centroids in the prepared space.
    pub centroids: Vec<f32>,
    /// Nearest and second-nearest segment of every row for `centroids`, from [`Resident::nearest`]: the
    /// pass `assign` runs, so assigning the training rows gives these labels and distances bit for bit.
    pub nearest: Nearest,
    /// Per segment: Σ w·‖x − c‖² of the rows it holds (as the backend accumulated it).
    pub segment_sse: Vec<f64>,
    pub sse: f64,
    pub iterations: usize,
    pub converged: bool,
    pub best_restart: usize,
    pub restarts: Vec<RestartReport>,
    /// SSE after each iteration of the best restart (non-increasing).
    pub sse_history: Vec<f64>,
    pub init_seconds: f64,
    pub iterate_seconds: f64,
}

struct Run {
    centroids: Vec<f32>,
    sse: f64,
    segment_sse: Vec<f64>,
    iterations: usize,
    converged: bool,
    repaired: usize,
    history: Vec<f64>,
}

/// Mean over features of the (unweighted) feature variance, the scale of `tol`.
fn mean_variance(ds: &Dataset) -> f64 {
    let (n, d) = (ds.n as f64, ds.d);
    let mut mean = vec![0.0f64; d];
    for i in 0..ds.n {
        for (m, &v) in mean.iter_mut().zip(ds.row(i)) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = 0.0;
    for i in 0..ds.n {
        for (m, &v) in mean.iter().zip(ds.row(i)) {
            var += (v as f64 - m).powi(2);
        }
    }
    var / n / d as f64
}

/// New centroids from the statistics of an assignment; empty clusters take the rows farthest from their
/// centroids (scikit-learn's relocation), moving those rows' mass out of their old clusters.
fn update(
    stats: &mut Stats,
    old: &[f32],
    res: &mut dyn Resident,
    ds: &Dataset,
) -> Result<(Vec<f32>, usize)> {
    let (k, d) = (stats.k, stats.d);
    let empty: Vec<usize> = (0..k).filter(|&c| stats.weights[c] <= 0.0).collect();
    if !empty.is_empty() {
        let a = res.assignment()?;
        // The len(empty) largest distances, ties broken by lower row index.
        let mut order: Vec<usize> = (0..ds.n).collect();
        let m = empty.len().min(ds.n);
        let cmp = |&i: &usize, &j: &usize| a.dist2[j].total_cmp(&a.dist2[i]).then(i.cmp(&j));
        order.select_nth_unstable_by(m - 1, cmp);
        order.truncate(m);
        order.sort_by(cmp);
        for (&c, &row) in empty.iter().zip(&order) {
            let (x, w) = (ds.row(row), ds.weight(row).max(f64::MIN_POSITIVE));
            let from = a.labels[row] as usize;
            for (j, &v) in x.iter().enumerate() {
                stats.sums[from * d + j] -= w * v as f64;
                stats.sums[c * d + j] = w * v as f64;
            }
            stats.weights[from] -= w;
            stats.weights[c] = w;
        }
    }
    let c = stats.means(old);
    Ok((c, empty.len()))
}

fn lloyd(
    res: &mut dyn Resident,
    ds: &Dataset,
    init: Vec<f32>,
    cfg: &KMeansConfig,
    tol_abs: f64,
    progress: (&Progress, &str),
) -> Result<Run> {
    let (k, d) = (cfg.k, ds.d);
    let mut c = init;
    let mut history = Vec::new();
    let mut repaired = 0;
    let mut converged = false;
    let mut strict = false;
    let mut iterations = 0;
    let mut stats = Stats::zeros(k, d);
    res.restart();
    for it in 0..cfg.max_iter {
        stats = res.step(&c, k)?;
        iterations = it + 1;
        progress
            .0
            .message(format!("{} · iteration {iterations}", progress.1));
        history.push(stats.total_sse());
        if it > 0 && stats.moved == 0 {
            // Same labels as the previous pass: `c` is already their mean.
            converged = true;
            strict = true;
            break;
        }
        let (next, fixed) = update(&mut stats, &c, res, ds)?;
        repaired += fixed;
        let shift: f64 = next
            .iter()
            .zip(&c)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum();
        c = next;
        if shift <= tol_abs {
            converged = true;
            break;
        }
    }
    if !strict {
        // Labels and SSE for the final centroids.
        stats = res.step(&c, k)?;
        history.push(stats.total_sse());
    }
    Ok(Run {
        centroids: c,
        sse: stats.total_sse(),
        segment_sse: stats.sse,
        iterations,
        converged,
        repaired,
        history,
    })
}

/// Fits k-means on `ds` with `backend`: `n_init` restarts, the lowest SSE wins (earliest on ties).
pub fn fit(backend: &dyn Backend, ds: &Dataset, cfg: &KMeansConfig) -> Result<KMeansResult> {
    let mut res = backend.load(*ds)?;
    fit_resident(backend, res.as_mut(), ds, cfg, &Progress::hidden())
}

/// [`fit`] on data already resident on `backend` (a sweep fits every k on one upload); `progress`
/// advances by one per restart.
pub fn fit_resident(
    backend: &dyn Backend,
    res: &mut dyn crate::compute::Resident,
    ds: &Dataset,
    cfg: &KMeansConfig,
    progress: &Progress,
) -> Result<KMeansResult> {
    cfg.validate(ds)?;
    let tol_abs = cfg.tol * mean_variance(ds);
    let n_init = cfg.restarts();
    let init = cfg.init.clone().resolve(ds.n);
    let mut best: Option<(usize, Run)> = None;
    let mut reports = Vec::new();
    let (mut init_s, mut iter_s) = (0.0, 0.0);
    for r in 0..n_init {
        let t0 = Instant::now();
        let mut rng = init::restart_rng(cfg.seed, r);
        let c0 = match &init {
            Init::Auto | Init::KMeansPlusPlus => init::kmeans_plus_plus(res, ds, cfg.k, &mut rng)?,
            Init::KMeansParallel => init::kmeans_parallel(backend, res, ds, cfg.k, &mut rng)?,
            Init::Random => init::random_rows(ds, cfg.k, &mut rng),
            Init::Given(c) => c.clone(),
        };
        let t1 = Instant::now();
        let what = format!("k={} restart {}/{n_init}", cfg.k, r + 1);
        let run = lloyd(res, ds, c0, cfg, tol_abs, (progress, &what))?;
        progress.inc();
        let t2 = Instant::now();
        init_s += (t1 - t0).as_secs_f64();
        iter_s += (t2 - t1).as_secs_f64();
        reports.push(RestartReport {
            restart: r,
            iterations: run.iterations,
            converged: run.converged,
            sse: run.sse,
            empty_clusters_repaired: run.repaired,
            init_seconds: (t1 - t0).as_secs_f64(),
            iterate_seconds: (t2 - t1).as_secs_f64(),
        });
        if best.as_ref().is_none_or(|(_, b)| run.sse < b.sse) {
            best = Some((r, run));
        }
    }
    let (best_restart, run) = best.expect("n_init >= 1");
    // Segment sizes for the renumbering: one distance pass on the best restart's centroids.
    let order = size_order(&res.closest(&run.centroids, cfg.k)?.labels, cfg.k);
    let d = ds.d;
    let centroids: Vec<f32> = order
        .iter()
        .flat_map(|&old| run.centroids[old * d..(old + 1) * d].to_vec())
        .collect();
    // The final labels come from the same pass `assign` runs, on the renumbered centroids.
    let nearest = res.nearest(&centroids, cfg.k)?;
    Ok(KMeansResult {
        k: cfg.k,
        d,
        centroids,
        nearest,
        segment_sse: order.iter().map(|&old| run.segment_sse[old]).collect(),
        sse: run.sse,
        iterations: run.iterations,
        converged: run.converged,
        best_restart,
        restarts: reports,
        sse_history: run.history,
        init_seconds: init_s,
        iterate_seconds: iter_s,
    })
}

/// Old cluster indices ordered by row count, largest first (ties keep centroid order): position = new id,
/// so segment 0 is the largest.
pub(crate) fn size_order(labels: &[u32], k: usize) -> Vec<usize> {
    let mut counts = vec![0u64; k];
    for &l in labels {
        counts[l as usize] += 1;
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    order
}
