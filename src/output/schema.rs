//! strata's JSON documents: their types (summary.json of fit and assign, sweep.json, dendrogram.json;
//! explain.json's is `explain::Explanation`, model.json's `model::Model`, which carries its own version)
//! and their versions. Each document is written as `{"format_version": N, ...}` through [`Versioned`]; the
//! types deserialize, so a reader (the Python package, a later run) gets them back typed. Their fields are
//! documented in docs/outputs.md.

use serde::{Deserialize, Serialize};

pub use crate::explain::Explanation;

use crate::data::load::LeftOut;
use crate::kmeans::RestartReport;
use crate::kmeans::sweep::{Point, Recommendation};
use crate::model::lifecycle::drift::Drift;
use crate::model::lifecycle::migration::{self, Migration};
use crate::model::lifecycle::transitions::Transition;

/// summary.json of fit, assign and sweep --fit-best. Format 2 gave assign the `lifecycle` section of fit
/// (format 1 had its drift, migration and transitions at the top level); [`RunSummary::read`] still reads 1.
pub const SUMMARY: u32 = 2;
/// sweep.json.
pub const SWEEP: u32 = 1;
/// explain.json.
pub const EXPLAIN: u32 = 1;
/// dendrogram.json.
pub const DENDROGRAM: u32 = 1;

/// A document with its format version first (a document written before versions were: format 1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Versioned<T> {
    #[serde(default = "format_1")]
    pub format_version: u32,
    #[serde(flatten)]
    pub doc: T,
}

fn format_1() -> u32 {
    1
}

/// The format version of document `v` (1 when it has none), or what to do when this strata cannot read
/// it (a newer format than `reads`).
pub fn version_of(v: &serde_json::Value, reads: u32) -> std::result::Result<u32, String> {
    let found = (v.get("format_version").and_then(|f| f.as_u64())).unwrap_or(1);
    match u32::try_from(found) {
        Ok(version) if version <= reads => Ok(version),
        _ => Err(format!(
            "format version {found}, newer than this strata reads ({reads}): upgrade strata"
        )),
    }
}

/// The document `v` of format `reads` or older.
pub fn read_versioned<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
    reads: u32,
) -> std::result::Result<T, String> {
    version_of(&v, reads)?;
    let doc: Versioned<T> = serde_json::from_value(v).map_err(|e| e.to_string())?;
    Ok(doc.doc)
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

/// summary.json of a fit. Fields missing from an older summary read as their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
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
    pub lifecycle: Option<Lifecycle>,
    pub decision: Option<String>,
    /// "kmeans" or "ward".
    pub method: String,
    /// With `--method ward`: the hierarchy's size and its agreement with k-means on the same rows.
    pub ward: Option<WardSummary>,
    /// With `--sample N` (fewer than the rows used), or over the memory budget: the rows k-means ran on;
    /// labels, SSE and every output but the explanations are over all rows.
    pub sample_rows: Option<usize>,
    /// Only over the memory budget: the budget, and what preparing every row would have taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemorySample>,
}

/// Why a fit ran k-means on a sample and assigned every customer in a streamed pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    pub budget_bytes: u64,
    /// An estimate: 4 bytes per prepared value and 24 per row.
    pub prepared_bytes: u64,
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

/// summary.json's `lifecycle`, the same for fit, assign and nightly: tonight's segments against the
/// previous night's, and tonight's customers against the model they were measured with.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Lifecycle {
    /// The previous night's output directory (None: an assign without `--previous`, drift only).
    pub previous: Option<String>,
    /// Where tonight's segment ids come from: "customer ids" or "centroid distance" (a fit matched to the
    /// previous night), "the model" (assign: the model's segments).
    pub matched_by: String,
    /// Tonight's segment ids (segment order) and the previous night's id each continues (None: none).
    pub segment_ids: Vec<u32>,
    pub continues: Vec<Option<u32>>,
    pub next_segment_id: u32,
    pub transitions: Vec<Transition>,
    /// The transitions in words.
    pub events: Vec<String>,
    /// How customers moved since the previous night (None without one, or without ids on both nights).
    pub migration: Option<migration::Totals>,
    /// Tonight's customers against `drift_reference` (None: the model, format 2, has no drift reference).
    pub drift: Option<Drift>,
    /// "the previous model" (fit) or "the model's training population" (assign).
    pub drift_reference: String,
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

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AssignSeconds {
    /// Reading, preparing, assigning and writing overlap (streamed): one figure for all of them.
    pub stream: f64,
    pub total: f64,
    pub rows_per_second: f64,
}

/// summary.json of an assign run. Fields missing from an older summary read as their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
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
    /// Drift against the model's training population and, with `--previous`, migration and transitions
    /// (None: no `--previous` and a model without a drift reference).
    pub lifecycle: Option<Lifecycle>,
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

