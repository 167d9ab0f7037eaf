//! `strata assign`: a saved model applied to new rows. Checked against the fit's own labels (bit for bit,
//! on every backend), against a brute-force nearest centroid computed here in f64 from model.json, and
//! for clear errors on damaged models and mismatching inputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use strata::compute::select::Selected;
use strata::data::Missing;
use strata::jobs::assign::{self, AssignOptions};
use strata::jobs::fit::{self, FitOptions, InitChoice, KMeansSpec, OutputSpec};

fn generate(path: &Path, rows: usize, seed: u64) {
    ok(strata(&[
        "generate",
        "--rows",
        &rows.to_string(),
        "--features",
        "8",
        "--clusters",
        "6",
        "--seed",
        &seed.to_string(),
        "--out",
        path.to_str().unwrap(),
    ]));
}

fn fit_opts(inputs: Vec<PathBuf>, out: PathBuf, missing: Missing) -> FitOptions {
    let mut o = FitOptions::default();
    o.input.inputs = inputs;
    o.input.id = Some("customer_id".into());
    o.prep.missing = missing;
    o.prep.log1p = vec!["balance".into(), "monthly_spend".into()];
    o.kmeans = KMeansSpec {
        k: 6,
        init: InitChoice::KMeansPlusPlus,
        n_init: 2,
        max_iter: 50,
        seed: 3,
        ..Default::default()
    };
    o.output = OutputSpec {
        out,
        report: None,
        decision: None,
        progress: false,
    };
    o
}

/// The streamed assign (two files: a 70,000-row group read in two batches, then a file of three row groups)
/// gives the in-memory fit's labels, distances, second segments and margins bit for bit, on every backend.
#[test]
fn assign_reproduces_fit_bit_for_bit_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("in");
    std::fs::create_dir(&data).unwrap();
    generate(&data.join("a.parquet"), 70_000, 1);
    let one_group = dir.path().join("b.parquet");
    generate(&one_group, 50_000, 2);
    let t = read_parquet(&one_group);
    let cols = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect::<Vec<_>>();
    write_parquet_groups(
        &data.join("b.parquet"),
        cols.iter()
            .map(String::as_str)
            .zip(t.columns().iter().cloned())
            .collect(),
        Some(20_000),
    );
    for (i, b) in backends().into_iter().enumerate() {
        let name = b.name();
        let sel = Selected::only(b);
        let f = dir.path().join(format!("fit{i}"));
        fit::run(
            &fit_opts(vec![data.clone()], f.clone(), Missing::Error)
                .check()
                .unwrap(),
            &sel,
            &|_| {},
        )
        .unwrap();
        let a = dir.path().join(format!("assign{i}"));
        let o = AssignOptions {
            model: f.clone(),
            inputs: vec![data.clone()],
            memory: None,
            output: OutputSpec {
                out: a.clone(),
                report: None,
                decision: None,
                progress: false,
            },
            ..Default::default()
        };
        let s = assign::run(&o.check().unwrap(), &sel, &|_| {})
            .unwrap()
            .summary;
        assert_eq!(s.rows_assigned, 120_000);
        let fitted = read_parquet(&f.join("labels.parquet"));
        let assigned = read_parquet(&a.join("labels.parquet"));
        assert_eq!(fitted.schema(), assigned.schema(), "{name}");
        for c in 0..fitted.num_columns() {
            assert_eq!(
                fitted.column(c).to_data(),
                assigned.column(c).to_data(),
                "{name}: column {} differs between fit and assign",
                fitted.schema().field(c).name()
            );
        }
        // Shares match the training shares exactly on the training rows.
        for seg in &s.segments {
            assert_eq!(seg.share, seg.training_share, "{name}");
        }
    }
}

