//! The saved model (model.json, format version 3): everything a later run needs to prepare new customers
//! exactly as the training ones were prepared and to assign them to the same segments, the reference the
//! drift checks compare against, and the segment id counter that keeps ids unique across refits. Version 2
//! files (no reference, no counter) are still read and assigned with. Reading validates every field, so a
//! damaged or hand-edited file is one clear error, never a panic.

use std::path::{Path, PathBuf};

use arrow_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::data::{FeatureMatrix, Missing};
use crate::error::{Error, Result};
use crate::kmeans::KMeansResult;
use crate::prep::{FittedPrep, Scaling, categorical};
use crate::quantile::quantiles;

mod assign;
pub mod lifecycle;

pub use assign::Assigned;
use lifecycle::drift::Reference;

pub const FORMAT: &str = "strata-model";
pub const FORMAT_VERSION: u32 = 3;

/// What a feature column is to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A number, prepared by imputation, optional log1p and scaling.
    Numeric,
    /// A category, one-hot encoded (see `prep::categorical`).
    Categorical,
}

/// One input column the model uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    /// The Arrow type it had at training (any numeric type is accepted later).
    pub input_type: String,
    pub role: Role,
}

/// One segment: an explicit id (an identity that survives refits, not a rank), its centroid and what it
/// looked like at training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: u32,
    /// d values in the prepared space.
    pub centroid: Vec<f32>,
    /// Customers the segment held at training, and their share of all fitted customers.
    pub training_customers: u64,
    pub training_share: f64,
    /// Quantiles 0, 10 %, … 100 % of the members' Euclidean distance to the centroid (prepared space).
    pub distance_deciles: Vec<f64>,
    /// The 99th percentile of that distance (drift: the share of customers beyond it). None in version 2.
    #[serde(default)]
    pub distance_p99: Option<f64>,
    /// A short name from the segment's strongest features, kept by a matched segment on later nights,
    /// and its rule from the threshold tree (see [`crate::explain`]). None in older models.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub rule: Option<String>,
}

/// How the model was fitted (for the record; not needed to apply it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitRecord {
    pub init: String,
    pub n_init: usize,
    pub seed: u64,
    pub tol: f64,
    pub max_iter: usize,
    pub sse: f64,
    pub iterations: usize,
    pub converged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub format_version: u32,
    pub strata_version: String,
    /// Seconds since the Unix epoch when the model was written (the only field that differs between reruns).
    pub created_unix: u64,
    pub features: Vec<Feature>,
    pub id_column: Option<String>,
    pub weight_column: Option<String>,
    /// The missing-value policy of the training run; `assign` applies the same.
    pub missing: Missing,
    pub preparation: FittedPrep,
    pub segments: Vec<Segment>,
    /// Rows read at training, and rows that were fitted (after dropping rows with missing values).
    pub training_rows: usize,
    pub fitted_rows: usize,
    pub fit: FitRecord,
    /// xxh64 over the training schema's column names and types: a changed export layout is detectable.
    pub schema_fingerprint: String,
    /// The smallest segment id never used by this model or its predecessors: fresh ids start here.
    #[serde(default)]
    pub next_segment_id: u32,
    /// The training population in the prepared space, for drift checks. None in version 2.
    #[serde(default)]
    pub reference: Option<Reference>,
}

/// What a fitted model is made of besides the fit itself.
pub struct ModelParts {
    pub features: Vec<Feature>,
    pub id_column: Option<String>,
    pub weight_column: Option<String>,
    pub missing: Missing,
    pub preparation: FittedPrep,
    pub record: FitRecord,
    pub training_rows: usize,
    pub schema_fingerprint: String,
}

/// A stable fingerprint of column names and types.
pub fn schema_fingerprint(schema: &Schema) -> String {
    let text: String = schema
        .fields()
        .iter()
        .map(|f| format!("{}:{};", f.name(), f.data_type()))
        .collect();
    format!(
        "xxh64:{:016x}",
        twox_hash::XxHash64::oneshot(0, text.as_bytes())
    )
}

/// Only the version fields, read first so that an old or foreign file gets a message about its version
/// rather than about whichever field it lacks.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    format_version: Option<u32>,
}

