//! One error type for the whole engine. Every variant renders as a single line that names the problem and,
//! where there is one, what to do about it; `exit_code` maps the kind of failure to the documented exit code.

use std::path::PathBuf;

/// Result alias used throughout strata.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid arguments or option combinations (exit code 2, like clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    /// The input could not be read or its content is not usable (exit code 3).
    #[error("{0}")]
    Input(String),
    /// Writing the outputs failed; the output directory was left as it was (exit code 4).
    #[error("cannot write {path}: {msg}")]
    Output { path: PathBuf, msg: String },
    /// No usable GPU, or the GPU failed (exit code 5).
    #[error("{0}")]
    Device(String),
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
    pub fn input(msg: impl Into<String>) -> Self {
        Error::Input(msg.into())
    }
    pub fn output(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Error::Output {
            path: path.into(),
            msg: msg.to_string(),
        }
    }
    pub fn device(msg: impl Into<String>) -> Self {
        Error::Device(msg.into())
    }

    /// Process exit code for this error (documented in the README).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Input(_) => 3,
            Error::Output { .. } => 4,
            Error::Device(_) => 5,
        }
    }
}
