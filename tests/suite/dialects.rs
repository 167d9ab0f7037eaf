//! Nothing silent, whatever the input's dialect: missing-value tokens, mostly-numeric text, dictionary
//! numbers, duplicate names and ids, columns left out with their reasons; delimiters, .tsv, .txt, gzip.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::common::*;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int8Array, Int64Array,
    ListArray, StringArray,
};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// 200 customers: id, balance (floats), calls (integers), region (text), as CSV rows.
fn rows() -> Vec<(i64, f64, i64, &'static str)> {
    (0..200)
        .map(|i| {
            let hi = i % 2 == 0;
            (
                i,
                if hi { 900.0 } else { 100.0 } + (i % 17) as f64 * 1.25,
                if hi { 1 } else { 8 } + i % 3,
                if i % 3 == 0 { "north" } else { "south" },
            )
        })
        .collect()
}

fn write_text(path: &Path, delim: &str, edit: impl Fn(usize, [String; 4]) -> [String; 4]) {
    let mut text = ["id", "balance", "calls", "region"].join(delim) + "\n";
    for (i, (id, b, c, r)) in rows().into_iter().enumerate() {
        let cells = edit(
            i,
            [id.to_string(), b.to_string(), c.to_string(), r.to_string()],
        );
        text += &(cells.join(delim) + "\n");
    }
    std::fs::write(path, text).unwrap();
}

