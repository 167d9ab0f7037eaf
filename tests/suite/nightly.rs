//! `strata nightly`: policies, the `current` pointer, idempotent re-runs, a kill -9 mid-night, and job
//! file errors that name the line.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{json, ok, read_parquet, stderr, strata};

const JOB: &str = r#"
[input]
paths = ["in/{date}.parquet"]
id = "customer_id"

[prep]
log1p = ["balance", "credit_limit", "monthly_spend"]

[kmeans]
k = 4
n_init = 2

[policy]
mode = "refit-on-drift"

[output]
runs = "runs"
registry = "models"
device = "cpu"
"#;

/// Night `t` of stable, shift, stable into in/2026-11-2t.parquet.
fn night(dir: &Path, t: usize, rows: usize) {
    let out = dir.join(format!("in/2026-11-2{t}.parquet"));
    crate::common::generate_night(&out, rows, 6, 4, t, "stable,shift,stable");
}

/// `strata nightly` on the job file `job` for `date`.
fn run_nightly(job: &Path, date: &str) -> std::process::Output {
    strata(&["nightly", "--config", job.to_str().unwrap(), "--date", date])
}

fn nightly(dir: &Path, date: &str) -> String {
    let job = dir.join("job.toml");
    ok(strata(&[
        "nightly",
        "--config",
        job.to_str().unwrap(),
        "--date",
        date,
    ]))
}

fn current(dir: &Path) -> String {
    std::fs::read_link(dir.join("runs/current"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

const FILES: [&str; 7] = [
    "labels.parquet",
    "segments.parquet",
    "profiles.parquet",
    "transitions.parquet",
    "migration.parquet",
    "drift.parquet",
    "report.html",
];

#[test]
fn refit_on_drift_current_and_idempotent_reruns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("in")).unwrap();
    std::fs::write(dir.join("job.toml"), JOB).unwrap();
    for t in 0..3 {
        night(dir, t, 20_000);
    }
    assert!(nightly(dir, "2026-11-20").contains("fit (first night"));
    assert_eq!(current(dir), "2026-11-20");
    // Stable: the model is kept and assigns; migration and drift are written.
    assert!(nightly(dir, "2026-11-21").contains("assign (refit-on-drift: drift verdict keep)"));
    let s = json(&dir.join("runs/current/summary.json"));
    assert_eq!(s["lifecycle"]["drift"]["verdict"], "keep");
    assert_eq!(s["lifecycle"]["migration"]["stayed_share"], 1.0);
    assert!(
        s["decision"]
            .as_str()
            .unwrap()
            .starts_with("nightly 2026-11-21: assign")
    );
    for f in FILES.iter().chain(&["model.json"]) {
        assert!(
            dir.join("runs/2026-11-21").join(f).is_file(),
            "{f} missing on an assign night"
        );
    }
    let profiles = read_parquet(&dir.join("runs/2026-11-21/profiles.parquet"));
    assert_eq!(
        profiles.num_rows(),
        (4 + 1) * 6,
        "(segments + all customers) × features"
    );
    // Shifted: refit, ids carried over, every segment survived.
    assert!(nightly(dir, "2026-11-22").contains("fit (refit-on-drift: drift verdict refit)"));
    assert_eq!(current(dir), "2026-11-22");
    let run = dir.join("runs/2026-11-22");
    let s = json(&run.join("summary.json"));
    assert_eq!(
        s["lifecycle"]["previous"].as_str().unwrap(),
        dir.join("runs/2026-11-21").to_str().unwrap()
    );
    assert_eq!(read_parquet(&run.join("transitions.parquet")).num_rows(), 4);
    assert!(dir.join("models/2026-11-22.json").is_file());
    // Re-running the night replaces it with the same results, bit for bit: every data file, and
    // model.json and summary.json but for the time of the fit and the timings.
    let before: Vec<Vec<u8>> = FILES
        .iter()
        .chain(&["explain.json"])
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect();
    let timeless = |f: &str| {
        let mut v = json(&run.join(f));
        v.as_object_mut().unwrap().remove("created_unix");
        v.as_object_mut().unwrap().remove("seconds");
        if let Some(r) = v.get_mut("restarts").and_then(|r| r.as_array_mut()) {
            for r in r {
                let r = r.as_object_mut().unwrap();
                r.retain(|k, _| !k.ends_with("_seconds"));
            }
        }
        v
    };
    let (model, summary) = (timeless("model.json"), timeless("summary.json"));
    let set = std::fs::read_link(&run).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    nightly(dir, "2026-11-22");
    assert_eq!(timeless("model.json"), model);
    assert_eq!(timeless("summary.json"), summary);
    assert_ne!(
        std::fs::read_link(&run).unwrap(),
        set,
        "a new set was published"
    );
    for (f, b) in FILES.iter().chain(&["explain.json"]).zip(&before) {
        assert_eq!(
            &std::fs::read(run.join(f)).unwrap(),
            b,
            "{f} differs after a re-run"
        );
    }
    // Re-running an older night leaves `current` on the latest.
    nightly(dir, "2026-11-21");
    assert_eq!(current(dir), "2026-11-22");
}

#[test]
fn kill_9_mid_night_leaves_current_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("in")).unwrap();
    std::fs::write(
        dir.join("job.toml"),
        JOB.replace("refit-on-drift", "refit-always"),
    )
    .unwrap();
    night(dir, 0, 20_000);
    night(dir, 1, 600_000);
    nightly(dir, "2026-11-20");
    let job = dir.join("job.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "nightly",
            "--config",
            job.to_str().unwrap(),
            "--date",
            "2026-11-21",
            "-q",
        ])
        .spawn()
        .unwrap();
    // Wait until the night has started writing (its staging directory exists), then kill it.
    let store = dir.join("runs/.2026-11-21.strata");
    let t = Instant::now();
    let staging = || {
        std::fs::read_dir(&store)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
            })
            .unwrap_or(false)
    };
    while !staging() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the night never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the night finished before the kill: {status:?}"
    );
    assert_eq!(current(dir), "2026-11-20");
    assert_eq!(
        read_parquet(&dir.join("runs/current/labels.parquet")).num_rows(),
        20_000
    );
    assert!(!dir.join("runs/2026-11-21").exists());
    // The next attempt cleans up and completes.
    nightly(dir, "2026-11-21");
    assert_eq!(current(dir), "2026-11-21");
    // A night whose files were published but which did not finish (no completion marker, as when killed
    // between publishing and registering) is not built upon.
    std::fs::remove_file(dir.join("runs/.2026-11-21.complete")).unwrap();
    night(dir, 2, 20_000);
    assert!(nightly(dir, "2026-11-22").contains("since 2026-11-20"));
}

