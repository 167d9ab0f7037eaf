//! job.toml: what a nightly job runs. Parsed with the `toml` crate into typed sections (unknown keys are
//! errors); every error names the file, the line and the key.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::compute::DeviceChoice;
use crate::error::{Error, Result};
use crate::jobs::fit::FitOptions;
use crate::jobs::options::{
    InitChoice, InputSpec, KMeansSpec, LifecycleOptions, Method, OutputSpec, PrepSpec,
};
use crate::model::lifecycle::Previous;
use crate::model::lifecycle::drift::Thresholds;
use crate::model::lifecycle::transitions::Overlaps;

/// What to do each night once a model exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Refit every night (segment ids carried over by matching).
    RefitAlways,
    /// Assign with the current model; refit when its drift verdict is `refit`.
    RefitOnDrift,
    /// Always assign with the current model (refit only on the first night).
    AssignOnly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub mode: Policy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// runs/<date>/ for each night and the `current` pointer.
    pub runs: String,
    /// Every fitted model, as <date>.json.
    pub registry: String,
    /// Nights kept (older runs and registry models are deleted).
    #[serde(default = "keep")]
    pub keep: Spanned<usize>,
    #[serde(default = "auto")]
    pub device: Spanned<String>,
}

/// The job file. `[input]`, `[prep]` and `[kmeans]` are fit's option sections (the same types, the same
/// defaults; `[input]` calls its `inputs` `paths`), `[drift]` and `[lifecycle]` the lifecycle's thresholds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub input: InputSpec,
    #[serde(default)]
    pub prep: PrepSpec,
    pub kmeans: KMeansSpec,
    pub policy: PolicySection,
    pub output: Output,
    #[serde(default)]
    pub drift: Thresholds,
    #[serde(default)]
    pub lifecycle: Overlaps,
}

fn keep() -> Spanned<usize> {
    Spanned::new(0..0, 30)
}
fn auto() -> Spanned<String> {
    Spanned::new(0..0, "auto".into())
}

/// A job file, parsed and checked, with paths resolved against its directory.
#[derive(Debug)]
pub struct Job {
    pub config: Config,
    pub file: PathBuf,
    pub device: DeviceChoice,
    /// Progress bars for the night's long steps (the command line's choice; off for a library user).
    pub progress: bool,
    dir: PathBuf,
    /// The file's text, to place later errors on its lines.
    text: String,
}

/// 1-based line of byte offset `at` in `text`, and the key or table header written on that line.
fn line(text: &str, at: usize) -> (usize, Option<String>) {
    let at = at.min(text.len());
    let number = text[..at].matches('\n').count() + 1;
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let written = text[start..].lines().next().unwrap_or("").trim();
    let key = if written.starts_with('[') {
        Some(written.to_string())
    } else {
        written.split_once('=').map(|(k, _)| k.trim().to_string())
    };
    (number, key.filter(|k| !k.is_empty()))
}

/// Byte offset of `key = …` in the `[section]` table of `text`.
fn key_offset(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = "";
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        let t = l.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|t| t.split(']').next()) {
            current = name.trim();
        } else if current == section
            && let Some(rest) = t.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(at + (l.len() - l.trim_start().len()));
        }
        at += l.len();
    }
    None
}

/// The nightly's own checks, each error at its key's line (`at` places a message at a span; `key` finds
/// a key's span). Fit's options are checked by fit's own check (see [`Job::read`]).
fn check_values(
    config: &Config,
    at: &dyn Fn(Option<Range<usize>>, &str) -> Error,
    key: &dyn Fn(&str, &str) -> Option<Range<usize>>,
) -> Result<()> {
    if *config.output.keep.get_ref() == 0 {
        return Err(at(
            Some(config.output.keep.span()),
            "[output] keep must be at least 1",
        ));
    }
    if config.input.inputs.is_empty() {
        return Err(at(
            key("input", "paths").or(key("input", "inputs")),
            "[input] paths is empty or missing: name tonight's input files",
        ));
    }
    // Their messages start with the key at fault.
    let first_word = |m: &str| m.split([' ', ':']).next().unwrap_or("").to_string();
    (config.lifecycle.check()).map_err(|m| {
        at(
            key("lifecycle", &first_word(&m)),
            &format!("[lifecycle] {m}"),
        )
    })?;
    (config.drift.check()).map_err(|m| at(key("drift", &first_word(&m)), &format!("[drift] {m}")))
}

