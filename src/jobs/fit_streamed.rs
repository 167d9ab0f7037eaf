//! A fit whose prepared input would not fit its memory budget: the preparation is fitted on every row (one
//! column at a time), k-means runs on the prepared rows of a uniform sample, and one streamed pass — the
//! one `assign` runs — assigns every customer, writing labels.parquet as it goes and keeping each row's
//! segment (4 bytes) for the profiles, which read the columns again. What comes from the sample, not from
//! every row: the segments' order (by their sizes in the sample), the model's distance deciles and drift
//! reference, and the explanations (their tree and its fidelity).

use std::time::Instant;

use super::PhaseSeconds;
use super::assign::{self, Keep, Passes, counted_segments};
use super::fit::{
    FitOptions, FitOutcome, Written, build_model, cluster, fit_warnings, kmeans_config,
    name_segments, profiles_of, publish, summary, write_described,
};
use super::run::Run;
use super::scan::model_columns;
use crate::data::load::LeftOut;
use crate::error::{Error, Result};
use crate::output::schema::MemorySample;
use crate::pipeline::Prepared;

/// Runs the rest of the fit once `p` holds a sample's prepared rows (see the module doc).
pub(super) fn run(
    opts: &FitOptions,
    mut run: Run,
    mut p: Prepared,
    columns_left_out: Vec<LeftOut>,
) -> Result<FitOutcome> {
    if opts.input.weight.is_some() {
        return Err(Error::param(
            "memory",
            "is below what this input needs prepared, and a fit on a sample does not take `weight` yet: raise `memory`, or fit without weights",
        ));
    }
    let sample = p.sample.as_ref().expect("a sampled fit");
    let (cfg, _) = kmeans_config(opts, &p.prep, None)?;
    run.warnings.extend(p.report.warnings.clone());
    let (fit, _) = cluster(opts, &p, &cfg, &mut run)?;
    run.warnings.extend(fit_warnings(opts, &p, &fit));
    // The pass reads the ids again as it writes labels.parquet.
    p.loaded.ids = None;
    let t = Instant::now();
    let mut model = build_model(opts, &p, &fit);
    let cols = model_columns(&model, &p.source, opts.input.id.clone())?;
    let path = run.write(|s| Ok(s.path("labels.parquet")))?;
    let log = run.log;
    let scanned = run.on_device(log, |b| {
        assign::stream(
            &p.source,
            &cols,
            &model,
            b,
            path.clone(),
            Passes {
                keys: None,
                keep: Keep::Segments,
                drift: false,
            },
        )
    })?;
    let (counts, (pass, _)) = (scanned.counts, scanned.rows.expect("segments kept"));
    let n = pass.labels.len();
    for (s, seg) in model.segments.iter_mut().enumerate() {
        seg.training_customers = counts.per_segment[s];
        seg.training_share = counts.per_segment[s] as f64 / n.max(1) as f64;
    }
    model.fitted_rows = n;
    let segments = counted_segments(&model, &counts);
    let written = run.write(|staging| {
        let profiles = profiles_of(&p, (&pass.labels, pass.categories), &fit, &model)?;
        let explanation = name_segments(&p, &fit, &profiles, &mut model, None);
        let written = Written {
            segments,
            profiles,
            explanation,
        };
        write_described(staging, &written, &model, false)?;
        Ok(written)
    })?;
    let seconds = PhaseSeconds {
        read: p.read_seconds,
        prepare: p.prepare_seconds,
        init: fit.init_seconds,
        iterate: fit.iterate_seconds,
        lifecycle: 0.0,
        write: t.elapsed().as_secs_f64(),
        total: run.seconds(),
    };
    let device = run.device.clone();
    let mut summary = summary(&p, &fit, device, seconds, std::mem::take(&mut run.warnings));
    summary.sse = counts.sse.iter().sum();
    summary.columns_left_out = columns_left_out;
    summary.decision = opts.output.decision.clone();
    summary.sample_rows = Some(sample.rows.len());
    summary.memory = Some(MemorySample {
        budget_bytes: sample.budget,
        prepared_bytes: sample.need,
    });
    publish(run, opts, summary, written, model)
}