#[test]
fn job_file_errors_name_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let job = tmp.path().join("job.toml");
    std::fs::write(&job, JOB.replace("n_init = 2", "n_inits = 2")).unwrap();
    let o = run_nightly(&job, "2026-11-20");
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("job.toml:11:") && e.contains("n_inits"), "{e}");
    // toml's message names the file's keys, not command-line flags.
    assert!(e.contains("'n_init'") && !e.contains("--n-init"), "{e}");
    // A key that fit's messages name by its flag is named as the job file writes it, with its line.
    std::fs::write(&job, JOB.replace("\"monthly_spend\"]", "\"nope\"]")).unwrap();
    std::fs::create_dir(tmp.path().join("in")).unwrap();
    night(tmp.path(), 0, 500);
    let o = run_nightly(&job, "2026-11-20");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("job.toml:7: log1p: [prep] log1p names 'nope'"),
        "{e}"
    );
    assert!(!e.contains("--log1p"), "{e}");
    // A date no calendar has is refused before anything is written.
    std::fs::write(&job, JOB).unwrap();
    let o = run_nightly(&job, "2026-02-30");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("calendar date"), "{}", stderr(&o));
    // A night refused for its input leaves nothing behind: no runs folder, no lock file (here the runs
    // go to the input folder).
    let in_runs = JOB.replace("runs = \"runs\"", "runs = \"in\"");
    std::fs::write(&job, in_runs).unwrap();
    let o = run_nightly(&job, "2026-11-21");
    assert_eq!(o.status.code(), Some(3), "missing input is an input error");
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    let left: Vec<_> = (std::fs::read_dir(tmp.path().join("in")).unwrap().flatten())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        ["2026-11-20.parquet"],
        "the input folder holds only the input"
    );
    // A second nightly of the same job while one runs: exit 4 at once.
    std::fs::write(&job, JOB).unwrap();
    std::fs::create_dir_all(tmp.path().join("runs")).unwrap();
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(tmp.path().join("runs/.nightly.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let o = run_nightly(&job, "2026-11-20");
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("another strata nightly of this job is running"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn retention_keeps_the_newest_nights_and_the_model_they_use() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("in")).unwrap();
    // refit-on-drift: night 21 assigns with night 20's model, night 22 refits.
    let job = JOB.replace("device = \"cpu\"", "device = \"cpu\"\nkeep = 2");
    std::fs::write(dir.join("job.toml"), job).unwrap();
    for t in 0..3 {
        night(dir, t, 5_000);
    }
    for t in 0..3 {
        nightly(dir, &format!("2026-11-2{t}"));
    }
    assert!(!dir.join("runs/2026-11-20").exists());
    assert!(!dir.join("runs/.2026-11-20.strata").exists());
    assert!(dir.join("runs/2026-11-21/labels.parquet").is_file());
    assert!(dir.join("models/2026-11-22.json").is_file());
    assert!(
        dir.join("models/2026-11-20.json").is_file(),
        "the model night 21 assigned with stays"
    );
    assert_eq!(current(dir), "2026-11-22");
}

#[test]
fn refits_with_a_categorical_feature_start_cold_instead_of_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("in")).unwrap();
    let job = JOB.replace("refit-on-drift", "refit-always").replace(
        "id = \"customer_id\"",
        "id = \"customer_id\"\ncategorical = [\"region\"]",
    );
    std::fs::write(dir.join("job.toml"), job).unwrap();
    for t in 0..2 {
        night(dir, t, 5_000);
        let path = dir.join(format!("in/2026-11-2{t}.parquet"));
        crate::common::rewrite_parquet(&path, None, |cols| {
            let regions = ["north", "south", "east"];
            let region = (0..cols[0].1.len()).map(|i| regions[i % 3]);
            let region = arrow_array::StringArray::from_iter_values(region);
            cols.push(("region".into(), std::sync::Arc::new(region)));
        });
    }
    nightly(dir, "2026-11-20");
    assert!(nightly(dir, "2026-11-21").contains("fit (policy refit-always)"));
    let s = json(&dir.join("runs/2026-11-21/summary.json"));
    assert!(
        s["warnings"].to_string().contains("no warm start"),
        "{}",
        s["warnings"]
    );
    assert_eq!(s["lifecycle"]["transitions"].as_array().unwrap().len(), 4);
}

