//! `strata nightly --config job.toml`: one night of a production job. Tonight's run goes to
//! `runs/<date>/` (published as a whole by [`OutputSet`], so re-running a date replaces that night
//! atomically); `runs/current` is moved to it, by renaming a new symlink over the old one, only when the
//! whole night succeeded. Each night relates to the latest earlier night in `runs/`.
//!
//! Policies: `refit-always` fits with `--previous`; `assign-only` assigns with the previous night's model;
//! `refit-on-drift` measures tonight's drift against that model first and refits only on a `refit`
//! verdict. The first night always fits.

pub mod config;

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::accumulate::DriftPass;
use super::assign::{self, AssignOptions};
use super::fit;
use super::lineage::Lifecycle;
use super::scan::{measuring, model_columns, scan};
use crate::compute::select::{Selected, run_with_fallback};
use crate::data::Source;
use crate::data::sink::write_file_atomic;
use crate::error::{Error, Result};
use crate::model::lifecycle::Previous;
use crate::model::lifecycle::drift::{self, Drift, Level};
pub use config::{Job, Policy};

/// What a night did (printed by the CLI).
#[derive(Debug, Serialize)]
pub struct Night {
    pub date: String,
    pub run: PathBuf,
    /// The night it related to (None on the first night).
    pub previous: Option<String>,
    /// "fit" or "assign", and why.
    pub action: String,
    pub reason: String,
    /// Tonight's drift against the previous model (None on the first night).
    pub drift: Option<Drift>,
    /// The transitions since the previous night, in words, and the migration totals.
    pub events: Vec<String>,
    pub migration: Option<crate::model::lifecycle::migration::Totals>,
    /// Runs and registry models deleted by the retention.
    pub removed: Vec<String>,
}

/// Today's date (UTC), YYYY-MM-DD.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Whether `s` is a calendar date YYYY-MM-DD (the run directories' names sort as dates).
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    (1..=days).contains(&d)
}

/// The marker a night gets once all of it succeeded (published, registered): only such nights are an
/// earlier night for the next one, so a night killed after publishing its files but before the end is
/// not built upon.
fn marker(runs: &Path, date: &str) -> PathBuf {
    runs.join(format!(".{date}.complete"))
}

/// The completed nights in `runs`, oldest first.
fn nights(runs: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(runs)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            is_date(n) && runs.join(n).join("model.json").is_file() && marker(runs, n).is_file()
        })
        .collect();
    v.sort();
    v
}

/// Takes the job's lock: one nightly at a time per job (two would race on `current` and the retention).
/// Held until the returned file is dropped (the operating system releases it however the process ends).
fn lock(runs: &Path) -> Result<File> {
    let path = runs.join(".nightly.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::output(&path, e))?;
    if f.try_lock().is_err() {
        return Err(Error::output(
            &path,
            "another strata nightly of this job is running; wait for it to finish",
        ));
    }
    Ok(f)
}

/// Runs the night `date` of `job`.
pub fn run(job: &Job, date: &str, sel: &Selected, log: &dyn Fn(&str)) -> Result<Night> {
    if !is_date(date) {
        return Err(Error::usage(format!(
            "`date` {date}: give a calendar date as YYYY-MM-DD"
        )));
    }
    let c = &job.config;
    let runs = job.path(&c.output.runs);
    let registry = job.path(&c.output.registry);
    let inputs = job.inputs(date);
    let _lock = begin(&runs, &registry, date, &inputs)?;
    let previous = nights(&runs).into_iter().rfind(|n| n.as_str() < date);
    let prev = (previous.as_ref())
        .map(|n| {
            Previous::open(&runs.join(n)).map_err(|e| {
                e.context(format!(
                    "the previous night {n} cannot be built on (re-run that night with `date` {n})"
                ))
            })
        })
        .transpose()?;
    let (refit, reason, measured) = decide(job, &inputs, prev.as_ref(), sel, log)?;
    let action = if refit { "fit" } else { "assign" };
    let decision = format!("nightly {date}: {action} ({reason})");
    log(&decision);
    let out = runs.join(date);
    let tonight = Tonight {
        job,
        inputs,
        out: &out,
        decision,
        sel,
        log,
    };
    let related = match &prev {
        Some(p) if !refit => assign_night(tonight, p),
        _ => fit_night(tonight, prev.as_ref()),
    }
    .map_err(|e| job.place(e))?;
    complete(&runs, &registry, date, refit).map_err(|e| {
        e.context(format!(
            "night {date} was published to {} but did not complete: it is not marked complete and later nights will not build on it; fix the cause and re-run `date` {date}",
            out.display()
        ))
    })?;
    let removed = retain(&runs, &registry, date, *c.output.keep.get_ref(), log);
    Ok(Night {
        date: date.into(),
        run: out,
        previous,
        action: action.into(),
        reason,
        drift: related.as_ref().and_then(|l| l.drift.clone()).or(measured),
        events: related
            .as_ref()
            .map(|l| l.events.clone())
            .unwrap_or_default(),
        migration: related.and_then(|l| l.migration),
        removed,
    })
}

/// Refuses a night without its input before anything is created (folders, the lock); then creates the
/// job's folders, takes its lock and unmarks `date` (a re-run night is not complete again until it has
/// all succeeded again).
fn begin(runs: &Path, registry: &Path, date: &str, inputs: &[PathBuf]) -> Result<File> {
    if let Some((p, e)) = (inputs.iter()).find_map(|p| std::fs::metadata(p).err().map(|e| (p, e))) {
        return Err(Error::input(format!(
            "night {date}: cannot open input {} ({e}); nothing was written",
            p.display()
        )));
    }
    for d in [runs, registry] {
        std::fs::create_dir_all(d).map_err(|e| Error::output(d, e))?;
    }
    let lock = lock(runs)?;
    match std::fs::remove_file(marker(runs, date)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::output(marker(runs, date), e))
        }
        _ => Ok(lock),
    }
}