/// Brute-force expectation from model.json alone: prepare each row in f64, nearest centroid by exact
/// distance. Returns (label, distance, second label, margin) per row.
fn brute_force(model: &serde_json::Value, rows: &[Vec<f64>]) -> Vec<(u32, f64, u32, f64)> {
    let cols = model["preparation"]["columns"].as_array().unwrap();
    let cents: Vec<Vec<f64>> = model["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["centroid"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    rows.iter()
        .map(|x| {
            let p: Vec<f64> = x
                .iter()
                .zip(cols)
                .map(|(&v, c)| {
                    let v = if v.is_nan() {
                        c["median"].as_f64().unwrap()
                    } else {
                        v
                    };
                    let t = if c["log1p"].as_bool().unwrap() {
                        v.ln_1p()
                    } else {
                        v
                    };
                    (t - c["center"].as_f64().unwrap()) / c["scale"].as_f64().unwrap()
                })
                .collect();
            let mut d: Vec<(f64, u32)> = cents
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        p.iter().zip(c).map(|(a, b)| (a - b).powi(2)).sum::<f64>(),
                        i as u32,
                    )
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            (d[0].1, d[0].0.sqrt(), d[1].1, d[1].0.sqrt() - d[0].0.sqrt())
        })
        .collect()
}

fn column_values(b: &RecordBatch, names: &[String]) -> Vec<Vec<f64>> {
    let cols: Vec<Vec<f64>> = names.iter().map(|n| col_f64(b, n)).collect();
    (0..b.num_rows())
        .map(|i| cols.iter().map(|c| c[i]).collect())
        .collect()
}

