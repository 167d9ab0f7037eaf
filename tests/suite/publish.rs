//! The output set is replaced as a whole: under concurrent runs, kill -9 at any instant, SIGINT/SIGTERM and a
//! file-size limit, a reader of --out finds one complete set (the previous or the new), and strata never
//! writes over its input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn fit_args<'a>(input: &'a str, out: &'a str, k: &'a str) -> Vec<&'a str> {
    vec![
        "fit", input, "--k", k, "--out", out, "--device", "cpu", "--n-init", "1", "-q",
    ]
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The k of the set in `out`, checked to be the same in model.json, summary.json and labels.parquet (which
/// therefore come from one run).
fn consistent_k(out: &Path) -> usize {
    let model = json(&out.join("model.json"));
    let summary = json(&out.join("summary.json"));
    let k = model["segments"].as_array().unwrap().len();
    assert_eq!(
        summary["k"].as_u64(),
        Some(k as u64),
        "summary.json vs model.json"
    );
    let labels = read_parquet(&out.join("labels.parquet"));
    let segs: BTreeSet<u64> = col_f64(&labels, "segment")
        .iter()
        .map(|&v| v as u64)
        .collect();
    assert_eq!(segs.len(), k, "labels.parquet vs model.json");
    for f in ["segments.parquet", "profiles.parquet"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    k
}

fn store_entries(store: &Path, prefix: &str) -> usize {
    std::fs::read_dir(store)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(prefix)
        })
        .count()
}

#[test]
fn concurrent_runs_never_mix_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate_table(&input, 50_000, 6);
    let out = dir.path().join("out");
    let (i, o) = (s(&input), s(&out));
    for round in 0..8 {
        let mut a = spawn(&fit_args(i, o, "3"));
        let mut b = spawn(&fit_args(i, o, "4"));
        let (ra, rb) = (a.wait().unwrap(), b.wait().unwrap());
        for (child, status) in [(&mut a, ra), (&mut b, rb)] {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            match status.code() {
                Some(0) => {}
                Some(4) => assert!(
                    err.contains("another strata run") && err.lines().count() == 1,
                    "{err}"
                ),
                c => panic!("round {round}: exit {c:?}: {err}"),
            }
        }
        assert!(
            ra.success() || rb.success(),
            "one of the two runs publishes"
        );
        let k = consistent_k(&out);
        assert!(k == 3 || k == 4);
    }
    // A run that starts while another is writing fails at once, whatever the timing of their writes.
    let store = dir.path().join(".out.strata");
    let mut long = long_run(i, o);
    let t = Instant::now();
    while store_entries(&store, "tmp-") == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the long run never started writing"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = strata(&fit_args(i, o, "5"));
    let err = stderr(&second);
    let _ = long.kill();
    long.wait().unwrap();
    assert_eq!(second.status.code(), Some(4), "{err}");
    assert!(err.contains("another strata run (pid "), "{err}");
    let k = consistent_k(&out);
    assert!(k == 3 || k == 4);
}

#[test]
fn kill_9_at_any_instant_leaves_one_complete_set() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate_table(&input, 200_000, 6);
    let out = dir.path().join("out");
    let (i, o) = (s(&input), s(&out));
    ok(strata(&fit_args(i, o, "3")));
    let t = Instant::now();
    ok(strata(&fit_args(i, o, "4")));
    let full = t.elapsed();
    let mut seen = BTreeSet::new();
    let kills = 16;
    for n in 0..kills {
        let k = if n % 2 == 0 { "3" } else { "4" };
        let mut c = spawn(&fit_args(i, o, k));
        std::thread::sleep(full * n / kills + Duration::from_millis(n as u64 * 7 % 13));
        let _ = c.kill();
        c.wait().unwrap();
        seen.insert(consistent_k(&out));
    }
    // The next run removes what the killed ones left.
    ok(strata(&fit_args(i, o, "5")));
    assert_eq!(consistent_k(&out), 5);
    let store = dir.path().join(".out.strata");
    assert_eq!(
        store_entries(&store, "tmp-"),
        0,
        "staging of killed runs removed"
    );
    assert!(
        store_entries(&store, "set-") <= 2,
        "the current set and the one it replaced"
    );
    assert!(
        std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    eprintln!("sets seen after kills: {seen:?}");
}

