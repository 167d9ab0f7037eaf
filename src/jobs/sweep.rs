//! `strata sweep`: how many segments? The input is read and prepared once and made resident on the device
//! once; every k of the range is fitted on it. Per k: SSE, Calinski–Harabasz and Davies–Bouldin on all
//! rows, and the silhouette on one uniform sample of rows (the same for every k, all of them in one pass
//! over its pairs after the fits). The elbow (Kneedle) and a recommendation close the sweep.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, UInt64Array};
use arrow_schema::{DataType, Field};

use crate::progress::Progress;

use super::PhaseSeconds;
use super::fit::{
    Checked, FitOptions, build_model, kmeans_params, open_input, summary as fit_summary, write_fit,
};
use super::run::{Run, timed};
use crate::compute::Dataset;
use crate::compute::select::Selected;
use crate::data::sink::OutputSet;
use crate::data::write::write_columns;
use crate::error::{Error, Result};
use crate::kmeans::quality::{calinski_harabasz, davies_bouldin, silhouettes};
use crate::kmeans::sweep::{Point, kneedle, recommend};
use crate::kmeans::{Init, KMeansResult, fit_resident};
use crate::output::schema::{self, Versioned};
pub use crate::output::schema::{SweepRow, SweepSeconds, SweepSummary};
use crate::pipeline::{self, Prepared};

/// Rows in the silhouette's sample by default.
pub const SILHOUETTE_SAMPLE: usize = 20_000;

/// Everything `strata sweep` needs: the fit's input and preparation options (`k` and `init` unused).
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub fit: FitOptions,
    /// The k to fit, increasing, each at least 2.
    pub ks: Vec<usize>,
    /// Rows in the silhouette's sample (all rows when there are fewer).
    pub silhouette_sample: usize,
    /// Also write the recommended k's fit outputs (labels, segments, profiles, model, summary.json).
    pub fit_best: bool,
}

impl SweepOptions {
    /// Every k's fit options and the sample size, checked before any work.
    pub fn check(self) -> Result<Checked<SweepOptions>> {
        Checked::new(self, |o| {
            for &k in &o.ks {
                with_k(&o.fit, k).check()?;
            }
            if o.silhouette_sample < 2 {
                return Err(Error::usage("`silhouette_sample` must be at least 2"));
            }
            Ok(())
        })
    }
}

/// The rule, as written in sweep.json and the README.
pub const RULE: &str = "each criterion votes for one k: the highest silhouette, the elbow of the SSE curve \
(Kneedle), the lowest Davies-Bouldin, the highest Calinski-Harabasz; the k with the most votes wins, a tie \
going to the silhouette's k if tied, else to the smallest tied k";

/// The most k values one sweep fits (each is a whole k-means fit).
pub const MAX_KS: usize = 256;

/// Parses "2..12" (inclusive), "2..=12" or "2,3,5" into increasing k values, each at least 2.
pub fn parse_ks(s: &str) -> std::result::Result<Vec<usize>, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|e| format!("'{t}' in --k {s}: {e}"))
    };
    let mut ks: Vec<usize> = if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
        // Counted before anything is allocated: 2..4000000000 would ask for gigabytes.
        if b >= a && b - a >= MAX_KS {
            return Err(format!(
                "--k {s}: {} values; a sweep tries at most {MAX_KS} values of k (e.g. 2..30)",
                (b - a).saturating_add(1)
            ));
        }
        (a..=b).collect()
    } else {
        s.split(',')
            .map(num)
            .collect::<std::result::Result<_, _>>()?
    };
    ks.sort_unstable();
    ks.dedup();
    if ks.len() > MAX_KS {
        return Err(format!(
            "--k {s}: {} values; a sweep tries at most {MAX_KS} values of k",
            ks.len()
        ));
    }
    if ks.len() < 2 || ks[0] < 2 {
        return Err(format!(
            "--k {s}: give at least two values, each at least 2 (e.g. 2..12)"
        ));
    }
    Ok(ks)
}

/// What the device pass returns per k.
struct Fitted {
    row: SweepRow,
    /// The segment of each silhouette-sample row.
    sample_labels: Vec<u32>,
    /// The whole fit, kept with `--fit-best` (the recommendation is known only after the silhouettes).
    fit: Option<KMeansResult>,
}

/// The fit options `f` for `k` segments.
fn with_k(f: &FitOptions, k: usize) -> FitOptions {
    let mut o = f.clone();
    o.kmeans.k = k;
    o
}