fn u32s(b: &RecordBatch, name: &str) -> Vec<Option<u32>> {
    let a = b.column_by_name(name).unwrap();
    let a = a.as_any().downcast_ref::<UInt32Array>().unwrap();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

/// Columns in another order plus an extra text column: the same labels as the fit, and labels that agree
/// with a brute-force nearest centroid computed from model.json.
#[test]
fn shuffled_and_extra_columns_match_fit_and_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate(&input, 5_000, 9);
    let f = dir.path().join("fit");
    let fs = f.to_str().unwrap();
    ok(strata(&[
        "fit",
        input.to_str().unwrap(),
        "--k",
        "4",
        "--id",
        "customer_id",
        "--log1p",
        "balance",
        "--device",
        "cpu",
        "--out",
        fs,
        "--quiet",
    ]));
    let t = read_parquet(&input);
    let n = t.num_rows();
    let mut cols: Vec<(String, ArrayRef)> = t
        .schema()
        .fields()
        .iter()
        .zip(t.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .rev()
        .collect();
    cols.insert(
        2,
        ("note".into(), Arc::new(StringArray::from(vec!["x"; n]))),
    );
    let shuffled = dir.path().join("s.parquet");
    write_parquet(
        &shuffled,
        cols.iter().map(|(n, a)| (n.as_str(), a.clone())).collect(),
    );
    let a = dir.path().join("assign");
    ok(strata(&[
        "assign",
        "--model",
        fs,
        shuffled.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        a.to_str().unwrap(),
        "--quiet",
    ]));
    let fitted = read_parquet(&f.join("labels.parquet"));
    let assigned = read_parquet(&a.join("labels.parquet"));
    for c in 0..fitted.num_columns() {
        assert_eq!(
            fitted.column(c).to_data(),
            assigned.column(c).to_data(),
            "column {c}"
        );
    }
    let model = json(&f.join("model.json"));
    let names = model_feature_names(&model);
    let want = brute_force(&model, &column_values(&t, &names));
    let (seg, dist) = (u32s(&assigned, "segment"), col_f64(&assigned, "distance"));
    let (second, margin) = (
        u32s(&assigned, "second_segment"),
        col_f64(&assigned, "margin"),
    );
    let mut near_ties = 0;
    for (i, w) in want.iter().enumerate() {
        assert!(
            (dist[i] - w.1).abs() <= 1e-4 * (1.0 + w.1),
            "row {i} distance"
        );
        if w.3 < 1e-4 {
            near_ties += 1;
            continue;
        }
        assert_eq!((seg[i], second[i]), (Some(w.0), Some(w.2)), "row {i}");
        assert!(
            (margin[i] - w.3).abs() <= 1e-3 * (1.0 + w.3),
            "row {i} margin"
        );
    }
    assert!(near_ties < n / 100, "{near_ties} near-ties");
    // segments.parquet's SSE (accumulated by the device during the fit) against the labels' distances.
    let segs = read_parquet(&f.join("segments.parquet"));
    for (s, &sse) in col_f64(&segs, "sse").iter().enumerate() {
        let want: f64 = (0..n)
            .filter(|&i| seg[i] == Some(s as u32))
            .map(|i| dist[i] * dist[i])
            .sum();
        assert!(
            (sse - want).abs() <= 1e-5 * want,
            "segment {s}: SSE {sse} vs {want}"
        );
    }
}

/// Three small tables: training (nulls in b only), tonight (a null in a, which had none at training).
fn missing_tables(dir: &Path) -> (PathBuf, PathBuf) {
    let train = dir.join("train.parquet");
    let a: Vec<f64> = (0..40)
        .map(|i| {
            if i < 20 {
                i as f64 * 0.1
            } else {
                10.0 + i as f64 * 0.1
            }
        })
        .collect();
    let b: Vec<Option<f64>> = (0..40)
        .map(|i| {
            if i % 7 == 3 {
                None
            } else {
                Some((i % 5) as f64)
            }
        })
        .collect();
    let id = Int64Array::from_iter_values(0..40);
    write_parquet(
        &train,
        vec![
            ("id", Arc::new(id) as ArrayRef),
            ("a", Arc::new(Float64Array::from(a))),
            ("b", Arc::new(Float64Array::from(b))),
        ],
    );
    let tonight = dir.join("tonight.parquet");
    write_parquet(
        &tonight,
        vec![
            ("id", Arc::new(Int64Array::from(vec![7, 8, 9])) as ArrayRef),
            (
                "a",
                Arc::new(Float64Array::from(vec![Some(0.5), None, Some(12.0)])),
            ),
            (
                "b",
                Arc::new(Float64Array::from(vec![Some(1.0), Some(4.0), Some(2.0)])),
            ),
        ],
    );
    (train, tonight)
}

#[test]
fn missing_values_follow_the_models_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (train, tonight) = missing_tables(dir.path());
    let fit_with = |policy: &str| {
        let out = dir.path().join(format!("fit-{policy}"));
        ok(strata(&[
            "fit",
            train.to_str().unwrap(),
            "--k",
            "2",
            "--id",
            "id",
            "--missing",
            policy,
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]));
        out
    };
    let assign_with = |model: &Path, out: &str| {
        strata(&[
            "assign",
            "--model",
            model.to_str().unwrap(),
            tonight.to_str().unwrap(),
            "--device",
            "cpu",
            "--out",
            dir.path().join(out).to_str().unwrap(),
            "--quiet",
        ])
    };
    // median: the null in `a` (no nulls there at training) takes a's training median.
    let m = fit_with("median");
    ok(assign_with(&m, "am"));
    let model = json(&m.join("model.json"));
    let median_a = model["preparation"]["columns"][0]["median"]
        .as_f64()
        .unwrap();
    // a is 0.0, 0.1 … 1.9 and 12.0 … 13.9: its median is (1.9 + 12.0) / 2 (in f32, as read).
    assert!((median_a - 6.95).abs() < 1e-6, "median of a: {median_a}");
    let labels = read_parquet(&dir.path().join("am/labels.parquet"));
    let want = brute_force(
        &model,
        &[vec![0.5, 1.0], vec![f64::NAN, 4.0], vec![12.0, 2.0]],
    );
    let seg = u32s(&labels, "segment");
    for (i, w) in want.iter().enumerate() {
        assert_eq!(seg[i], Some(w.0), "row {i}");
    }
    let s = json(&dir.path().join("am/summary.json"));
    assert_eq!(s["values_imputed"], 1);
    assert_eq!(s["missing_per_feature"][0]["missing"], 1);
    // drop: the row keeps its place with a null segment.
    ok(assign_with(&fit_with("drop"), "ad"));
    let labels = read_parquet(&dir.path().join("ad/labels.parquet"));
    let seg = u32s(&labels, "segment");
    assert!(seg[0].is_some() && seg[1].is_none() && seg[2].is_some());
    assert_eq!(json(&dir.path().join("ad/summary.json"))["rows_dropped"], 1);
    // error: one line naming the column and the row; nothing written.
    let bad = dir.path().join("fit-error-train.parquet");
    write_parquet(
        &bad,
        vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..10)) as ArrayRef,
            ),
            (
                "a",
                Arc::new(Float64Array::from_iter_values((0..10).map(|i| i as f64))),
            ),
            (
                "b",
                Arc::new(Float64Array::from_iter_values(
                    (0..10).map(|i| (i % 3) as f64),
                )),
            ),
        ],
    );
    let e = dir.path().join("fit-error");
    ok(strata(&[
        "fit",
        bad.to_str().unwrap(),
        "--k",
        "2",
        "--id",
        "id",
        "--device",
        "cpu",
        "--out",
        e.to_str().unwrap(),
        "--quiet",
    ]));
    let o = assign_with(&e, "ae");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("'a'") && err.contains("row 1"), "{err}");
    assert!(!dir.path().join("ae").exists());
}

