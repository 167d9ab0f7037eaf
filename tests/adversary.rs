//! The defects and minors of issue 28 (a 306-case adversary against f38f974): each case failed there and
//! passes here. Nothing strata did not write is removed, nothing is dropped or guessed silently, and every
//! refusal is one line with the documented exit code.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, LargeStringArray, StringArray};
use common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs strata, expects exit `code` with one `error:` line containing every `needles`; returns it.
fn refused(args: &[&str], code: i32, needles: &[&str]) -> String {
    let o = strata(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "expected '{n}' in: {err}");
    }
    lines[0].to_string()
}

/// A small well-separated table: `id` (0..n), `x`, `y` (two groups).
fn table(path: &Path, n: i64) {
    let f = |a: f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| (i % 2) as f64 * a + (i % 7) as f64 * 0.1),
        ))
    };
    write_parquet(
        path,
        vec![
            ("id", Arc::new(Int64Array::from_iter_values(0..n))),
            ("x", f(5.0)),
            ("y", f(-3.0)),
        ],
    );
}

/// `n` floats counting 0, 1, 2, … modulo `m`.
fn cycle(n: i32, m: i32) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(
        (0..n).map(|i| f64::from(i % m)),
    ))
}

/// `fit INPUT --k 2 --out OUT --device cpu`.
fn fit_args<'a>(input: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "fit",
        s(input),
        "--k",
        "2",
        "--out",
        s(out),
        "--device",
        "cpu",
    ]
}

fn fit(input: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = fit_args(input, out);
    args.extend_from_slice(&["--n-init", "1", "-q"]);
    args.extend_from_slice(extra);
    ok(strata(&args))
}

/// Every file under `dir`, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(tree(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_directory_named_like_an_output_is_never_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("t.parquet");
    table(&input, 40);
    // A Spark-style labels.parquet/ of parts beside a summary.json; and a summary.json/ directory.
    for (dir, inner) in [
        ("labels.parquet", "part-00000.parquet"),
        ("summary.json", "mine.txt"),
    ] {
        let out = tmp.path().join(format!("seg-{dir}"));
        std::fs::create_dir_all(out.join(dir)).unwrap();
        std::fs::write(out.join(dir).join(inner), b"user data").unwrap();
        std::fs::write(out.join(dir).join("_SUCCESS"), b"").unwrap();
        if dir == "labels.parquet" {
            std::fs::write(out.join("summary.json"), b"{}").unwrap();
        }
        let before = tree(&out);
        refused(
            &fit_args(&input, &out),
            4,
            &[&format!("'{dir}'"), "not a file strata wrote"],
        );
        assert_eq!(tree(&out), before, "{dir}: the user's files are intact");
    }
}

#[test]
fn a_users_symlink_as_out_is_refused_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("t.parquet");
    table(&input, 40);
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("labels.parquet"), b"stale").unwrap();
    let link = tmp.path().join("seg");
    std::os::unix::fs::symlink(&folder, &link).unwrap();
    refused(
        &fit_args(&input, &link),
        4,
        &["symbolic link", "strata did not make"],
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        folder,
        "the link is the user's"
    );
    assert_eq!(
        std::fs::read(folder.join("labels.parquet")).unwrap(),
        b"stale"
    );
    // strata's own link is replaced as before.
    let out = tmp.path().join("own");
    fit(&input, &out, &[]);
    fit(&input, &out, &[]);
}

/// Night 1 is night 0's customers (ids 0..n) with the id column turned into `id`.
fn ids_night(tmp: &Path, id: ArrayRef) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(tmp).unwrap();
    let night0 = tmp.join("n0.parquet");
    table(&night0, 60);
    let out0 = tmp.join("out0");
    fit(&night0, &out0, &["--id", "id"]);
    let night1 = tmp.join("n1.parquet");
    std::fs::copy(&night0, &night1).unwrap();
    rewrite_parquet(&night1, None, |cols| cols[0].1 = id);
    (out0, night1)
}

fn assign_previous(out0: &Path, night1: &Path, out1: &Path) -> serde_json::Value {
    let args = [
        "assign",
        "--model",
        s(out0),
        s(night1),
        "--previous",
        s(out0),
    ];
    let mut args = args.to_vec();
    args.extend_from_slice(&["--out", s(out1), "--device", "cpu", "-q"]);
    ok(strata(&args));
    json(&out1.join("summary.json"))
}

