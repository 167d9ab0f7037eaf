//! strata's integration tests, one binary: each file below was a test binary of its own, and linking the
//! library into each took most of CI's build. Shared helpers (running the binary, reading outputs, the one
//! list of backends) are in `tests/common`. `tests/adversary.rs` stays a binary of its own: one of its cases
//! takes over the process's signal-time state.

#[path = "../common/mod.rs"]
mod common;

mod assign;
mod backends;
mod bad_input;
mod dialects;
mod faithful;
mod fit_cli;
mod golden;
mod lifecycle;
mod limits;
mod nightly;
mod publish;
mod quality;
mod report;
