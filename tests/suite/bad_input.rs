//! Bad input: every case gives one clear line on stderr, a non-zero exit code, and leaves --out untouched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use arrow_array::{Float64Array, Int64Array, StringArray};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    /// A valid small table: id, two numeric features, one text column.
    fn good(&self) -> PathBuf {
        let p = self.path("good.parquet");
        write_parquet(
            &p,
            vec![
                ("id", Arc::new(Int64Array::from_iter_values(0..20))),
                (
                    "balance",
                    Arc::new(Float64Array::from_iter_values(
                        (0..20).map(|i| (i * 7 % 13) as f64),
                    )),
                ),
                (
                    "calls",
                    Arc::new(Float64Array::from_iter_values(
                        (0..20).map(|i| (i % 5) as f64),
                    )),
                ),
                (
                    "region",
                    Arc::new(StringArray::from_iter_values(
                        (0..20).map(|i| format!("r{}", i % 3)),
                    )),
                ),
            ],
        );
        p
    }
    /// Runs fit into `<dir>/out` and checks the failure contract; returns stderr.
    fn fails(&self, args: &[&str], code: i32, needle: &str) -> String {
        let out = self.path("out");
        let mut full = vec!["fit"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let o = strata(&full);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "args {args:?}: stderr {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "one error line expected: {err}");
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "expected '{needle}' in: {err}"
        );
        assert!(
            !out.exists() && !self.path(".out.strata").exists(),
            "output directory must not be created by a failed run"
        );
        err
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn missing_file() {
    let c = Case::new();
    c.fails(
        &[s(&c.path("nope.parquet")), "--k", "2"],
        3,
        "cannot open input",
    );
}

#[test]
fn not_parquet_or_csv() {
    let c = Case::new();
    let p = c.path("data.bin");
    std::fs::write(&p, b"\x00\x01binary").unwrap();
    c.fails(
        &[s(&p), "--k", "2"],
        3,
        "neither Parquet nor delimited text",
    );
    let p = c.path("fake.parquet");
    std::fs::write(&p, b"hello").unwrap();
    c.fails(&[s(&p), "--k", "2"], 3, "not a Parquet file");
}

#[test]
fn truncated_parquet() {
    let c = Case::new();
    let bytes = std::fs::read(c.good()).unwrap();
    let p = c.path("trunc.parquet");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    c.fails(&[s(&p), "--k", "2"], 3, "corrupt or truncated");
}

#[test]
fn empty_inputs() {
    let c = Case::new();
    let p = c.path("empty.parquet");
    write_parquet(
        &p,
        vec![("x", Arc::new(Float64Array::from(Vec::<f64>::new())))],
    );
    c.fails(&[s(&p), "--k", "2"], 3, "no rows");
    let p = c.path("empty.csv");
    std::fs::write(&p, "x,y\n").unwrap();
    c.fails(&[s(&p), "--k", "2"], 3, "no rows");
}

#[test]
fn unknown_feature_suggests_closest() {
    let c = Case::new();
    let err = c.fails(
        &[s(&c.good()), "--k", "2", "--features", "balance,Calls"],
        3,
        "unknown feature column 'Calls'",
    );
    assert!(err.contains("'calls'"), "{err}");
}

#[test]
fn non_numeric_feature() {
    let c = Case::new();
    c.fails(
        &[s(&c.good()), "--k", "2", "--features", "balance,region"],
        3,
        "'region' has type Utf8",
    );
}

#[test]
fn nulls_nan_and_inf() {
    let c = Case::new();
    let p = c.path("nan.parquet");
    write_parquet(
        &p,
        vec![
            (
                "a",
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    None,
                    Some(3.0),
                    Some(f64::NAN),
                ])),
            ),
            (
                "b",
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    Some(2.0),
                    Some(f64::NAN),
                    Some(4.0),
                ])),
            ),
        ],
    );
    let err = c.fails(&[s(&p), "--k", "2"], 3, "'a' (2), 'b' (1)");
    assert!(
        err.contains("--missing drop") && err.contains("--missing median"),
        "{err}"
    );
    let p = c.path("inf.parquet");
    write_parquet(
        &p,
        vec![(
            "a",
            Arc::new(Float64Array::from(vec![1.0, 2.0, f64::INFINITY])),
        )],
    );
    c.fails(&[s(&p), "--k", "2"], 3, "column 'a' holds inf at row 2");
}