/// Where the job file holds each option that fit's and assign's messages name: (option, section, key on
/// the file's line, the key as a message writes it).
const SECTIONS: &[(&str, &str, &str, &str)] = &[
    ("features", "input", "features", "features"),
    ("categorical", "input", "categorical", "categorical"),
    ("weight", "input", "weight", "weight"),
    ("id", "input", "id", "id"),
    ("delimiter", "input", "csv", "csv.delimiter"),
    ("decimal", "input", "csv", "csv.decimal"),
    ("thousands", "input", "csv", "csv.thousands"),
    ("na_values", "input", "csv", "csv.na_values"),
    ("log1p", "prep", "log1p", "log1p"),
    (
        "min_category_share",
        "prep",
        "min_category_share",
        "min_category_share",
    ),
    ("missing", "prep", "missing", "missing"),
    ("scale", "prep", "scale", "scale"),
    ("k", "kmeans", "k", "k"),
    ("n_init", "kmeans", "n_init", "n_init"),
    ("max_iter", "kmeans", "max_iter", "max_iter"),
    ("tol", "kmeans", "tol", "tol"),
    ("seed", "kmeans", "seed", "seed"),
    ("init", "kmeans", "init", "init"),
    ("method", "kmeans", "method", "method"),
    ("micro_clusters", "kmeans", "method", "method.ward.micro"),
    ("sample", "kmeans", "sample", "sample"),
    ("memory", "kmeans", "memory", "memory"),
];

/// Where in `file` (its `text`) the message `msg` is about: `FILE:LINE: key` of the key at `span`.
fn place(file: &Path, text: &str, span: Option<Range<usize>>, msg: &str) -> String {
    // A span at offset 0 is the whole file (a missing table), not its first line's key.
    let place = match span.map(|s| (s.start, line(text, s.start))) {
        Some((start, (n, Some(key)))) if start > 0 && !msg.contains(&format!("'{key}'")) => {
            format!(":{n}: {key}")
        }
        Some((_, (n, _))) => format!(":{n}"),
        None => String::new(),
    };
    format!("{}{place}: {msg}", file.display())
}

/// Preparation keys that moved from `[input]` to `[prep]`.
const PREP_KEYS: [&str; 4] = ["log1p", "scale", "missing", "min_category_share"];

impl Job {
    /// An error of the night's fit or assign in the job file's terms: the option it is about (its
    /// parameter, or a command-line flag its message names) becomes the job file's `[section] key`, with
    /// the file and the key's line.
    pub fn place(&self, e: Error) -> Error {
        let msg = e.message().to_string();
        let mut first = None;
        let out = crate::error::name_options(&msg, |option| {
            match SECTIONS.iter().find(|(o, ..)| *o == option) {
                Some((_, section, key, shown)) => {
                    // A key the file leaves at its default has no line: the file alone is named.
                    first.get_or_insert_with(|| {
                        key_offset(&self.text, section, key).map(|o| o..o + 1)
                    });
                    format!("[{section}] {shown}")
                }
                // Not a job-file key (`--out`, `--previous`): the command line's name.
                None => crate::error::flag(option),
            }
        });
        match first {
            Some(span) => e.replace_in_message(&msg, &place(&self.file, &self.text, span, &out)),
            None => e.replace_in_message(&msg, &out),
        }
    }

