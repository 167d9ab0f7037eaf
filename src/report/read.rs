//! Reading a run's output directory for the report: JSON documents as they are, Parquet tables into the
//! few columns the report draws.

use std::fs::File;
use std::path::Path;

use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::output::schema::{self, Dendrogram, Lifecycle, RunSummary, SweepSummary};

/// One row of segments.parquet.
pub struct Segment {
    pub id: u32,
    pub name: Option<String>,
    pub rule: Option<String>,
    pub customers: u64,
}

impl Segment {
    /// "3 · High calls · low balance", or "segment 3" without a name.
    pub fn title(&self) -> String {
        match &self.name {
            Some(n) => format!("{} · {n}", self.id),
            None => format!("segment {}", self.id),
        }
    }
}

/// One row of profiles.parquet.
pub struct Profile {
    pub segment: Option<u32>,
    pub feature: String,
    pub category: Option<String>,
    pub mean: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub z: f64,
    pub share: f64,
}

/// A profile ranked for a card: its effect and the segment's value (mean, or share of a category).
pub struct Ranked<'a> {
    pub feature: String,
    pub category: Option<String>,
    pub z: f64,
    pub value: f64,
    profile: &'a Profile,
}

/// One row of migration.parquet.
pub struct Flow {
    pub from: String,
    pub to: String,
    pub share: f64,
}

/// What the report draws of explain.json (the rest of an older one may differ).
#[derive(serde::Deserialize)]
struct Fidelity {
    fidelity: f64,
}

/// Everything the report may draw from one directory.
pub struct Outputs {
    pub summary: Option<RunSummary>,
    pub segments: Vec<Segment>,
    pub profiles: Vec<Profile>,
    pub fidelity: Option<f64>,
    pub sweep: Option<SweepSummary>,
    pub dendrogram: Option<Dendrogram>,
    pub migration: Option<Vec<Flow>>,
}

/// The JSON document at `path` (None: there is none), read by `read`; an unreadable one names the file.
fn json<T>(
    path: &Path,
    read: impl FnOnce(serde_json::Value) -> std::result::Result<T, String>,
) -> Result<Option<T>> {
    let bad = |e: &dyn std::fmt::Display| {
        Error::input(format!(
            "{} is not a readable strata document ({e}); re-run the job that wrote it",
            path.display()
        ))
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let v = serde_json::from_slice(&bytes).map_err(|e| bad(&e))?;
            read(v).map(Some).map_err(|e| bad(&e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::input(format!("cannot read {}: {e}", path.display()))),
    }
}

/// A versioned document of format `version` or older.
fn versioned<T: DeserializeOwned>(
    version: u32,
) -> impl FnOnce(serde_json::Value) -> std::result::Result<T, String> {
    move |v| schema::read_versioned(v, version)
}

fn table(path: &Path) -> Result<Option<RecordBatch>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::input(format!("cannot read {}: {e}", path.display()))),
    };
    let bad = |e: &dyn std::fmt::Display| {
        Error::input(format!(
            "{} is not a readable Parquet file: {e}",
            path.display()
        ))
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(&e))?
        .build()
        .map_err(|e| bad(&e))?;
    let batches: Vec<RecordBatch> = reader
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(&e))?;
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    arrow_select::concat::concat_batches(&first.schema(), &batches)
        .map(Some)
        .map_err(|e| bad(&e))
}

/// Column `name` cast to `to`, or a clear error naming the file.
fn column(b: &RecordBatch, name: &str, to: &DataType, file: &str) -> Result<arrow_array::ArrayRef> {
    let c = b.column_by_name(name).ok_or_else(|| {
        Error::input(format!(
            "{file} has no column '{name}'; was it written by strata?"
        ))
    })?;
    arrow_cast::cast(c, to).map_err(|e| Error::input(format!("{file}: column '{name}': {e}")))
}