/// Fits every k of the sweep on one load of the matrix (rerun on the CPU if the GPU fails); `rows` is the
/// silhouette's sample, whose labels each fit keeps.
fn fit_every_k(
    opts: &SweepOptions,
    p: &Prepared,
    rows: &[usize],
    run: &mut Run,
) -> Result<Vec<Fitted>> {
    let log = run.log;
    let (f, m) = (&opts.fit, &p.matrix);
    let ds = Dataset::new(&m.data, m.d, p.loaded.weights.as_deref());
    let restarts = kmeans_params(f, Init::Auto).check()?.restarts();
    let bar = Progress::new(
        (opts.ks.len() * restarts) as u64,
        "sweep",
        opts.fit.output.progress,
    );
    let fit_k =
        |b: &dyn crate::compute::Backend, res: &mut dyn crate::compute::Resident, k: usize| {
            let t = Instant::now();
            let cfg = kmeans_params(&with_k(f, k), Init::Auto).check()?;
            let fit = fit_resident(b, res, &ds, &cfg, &bar)?;
            let labels = &fit.nearest.labels;
            let point = Point {
                k,
                sse: fit.sse,
                calinski_harabasz: calinski_harabasz(&m.data, m.d, labels, k),
                davies_bouldin: davies_bouldin(&m.data, m.d, labels, k),
                silhouette: f64::NAN,
            };
            let seconds = t.elapsed().as_secs_f64();
            let msg = format!(
                "k={k}: SSE {:.4}, {} iterations, {seconds:.2}s",
                fit.sse, fit.iterations
            );
            bar.suspend(|| log(&msg));
            Ok(Fitted {
                row: SweepRow {
                    point,
                    iterations: fit.iterations,
                    converged: fit.converged,
                    seconds,
                },
                sample_labels: rows.iter().map(|&r| labels[r]).collect(),
                fit: opts.fit_best.then_some(fit),
            })
        };
    let on = run.on_device(&|m: &str| bar.suspend(|| log(m)), |b| {
        let mut res = b.load(ds)?;
        (opts.ks.iter())
            .map(|&k| fit_k(b, res.as_mut(), k))
            .collect::<Result<Vec<Fitted>>>()
    });
    bar.finish();
    on
}

/// Each k's silhouette on the sample `rows`, written into its row; the rows and the fits kept.
fn with_silhouettes(
    fitted: Vec<Fitted>,
    p: &Prepared,
    rows: &[usize],
) -> (Vec<SweepRow>, Vec<Option<KMeansResult>>) {
    let m = &p.matrix;
    let x: Vec<f32> = rows
        .iter()
        .flat_map(|&r| m.data[r * m.d..(r + 1) * m.d].iter().copied())
        .collect();
    let labelings: Vec<(&[u32], usize)> = (fitted.iter())
        .map(|f| (f.sample_labels.as_slice(), f.row.point.k))
        .collect();
    let sil = silhouettes(&x, m.d, &labelings);
    let (mut points, fits): (Vec<SweepRow>, Vec<Option<KMeansResult>>) =
        fitted.into_iter().map(|f| (f.row, f.fit)).unzip();
    for (r, s) in points.iter_mut().zip(sil) {
        r.point.silhouette = s;
    }
    (points, fits)
}

/// With `--fit-best`: the recommended k's fit outputs, as `strata fit` writes them.
fn stage_best(
    run: &mut Run,
    f: &FitOptions,
    p: &Prepared,
    summary: &SweepSummary,
    fits: &mut [Option<KMeansResult>],
) -> Result<()> {
    let best = (summary.points.iter()).position(|r| r.point.k == summary.recommendation.k);
    let Some(fit) = best.and_then(|i| fits[i].take()) else {
        return Ok(());
    };
    let mut model = build_model(&with_k(f, fit.k), p, &fit);
    let seconds = PhaseSeconds {
        read: p.read_seconds,
        prepare: p.prepare_seconds,
        init: fit.init_seconds,
        iterate: fit.iterate_seconds,
        ..Default::default()
    };
    let device = summary.device.clone();
    let fit_summary = fit_summary(p, &fit, device, seconds, summary.warnings.clone());
    run.write(|staging| {
        write_fit(staging, p, &fit, &mut model, None)?;
        staging.write_json(
            "summary.json",
            &Versioned::new(schema::SUMMARY, &fit_summary),
        )
    })
}

