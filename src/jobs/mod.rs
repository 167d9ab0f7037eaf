//! The jobs: orchestration only. Each reads through [`crate::pipeline`], computes on a device chosen by
//! [`crate::compute::select`] (with the one GPU→CPU fallback helper) and publishes its outputs atomically.

pub mod accumulate;
pub mod assign;
pub mod fit;
mod fit_streamed;
pub(crate) mod lineage;
pub mod nightly;
pub mod options;
mod run;
pub(crate) mod scan;
pub mod sweep;

pub use crate::output::schema::{MissingCount, PhaseSeconds};
use crate::prep::FittedPrep;

fn missing_counts(names: &[String], counts: &[usize]) -> Vec<MissingCount> {
    names
        .iter()
        .zip(counts)
        .map(|(f, &m)| MissingCount {
            feature: f.clone(),
            missing: m,
        })
        .collect()
}

/// The feature names of a preparation: numeric, then categorical.
pub(crate) fn feature_names(prep: &FittedPrep) -> Vec<String> {
    (prep.names().into_iter())
        .chain(prep.categorical.iter().map(|c| c.name.clone()))
        .collect()
}
