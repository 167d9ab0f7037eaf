//! job.toml: what a nightly job runs. Parsed with the `toml` crate into typed sections (unknown keys are
//! errors); every error names the file, the line and the key.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::compute::DeviceChoice;
use crate::data::Missing;
use crate::error::{Error, Result};
use crate::jobs::fit::InitChoice;
use crate::kmeans::params;
use crate::model::lifecycle::drift::Thresholds;
use crate::model::lifecycle::transitions::Overlaps;
use crate::pipeline::PrepSpec;
use crate::prep::Scaling;

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
pub struct Input {
    /// Files, directories or globs-free paths; `{date}` is replaced by the night's date (YYYY-MM-DD).
    pub paths: Spanned<Vec<String>>,
    pub id: Option<String>,
    pub features: Option<Vec<String>>,
    pub weight: Option<String>,
    #[serde(default)]
    pub categorical: Vec<String>,
    #[serde(default)]
    pub log1p: Vec<String>,
    #[serde(default = "zscore")]
    pub scale: Scaling,
    #[serde(default = "error")]
    pub missing: Missing,
    #[serde(default = "min_share")]
    pub min_category_share: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KMeansSection {
    pub k: Spanned<usize>,
    #[serde(default = "n_init")]
    pub n_init: usize,
    #[serde(default = "max_iter")]
    pub max_iter: usize,
    #[serde(default = "tol")]
    pub tol: f64,
    #[serde(default = "seed")]
    pub seed: u64,
    /// auto, k-means++, k-means||, random or previous (warm start from the last model; auto on the first
    /// night or when k changed).
    #[serde(default = "previous")]
    pub init: Spanned<String>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub input: Input,
    pub kmeans: KMeansSection,
    pub policy: PolicySection,
    pub output: Output,
    #[serde(default)]
    pub drift: Thresholds,
    #[serde(default)]
    pub lifecycle: Overlaps,
}

// The defaults of the library (the CLI's too).
fn zscore() -> Scaling {
    PrepSpec::default().scale
}
fn error() -> Missing {
    PrepSpec::default().missing
}
fn min_share() -> f64 {
    PrepSpec::default().min_category_share
}
fn n_init() -> usize {
    params::N_INIT
}
fn max_iter() -> usize {
    params::MAX_ITER
}
fn tol() -> f64 {
    params::TOL
}
fn seed() -> u64 {
    params::SEED
}
fn previous() -> Spanned<String> {
    Spanned::new(0..0, "previous".into())
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
    pub init: InitChoice,
    pub device: DeviceChoice,
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

/// The checks serde's types cannot express, each error at its key's line (`at` places a message at a
/// span; `key` finds a key's span).
fn check_values(
    config: &Config,
    at: &dyn Fn(Option<Range<usize>>, &str) -> Error,
    key: &dyn Fn(&str, &str) -> Option<Range<usize>>,
) -> Result<()> {
    let (km, input) = (&config.kmeans, &config.input);
    let checks = [
        (
            km.n_init >= 1,
            ("kmeans", "n_init"),
            "[kmeans] n_init must be at least 1",
        ),
        (
            km.max_iter >= 1,
            ("kmeans", "max_iter"),
            "[kmeans] max_iter must be at least 1",
        ),
        (
            km.tol.is_finite() && km.tol >= 0.0,
            ("kmeans", "tol"),
            "[kmeans] tol must be a finite number ≥ 0",
        ),
        (
            (0.0..1.0).contains(&input.min_category_share),
            ("input", "min_category_share"),
            "[input] min_category_share must be in [0, 1)",
        ),
    ];
    if let Some((_, (s, k), msg)) = checks.iter().find(|(ok, _, _)| !ok) {
        return Err(at(key(s, k), msg));
    }
    if *config.output.keep.get_ref() == 0 {
        return Err(at(
            Some(config.output.keep.span()),
            "[output] keep must be at least 1",
        ));
    }
    if config.input.paths.get_ref().is_empty() {
        return Err(at(
            Some(config.input.paths.span()),
            "[input] paths is empty",
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

/// The job-file keys of the command-line flags that fit's and assign's messages name.
const FLAG_KEYS: &[(&str, &str, &str)] = &[
    ("--features", "input", "features"),
    ("--categorical", "input", "categorical"),
    ("--log1p", "input", "log1p"),
    ("--min-category-share", "input", "min_category_share"),
    ("--missing", "input", "missing"),
    ("--weight", "input", "weight"),
    ("--scale", "input", "scale"),
    ("--id", "input", "id"),
    ("--k", "kmeans", "k"),
    ("--n-init", "kmeans", "n_init"),
    ("--max-iter", "kmeans", "max_iter"),
    ("--tol", "kmeans", "tol"),
    ("--seed", "kmeans", "seed"),
    ("--init", "kmeans", "init"),
];

/// Where in `file` (its `text`) the message `msg` is about: `FILE:LINE: key` of the key at `span`.
fn place(file: &Path, text: &str, span: Option<Range<usize>>, msg: &str) -> String {
    // A span at offset 0 is the whole file (a missing table), not its first line's key.
    let place = match span.map(|s| (s.start, line(text, s.start))) {
        Some((start, (n, Some(key)))) if start > 0 && !msg.contains(&format!("`{key}`")) => {
            format!(":{n}: {key}")
        }
        Some((_, (n, _))) => format!(":{n}"),
        None => String::new(),
    };
    format!("{}{place}: {msg}", file.display())
}

impl Job {
    /// An error of the night's fit or assign in the job file's terms: a message that names a command-line
    /// flag names the job file's key instead, with the file and the key's line.
    pub fn place(&self, e: Error) -> Error {
        let msg = e.message().to_string();
        let mut out = msg.clone();
        let mut first = None;
        for (flag, section, key) in FLAG_KEYS {
            let mut found = false;
            out = regex::Regex::new(&format!(r"{}\b(?:[^-]|$)", regex::escape(flag)))
                .expect("a literal")
                .replace_all(&out, |c: &regex::Captures| {
                    found = true;
                    c[0].replacen(flag, &format!("[{section}] {key}"), 1)
                })
                .into_owned();
            if found && first.is_none() {
                // A key the file leaves at its default has no line: the file alone is named.
                first = Some(key_offset(&self.text, section, key).map(|o| o..o + 1));
            }
        }
        match first {
            Some(span) => e.replace_in_message(&msg, &place(&self.file, &self.text, span, &out)),
            None => e,
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
        let config: Config = toml::from_str(&text).map_err(|e| at(e.span(), e.message().trim()))?;
        if *config.kmeans.k.get_ref() == 0 {
            return Err(at(
                Some(config.kmeans.k.span()),
                "[kmeans] k must be at least 1",
            ));
        }
        check_values(&config, &at, &key)?;
        let init = config.kmeans.init.get_ref().parse::<InitChoice>();
        let init = match init {
            Ok(InitChoice::File(_)) | Err(_) => {
                return Err(at(
                    Some(config.kmeans.init.span()),
                    "[kmeans] init must be auto, k-means++, k-means||, random or previous",
                ));
            }
            Ok(i) => i,
        };
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
        Ok(Job {
            config,
            file: file.to_path_buf(),
            init,
            device,
            dir,
            text,
        })
    }

    /// A path of the job file, relative to the file's directory.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// The night's input paths.
    pub fn inputs(&self, date: &str) -> Vec<PathBuf> {
        (self.config.input.paths.get_ref().iter())
            .map(|p| self.path(&p.replace("{date}", date)))
            .collect()
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
        assert_eq!(j.init, InitChoice::Previous);
        assert!(j.inputs("2026-11-25")[0].ends_with("in/2026-11-25.parquet"));
        let e = parse(&GOOD.replace("k = 5", "kk = 5")).unwrap_err();
        assert!(e.contains(":7:") && e.contains("kk"), "{e}");
        let e = parse(&GOOD.replace("k = 5", "k = 0")).unwrap_err();
        assert!(e.contains(":7: k: [kmeans] k must be"), "{e}");
        let e = parse(&GOOD.replace("k = 5", "k = 5\nn_init = 0")).unwrap_err();
        assert!(e.contains("[kmeans] n_init must be at least 1"), "{e}");
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
