//! The nightly lifecycle of a segmentation: segment identities that survive refits ([`matching`]), how
//! segments evolved ([`transitions`]), how customers moved ([`migration`]) and whether the model still
//! fits tonight's population ([`drift`]).

pub mod drift;
pub mod matching;
pub mod migration;
pub mod transitions;

use std::path::{Path, PathBuf};

use super::Model;
use crate::error::{Error, Result};

/// A previous night's output directory (`--previous DIR`): the model it used and its labels.
pub struct Previous {
    pub dir: PathBuf,
    pub model: Model,
    /// DIR/labels.parquet, when it exists.
    pub labels: Option<PathBuf>,
}

impl Previous {
    /// Opens a fit's, assign's or nightly's output directory. Its files are read through the resolved
    /// path: when tonight publishes into the same `--out`, the previous set stays until the next run.
    pub fn open(dir: &Path) -> Result<Previous> {
        let resolved = dir.canonicalize().unwrap_or(dir.to_path_buf());
        let model_path = resolved.join("model.json");
        if !model_path.is_file() {
            return Err(Error::input(format!(
                "`previous` {}: no model.json there; give the output directory of an earlier fit, assign or nightly run",
                dir.display()
            )));
        }
        // Named as the user gave it, not as the set strata published behind it.
        let model = Model::read(&model_path).map_err(|e| {
            e.replace_in_message(&resolved.display().to_string(), &dir.display().to_string())
        })?;
        if model.reference.is_none() {
            return Err(Error::input(format!(
                "`previous` {}: its model (format version 2) has no drift reference; refit once with this strata",
                dir.display()
            )));
        }
        let labels = resolved.join("labels.parquet");
        Ok(Previous {
            dir: dir.to_path_buf(),
            model,
            labels: labels.is_file().then_some(labels),
        })
    }
}
