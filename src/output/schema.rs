//! strata's JSON documents: their types (summary.json of fit and assign, sweep.json, dendrogram.json;
//! explain.json's is `explain::Explanation`, model.json's `model::Model`, which carries its own version)
//! and their versions. Each document is written as `{"format_version": N, ...}` through [`Versioned`]; the
//! types deserialize, so a reader (the Python package, a later run) gets them back typed. Their fields are
//! documented in docs/outputs.md.

use serde::{Deserialize, Serialize};

use crate::data::load::LeftOut;
use crate::kmeans::RestartReport;
use crate::kmeans::sweep::{Point, Recommendation};
use crate::model::lifecycle::drift::Drift;
use crate::model::lifecycle::migration::{self, Migration};
use crate::model::lifecycle::transitions::Transition;

/// summary.json of fit, assign and sweep --fit-best.
pub const SUMMARY: u32 = 1;
/// sweep.json.
pub const SWEEP: u32 = 1;
/// explain.json.
pub const EXPLAIN: u32 = 1;
/// dendrogram.json.
pub const DENDROGRAM: u32 = 1;

/// A document with its format version first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Versioned<T> {
    pub format_version: u32,
    #[serde(flatten)]
    pub doc: T,
}

impl<T> Versioned<T> {
    pub fn new(format_version: u32, doc: T) -> Self {
        Versioned {
            format_version,
            doc,
        }
    }
}

/// dendrogram.json: Ward's linkage of the micro-clusters in scipy's numbering (leaves 0..M−1, merge s forms
/// M + s), each leaf's weight and segment, and each segment's node. Fields in the order they are written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dendrogram {
    pub leaves: Vec<Leaf>,
    pub merges: Vec<crate::kmeans::ward::Merge>,
    pub micro_clusters: usize,
    pub segments: Vec<SegmentNode>,
}

/// A micro-cluster: its segment (id) and its customers' total weight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Leaf {
    pub segment: u32,
    pub weight: f64,
}

/// A segment (id) and the node of the linkage that is its branch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentNode {
    pub node: usize,
    pub segment: u32,
}

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

/// summary.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub strata_version: String,
    pub inputs: Vec<String>,
    pub rows_read: usize,
    pub rows_dropped: usize,
    pub rows_used: usize,
    pub values_imputed: usize,
    pub missing_per_feature: Vec<MissingCount>,
    pub features: Vec<String>,
    /// Columns the default feature selection left out, with the reason.
    pub columns_left_out: Vec<LeftOut>,
    pub device: String,
    pub k: usize,
    pub sse: f64,
    pub iterations: usize,
    pub converged: bool,
    pub best_restart: usize,
    pub restarts: Vec<RestartReport>,
    pub empty_clusters_repaired: usize,
    pub seconds: PhaseSeconds,
    pub warnings: Vec<String>,
    /// With `--previous`: matching, transitions, migration and drift against the previous night.
    pub lifecycle: Option<Lineage>,
    pub decision: Option<String>,
    /// "kmeans" or "ward".
    pub method: String,
    /// With `--method ward`: the hierarchy's size and its agreement with k-means on the same rows.
    pub ward: Option<WardSummary>,
}

/// summary.json's `ward`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WardSummary {
    pub micro_clusters: usize,
    /// The share of customers whose nearest Ward centroid (their label) is their own branch's.
    pub branch_agreement: f64,
    /// k-means with the same k on the same rows, and the adjusted Rand index between the two segmentations.
    pub kmeans_sse: f64,
    pub adjusted_rand_vs_kmeans: f64,
}

/// How tonight's segments relate to the previous night's (summary.json `lifecycle`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lineage {
    pub previous: String,
    /// "customer ids" (member overlap) or "centroid distance".
    pub matched_by: String,
    /// Tonight's segment ids (segment order) and the previous id each continues (None: a fresh id).
    pub segment_ids: Vec<u32>,
    pub continues: Vec<Option<u32>>,
    pub next_segment_id: u32,
    pub transitions: Vec<Transition>,
    /// The transitions in words.
    pub events: Vec<String>,
    pub migration: Option<migration::Totals>,
    /// Tonight's customers against the previous model.
    pub drift: Drift,
    #[serde(skip)]
    pub flows: Option<Migration>,
}

/// One segment's count tonight next to its share at training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentCount {
    pub segment: u32,
    pub customers: u64,
    pub share: f64,
    pub training_share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignSeconds {
    /// Reading, preparing, assigning and writing overlap (streamed): one figure for all of them.
    pub stream: f64,
    pub total: f64,
    pub rows_per_second: f64,
}

/// summary.json of an assign run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignSummary {
    pub strata_version: String,
    pub model: String,
    pub inputs: Vec<String>,
    pub rows_read: usize,
    pub rows_assigned: usize,
    pub rows_dropped: usize,
    pub values_imputed: usize,
    pub missing_per_feature: Vec<MissingCount>,
    /// Per categorical feature: values the model has never seen (mapped to "(other)").
    pub unseen_categories: std::collections::BTreeMap<String, u64>,
    pub segments: Vec<SegmentCount>,
    /// Tonight's customers against the model's training population (None for a format 2 model).
    pub drift: Option<Drift>,
    /// How customers moved since the `--previous` night (None without one, or without ids on both nights).
    pub migration: Option<migration::Totals>,
    /// MONIC transitions from the `--previous` night's segments to tonight's (with migration).
    pub transitions: Vec<String>,
    pub decision: Option<String>,
    pub device: String,
    pub seconds: AssignSeconds,
    pub warnings: Vec<String>,
}

/// One k: the indices, the fit's record and its time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRow {
    #[serde(flatten)]
    pub point: Point,
    pub iterations: usize,
    pub converged: bool,
    pub seconds: f64,
}

/// sweep.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepSummary {
    pub strata_version: String,
    pub inputs: Vec<String>,
    pub rows: usize,
    pub features: Vec<String>,
    pub device: String,
    pub silhouette_sample: usize,
    pub points: Vec<SweepRow>,
    /// The elbow of the SSE curve (Kneedle), if there is one.
    pub elbow: Option<usize>,
    pub recommendation: Recommendation,
    pub rule: String,
    pub seconds: SweepSeconds,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepSeconds {
    pub read: f64,
    pub prepare: f64,
    /// All fits (with their Calinski–Harabasz and Davies–Bouldin), then the silhouettes of every k.
    pub fits: f64,
    pub silhouette: f64,
    pub total: f64,
}