/// Whether tonight refits, why, and the drift measured to decide it (refit-on-drift).
fn decide(
    job: &Job,
    inputs: &[PathBuf],
    prev: Option<&Previous>,
    sel: &Selected,
    log: &dyn Fn(&str),
) -> Result<(bool, String, Option<Drift>)> {
    Ok(match (prev, job.config.policy.mode) {
        (None, _) => (true, "first night: no earlier run".to_string(), None),
        (Some(_), Policy::RefitAlways) => (true, "policy refit-always".to_string(), None),
        (Some(_), Policy::AssignOnly) => (false, "policy assign-only".to_string(), None),
        (Some(p), Policy::RefitOnDrift) => {
            let d = measure(job, inputs, p, sel, log).map_err(|e| job.place(e))?;
            let why = format!("refit-on-drift: drift verdict {}", d.verdict.as_str());
            (d.verdict == Level::Refit, why, Some(d))
        }
    })
}

/// A published night's last steps: its model into the registry (a refit), its completion marker, and
/// `current`.
fn complete(runs: &Path, registry: &Path, date: &str, refit: bool) -> Result<()> {
    let out = runs.join(date);
    if refit {
        let model = std::fs::read(out.join("model.json")).map_err(|e| Error::output(&out, e))?;
        write_file_atomic(&registry.join(format!("{date}.json")), &model)?;
    }
    write_file_atomic(&marker(runs, date), b"")?;
    point_current(runs, date)
}

/// What tonight's fit or assign is given.
struct Tonight<'a> {
    job: &'a Job,
    inputs: Vec<PathBuf>,
    out: &'a Path,
    /// The nightly's decision, recorded in summary.json.
    decision: String,
    sel: &'a Selected,
    log: &'a dyn Fn(&str),
}

/// Refits tonight into its run directory, related to `prev` when there is one.
fn fit_night(t: Tonight, prev: Option<&Previous>) -> Result<Option<Lifecycle>> {
    let opts = (t.job).fit_options(t.inputs, prev, t.out, Some(t.decision));
    Ok(fit::run(&opts.check()?, t.sel, t.log)?.summary.lifecycle)
}

/// Assigns tonight with the previous night's model (with profiles, as a fit would write).
fn assign_night(t: Tonight, prev: &Previous) -> Result<Option<Lifecycle>> {
    let job = t.job;
    let opts = AssignOptions {
        model: prev.dir.join("model.json"),
        inputs: t.inputs,
        memory: None,
        id: job.config.input.id.clone(),
        csv: job.config.input.csv.clone(),
        lifecycle: job.lifecycle(Some(prev)),
        profiles: true,
        output: job.output(t.out, Some(t.decision)),
    };
    Ok(assign::run(&opts.check()?, t.sel, t.log)?.summary.lifecycle)
}