impl Model {
    /// The model of a fit on the prepared matrix `m`: segments (ids 0… in the fit's order, largest first)
    /// with their centroids, training shares and distance quantiles, and the drift reference.
    pub fn from_fit(parts: ModelParts, fit: &KMeansResult, m: &FeatureMatrix<f32>) -> Model {
        let (d, n) = (fit.d, fit.nearest.labels.len());
        let mut dist: Vec<Vec<f32>> = vec![Vec::new(); fit.k];
        for (&l, &d2) in fit.nearest.labels.iter().zip(&fit.nearest.dist2) {
            dist[l as usize].push(d2.max(0.0).sqrt());
        }
        let tenths: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
        let segments = dist
            .iter_mut()
            .enumerate()
            .map(|(s, v)| {
                let q = if v.is_empty() {
                    Vec::new()
                } else {
                    quantiles(v, &tenths)
                };
                // The nearest-rank 99th percentile (the ⌈0.99·n⌉-th smallest): at most 1 % of the
                // members lie beyond it whatever the segment's size (an interpolated one leaves the
                // largest member beyond it, 1/n of a small segment).
                let p99 = (!v.is_empty()).then(|| {
                    let rank = ((0.99 * v.len() as f64).ceil() as usize).clamp(1, v.len());
                    *v.select_nth_unstable_by(rank - 1, f32::total_cmp).1 as f64
                });
                Segment {
                    id: s as u32,
                    centroid: fit.centroids[s * d..(s + 1) * d].to_vec(),
                    training_customers: v.len() as u64,
                    training_share: v.len() as f64 / n as f64,
                    distance_deciles: q,
                    distance_p99: Some(p99.unwrap_or(0.0)),
                    name: None,
                    rule: None,
                }
            })
            .collect();
        let reference = Reference::fit(&parts.preparation, m);
        Model {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            strata_version: env!("CARGO_PKG_VERSION").into(),
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            features: parts.features,
            id_column: parts.id_column,
            weight_column: parts.weight_column,
            missing: parts.missing,
            preparation: parts.preparation,
            segments,
            training_rows: parts.training_rows,
            fitted_rows: n,
            fit: parts.record,
            schema_fingerprint: parts.schema_fingerprint,
            next_segment_id: fit.k as u32,
            reference: Some(reference),
        }
    }

    /// Renumbers the segments with `ids` (segment order) and sets the id counter to `next`.
    pub fn set_ids(&mut self, ids: &[u32], next: u32) {
        for (s, &id) in self.segments.iter_mut().zip(ids) {
            s.id = id;
        }
        self.next_segment_id = next;
    }

    /// The segment ids, in segment order.
    pub fn segment_ids(&self) -> Vec<u32> {
        self.segments.iter().map(|s| s.id).collect()
    }

    /// The model file at `path`: a model.json, or a fit's output directory holding one.
    pub fn locate(path: &Path) -> PathBuf {
        if path.is_dir() {
            path.join("model.json")
        } else {
            path.to_path_buf()
        }
    }

