//! The skeleton every job runs in: [`Run::open`] stages its output set; the job's own middle part runs its
//! passes on the device ([`Run::on_device`], with the one GPU→CPU fallback) and writes its files
//! ([`Run::write`]); [`Run::finish`] writes summary.json and the report, and publishes the set. An error
//! on the way leaves `--out` as it was, and says which state it is in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::compute::Backend;
use crate::compute::select::{Selected, run_with_fallback};
use crate::data::sink::OutputSet;
use crate::error::Result;
use crate::output::schema::Versioned;
use crate::report::{self, Groups};

/// One run of a job: its device selection, log, warnings, clock and staged output set.
pub(crate) struct Run<'a> {
    sel: &'a Selected,
    pub log: &'a dyn Fn(&str),
    staging: OutputSet,
    /// What the job tells the user in its summary (a GPU fallback's note among them).
    pub warnings: Vec<String>,
    /// The device the job's last pass ran on (the CPU after a fallback).
    pub device: String,
    started: Instant,
}

impl<'a> Run<'a> {
    /// Stages the output set at `out` (refused when `out` is one of the files it `reads`); the job began
    /// at `started` (its summary's total counts from there).
    pub fn open(
        out: &Path,
        reads: &[PathBuf],
        (sel, log): (&'a Selected, &'a dyn Fn(&str)),
        started: Instant,
    ) -> Result<Run<'a>> {
        Ok(Run {
            sel,
            log,
            staging: OutputSet::create(out, reads)?,
            warnings: Vec::new(),
            device: sel.primary.name(),
            started,
        })
    }

    /// Runs `job` on the selected device; a GPU that fails reruns it on the CPU, with a warning. `log`
    /// replaces the run's log for the job (a progress bar's).
    pub fn on_device<T>(
        &mut self,
        log: &dyn Fn(&str),
        job: impl Fn(&dyn Backend) -> Result<T>,
    ) -> Result<T> {
        let on = run_with_fallback(self.sel, log, job).map_err(|e| self.staging.explain(e))?;
        self.warnings.extend(on.fell_back);
        self.device = on.device;
        Ok(on.value)
    }

    /// Writes into the staged set; an error says what became of `--out`.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut OutputSet) -> Result<T>) -> Result<T> {
        let r = f(&mut self.staging);
        r.map_err(|e| self.staging.explain(e))
    }

    /// Seconds since the job began.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Writes `summary` as summary.json (format `version`) and, with `report`, report.html; then publishes
    /// the set and returns its files.
    pub fn finish<S: Serialize>(
        mut self,
        version: u32,
        summary: &S,
        report: Option<&Groups>,
    ) -> Result<Vec<PathBuf>> {
        self.write(|s| s.write_json("summary.json", &Versioned::new(version, summary)))?;
        self.publish(report)
    }

    /// With `report`, writes report.html from the staged files; then publishes the set.
    pub fn publish(mut self, report: Option<&Groups>) -> Result<Vec<PathBuf>> {
        if let Some(g) = report {
            report::stage(&mut self.staging, g, self.log)?;
        }
        self.staging.commit()
    }
}

/// `f`'s value and its wall seconds.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed().as_secs_f64())
}