/// sweep.json. Fields missing from an older one read as their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
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

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SweepSeconds {
    pub read: f64,
    pub prepare: f64,
    /// All fits (with their Calinski–Harabasz and Davies–Bouldin), then the silhouettes of every k.
    pub fits: f64,
    pub silhouette: f64,
    pub total: f64,
}

/// A run's summary.json, fit's or assign's, read from either format.
#[derive(Debug, Clone)]
pub enum RunSummary {
    Fit(Box<Summary>),
    Assign(Box<AssignSummary>),
}

impl RunSummary {
    /// Reads summary.json's `v` (format 1 or 2); assign's is told by its `rows_assigned`.
    pub fn read(mut v: serde_json::Value) -> std::result::Result<RunSummary, String> {
        let version = version_of(&v, SUMMARY)?;
        let assign = v.get("rows_assigned").is_some();
        if version == 1 && assign {
            lift_v1_assign(&mut v);
        }
        let read = |e: serde_json::Error| e.to_string();
        Ok(if assign {
            RunSummary::Assign(Box::new(serde_json::from_value(v).map_err(read)?))
        } else {
            RunSummary::Fit(Box::new(serde_json::from_value(v).map_err(read)?))
        })
    }

    pub fn lifecycle(&self) -> Option<&Lifecycle> {
        match self {
            RunSummary::Fit(s) => s.lifecycle.as_ref(),
            RunSummary::Assign(s) => s.lifecycle.as_ref(),
        }
    }

    pub fn decision(&self) -> Option<&str> {
        match self {
            RunSummary::Fit(s) => s.decision.as_deref(),
            RunSummary::Assign(s) => s.decision.as_deref(),
        }
    }

    pub fn inputs(&self) -> &[String] {
        match self {
            RunSummary::Fit(s) => &s.inputs,
            RunSummary::Assign(s) => &s.inputs,
        }
    }

    pub fn strata_version(&self) -> &str {
        match self {
            RunSummary::Fit(s) => &s.strata_version,
            RunSummary::Assign(s) => &s.strata_version,
        }
    }
}

/// Format 1's assign summary in format 2's shape: its `drift`, `migration` and `transitions` (in words)
/// into a `lifecycle` section (without the ids it did not record).
fn lift_v1_assign(v: &mut serde_json::Value) {
    let Some(m) = v.as_object_mut() else { return };
    let drift = m.remove("drift").unwrap_or_default();
    let migration = m.remove("migration").unwrap_or_default();
    let events = m
        .remove("transitions")
        .unwrap_or_else(|| serde_json::json!([]));
    if drift.is_null() && migration.is_null() {
        return;
    }
    m.insert(
        "lifecycle".into(),
        serde_json::json!({
            "previous": null, "matched_by": "the model", "segment_ids": [], "continues": [],
            "next_segment_id": 0, "transitions": [], "events": events, "migration": migration,
            "drift": drift, "drift_reference": "the model's training population",
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format 1 assign summary reads with its drift, migration and transitions in the lifecycle
    /// section; a fit's reads as it was; a newer format is refused with what to do.
    #[test]
    fn summaries_of_format_1_read_into_format_2() {
        let thresholds =
            serde_json::to_value(crate::model::lifecycle::drift::Thresholds::default());
        let drift = serde_json::json!({"verdict": "watch", "reasons": ["psi of balance 0.12"],
            "thresholds": thresholds.unwrap()});
        let v1 = serde_json::json!({"format_version": 1, "rows_assigned": 10, "drift": drift,
            "migration": null, "transitions": ["segment 3 split into 3 and 7"], "decision": "d"});
        let RunSummary::Assign(s) = RunSummary::read(v1).unwrap() else {
            panic!("an assign summary")
        };
        let l = s.lifecycle.as_ref().unwrap();
        assert_eq!(
            l.drift.as_ref().map(|d| d.reasons.clone()),
            Some(vec!["psi of balance 0.12".to_string()])
        );
        assert_eq!(l.events, ["segment 3 split into 3 and 7"]);
        assert_eq!((s.rows_assigned, s.decision.as_deref()), (10, Some("d")));
        let fit = serde_json::json!({"rows_used": 5, "method": "ward", "lifecycle": null});
        assert!(
            matches!(RunSummary::read(fit).unwrap(), RunSummary::Fit(s) if s.rows_used == 5 && s.method == "ward")
        );
        let e = RunSummary::read(serde_json::json!({"format_version": 3})).unwrap_err();
        assert!(e.contains("upgrade strata"), "{e}");
        // A document from before versions (a sweep.json) reads as format 1, its missing fields defaulted.
        let old: Versioned<SweepSummary> =
            serde_json::from_value(serde_json::json!({"rows": 5, "points": []})).unwrap();
        assert_eq!((old.format_version, old.doc.rows), (1, 5));
    }
}
