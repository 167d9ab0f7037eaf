//! The option sections of the jobs, each with its defaults in one place (its `Default`, built on the
//! library's own defaults): what to read ([`InputSpec`]), how to prepare it ([`PrepSpec`]), the k-means
//! run ([`KMeansSpec`]), the previous night ([`LifecycleOptions`]) and what to write ([`OutputSpec`]).
//! The CLI's argument groups convert into them one to one, and a job's options are these sections.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::compute::select::parse_bytes;
use crate::data::source::{Batches, CsvOptions};
use crate::kmeans::params;
use crate::model::lifecycle::drift;
use crate::model::lifecycle::transitions::Overlaps;
pub use crate::pipeline::PrepSpec;
use crate::report::Groups;

/// A value written as text its `FromStr` reads (`"k-means++"`, a path).
fn parsed<'de, D: Deserializer<'de>, T: std::str::FromStr<Err = String>>(
    d: D,
) -> std::result::Result<T, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// [`parsed`], or null for None.
fn parsed_option<'de, D: Deserializer<'de>, T: std::str::FromStr<Err = String>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// Options that passed their job's check (`FitOptions::check`, `AssignOptions::check`,
/// `SweepOptions::check`): what the jobs take, so that nothing downstream validates them again (linfa's
/// `ParamGuard`). Only a check makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<T>(T);

impl<T> Checked<T> {
    /// `opts` once `check` accepted them.
    pub(super) fn new(
        opts: T,
        check: impl FnOnce(&T) -> crate::error::Result<()>,
    ) -> crate::error::Result<Self> {
        check(&opts)?;
        Ok(Checked(opts))
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What to read: the input files, the columns and their roles, and how delimited text is read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputSpec {
    /// Files or directories (a job file calls them `paths`).
    #[serde(alias = "paths")]
    pub inputs: Vec<PathBuf>,
    /// Numeric feature columns by name; None = every numeric column but the id and the weight.
    pub features: Option<Vec<String>>,
    pub id: Option<String>,
    pub weight: Option<String>,
    /// Categorical feature columns, one-hot encoded.
    pub categorical: Vec<String>,
    pub csv: CsvOptions,
    /// Rows already in memory, read instead of `inputs` (the Python package's tables).
    #[serde(skip)]
    pub memory: Option<Batches>,
}

/// The k-means run: k, the initial centroids, restarts and iterations, the seed, and the method.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KMeansSpec {
    pub k: usize,
    #[serde(deserialize_with = "parsed")]
    pub init: InitChoice,
    pub n_init: usize,
    pub max_iter: usize,
    pub tol: f64,
    pub seed: u64,
    pub method: Method,
    /// k-means on a uniform sample of this many rows (drawn with `seed`), then every row labelled: None
    /// fits on all rows (or, over `memory`, on [`default_sample`] rows).
    pub sample: Option<usize>,
    /// Bytes the prepared input may take: above it, k-means runs on a sample and every customer is
    /// assigned in one streamed pass. None = 80 % of this machine's memory.
    #[serde(deserialize_with = "bytes_option")]
    pub memory: Option<u64>,
}

/// The rows k-means runs on when the input is over the memory budget and `sample` is not given: 16,384
/// per segment, at least 131,072 (5M × 16, k = 8: the SSE over every row within 0.005 % of a full fit's,
/// BENCHMARKS.md).
pub fn default_sample(k: usize) -> usize {
    (16_384 * k).max(131_072)
}

/// A size in bytes from a job file: an integer, or text like "8G" (see [`parse_bytes`]).
fn bytes_option<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Option::<Size>::deserialize(d)? {
        None => Ok(None),
        Some(Size::Bytes(b)) => Ok(Some(b)),
        Some(Size::Text(t)) => parse_bytes(&t).map(Some).map_err(serde::de::Error::custom),
    }
}

impl Default for KMeansSpec {
    /// scikit-learn's: 8 clusters, 10 restarts, 300 iterations, tol 1e-4, seed 0 ([`params`]).
    fn default() -> Self {
        KMeansSpec {
            k: 8,
            init: InitChoice::Auto,
            n_init: params::N_INIT,
            max_iter: params::MAX_ITER,
            tol: params::TOL,
            seed: params::SEED,
            method: Method::KMeans,
            sample: None,
            memory: None,
        }
    }
}

/// The previous night and the lifecycle's thresholds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleOptions {
    /// The previous night's output directory: segment ids, transitions, migration and drift relate to it.
    pub previous: Option<PathBuf>,
    pub overlaps: Overlaps,
    pub drift: drift::Thresholds,
}

impl LifecycleOptions {
    /// The thresholds are in their ranges.
    pub fn check(&self) -> crate::error::Result<()> {
        use crate::error::Error;
        self.overlaps.check().map_err(Error::usage)?;
        self.drift.check().map_err(Error::usage)
    }
}