/// A damaged model, or an input that lacks what the model needs: one `error:` line, exit 3, no panic.
#[test]
fn damaged_models_and_mismatching_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate(&input, 2_000, 4);
    let f = dir.path().join("fit");
    ok(strata(&[
        "fit",
        input.to_str().unwrap(),
        "--k",
        "3",
        "--id",
        "customer_id",
        "--device",
        "cpu",
        "--out",
        f.to_str().unwrap(),
        "--quiet",
    ]));
    let text = std::fs::read_to_string(f.join("model.json")).unwrap();
    let good: serde_json::Value = serde_json::from_str(&text).unwrap();
    let edit = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        change(&mut v);
        serde_json::to_string(&v).unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated",
            text[..text.len() / 2].to_string(),
            "truncated or damaged",
        ),
        (
            "version",
            edit(&|v| v["format_version"] = 99.into()),
            "it has format version 99; this strata reads version",
        ),
        ("v1", edit(&|v| v["format_version"] = 1.into()), "refit"),
        (
            "foreign",
            edit(&|v| v["format"] = "sklearn".into()),
            "not a strata model",
        ),
        (
            "nan",
            edit(&|v| v["segments"][1]["centroid"][0] = serde_json::Value::Null),
            "damaged or hand-edited",
        ),
        (
            "dims",
            edit(&|v| {
                v["segments"][2]["centroid"].as_array_mut().unwrap().pop();
            }),
            "segment 2 has a centroid of 7 values for 8 prepared columns",
        ),
        (
            "ids",
            edit(&|v| v["segments"][1]["id"] = 0.into()),
            "two segments share an id",
        ),
        (
            "scale",
            edit(&|v| v["preparation"]["columns"][3]["scale"] = 0.0.into()),
            "scale that is not > 0",
        ),
    ];
    for (name, body, needle) in cases {
        let p = dir.path().join(format!("{name}.json"));
        std::fs::write(&p, body).unwrap();
        let o = strata(&[
            "assign",
            "--model",
            p.to_str().unwrap(),
            input.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    // The input lacks a model feature, or has it as text.
    let t = read_parquet(&input);
    let schema = t.schema();
    let keep: Vec<(&str, ArrayRef)> = schema
        .fields()
        .iter()
        .zip(t.columns())
        .filter(|(f, _)| f.name() != "calls")
        .map(|(f, c)| (f.name().as_str(), c.clone()))
        .collect();
    let lacking = dir.path().join("lacking.parquet");
    write_parquet(&lacking, keep.clone());
    let mut texty = keep;
    texty.push((
        "calls",
        Arc::new(StringArray::from(vec!["3"; t.num_rows()])),
    ));
    let text_calls = dir.path().join("text.parquet");
    write_parquet(&text_calls, texty);
    for (p, needle) in [
        (&lacking, "unknown model feature column 'calls'"),
        (&text_calls, "model feature column 'calls' has type Utf8"),
    ] {
        let o = strata(&[
            "assign",
            "--model",
            f.to_str().unwrap(),
            p.to_str().unwrap(),
            "--out",
            dir.path().join("out").to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
}

/// 400 customers: `x` in two groups, `region` with 45 % north, 44 % south, 9 % east, 1 % west (rare),
/// and 1 % nulls; every fourth row also has `flag` = true.
fn categorical_table(path: &Path) -> (Vec<f64>, Vec<Option<&'static str>>) {
    let n = 400;
    let x: Vec<f64> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                1.0 + (i % 7) as f64 * 0.1
            } else {
                6.0 + (i % 5) as f64 * 0.1
            }
        })
        .collect();
    let region: Vec<Option<&str>> = (0..n)
        .map(|i| match i % 100 {
            0..45 => Some("north"),
            45..89 => Some("south"),
            89..98 => Some("east"),
            98 => Some("west"),
            _ => None,
        })
        .collect();
    write_parquet(
        path,
        vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
            ),
            ("x", Arc::new(Float64Array::from(x.clone()))),
            ("region", Arc::new(StringArray::from(region.clone()))),
        ],
    );
    (x, region)
}