#[test]
fn ids_of_another_number_type_join_and_ids_that_do_not_join_are_said() {
    let tmp = tempfile::tempdir().unwrap();
    // int64 last night, float64 tonight: the same customers.
    let floats = Arc::new(Float64Array::from_iter_values((0..60).map(|i| i as f64)));
    let (out0, night1) = ids_night(tmp.path(), floats);
    let s1 = assign_previous(&out0, &night1, &tmp.path().join("out1"));
    let m = &s1["lifecycle"]["migration"];
    assert_eq!(
        (m["both_nights"].as_u64(), m["new"].as_u64()),
        (Some(60), Some(0)),
        "{m}"
    );
    assert_eq!(
        (m["stayed"].as_u64(), m["gone"].as_u64()),
        (Some(60), Some(0)),
        "{m}"
    );
    // Text ids that are other values: no migration, and a warning that says so.
    let text = Arc::new(StringArray::from_iter_values(
        (0..60).map(|i| format!("c{i:04}")),
    ));
    let (out0, night1) = ids_night(&tmp.path().join("t"), text);
    let out1 = tmp.path().join("t/out1");
    let s1 = assign_previous(&out0, &night1, &out1);
    assert!(
        s1["lifecycle"]["migration"].is_null(),
        "{}",
        s1["lifecycle"]
    );
    let warnings = s1["warnings"].to_string();
    assert!(warnings.contains("the ids do not join"), "{warnings}");
    assert!(!out1.join("migration.parquet").exists());
}

/// CSV text of 120 customers in two groups: (id, amount, rate) with `cell` writing each number.
fn csv(sep: char, cell: impl Fn(f64, usize) -> String) -> String {
    let mut t = format!("id{sep}amount{sep}rate\n");
    for i in 0..120 {
        let g = (i % 2) as f64;
        let amount = 1000.0 + g * 25_000.0 + (i * 37 % 900) as f64;
        let rate = -0.5 + g * 2.0 + (i % 9) as f64 * 0.013;
        t += &format!("{i}{sep}{}{sep}{}\n", cell(amount, 1), cell(rate, 2));
    }
    t
}

/// Fits `text` (written to `name`) and the same numbers written plainly; asserts the same labels and
/// returns the log.
fn same_as_plain(tmp: &Path, name: &str, text: &str, extra: &[&str]) -> String {
    let written = tmp.join(name);
    std::fs::write(&written, text).unwrap();
    let plain = tmp.join("plain.csv");
    std::fs::write(&plain, csv(',', |v, _| format!("{v}"))).unwrap();
    let (a, b) = (tmp.join(format!("{name}.out")), tmp.join("plain.out"));
    let mut args = vec!["fit", s(&written), "--k", "2", "--id", "id", "--out", s(&a)];
    args.extend_from_slice(&["--device", "cpu", "--n-init", "1"]);
    args.extend_from_slice(extra);
    let o = strata(&args);
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    fit(&plain, &b, &["--id", "id"]);
    let model = json(&a.join("model.json"));
    assert_eq!(model_feature_names(&model), ["amount", "rate"], "{log}");
    let labels = |d: &Path| col_f64(&read_parquet(&d.join("labels.parquet")), "segment");
    assert_eq!(labels(&a), labels(&b), "{name}");
    let profiles = |d: &Path| col_f64(&read_parquet(&d.join("profiles.parquet")), "mean");
    assert_eq!(
        profiles(&a),
        profiles(&b),
        "{name}: the same values were read"
    );
    log
}

#[test]
fn thousands_separators_are_read_as_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let grouped = |v: f64| {
        let n = v as i64;
        if n >= 1000 {
            format!("\"{},{:03}\"", n / 1000, n % 1000)
        } else {
            n.to_string()
        }
    };
    let text = csv(',', |v, c| if c == 1 { grouped(v) } else { format!("{v}") });
    let log = same_as_plain(tmp.path(), "us.csv", &text, &[]);
    assert!(
        log.contains("'amount' read as numbers with decimal '.' and thousands ','"),
        "{log}"
    );
}

#[test]
fn decimal_commas_are_read_as_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    // A ;-separated European export: decimal commas, thousands points.
    let eu = |v: f64, c: usize| {
        if c == 1 {
            let n = v as i64;
            format!("{}.{:03}", n / 1000, n % 1000)
        } else {
            format!("{v}").replace('.', ",")
        }
    };
    let log = same_as_plain(tmp.path(), "eu.csv", &csv(';', eu), &[]);
    assert!(
        log.contains("'amount', 'rate' read as numbers with decimal ','"),
        "{log}"
    );
    // Told with --decimal, a column whose every cell looks like a decimal point (1.234) is thousands.
    let eu_ints = |v: f64, c: usize| if c == 1 { eu(v, c) } else { format!("{v}") };
    let e = tmp.path().join("e.csv");
    std::fs::write(&e, csv(';', eu_ints)).unwrap();
    let out = tmp.path().join("out");
    let args = [&fit_args(&e, &out)[..], &["--id", "id", "--decimal", ","]].concat();
    refused(&args, 3, &["'rate'", "not a number with decimal ','"]);
}