fn fit(input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["fit", s(input), "--k", "2", "--id", "id", "--device", "cpu"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", s(out)]);
    strata(&args)
}

fn labels(out: &Path) -> Vec<f64> {
    col_f64(&read_parquet(&out.join("labels.parquet")), "segment")
}

#[test]
fn delimiters_extensions_and_gzip_read_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("c.csv");
    write_text(&reference, ",", |_, c| c);
    let out = dir.path().join("ref");
    ok(fit(&reference, &out, &["-q"]));
    let want = labels(&out);
    let sse = json(&out.join("summary.json"))["sse"].as_f64().unwrap();
    let gz = dir.path().join("g.csv.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&std::fs::read(&reference).unwrap()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let mut cases = vec![gz];
    for (name, delim) in [
        ("s.csv", ";"),
        ("t.tsv", "\t"),
        ("p.txt", "|"),
        ("tab.csv", "\t"),
    ] {
        let p = dir.path().join(name);
        write_text(&p, delim, |_, c| c);
        cases.push(p);
    }
    for (i, input) in cases.iter().enumerate() {
        let out = dir.path().join(format!("o{i}"));
        ok(fit(input, &out, &["-q"]));
        assert_eq!(labels(&out), want, "{}", input.display());
        let got = json(&out.join("summary.json"))["sse"].as_f64().unwrap();
        assert_eq!(got, sse, "{}", input.display());
    }
    // A wrong --delimiter reads one column and says which delimiter the file likely has.
    let o = fit(
        &dir.path().join("s.csv"),
        &dir.path().join("x"),
        &["--delimiter", ","],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("delimiter is likely ';'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn csv_parts_differing_only_by_int_and_float_are_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    write_text(&a, ",", |_, [id, b, c, r]| {
        [id, (b.parse::<f64>().unwrap() as i64).to_string(), c, r]
    });
    write_text(&b, ",", |_, c| c);
    let out = dir.path().join("o");
    let o = strata(&[
        "fit",
        s(&a),
        s(&b),
        "--k",
        "2",
        "--id",
        "id",
        "--device",
        "cpu",
        "-q",
        "--out",
        s(&out),
    ]);
    ok(o);
    assert_eq!(labels(&out).len(), 400);
}

#[test]
fn missing_tokens_and_mostly_numeric_columns_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.csv");
    // One "N/A" balance (pandas reads it as missing) and one "12,34" calls cell (not a number in any notation: a
    // thousands group has three digits).
    write_text(&input, ",", |i, [id, b, c, r]| match i {
        5 => [id, "N/A".into(), c, r],
        7 => [id, b, "\"12,34\"".into(), r],
        _ => [id, b, c, r],
    });
    let out = dir.path().join("o");
    let o = fit(&input, &out, &["--missing", "median"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["features"], serde_json::json!(["balance"]));
    assert_eq!(summary["missing_per_feature"][0]["missing"], 1, "{summary}");
    let left = summary["columns_left_out"].as_array().unwrap();
    let calls = left.iter().find(|l| l["column"] == "calls").unwrap();
    let reason = calls["reason"].as_str().unwrap();
    assert!(
        reason.contains("1 cell(s)") && reason.contains("'12,34'") && reason.contains("row 7"),
        "{reason}"
    );
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("'calls'") && warnings.contains("12,34"),
        "{warnings}"
    );
    assert!(
        err.contains("left out of the features: 'region' (text"),
        "{err}"
    );
    // Named as a feature, it is an error saying which cell.
    let o = fit(
        &input,
        &dir.path().join("x"),
        &["--features", "balance,calls", "--missing", "median"],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("first '12,34' at row 7"),
        "{}",
        stderr(&o)
    );
    // With its token declared missing (--na-values replaces pandas' list), an odd cell is a missing value.
    let odd = dir.path().join("odd.csv");
    write_text(&odd, ",", |i, [id, b, c, r]| {
        if i == 7 {
            [id, b, "n.a.".into(), r]
        } else {
            [id, b, c, r]
        }
    });
    let o = fit(
        &odd,
        &dir.path().join("z"),
        &["--missing", "median", "--na-values", "n.a.,N/A"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = json(&dir.path().join("z/summary.json"));
    assert_eq!(summary["features"], serde_json::json!(["balance", "calls"]));
    assert_eq!(summary["values_imputed"], 1);
}

#[test]
fn column_types_names_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100usize;
    let codes: Vec<i32> = (0..n).map(|i| (i % 4) as i32).collect();
    // A pandas Categorical of ints (int8 dictionary of int64 values) and dictionary-encoded floats.
    let tiers = DictionaryArray::<Int32Type>::try_new(
        codes.clone().into(),
        Arc::new(Int64Array::from(vec![10, 20, 30, 40])),
    )
    .unwrap();
    let rates = DictionaryArray::<arrow_array::types::Int8Type>::try_new(
        Int8Array::from(codes.iter().map(|&c| c as i8).collect::<Vec<_>>()),
        Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5, 3.5])),
    )
    .unwrap();
    let ids: Vec<i64> = (0..n as i64)
        .map(|i| if i < 90 { i } else { i - 50 })
        .collect();
    let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(
        (0..n).map(|i| Some(vec![Some(i as i32)])),
    );
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(ids))),
        ("tier", Arc::new(tiers)),
        ("rate", Arc::new(rates)),
        (
            "opened",
            Arc::new(Date32Array::from((0..n as i32).collect::<Vec<_>>())),
        ),
        (
            "active",
            Arc::new(BooleanArray::from(
                (0..n).map(|i| i % 2 == 0).collect::<Vec<_>>(),
            )),
        ),
        (
            "name",
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("c{i}")),
            )),
        ),
        ("history", Arc::new(lists)),
    ];
    let input = dir.path().join("t.parquet");
    write_parquet(&input, cols);
    let out = dir.path().join("o");
    ok(strata(&[
        "fit",
        s(&input),
        "--k",
        "4",
        "--id",
        "id",
        "--device",
        "cpu",
        "-q",
        "--out",
        s(&out),
    ]));
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["features"], serde_json::json!(["tier", "rate"]));
    let reasons: Vec<(String, String)> = summary["columns_left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["column"].as_str().unwrap().into(),
                l["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let reason = |c: &str| {
        reasons
            .iter()
            .find(|r| r.0 == c)
            .map(|r| r.1.clone())
            .unwrap_or_default()
    };
    assert!(reason("id").contains("--id"));
    assert!(reason("opened").starts_with("date or time"));
    assert!(reason("active").starts_with("boolean"));
    assert!(reason("name").starts_with("text"));
    assert!(reason("history").starts_with("nested"));
    // Dictionary values, not codes: the overall mean of tier is 25, of rate 2.0.
    let prof = read_parquet(&out.join("profiles.parquet"));
    let mean = col_f64(&prof, "mean");
    let seg = col_f64(&prof, "segment");
    let feat = prof.column_by_name("feature").unwrap();
    let feat = feat.as_any().downcast_ref::<StringArray>().unwrap();
    for (f, want) in [("tier", 25.0), ("rate", 2.0)] {
        let r = (0..prof.num_rows())
            .find(|&r| seg[r] == -1.0 && feat.value(r) == f)
            .unwrap();
        assert_eq!(mean[r], want, "{f}");
    }
    // Ids 40..49 appear twice: a warning with the count and examples.
    let warnings = summary["warnings"].to_string();
    assert!(warnings.contains("repeats ids on 10 row(s)"), "{warnings}");
    // Duplicate column names, in CSV and in Parquet, are an error naming them.
    let csv = dir.path().join("dup.csv");
    std::fs::write(&csv, "id,balance,balance\n1,2,3\n2,3,4\n3,5,1\n").unwrap();
    let pq = dir.path().join("dup.parquet");
    write_parquet(
        &pq,
        vec![
            ("a", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])) as _),
            ("a", Arc::new(Float64Array::from(vec![3.0, 2.0, 1.0])) as _),
        ],
    );
    for (input, name) in [(&csv, "'balance'"), (&pq, "'a'")] {
        for extra in [&[][..], &["--features", name.trim_matches('\'')][..]] {
            let mut args = vec!["fit", s(input), "--k", "2", "--out", "/tmp/never"];
            args.extend_from_slice(extra);
            let o = strata(&args);
            assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("two columns named {name}")),
                "{}",
                stderr(&o)
            );
        }
    }
}
