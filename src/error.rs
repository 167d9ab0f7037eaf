//! One error type for the whole engine: a [`Kind`] (the binary maps it to its exit code), a one-line message that
//! names the problem and, where there is one, what to do about it, and the underlying error kept as the
//! [`std::error::Error::source`] rather than flattened into the text.

use std::path::Path;

/// Result alias used throughout strata.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, broadly: the caller's arguments, the input, the outputs or the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Invalid arguments or parameters (exit code 2, like clap's own usage errors).
    Usage,
    /// The input (data, model file, init file) could not be read or is not usable (exit code 3).
    Input,
    /// Writing the outputs failed; the output directory was left as it was (exit code 4).
    Output,
    /// No usable GPU, or the GPU failed (exit code 5).
    Device,
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A strata error. `Display` is the message followed by the source's own text, on one line.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    source: Option<Source>,
    /// The library parameter a usage error is about (the CLI names its flag).
    param: Option<&'static str>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
            param: None,
        }
    }
    /// An invalid parameter: a usage error whose message starts with `param` (as the library spells it,
    /// between backticks: see [`OPTIONS`]).
    pub fn param(param: &'static str, msg: impl std::fmt::Display) -> Self {
        let mut e = Self::usage(format!("`{param}` {msg}"));
        e.param = Some(param);
        e
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::new(Kind::Usage, msg)
    }
    pub fn input(msg: impl Into<String>) -> Self {
        Self::new(Kind::Input, msg)
    }
    /// Writing `path` failed because of `why` (an error, kept as the source, or a sentence). A full disk,
    /// a quota or a file-size limit (`ulimit -f`) gets a hint saying so.
    pub fn output(path: impl AsRef<Path>, why: impl Into<Source>) -> Self {
        let why = why.into();
        let mut message = format!("cannot write {}", path.as_ref().display());
        if let Some(hint) = storage_hint(why.as_ref()) {
            message = format!("{message} ({hint})");
        }
        Self::new(Kind::Output, message).with_source(why)
    }
    pub fn device(msg: impl Into<String>) -> Self {
        Self::new(Kind::Device, msg)
    }

    /// Keeps `source` as the underlying cause (its text is appended to the message when displayed).
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Prefixes the message with context (e.g. which file or flag), keeping kind and source.
    pub fn context(mut self, prefix: impl std::fmt::Display) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The parameter an invalid-parameter error is about.
    pub fn param_name(&self) -> Option<&'static str> {
        self.param
    }

    /// The same error with every `from` in its message replaced by `to`.
    pub(crate) fn replace_in_message(mut self, from: &str, to: &str) -> Self {
        self.message = self.message.replace(from, to);
        self
    }

    /// The message without the source's text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The options a message may name, in the library's spelling (the fields of the option sections). A
/// message names one between backticks, `` `min_category_share` ``; [`name_options`] rewrites those in the
/// caller's terms: the binary's flags (`--min-category-share`), a job file's keys, Python's keywords.
pub const OPTIONS: &[&str] = &[
    "inputs",
    "features",
    "id",
    "weight",
    "categorical",
    "delimiter",
    "decimal",
    "thousands",
    "na_values",
    "log1p",
    "scale",
    "missing",
    "min_category_share",
    "k",
    "n_init",
    "max_iter",
    "tol",
    "seed",
    "init",
    "method",
    "micro_clusters",
    "sample",
    "memory",
    "previous",
    "out",
    "groups",
    "profiles",
    "device",
    "gpu_memory",
    "silhouette_sample",
    "date",
];

/// The command-line flag of an option: `--min-category-share` for `min_category_share`.
pub fn flag(option: &str) -> String {
    format!("--{}", option.replace('_', "-"))
}

/// `text` with its options written as the command line's flags: what the binary prints, and warnings,
/// which are read as the command line writes them.
pub fn with_flags(text: &str) -> String {
    name_options(text, flag)
}

/// `text` with every option it names between backticks (one of [`OPTIONS`]) written as `name` writes it.
pub fn name_options(text: &str, mut name: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        match after.find('`').map(|close| &after[..close]) {
            Some(word) if OPTIONS.contains(&word) => {
                out.push_str(&rest[..open]);
                out.push_str(&name(word));
                rest = &after[word.len() + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What to do when writing failed for lack of room, from the I/O error anywhere in `e`'s source chain
/// (Parquet and Arrow keep the I/O error as their source, or only its text).
fn storage_hint(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    let mut cur = Some(e);
    while let Some(e) = cur {
        let text = e.to_string();
        let kind = e.downcast_ref::<std::io::Error>().map(|io| io.kind());
        if kind == Some(K::StorageFull) || text.contains("(os error 28)") {
            return Some("the disk is full: free space or choose another `out`");
        }
        if kind == Some(K::QuotaExceeded) || text.contains("(os error 122)") {
            return Some("the disk quota is exhausted: free space or choose another `out`");
        }
        if kind == Some(K::FileTooLarge) || text.contains("(os error 27)") {
            return Some(
                "the file-size limit was reached (ulimit -f): raise it, or write fewer rows per run",
            );
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn keeps_the_source_and_the_kind() {
        let e = crate::data::Source::open(&["/nonexistent/x.parquet".into()], &[]).unwrap_err();
        assert_eq!(e.kind(), Kind::Input);
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            io.map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("cannot open input /nonexistent/x.parquet: ")
        );
        let p = Error::param("n_init", "must be at least 1");
        assert_eq!((p.kind(), p.param_name()), (Kind::Usage, Some("n_init")));
        assert_eq!(Error::output("/x", "disk full").kind(), Kind::Output);
        // A full disk or a quota, even as the source of a Parquet error, says what to do.
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e = Error::output(
            "/x/labels.parquet",
            parquet::errors::ParquetError::External(Box::new(full)),
        );
        assert!(
            e.to_string()
                .contains("the disk is full: free space or choose another `out`"),
            "{e}"
        );
        assert_eq!(
            name_options(
                "`min_category_share` must be below `k`; see `strata devices`",
                flag
            ),
            "--min-category-share must be below --k; see `strata devices`"
        );
        let quota = std::io::Error::from_raw_os_error(122);
        assert!(Error::output("/x", quota).to_string().contains("quota"));
        assert_eq!(Error::device("lost").kind(), Kind::Device);
    }
}