/// Tonight's drift against the previous night's model (one streamed pass, nothing written).
fn measure(
    job: &Job,
    inputs: &[PathBuf],
    prev: &Previous,
    sel: &Selected,
    log: &dyn Fn(&str),
) -> Result<Drift> {
    let m = &prev.model;
    let ids: Vec<&str> = m.id_column.iter().map(String::as_str).collect();
    let source = Source::open_with(inputs, &ids, &job.config.input.csv)?;
    let cols = model_columns(m, &source, None)?;
    let check = drift::Check::new(m).expect("Previous::open checks the reference");
    let (counts, tally) = run_with_fallback(sel, log, |b| {
        let m_missing = measuring(m.missing);
        let none = |_: &mut _, _: &_| Ok(());
        scan(
            (&source, &cols),
            m,
            m_missing,
            b,
            DriftPass::new(&check),
            none,
            |()| Ok(()),
        )
    })?
    .value;
    if counts.dropped > 0 {
        log(&format!(
            "warning: {} rows with missing values in the previous model's features are left out of the drift check",
            counts.dropped
        ));
    }
    Ok(check.report(&tally.tally, &job.config.drift))
}

/// Points `runs/current` at `date` unless it already points at a later night: a new symlink renamed over
/// the old one, so a reader sees the old night or the new one, never neither.
fn point_current(runs: &Path, date: &str) -> Result<()> {
    let current = runs.join("current");
    if let Ok(t) = std::fs::read_link(&current)
        && t.to_str().is_some_and(|t| is_date(t) && t > date)
    {
        return Ok(());
    }
    let tmp = runs.join(format!(".current-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(date, &tmp).map_err(|e| Error::output(&tmp, e))?;
    std::fs::rename(&tmp, &current).map_err(|e| Error::output(&current, e))?;
    // The rename is durable once the directory is synced.
    File::open(runs)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::output(runs, e))
}

/// Keeps the newest `keep` nights (and tonight): older runs (marker, link and store) are removed, and the
/// registry models older than the oldest kept night except the newest of them (the one an assign night
/// may still use).
/// The night has succeeded by then: a deletion that fails is a warning, not a failed night.
fn retain(
    runs: &Path,
    registry: &Path,
    tonight: &str,
    keep: usize,
    log: &dyn Fn(&str),
) -> Vec<String> {
    let all = nights(runs);
    let Some(oldest_kept) = all.len().checked_sub(keep).map(|i| all[i].clone()) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    let mut done = |what: &Path, r: std::io::Result<()>| match r {
        Ok(()) => removed.push(what.display().to_string()),
        Err(e) => log(&format!(
            "warning: retention could not remove {}: {e}",
            what.display()
        )),
    };
    // Tonight stays even when it is an old night re-run.
    for n in all.iter().filter(|n| **n < oldest_kept && *n != tonight) {
        let link = runs.join(n);
        let store = runs.join(format!(".{n}.strata"));
        let r = std::fs::remove_file(marker(runs, n))
            .and_then(|()| std::fs::remove_file(&link))
            .and_then(|()| std::fs::remove_dir_all(&store));
        done(&link, r);
    }
    let mut models: Vec<PathBuf> = std::fs::read_dir(registry)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| is_date(s) && s < oldest_kept.as_str())
        })
        .collect();
    // The newest of them may still be the model the kept nights assign with: it stays.
    models.sort();
    models.pop();
    for m in models {
        done(&m, std::fs::remove_file(&m));
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_date(&today()));
        assert!(is_date("2026-02-28") && !is_date("2026-13-01") && !is_date("20261125"));
        // Days that no calendar has (2026-02-30 was accepted and moved `current` to it).
        for d in [
            "2026-02-30",
            "2026-02-29",
            "2026-04-31",
            "1900-02-29",
            "2026-00-10",
            "2026-01-00",
        ] {
            assert!(!is_date(d), "{d}");
        }
        assert!(is_date("2028-02-29") && is_date("2000-02-29") && is_date("2026-12-31"));
    }
}