/// A run long enough to be interrupted: many restarts.
fn long_run(input: &str, out: &str) -> Child {
    spawn(&[
        "fit", input, "--k", "20", "--n-init", "5000", "--out", out, "--device", "cpu",
    ])
}

#[test]
fn sigint_and_sigterm_end_the_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate_table(&input, 50_000, 6);
    let out = dir.path().join("out");
    ok(strata(&fit_args(s(&input), s(&out), "3")));
    let before = std::fs::read(out.join("labels.parquet")).unwrap();
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let c = long_run(s(&input), s(&out));
        std::thread::sleep(Duration::from_millis(800));
        let killed = Command::new("kill")
            .args([&format!("-{sig}"), &c.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "SIG{sig}: {err}");
        assert!(err.contains(&format!("interrupted by SIG{sig}")), "{err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1);
        assert_eq!(std::fs::read(out.join("labels.parquet")).unwrap(), before);
        assert_eq!(consistent_k(&out), 3);
        assert_eq!(store_entries(&dir.path().join(".out.strata"), "tmp-"), 0);
    }
}

#[test]
fn file_size_limit_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate_table(&input, 100_000, 6);
    let out = dir.path().join("new/out");
    let cmd = format!(
        "ulimit -f 64; exec '{}' fit '{}' --k 3 --device cpu --out '{}'",
        env!("CARGO_BIN_EXE_strata"),
        s(&input),
        s(&out)
    );
    let o = Command::new("sh")
        .args(["-c", &cmd])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("ulimit -f"), "{err}");
    // The file is named as it would have been published, not by its staging path.
    assert!(
        errors[0].contains(&format!("{}/labels.parquet", s(&out))),
        "{err}"
    );
    // The parents it created are gone with the staging.
    assert!(!dir.path().join("new").exists());
}

#[test]
fn output_overlapping_an_input_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    let part = d.join("part-0.parquet");
    generate_table(&part, 1_000, 6);
    let original = std::fs::read(&part).unwrap();
    let cases: Vec<(PathBuf, PathBuf)> = vec![
        (part.clone(), d.clone()),       // out contains the input file
        (d.clone(), d.clone()),          // out is the partitioned input directory
        (d.clone(), d.join("segments")), // out inside the input directory
        (part.clone(), part.clone()),    // out is the input file
    ];
    for (input, out) in cases {
        let o = strata(&["fit", s(&input), "--k", "2", "--out", s(&out)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(4), "{err}");
        assert!(err.contains("overlaps the input"), "{err}");
    }
    // Through the published link: reading last night's labels and writing the same --out.
    let out = dir.path().join("out");
    ok(strata(&fit_args(s(&part), s(&out), "2")));
    let o = strata(&[
        "fit",
        s(&out.join("labels.parquet")),
        "--k",
        "2",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(std::fs::read(&part).unwrap(), original);
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing written into the input directory");
}

#[test]
fn plain_output_directory_is_taken_over_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate_table(&input, 2_000, 6);
    // An earlier strata's plain directory is replaced as a whole.
    let out = dir.path().join("old");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("labels.parquet"), "yesterday").unwrap();
    std::fs::write(out.join("model.json"), "{}").unwrap();
    ok(strata(&fit_args(s(&input), s(&out), "3")));
    assert_eq!(consistent_k(&out), 3);
    // `--out DIR/` (as the README writes it) names the same link, run after run.
    let slash = format!("{}/", s(&out));
    ok(strata(&fit_args(s(&input), &slash, "4")));
    ok(strata(&fit_args(s(&input), &slash, "2")));
    assert_eq!(consistent_k(&out), 2);
    // A directory with files strata did not write is refused, untouched.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let o = strata(&fit_args(s(&input), s(&mine), "3"));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("'notes.txt'"), "{}", stderr(&o));
    assert_eq!(std::fs::read(mine.join("notes.txt")).unwrap(), b"keep");
    assert!(!dir.path().join(".mine.strata").exists());
}