    /// Reads and validates a model file (see [`Model::validate`]). Every failure is an input error.
    pub fn read(path: &Path) -> Result<Model> {
        let path = Self::locate(path);
        let shown = path.display();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::input(format!(
                "cannot read model {shown}; give a model.json or a fit's output directory"
            ))
            .with_source(e)
        })?;
        Self::from_json(&text, &shown.to_string())
    }

    /// The model in `text` (a model file's contents, called `shown` in errors), checked as [`Model::read`]
    /// checks a file.
    pub fn from_json(text: &str, shown: &str) -> Result<Model> {
        let bad = |why: String| Error::input(format!("model {shown} is not usable: {why}"));
        let header: Header = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not valid JSON ({e}); the file is truncated or damaged: refit or restore it"
            ))
        })?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err(bad(format!(
                "it is not a strata model (format {:?}, expected \"{FORMAT}\")",
                header.format.unwrap_or_default()
            )));
        }
        match header.format_version {
            Some(2 | FORMAT_VERSION) => {}
            Some(1) => {
                return Err(bad(
                    "it is a format version 1 model (strata 0.1), which lacks the training medians, shares \
                     and reference sketches that assign needs; refit it with this strata (`strata fit ... --out DIR`)"
                        .into(),
                ));
            }
            v => {
                let v = v.map_or("no format version".into(), |v| {
                    format!("format version {v}")
                });
                return Err(bad(format!(
                    "it has {v}; this strata reads version {FORMAT_VERSION}: use the strata that wrote it, or refit"
                )));
            }
        }
        let mut m: Model = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "{e}; the file is damaged or hand-edited: refit or restore it"
            ))
        })?;
        if header.format_version == Some(2) {
            // Version 2 has no counter: fresh ids continue after the largest one.
            m.next_segment_id = m.segments.iter().map(|s| s.id + 1).max().unwrap_or(0);
        }
        m.validate().map_err(bad)?;
        Ok(m)
    }

    /// Writes the model as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a model serialises")
    }

    /// Writes the model to `path` atomically (a temporary file renamed into place).
    ///
    /// ```
    /// use ndarray::array;
    /// use strata::{KMeans, Model};
    ///
    /// let x = array![[0.0f32, 0.0], [0.1, 0.2], [5.0, 5.0], [5.2, 4.9]];
    /// let model = KMeans::params(2).fit(&x.view())?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("model.json");
    /// model.write(&path)?;
    /// assert_eq!(Model::read(&path)?, model);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = self.to_json();
        text.push('\n');
        crate::data::sink::write_file_atomic(path, text.as_bytes())
    }

    pub fn k(&self) -> usize {
        self.segments.len()
    }

    pub fn feature_names(&self) -> Vec<String> {
        self.features.iter().map(|f| f.name.clone()).collect()
    }

    /// Columns of the prepared space (numeric features plus every categorical indicator).
    pub fn prepared_d(&self) -> usize {
        self.preparation.prepared_d()
    }

    /// Names of the features with `role`, in model order.
    pub fn names_with(&self, role: Role) -> Vec<String> {
        self.features
            .iter()
            .filter(|f| f.role == role)
            .map(|f| f.name.clone())
            .collect()
    }

    /// k × d centroids in the prepared space, segment order.
    pub fn centroids(&self) -> Vec<f32> {
        self.segments
            .iter()
            .flat_map(|s| s.centroid.iter().copied())
            .collect()
    }

    /// Checks that the model is internally consistent: dimensions, finite values, unique ids, shares.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let k = self.segments.len();
        if k == 0 {
            return Err("it has no segments".into());
        }
        let prep = &self.preparation;
        let prepared: Vec<(&str, Role)> = prep
            .columns
            .iter()
            .map(|c| (c.name.as_str(), Role::Numeric))
            .chain(
                prep.categorical
                    .iter()
                    .map(|c| (c.name.as_str(), Role::Categorical)),
            )
            .collect();
        let listed: Vec<(&str, Role)> = self
            .features
            .iter()
            .map(|f| (f.name.as_str(), f.role))
            .collect();
        if prep.columns.is_empty() || listed != prepared {
            return Err(
                "its features do not match its preparation (numeric features first, then categorical ones)"
                    .into(),
            );
        }
        for c in &prep.categorical {
            let ok = c.categories.last().map(String::as_str) == Some(categorical::OTHER)
                && c.shares.len() == c.categories.len()
                && c.shares.iter().all(|p| (0.0..=1.0).contains(p))
                && c.weight.is_finite()
                && c.weight > 0.0
                && c.mode < c.categories.len();
            if !ok {
                return Err(format!(
                    "categorical feature '{}' has inconsistent categories, shares, weight or mode",
                    c.name
                ));
            }
        }
        let d = prep.prepared_d();
        for c in &prep.columns {
            let finite = c.median.is_finite()
                && c.center.is_finite()
                && c.scale.is_finite()
                && c.scale > 0.0
                && c.deciles.iter().all(|v| v.is_finite());
            if !finite {
                return Err(format!(
                    "feature '{}' has a non-finite median, center or deciles, or a scale that is not > 0",
                    c.name
                ));
            }
            if prep.scaling == Scaling::None && (c.center != 0.0 || c.scale != 1.0) {
                return Err(format!(
                    "feature '{}' is scaled although the scaling is none",
                    c.name
                ));
            }
        }
        let mut names: Vec<&str> = self.features.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err("a feature is listed twice".into());
        }
        let mut ids: Vec<u32> = self.segments.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err("two segments share an id".into());
        }
        for s in &self.segments {
            if s.centroid.len() != d {
                return Err(format!(
                    "segment {} has a centroid of {} values for {d} prepared columns",
                    s.id,
                    s.centroid.len()
                ));
            }
            if !s.centroid.iter().all(|v| v.is_finite()) {
                return Err(format!("segment {} has a non-finite centroid value", s.id));
            }
            if !(0.0..=1.0).contains(&s.training_share) {
                return Err(format!(
                    "segment {} has a training share of {}",
                    s.id, s.training_share
                ));
            }
            if !s
                .distance_deciles
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
            {
                return Err(format!("segment {} has invalid distance deciles", s.id));
            }
        }
        if self.segments.iter().any(|s| s.id >= self.next_segment_id) {
            return Err("a segment id is not below next_segment_id".into());
        }
        if let Some(r) = &self.reference {
            // Numeric bins: at most nine sorted distinct edges and one share more; categorical: a share per category.
            let numeric = prep.columns.len();
            let bins_ok = r.bins.len() == self.features.len()
                && r.bins
                    .iter()
                    .enumerate()
                    .all(|(f, b)| match f.checked_sub(numeric) {
                        // At most the nine deciles (the drift tally counts over nine edges).
                        None => {
                            b.edges.len() <= 9
                                && b.shares.len() == b.edges.len() + 1
                                && b.edges.windows(2).all(|w| w[0] < w[1])
                        }
                        Some(c) => {
                            b.edges.is_empty()
                                && b.shares.len() == prep.categorical[c].categories.len()
                        }
                    });
            let shapes = r.mean.len() == d && r.sd.len() == d && bins_ok;
            let finite = r.mean.iter().chain(&r.sd).all(|v| v.is_finite())
                && r.bins.iter().all(|b| {
                    b.edges.iter().all(|v| v.is_finite()) && b.shares.iter().all(|v| v.is_finite())
                });
            if !shapes || !finite {
                return Err(
                    "its drift reference does not match its features or is not finite".into(),
                );
            }
        }
        if self.fitted_rows > self.training_rows {
            return Err("more fitted rows than training rows".into());
        }
        Ok(())
    }
}