fn strings(b: &RecordBatch, name: &str, file: &str) -> Result<Vec<Option<String>>> {
    let a = column(b, name, &DataType::Utf8, file)?;
    let a = a
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("cast to Utf8");
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

fn floats(b: &RecordBatch, name: &str, file: &str) -> Result<Vec<f64>> {
    let a = column(b, name, &DataType::Float64, file)?;
    let a = a
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .expect("cast to Float64");
    Ok((0..a.len())
        .map(|i| if a.is_valid(i) { a.value(i) } else { f64::NAN })
        .collect())
}

impl Outputs {
    pub fn read(dir: &Path) -> Result<Outputs> {
        let summary = json(&dir.join("summary.json"), RunSummary::read)?;
        let sweep = json(&dir.join("sweep.json"), versioned(schema::SWEEP))?;
        if summary.is_none() && sweep.is_none() {
            return Err(Error::usage(format!(
                "{} holds no summary.json or sweep.json: give the output directory of strata fit, assign, sweep or nightly",
                dir.display()
            )));
        }
        let mut segments = Vec::new();
        if let Some(b) = table(&dir.join("segments.parquet"))? {
            let f = "segments.parquet";
            let ids = floats(&b, "segment", f)?;
            let customers = floats(&b, "customers", f)?;
            let has = |c: &str| b.column_by_name(c).is_some();
            let names = if has("name") {
                strings(&b, "name", f)?
            } else {
                vec![None; b.num_rows()]
            };
            let rules = if has("rule") {
                strings(&b, "rule", f)?
            } else {
                vec![None; b.num_rows()]
            };
            for i in 0..b.num_rows() {
                segments.push(Segment {
                    id: ids[i] as u32,
                    name: names[i].clone(),
                    rule: rules[i].clone(),
                    customers: customers[i] as u64,
                });
            }
        }
        let mut profiles = Vec::new();
        if let Some(b) = table(&dir.join("profiles.parquet"))? {
            let f = "profiles.parquet";
            let seg = floats(&b, "segment", f)?;
            let feature = strings(&b, "feature", f)?;
            let category = strings(&b, "category", f)?;
            let [mean, p25, median, p75, z, share] =
                ["mean", "p25", "median", "p75", "z", "share"].map(|c| floats(&b, c, f));
            let (mean, p25, median, p75, z, share) = (mean?, p25?, median?, p75?, z?, share?);
            for i in 0..b.num_rows() {
                profiles.push(Profile {
                    segment: (seg[i] >= 0.0).then_some(seg[i] as u32),
                    feature: feature[i].clone().unwrap_or_default(),
                    category: category[i].clone(),
                    mean: mean[i],
                    p25: p25[i],
                    median: median[i],
                    p75: p75[i],
                    z: z[i],
                    share: share[i],
                });
            }
        }
        let migration = match table(&dir.join("migration.parquet"))? {
            Some(b) => {
                let f = "migration.parquet";
                let (from, to, share) = (
                    strings(&b, "from_segment", f)?,
                    strings(&b, "to_segment", f)?,
                    floats(&b, "share_of_from", f)?,
                );
                Some(
                    (0..b.num_rows())
                        .map(|i| Flow {
                            from: from[i].clone().unwrap_or_default(),
                            to: to[i].clone().unwrap_or_default(),
                            share: share[i],
                        })
                        .collect(),
                )
            }
            None => None,
        };
        let explain = json(
            &dir.join("explain.json"),
            versioned::<Fidelity>(schema::EXPLAIN),
        )?;
        Ok(Outputs {
            summary,
            segments,
            profiles,
            fidelity: explain.map(|e| e.fidelity),
            sweep,
            dendrogram: json(&dir.join("dendrogram.json"), versioned(schema::DENDROGRAM))?,
            migration,
        })
    }

    /// "12 segments of 50,000 customers, fitted by … on …" for the header.
    pub fn subtitle(&self) -> String {
        let sweep = self.sweep.as_ref();
        let (rows, what) = match &self.summary {
            Some(RunSummary::Assign(s)) => (Some(s.rows_assigned), "assigned with a saved model"),
            Some(RunSummary::Fit(s)) if s.method == "ward" => {
                (Some(s.rows_used), "Ward's hierarchical method")
            }
            Some(RunSummary::Fit(s)) => (Some(s.rows_used), "k-means"),
            None => (sweep.map(|w| w.rows), "k-means"),
        };
        let inputs: Vec<String> = (self.summary.as_ref().map(|s| s.inputs()))
            .or(sweep.map(|w| w.inputs.as_slice()))
            .unwrap_or_default()
            .iter()
            .map(|p| {
                Path::new(p)
                    .file_name()
                    .map_or(p.to_string(), |f| f.to_string_lossy().into_owned())
            })
            .collect();
        format!(
            "{} customers from {} · {what} · strata {}",
            rows.map_or("?".into(), |r| crate::explain::format_value(r as f64)),
            if inputs.is_empty() {
                "?".into()
            } else {
                inputs.join(", ")
            },
            (self.summary.as_ref().map(RunSummary::strata_version))
                .or(sweep.map(|w| w.strata_version.as_str()))
                .unwrap_or("")
        )
    }

    /// The summary's lifecycle section (fit's with `--previous`, assign's).
    pub fn lifecycle(&self) -> Option<&Lifecycle> {
        self.summary.as_ref().and_then(RunSummary::lifecycle)
    }

    pub fn profile(&self, segment: Option<u32>, feature: &str) -> Option<&Profile> {
        (self.profiles.iter())
            .find(|p| p.segment == segment && p.feature == feature && p.category.is_none())
    }

    fn find(
        &self,
        segment: Option<u32>,
        feature: &str,
        category: &Option<String>,
    ) -> Option<&Profile> {
        (self.profiles.iter())
            .find(|p| p.segment == segment && p.feature == feature && &p.category == category)
    }

    /// The effect (z) of one heatmap column for a segment.
    pub fn effect(&self, segment: u32, c: &super::Column) -> f64 {
        self.find(Some(segment), &c.feature, &c.category)
            .map_or(f64::NAN, |p| p.z)
    }

    /// The share of a segment's customers (None: everyone's) in one category column.
    pub fn share(&self, segment: Option<u32>, c: &super::Column) -> f64 {
        self.find(segment, &c.feature, &c.category)
            .map_or(f64::NAN, |p| p.share)
    }

    /// A segment's features and categories ranked by |effect|.
    pub fn ranked(&self, segment: u32) -> Vec<Ranked<'_>> {
        let mut v: Vec<Ranked> = (self.profiles.iter())
            .filter(|p| p.segment == Some(segment))
            .map(|p| Ranked {
                feature: p.feature.clone(),
                category: p.category.clone(),
                z: p.z,
                value: if p.category.is_some() {
                    p.share
                } else {
                    p.mean
                },
                profile: p,
            })
            .collect();
        v.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
        v
    }

    /// Everyone's value of a ranked feature (mean, or share of the category).
    pub fn overall_value(&self, r: &Ranked) -> f64 {
        let p = r.profile;
        self.find(None, &p.feature, &p.category)
            .map_or(f64::NAN, |o| {
                if o.category.is_some() {
                    o.share
                } else {
                    o.mean
                }
            })
    }
}