/// Runs the sweep. Nothing appears in `opts.fit.output.out` unless every output was written.
pub fn run(
    opts: &Checked<SweepOptions>,
    sel: &Selected,
    log: &dyn Fn(&str),
) -> Result<SweepSummary> {
    let f = &opts.fit;
    let mut run = Run::open(&f.output.out, &f.input.inputs, (sel, log), Instant::now())?;
    let (source, spec, _, warnings) = open_input(f, log)?;
    let p = pipeline::read_and_prepare(source, &spec, &f.prep, None, log)?;
    run.warnings.extend(warnings);
    run.warnings.extend(p.report.warnings.clone());
    if let Some(g) = &f.output.report {
        g.check(&super::feature_names(&p.prep))?;
    }
    let n = p.matrix.n;
    // One uniform sample of rows for every k's silhouette (sorted: read in row order).
    let s = opts.silhouette_sample.min(n);
    let rows = crate::kmeans::sample::rows(n, s, f.kmeans.seed);
    let (fitted, fits_s) = timed(|| fit_every_k(opts, &p, &rows, &mut run));
    let fitted = fitted?;
    let ((points, mut fits), silhouette_s) = timed(|| with_silhouettes(fitted, &p, &rows));
    let pts: Vec<Point> = points.iter().map(|r| r.point.clone()).collect();
    let ks: Vec<f64> = pts.iter().map(|p| p.k as f64).collect();
    let sse: Vec<f64> = pts.iter().map(|p| p.sse).collect();
    let summary = SweepSummary {
        strata_version: env!("CARGO_PKG_VERSION").into(),
        inputs: (p.source.paths().iter())
            .map(|p| p.display().to_string())
            .collect(),
        rows: n,
        features: p.prep.prepared_names(),
        device: run.device.clone(),
        silhouette_sample: s,
        elbow: kneedle(&ks, &sse).map(|i| pts[i].k),
        recommendation: recommend(&pts),
        rule: RULE.into(),
        seconds: SweepSeconds {
            read: p.read_seconds,
            prepare: p.prepare_seconds,
            fits: fits_s,
            silhouette: silhouette_s,
            total: run.seconds(),
        },
        points,
        warnings: std::mem::take(&mut run.warnings),
    };
    run.write(|staging| write_sweep(staging, &summary))?;
    stage_best(&mut run, f, &p, &summary, &mut fits)?;
    run.publish(f.output.report.as_ref())?;
    Ok(summary)
}

/// sweep.parquet (one row per k) and sweep.json.
fn write_sweep(staging: &mut OutputSet, s: &SweepSummary) -> Result<()> {
    let r = &s.points;
    let f64s = |get: fn(&SweepRow) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(r.iter().map(get)))
    };
    let fields = vec![
        Field::new("k", DataType::UInt64, false),
        Field::new("sse", DataType::Float64, false),
        Field::new("calinski_harabasz", DataType::Float64, false),
        Field::new("davies_bouldin", DataType::Float64, false),
        Field::new("silhouette", DataType::Float64, false),
        Field::new("iterations", DataType::UInt64, false),
        Field::new("converged", DataType::Boolean, false),
        Field::new("seconds", DataType::Float64, false),
        Field::new("recommended", DataType::Boolean, false),
    ];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            r.iter().map(|x| x.point.k as u64),
        )),
        f64s(|x| x.point.sse),
        f64s(|x| x.point.calinski_harabasz),
        f64s(|x| x.point.davies_bouldin),
        f64s(|x| x.point.silhouette),
        Arc::new(UInt64Array::from_iter_values(
            r.iter().map(|x| x.iterations as u64),
        )),
        Arc::new(BooleanArray::from_iter(r.iter().map(|x| Some(x.converged)))),
        f64s(|x| x.seconds),
        Arc::new(BooleanArray::from_iter(
            r.iter().map(|x| Some(x.point.k == s.recommendation.k)),
        )),
    ];
    let path = staging.path("sweep.parquet");
    write_columns(path, fields, cols)?;
    staging.write_json("sweep.json", &Versioned::new(schema::SWEEP, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_ranges() {
        assert_eq!(parse_ks("2..5").unwrap(), [2, 3, 4, 5]);
        assert_eq!(parse_ks("2..=4").unwrap(), [2, 3, 4]);
        assert_eq!(parse_ks("6,2,3,3").unwrap(), [2, 3, 6]);
        assert!(parse_ks("1..4").is_err());
        assert!(parse_ks("4").is_err());
        assert!(parse_ks("2..x").is_err());
        // Ranges too long to sweep are refused before anything is allocated (2..u64::MAX panicked with
        // a capacity overflow, 2..4000000000 aborted on a 32 GB allocation).
        for s in ["2..18446744073709551615", "2..4000000000", "2..258"] {
            let e = parse_ks(s).unwrap_err();
            assert!(e.contains("at most 256 values"), "{s}: {e}");
        }
        assert_eq!(parse_ks("2..257").unwrap().len(), MAX_KS);
    }
}