/// What a job writes and records.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSpec {
    /// The output directory, published as a whole.
    pub out: PathBuf,
    /// Write report.html into the output set (None: `--no-report`), with these groups
    /// (`"channels=a,b;products=c"`).
    #[serde(deserialize_with = "parsed_option")]
    pub report: Option<Groups>,
    /// Why this run happened (a nightly's decision), recorded in summary.json.
    pub decision: Option<String>,
    /// Progress bars for long steps, on stderr when it is a terminal (the command line's default; a
    /// library user gets none).
    pub progress: bool,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            out: PathBuf::new(),
            report: Some(Groups::default()),
            decision: None,
            progress: false,
        }
    }
}

/// `--init`: a method name or a file of centroids in original units.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum InitChoice {
    #[default]
    Auto,
    KMeansPlusPlus,
    KMeansParallel,
    Random,
    /// The `--previous` model's centroids, mapped through original units into tonight's prepared space.
    Previous,
    /// `Previous` when last night's model can be mapped (same k, same numeric features, no categorical
    /// one), `Auto` otherwise, with a warning: what a nightly job asks for (not a command-line value).
    PreviousOrAuto,
    File(PathBuf),
}

impl std::str::FromStr for InitChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "auto" => InitChoice::Auto,
            "k-means++" | "kmeans++" => InitChoice::KMeansPlusPlus,
            "k-means||" | "kmeans||" => InitChoice::KMeansParallel,
            "random" => InitChoice::Random,
            "previous" => InitChoice::Previous,
            // A path names a file; anything else is a mistyped method.
            path if std::path::Path::new(path).exists() || path.contains(['/', '.']) => {
                InitChoice::File(PathBuf::from(path))
            }
            other => {
                return Err(format!(
                    "'{other}' is neither a method (auto, k-means++, k-means||, random, previous) nor an existing file"
                ));
            }
        })
    }
}

impl std::fmt::Display for InitChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitChoice::Auto => write!(f, "auto"),
            InitChoice::KMeansPlusPlus => write!(f, "k-means++"),
            InitChoice::KMeansParallel => write!(f, "k-means||"),
            InitChoice::Random => write!(f, "random"),
            InitChoice::Previous => write!(f, "previous"),
            InitChoice::PreviousOrAuto => write!(f, "previous-or-auto"),
            InitChoice::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// `--method`: what makes the segments.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Method {
    #[default]
    KMeans,
    /// k-means to `micro` micro-clusters, then Ward's linkage of them cut at k (see
    /// [`crate::kmeans::ward`]).
    Ward { micro: usize },
}

#[cfg(test)]
mod tests {
    use crate::jobs::fit::FitOptions;

    /// Sections given by name take their values; everything left out keeps the one default of its section.
    #[test]
    fn sections_deserialize_onto_their_defaults() {
        let text = r#"{
            "input": {"inputs": ["a.csv"], "id": "customer_id",
                      "csv": {"delimiter": ";", "decimal": ",", "thousands": "none"}},
            "prep": {"log1p": ["balance"], "scale": "robust"},
            "kmeans": {"k": 5, "init": "k-means++", "method": {"ward": {"micro": 64}}},
            "lifecycle": {"previous": "last", "overlaps": {"survive": 0.8}},
            "output": {"out": "seg", "report": "channels=calls"}
        }"#;
        let o: FitOptions = serde_json::from_str(text).unwrap();
        let mut want = FitOptions::default();
        want.input.inputs = vec!["a.csv".into()];
        want.input.id = Some("customer_id".into());
        (want.input.csv.delimiter, want.input.csv.decimal) = (Some(b';'), Some(b','));
        want.input.csv.thousands = Some(None);
        want.prep.log1p = vec!["balance".into()];
        want.prep.scale = crate::prep::Scaling::Robust;
        want.kmeans.k = 5;
        want.kmeans.init = super::InitChoice::KMeansPlusPlus;
        want.kmeans.method = super::Method::Ward { micro: 64 };
        want.lifecycle.previous = Some("last".into());
        want.lifecycle.overlaps.survive = 0.8;
        want.output.out = "seg".into();
        want.output.report = Some("channels=calls".parse().unwrap());
        assert_eq!(o, want);
        assert_eq!(
            serde_json::from_str::<FitOptions>("{}").unwrap(),
            FitOptions::default()
        );
        for (bad, says) in [
            (r#"{"kmeans": {"kk": 5}}"#, "unknown field `kk`"),
            (r#"{"kmeans": {"init": "kmeans+"}}"#, "neither a method"),
            (
                r#"{"input": {"csv": {"delimiter": ";;"}}}"#,
                "not one ASCII character",
            ),
        ] {
            let e = serde_json::from_str::<FitOptions>(bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