    pub fn read(file: &Path) -> Result<Job> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::usage(format!("cannot read the job file {}", file.display())).with_source(e)
        })?;
        let at =
            |span: Option<Range<usize>>, msg: &str| Error::usage(place(file, &text, span, msg));
        // The line of a key that has no span of its own (plain values).
        let key = |section: &str, key: &str| key_offset(&text, section, key).map(|o| o..o + 1);
        // toml's messages quote the file's keys in backticks, which messages of strata reserve for
        // options (the binary writes those as flags): here they are quoted plainly.
        let toml_error = |e: toml::de::Error| at(e.span(), &e.message().trim().replace('`', "'"));
        let table: toml::Table = toml::from_str(&text).map_err(toml_error)?;
        let given = |section: &str, k: &str| (table.get(section).and_then(|t| t.get(k))).is_some();
        if let Some(k) = PREP_KEYS.iter().find(|k| given("input", k)) {
            return Err(at(
                key("input", k),
                &format!(
                    "[input] {k} is a preparation key: move it under a [prep] header (with scale, missing, log1p and min_category_share)"
                ),
            ));
        }
        let mut config: Config = toml::from_str(&text).map_err(toml_error)?;
        if !given("kmeans", "k") {
            let header = text.find("[kmeans]").map(|o| o..o + 1);
            return Err(at(
                key("kmeans", "k").or(header),
                "[kmeans] k is missing: say how many segments",
            ));
        }
        check_values(&config, &at, &key)?;
        let km = &mut config.kmeans;
        if !given("kmeans", "init") {
            // A warm start from the last model unless the method starts itself.
            km.init = match km.method {
                Method::KMeans => InitChoice::Previous,
                Method::Ward { .. } => InitChoice::Auto,
            };
        }
        if let Method::Ward { .. } = km.method
            && km.init != InitChoice::Auto
        {
            return Err(at(
                key("kmeans", "init"),
                "[kmeans] init: method ward starts its micro-clusters itself; leave init out or set it to auto",
            ));
        }
        if matches!(km.init, InitChoice::File(_)) {
            return Err(at(
                key("kmeans", "init"),
                "[kmeans] init must be auto, k-means++, k-means||, random or previous",
            ));
        }
        let device = config
            .output
            .device
            .get_ref()
            .parse::<DeviceChoice>()
            .map_err(|_| {
                at(
                    Some(config.output.device.span()),
                    "[output] device must be auto, cpu or gpu",
                )
            })?;
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let job = Job {
            config,
            file: file.to_path_buf(),
            device,
            progress: false,
            dir,
            text,
        };
        // Fit's own check, on a night with no previous one, in the file's terms.
        let first = job.fit_options(job.config.input.inputs.clone(), None, Path::new("."), None);
        first.check().map_err(|e| job.place(e))?;
        Ok(job)
    }

    /// A path of the job file, relative to the file's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// The night's input paths.
    pub fn inputs(&self, date: &str) -> Vec<PathBuf> {
        (self.config.input.inputs.iter())
            .map(|p| self.path(&p.to_string_lossy().replace("{date}", date)))
            .collect()
    }

    /// The night's lifecycle options: the job's thresholds, related to the previous night `prev`.
    pub fn lifecycle(&self, prev: Option<&Previous>) -> LifecycleOptions {
        LifecycleOptions {
            previous: prev.map(|p| p.dir.clone()),
            overlaps: self.config.lifecycle,
            drift: self.config.drift,
        }
    }

    /// The night's output: `out`, with the report and the nightly's decision.
    pub fn output(&self, out: &Path, decision: Option<String>) -> OutputSpec {
        OutputSpec {
            out: out.to_path_buf(),
            decision,
            progress: self.progress,
            ..OutputSpec::default()
        }
    }

    /// A night's fit: the job's sections with tonight's `inputs`, related to `prev`, written to `out`. The
    /// warm start (`init = "previous"`) needs last night's model to allow one (same k and features): on
    /// the first night it is a cold start, and a model that does not allow it gives one with a warning.
    pub fn fit_options(
        &self,
        inputs: Vec<PathBuf>,
        prev: Option<&Previous>,
        out: &Path,
        decision: Option<String>,
    ) -> FitOptions {
        let c = &self.config;
        let mut kmeans = c.kmeans.clone();
        if kmeans.init == InitChoice::Previous {
            kmeans.init = match prev {
                Some(_) => InitChoice::PreviousOrAuto,
                None => InitChoice::Auto,
            };
        }
        FitOptions {
            input: InputSpec {
                inputs,
                ..c.input.clone()
            },
            prep: c.prep.clone(),
            kmeans,
            lifecycle: self.lifecycle(prev),
            output: self.output(out, decision),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Job, String> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("job.toml");
        std::fs::write(&f, text).unwrap();
        Job::read(&f).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
[input]
paths = ["in/{date}.parquet"]
id = "customer_id"

[kmeans]
k = 5

[policy]
mode = "refit-on-drift"

[output]
runs = "runs"
registry = "models"
"#;

    #[test]
    fn errors_name_the_line_and_key() {
        let j = parse(GOOD).unwrap();
        assert_eq!(j.config.policy.mode, Policy::RefitOnDrift);
        assert_eq!(j.config.kmeans.init, InitChoice::Previous);
        assert_eq!(j.config.kmeans.n_init, crate::kmeans::params::N_INIT);
        assert!(j.inputs("2026-11-25")[0].ends_with("in/2026-11-25.parquet"));
        let e = parse(&GOOD.replace("k = 5", "kk = 5")).unwrap_err();
        assert!(e.contains(":7:") && e.contains("kk"), "{e}");
        let e = parse(&GOOD.replace("k = 5", "k = 0")).unwrap_err();
        assert!(e.contains(":7: k: [kmeans] k must be"), "{e}");
        let e = parse(&GOOD.replace("k = 5", "k = 5\nn_init = 0")).unwrap_err();
        assert!(
            e.contains(":8: n_init: [kmeans] n_init must be at least 1"),
            "{e}"
        );
        let e = parse(&GOOD.replace("k = 5", "n_init = 3")).unwrap_err();
        assert!(
            e.contains(":6:") && e.contains("[kmeans] k is missing"),
            "{e}"
        );
        let e = parse(&GOOD.replace("id = ", "log1p = [\"a\"]\nid = ")).unwrap_err();
        assert!(
            e.contains(
                ":4: log1p: [input] log1p is a preparation key: move it under a [prep] header"
            ),
            "{e}"
        );
        let prep = GOOD.replace("[kmeans]", "[prep]\nmin_category_share = 1.5\n\n[kmeans]");
        let e = parse(&prep).unwrap_err();
        assert!(
            e.contains(":7: min_category_share: [prep] min_category_share must be in [0, 1)"),
            "{e}"
        );
        let j = parse(&prep.replace("1.5", "0.05")).unwrap();
        assert_eq!(j.config.prep.min_category_share, 0.05);
        let e = parse(&GOOD.replace("k = 5", "k = 5\nsample = 3")).unwrap_err();
        assert!(
            e.contains(":8: sample: [kmeans] sample (3) must be at least [kmeans] k (5)"),
            "{e}"
        );
        let ward = "k = 5\nmethod = { ward = { micro = 64 } }";
        assert!(parse(&GOOD.replace("k = 5", ward)).is_ok());
        let e = parse(&GOOD.replace("k = 5", &format!("{ward}\ninit = \"previous\""))).unwrap_err();
        assert!(
            e.contains(":9: init: [kmeans] init: method ward starts"),
            "{e}"
        );
        let e = parse(&GOOD.replace("k = 5", "k = 5\ninit = \"my.csv\"")).unwrap_err();
        assert!(e.contains(":8: init: [kmeans] init must be auto"), "{e}");
        let e = parse(&GOOD.replace("k = 5", "k = \"five\"")).unwrap_err();
        assert!(e.contains(":7: k: invalid type"), "{e}");
        let e = parse(&GOOD.replace("refit-on-drift", "sometimes")).unwrap_err();
        assert!(e.contains(":10:") && e.contains("sometimes"), "{e}");
        let drift = "\n[drift]\npsi = { watch = 0.2, refit = 0.4 }\n";
        let j = parse(&format!("{GOOD}{drift}")).unwrap();
        assert_eq!(j.config.drift.psi.refit, 0.4);
        assert_eq!(
            j.config.drift.segment_psi.refit, 0.25,
            "unset thresholds keep their default"
        );
        let e = parse(&format!("{GOOD}{}", drift.replace("0.2", "0.5"))).unwrap_err();
        assert!(e.contains("[drift] psi"), "{e}");
        let e = parse(&format!("{GOOD}\n[drift]\npsi = {{ watch = 0.2 }}\n")).unwrap_err();
        assert!(e.contains(":17:") && e.contains("refit"), "{e}");
    }
}