#[test]
fn bad_k() {
    let c = Case::new();
    let good = c.good();
    c.fails(&[s(&good), "--k", "0"], 2, "--k must be at least 1");
    let p = c.path("dups.csv");
    std::fs::write(&p, "x,y\n1,2\n1,2\n3,4\n1,2\n3,4\n").unwrap();
    c.fails(&[s(&p), "--k", "3"], 3, "number of distinct rows (2)");
    let p = c.path("one.csv");
    std::fs::write(&p, "x,y\n1,2\n").unwrap();
    c.fails(&[s(&p), "--k", "1"], 3, "1 usable row");
}

#[test]
fn init_file_with_wrong_columns() {
    let c = Case::new();
    let init = c.path("init.csv");
    std::fs::write(&init, "balance,cals\n1,2\n3,4\n").unwrap();
    c.fails(
        &[
            s(&c.good()),
            "--k",
            "2",
            "--features",
            "balance,calls",
            "--init",
            s(&init),
        ],
        3,
        "--init file",
    );
}

#[test]
fn output_not_writable() {
    let c = Case::new();
    let blocker = c.path("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("out");
    let o = strata(&["fit", s(&c.good()), "--k", "2", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("choose a writable --out directory"));
    assert_eq!(std::fs::read(&blocker).unwrap(), b"x");
}

#[test]
fn existing_output_untouched_on_failure() {
    let c = Case::new();
    let out = c.path("keep");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("labels.parquet"), "yesterday").unwrap();
    let o = strata(&["fit", s(&c.good()), "--k", "0", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    let o = strata(&[
        "fit",
        s(&c.good()),
        "--k",
        "2",
        "--features",
        "nope",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(3));
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["labels.parquet"], "no staging leftovers");
    assert_eq!(
        std::fs::read(out.join("labels.parquet")).unwrap(),
        b"yesterday"
    );
}

#[test]
fn directory_with_mismatching_schemas() {
    let c = Case::new();
    let dir = c.path("export");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(c.good(), dir.join("a.parquet")).unwrap();
    write_parquet(
        &dir.join("b.parquet"),
        vec![("id", Arc::new(Int64Array::from_iter_values(0..3)))],
    );
    c.fails(
        &[s(&dir), "--k", "2"],
        3,
        "does not match the first input file",
    );
}

#[test]
fn unknown_gpu_adapter() {
    let c = Case::new();
    c.fails(
        &[
            s(&c.good()),
            "--k",
            "2",
            "--device",
            "gpu",
            "--adapter",
            "no-such-gpu",
        ],
        5,
        "no GPU adapter matches 'no-such-gpu'",
    );
}

/// A fit reads its input more than once (the columns again after the clustering): a file replaced or still
/// being written between two reads is an error naming it, never a mix of two files' values.
#[test]
fn an_input_that_changes_between_reads_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["t.parquet", "t.csv"] {
        let path = dir.path().join(name);
        let write = |n: i64| {
            let id = Int64Array::from_iter_values(0..n);
            let x = Float64Array::from_iter_values((0..n).map(|i| i as f64 * 0.5));
            let cols: Vec<(&str, arrow_array::ArrayRef)> =
                vec![("id", Arc::new(id) as _), ("x", Arc::new(x) as _)];
            if name.ends_with(".csv") {
                let batch = arrow_array::RecordBatch::try_from_iter(cols).unwrap();
                let mut w = arrow_csv::Writer::new(std::fs::File::create(&path).unwrap());
                w.write(&batch).unwrap();
            } else {
                write_parquet(&path, cols);
            }
        };
        write(100);
        let source = strata::data::Source::open(std::slice::from_ref(&path), &[]).unwrap();
        let part = source.parts()[0];
        assert_eq!(
            source
                .part_batches(&part, &[1])
                .map(|b| b.unwrap().num_rows())
                .sum::<usize>(),
            100
        );
        write(150);
        let e = source
            .part_batches(&part, &[1])
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("changed while strata was reading it"),
            "{name}: {e}"
        );
    }
}
