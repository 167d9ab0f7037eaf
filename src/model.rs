//! The saved model (model.json): everything a later run needs to prepare new data the same way and assign
//! it to the same segments. Versioned: readers check `format` and `format_version`.

use std::path::Path;

use arrow_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::prep::Preprocessor;

pub const FORMAT: &str = "strata-model";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub format_version: u32,
    pub strata_version: String,
    /// Seconds since the Unix epoch when the model was written (the only field that differs between reruns).
    pub created_unix: u64,
    pub features: Vec<String>,
    pub id_column: Option<String>,
    pub weight_column: Option<String>,
    pub preprocessor: Preprocessor,
    pub k: usize,
    /// k rows of d values in the prepared space, segment order (segment 0 = largest).
    pub centroids: Vec<Vec<f32>>,
    pub init: String,
    pub n_init: usize,
    pub seed: u64,
    pub tol: f64,
    pub max_iter: usize,
    pub sse: f64,
    pub iterations: usize,
    pub converged: bool,
    pub input_rows: usize,
    pub fitted_rows: usize,
    /// xxh64 over the input schema's column names and types: a changed export layout is detectable.
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

impl Model {
    pub fn read(path: &Path) -> Result<Model> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("cannot read model {}: {e}", path.display())))?;
        let m: Model = serde_json::from_str(&text).map_err(|e| {
            Error::input(format!(
                "{} is not a strata model file: {e}",
                path.display()
            ))
        })?;
        if m.format != FORMAT || m.format_version > FORMAT_VERSION {
            return Err(Error::input(format!(
                "{} has format {} v{}; this strata reads {FORMAT} up to v{FORMAT_VERSION}",
                path.display(),
                m.format,
                m.format_version
            )));
        }
        Ok(m)
    }
}