/// The mode bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_night_that_fails_after_publishing_says_so_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("in")).unwrap();
    let job = dir.join("job.toml");
    std::fs::write(&job, JOB.replace("refit-on-drift", "refit-always")).unwrap();
    for t in 0..3 {
        night(dir, t, 2_000);
    }
    nightly(dir, "2026-11-20");
    // Every file of a night has the mode of the run's files (registry, marker, a re-written report).
    ok(strata(&[
        "report",
        dir.join("runs/current").to_str().unwrap(),
    ]));
    let want = mode(&dir.join("runs/2026-11-20/labels.parquet"));
    for f in [
        "models/2026-11-20.json",
        "runs/.2026-11-20.complete",
        "runs/2026-11-20/report.html",
    ] {
        assert_eq!(mode(&dir.join(f)), want, "{f}");
    }
    // The registry file is blocked (a directory of that name): the night is published, not completed.
    std::fs::create_dir_all(dir.join("models/2026-11-21.json/x")).unwrap();
    let o = run_nightly(&job, "2026-11-21");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{e}");
    assert!(e.contains("night 2026-11-21 was published to"), "{e}");
    assert!(
        e.contains("not marked complete") && e.contains("re-run --date 2026-11-21"),
        "{e}"
    );
    assert_eq!(current(dir), "2026-11-20");
    // A damaged previous model: named as the night it belongs to, with the remedy.
    std::fs::write(dir.join("runs/2026-11-20/model.json"), b"{ damaged").unwrap();
    let o = run_nightly(&job, "2026-11-22");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(
        e.contains("re-run that night with --date 2026-11-20"),
        "{e}"
    );
    assert!(
        e.contains("runs/2026-11-20/model.json") && !e.contains(".strata/set-"),
        "{e}"
    );
}