/// Independent one-hot encoding with the documented weighting, then the nearest centroid in f64.
fn brute_categorical(model: &serde_json::Value, x: f64, region: Option<&str>) -> u32 {
    let num = &model["preparation"]["columns"][0];
    let cat = &model["preparation"]["categorical"][0];
    let cats: Vec<&str> = cat["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let shares: Vec<f64> = cat["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    let a = (1.0 / shares.iter().map(|p| p * (1.0 - p)).sum::<f64>()).sqrt();
    let mode = (0..cats.len()).fold(0, |b, i| if shares[i] > shares[b] { i } else { b });
    let j = match region {
        None => mode,
        Some(r) => cats.iter().position(|c| *c == r).unwrap_or(cats.len() - 1),
    };
    let mut p = vec![(x - num["center"].as_f64().unwrap()) / num["scale"].as_f64().unwrap()];
    p.extend((0..cats.len()).map(|c| if c == j { a } else { 0.0 }));
    let segs = model["segments"].as_array().unwrap();
    let d: Vec<f64> = segs
        .iter()
        .map(|s| {
            s["centroid"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&p)
                .map(|(c, v)| (c.as_f64().unwrap() - v).powi(2))
                .sum()
        })
        .collect();
    segs[(0..d.len()).fold(0, |b, i| if d[i] < d[b] { i } else { b })]["id"]
        .as_u64()
        .unwrap() as u32
}

/// A categorical column: categories learned in name order, rare ones pooled, weighted so the column's
/// total variance is one standardised feature's; labels and category shares checked independently; at
/// assign an unseen value maps to "(other)" and is counted, a pooled one is not "unseen".
#[test]
fn categorical_features_fit_and_assign() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.parquet");
    let (x, region) = categorical_table(&train);
    let f = dir.path().join("fit");
    ok(strata(&[
        "fit",
        train.to_str().unwrap(),
        "--k",
        "3",
        "--id",
        "id",
        "--categorical",
        "region",
        "--min-category-share",
        "0.02",
        "--missing",
        "median",
        "--device",
        "cpu",
        "--out",
        f.to_str().unwrap(),
        "--quiet",
    ]));
    let model = json(&f.join("model.json"));
    let cat = &model["preparation"]["categorical"][0];
    assert_eq!(
        cat["categories"],
        serde_json::json!(["east", "north", "south", "(other)"])
    );
    assert_eq!(cat["pooled"], serde_json::json!(["west"]));
    // Shares over the 396 non-null values: 36 east, 180 north, 176 south, 4 west.
    let want = [36.0 / 396.0, 180.0 / 396.0, 176.0 / 396.0, 4.0 / 396.0];
    for (got, w) in cat["shares"].as_array().unwrap().iter().zip(want) {
        assert!((got.as_f64().unwrap() - w).abs() < 1e-12);
    }
    let a = cat["weight"].as_f64().unwrap();
    let var: f64 = want.iter().map(|p| p * (1.0 - p)).sum();
    // The target is the prepared numeric variance as measured on the f32 data: 1 up to f32 rounding.
    assert!(
        (a * a * var - 1.0).abs() < 1e-6,
        "block variance {}",
        a * a * var
    );
    assert_eq!(json(&f.join("summary.json"))["values_imputed"], 4);

    let labels = read_parquet(&f.join("labels.parquet"));
    let seg = u32s(&labels, "segment");
    for i in 0..x.len() {
        assert_eq!(
            seg[i],
            Some(brute_categorical(&model, x[i], region[i])),
            "row {i}"
        );
    }
    // Per-segment category shares in profiles.parquet, against counts made here (nulls count as the mode).
    let prof = read_parquet(&f.join("profiles.parquet"));
    // The all-customers rows have segment -1.
    let pseg: Vec<Option<u32>> = col_f64(&prof, "segment")
        .iter()
        .map(|&v| (v >= 0.0).then_some(v as u32))
        .collect();
    let pcat = prof.column_by_name("category").unwrap();
    let pcat = pcat.as_any().downcast_ref::<StringArray>().unwrap();
    let pshare = col_f64(&prof, "share");
    let mut checked = 0;
    for r in 0..prof.num_rows() {
        let (Some(s), true) = (pseg[r], pcat.is_valid(r)) else {
            continue;
        };
        let c = pcat.value(r);
        let members: Vec<usize> = (0..x.len()).filter(|&i| seg[i] == Some(s)).collect();
        let hits = members
            .iter()
            .filter(|&&i| match region[i] {
                Some("west") => c == "(other)",
                Some(v) => v == c,
                None => c == "north",
            })
            .count();
        assert!(
            (pshare[r] - hits as f64 / members.len() as f64).abs() < 1e-12,
            "segment {s} {c}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3 * 4);

    let tonight = dir.path().join("tonight.parquet");
    let tx = vec![1.2, 6.1, 6.3, 1.0];
    let tr = vec![Some("north"), Some("mars"), Some("west"), None];
    write_parquet(
        &tonight,
        vec![
            (
                "id",
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            ),
            ("region", Arc::new(StringArray::from(tr.clone()))),
            ("x", Arc::new(Float64Array::from(tx.clone()))),
        ],
    );
    let out = dir.path().join("assign");
    ok(strata(&[
        "assign",
        "--model",
        f.to_str().unwrap(),
        tonight.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]));
    let s = json(&out.join("summary.json"));
    assert_eq!(s["unseen_categories"]["region"], 1, "{s}");
    assert_eq!(s["values_imputed"], 1);
    let seg = u32s(&read_parquet(&out.join("labels.parquet")), "segment");
    for i in 0..4 {
        let r = if tr[i] == Some("mars") {
            Some("(other)")
        } else {
            tr[i]
        };
        assert_eq!(
            seg[i],
            Some(brute_categorical(&model, tx[i], r)),
            "tonight row {i}"
        );
    }
}

/// A boolean column as a categorical feature: categories "false" and "true", and a fit that separates them.
#[test]
fn boolean_categorical_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.parquet");
    let flag: Vec<bool> = (0..200).map(|i| i % 4 == 0).collect();
    let x: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
    write_parquet(
        &p,
        vec![
            ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
            (
                "flag",
                Arc::new(arrow_array::BooleanArray::from(flag.clone())),
            ),
        ],
    );
    let f = dir.path().join("fit");
    ok(strata(&[
        "fit",
        p.to_str().unwrap(),
        "--k",
        "2",
        "--categorical",
        "flag",
        "--device",
        "cpu",
        "--out",
        f.to_str().unwrap(),
        "--quiet",
    ]));
    let model = json(&f.join("model.json"));
    let cat = &model["preparation"]["categorical"][0];
    assert_eq!(
        cat["categories"],
        serde_json::json!(["false", "true", "(other)"])
    );
    assert_eq!(cat["shares"], serde_json::json!([0.75, 0.25, 0.0]));
    // The flag block has total variance 1, like z-scored x. Splitting by the flag leaves x's variance
    // (SSE 200); splitting x into halves leaves about 0.24 of x's plus all of the flag's (≈ 248): k-means
    // splits by the flag, and the 150 rows without it form segment 0 (the largest).
    let seg = u32s(&read_parquet(&f.join("labels.parquet")), "segment");
    for i in 0..200 {
        assert_eq!(seg[i], Some(if flag[i] { 1 } else { 0 }), "row {i}");
    }
}

/// Record batches handed over in memory (the Python package's tables) give the outputs of the same rows
/// read from their Parquet file, for a fit and an assign with profiles: the in-memory source is one more
/// way to read, not another path through the engine.
#[test]
fn batches_in_memory_give_the_outputs_of_their_file() {
    use strata::data::source::Batches;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("customers.parquet");
    generate(&data, 30_000, 11);
    let file = std::fs::File::open(&data).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .with_batch_size(7_000)
        .build()
        .unwrap();
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert!(batches.len() > 1);
    let memory = Batches::new("a table in memory", schema, batches).unwrap();
    let sel = Selected::only(backends().remove(0));
    let out = |name: &str| dir.path().join(name);
    for (name, mem) in [("file", None), ("memory", Some(memory.clone()))] {
        let mut o = fit_opts(
            vec![data.clone()],
            out(&format!("fit-{name}")),
            Missing::Median,
        );
        o.input.memory = mem.clone();
        fit::run(&o.check().unwrap(), &sel, &|_| {}).unwrap();
        let a = AssignOptions {
            model: out(&format!("fit-{name}")),
            inputs: vec![data.clone()],
            memory: mem,
            profiles: true,
            output: OutputSpec {
                out: out(&format!("assign-{name}")),
                report: None,
                decision: None,
                progress: false,
            },
            ..Default::default()
        };
        assign::run(&a.check().unwrap(), &sel, &|_| {}).unwrap();
    }
    for job in ["fit", "assign"] {
        let (f, m) = (out(&format!("{job}-file")), out(&format!("{job}-memory")));
        for p in ["labels.parquet", "segments.parquet", "profiles.parquet"] {
            assert_eq!(
                read_parquet(&f.join(p)),
                read_parquet(&m.join(p)),
                "{job} {p}"
            );
        }
        let summary = json(&m.join("summary.json"));
        assert_eq!(summary["inputs"][0], "a table in memory", "{job}");
    }
    let model = |d: &Path| {
        let m = json(&d.join("model.json"));
        ["preparation", "segments", "reference", "fit", "fitted_rows"].map(|k| m[k].clone())
    };
    assert_eq!(model(&out("fit-file")), model(&out("fit-memory")));
    assert_eq!(
        std::fs::read(out("fit-file").join("explain.json")).unwrap(),
        std::fs::read(out("fit-memory").join("explain.json")).unwrap()
    );
}
