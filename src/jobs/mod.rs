//! The jobs: orchestration only. Each reads through [`crate::pipeline`], computes on a device chosen by
//! [`crate::compute::select`] (with the one GPU→CPU fallback helper) and publishes its outputs atomically.

pub mod accumulate;
pub mod assign;
pub mod fit;
pub mod lineage;
pub mod nightly;
pub mod options;
pub mod scan;
pub mod sweep;

use serde::{Deserialize, Serialize};

use crate::prep::FittedPrep;

/// Wall seconds per phase, for summary.json.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PhaseSeconds {
    pub read: f64,
    pub prepare: f64,
    pub init: f64,
    pub iterate: f64,
    /// With `--previous`: the pass of tonight's input through the previous model, matching, migration.
    pub lifecycle: f64,
    /// The model (with its drift reference), profiles and output files.
    pub write: f64,
    pub total: f64,
}

/// Missing values of one feature, for summary.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MissingCount {
    pub feature: String,
    pub missing: usize,
}

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