#[test]
fn range_checks_come_before_allocation() {
    for k in ["2..18446744073709551615", "2..4000000000"] {
        let o = strata(&["sweep", "in.parquet", "--k", k, "--out", "x"]);
        assert_eq!(o.status.code(), Some(2), "{k}: {}", stderr(&o));
        assert!(stderr(&o).contains("at most 256 values"), "{}", stderr(&o));
    }
}

#[test]
fn advice_that_contradicts_the_command_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.parquet");
    let n = 30;
    write_parquet(
        &p,
        vec![
            ("x", cycle(n, n)),
            ("y", cycle(n, 4)),
            (
                "region",
                Arc::new(LargeStringArray::from_iter_values(
                    (0..n).map(|i| format!("r{}", i % 3)),
                )),
            ),
        ],
    );
    let out = tmp.path().join("out");
    let base = ["fit", s(&p), "--k", "2", "--out", s(&out)];
    let args = [
        &base[..],
        &["--features", "x,y,region", "--categorical", "region"],
    ]
    .concat();
    let e = refused(&args, 2, &["named in both --features and --categorical"]);
    assert!(!e.contains("name it in --categorical"), "{e}");
    // An --init file with a missing value: the --missing policies do not apply to centroids.
    let init = tmp.path().join("init.csv");
    std::fs::write(&init, "x,y\n1,2\n3,\n").unwrap();
    let args = [&base[..], &["--features", "x,y", "--init", s(&init)]].concat();
    let e = refused(
        &args,
        3,
        &["every centroid needs a value for every feature"],
    );
    assert!(!e.contains("--missing"), "{e}");
}

#[test]
fn integers_beyond_f64s_are_refused_not_collapsed() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.parquet");
    let base = 1i64 << 62;
    write_parquet(
        &p,
        vec![
            (
                "account",
                Arc::new(Int64Array::from_iter_values((0..500).map(|i| base + i))),
            ),
            (
                "x",
                Arc::new(Float64Array::from_iter_values(
                    (0..500).map(|i| (i % 5) as f64),
                )),
            ),
        ],
    );
    for k in ["2", "3"] {
        let out = tmp.path().join("out");
        let args = ["fit", s(&p), "--k", k, "--out", s(&out), "--device", "cpu"];
        refused(
            &args,
            3,
            &[
                "'account'",
                "4611686018427387904",
                "beyond 2^53",
                "identifier",
            ],
        );
    }
}

#[test]
fn small_refusals_have_their_documented_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.parquet");
    table(&p, 40);
    let out = tmp.path().join("o");
    let fit_args = |extra: &[&'static str]| {
        let mut a = vec![
            "fit",
            s(&p),
            "--k",
            "2",
            "--out",
            s(&out),
            "--device",
            "cpu",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>, code, needles: &[&str]| {
        refused(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            code,
            needles,
        )
    };
    run(fit_args(&["--micro-clusters", "64"]), 2, &["--method ward"]);
    // The same input twice would count every customer twice.
    let mut twice = fit_args(&[]);
    twice.insert(2, s(&p).to_string());
    run(twice, 2, &["given twice"]);
    refused(
        &["report", s(&tmp.path().join("nope"))],
        3,
        &["no such directory"],
    );
    refused(
        &["bench", "--input", s(&p), "--k", "50", "--iters", "1"],
        3,
        &["larger than"],
    );
    assert!(!out.exists());
}

#[test]
fn a_feature_named_like_a_segments_column_is_refused_before_the_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.parquet");
    let n = 40;
    write_parquet(&p, vec![("sse", cycle(n, n)), ("x", cycle(n, 3))]);
    let o = strata(&fit_args(&p, &tmp.path().join("out")));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("feature column 'sse' has the name of a segments.parquet column"),
        "{err}"
    );
    assert!(
        !err.contains("k-means k=2"),
        "refused before the fit: {err}"
    );
}

#[test]
fn a_signal_after_the_publish_says_the_new_set_is_there() {
    use strata::data::sink::{OutputSet, abandon_all};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let mut set = OutputSet::create(&out, &[]).unwrap();
    std::fs::write(set.path("summary.json"), b"{}").unwrap();
    set.commit().unwrap();
    // The signal handler's view once the publish it waited for has completed.
    let a = abandon_all();
    assert!(!a.runs, "nothing was left to abandon");
    assert_eq!(a.published, std::slice::from_ref(&out));
    let said = a.describe();
    assert!(said.contains("holds the new set"), "{said}");
    assert!(said.contains(s(&out)), "{said}");
    assert!(std::fs::read(out.join("summary.json")).is_ok());
}
