//! Faithful numbers: profiles from the original values, directions from the space the clustering used,
//! values f32 cannot carry prepared in f64, overflow an error.

use std::path::Path;
use std::sync::Arc;

use crate::common::*;
use arrow_array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Numeric profile rows: (segment or -1, feature) → the row index.
fn profile_rows(prof: &RecordBatch) -> Vec<(i64, String, usize)> {
    let seg = col_f64(prof, "segment");
    let feat = prof.column_by_name("feature").unwrap();
    let feat = feat.as_any().downcast_ref::<StringArray>().unwrap();
    let cat = prof.column_by_name("category").unwrap();
    (0..prof.num_rows())
        .filter(|&i| cat.is_null(i))
        .map(|i| (seg[i] as i64, feat.value(i).to_string(), i))
        .collect()
}

/// numpy's default (linear) quantile on a sorted slice.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[test]
fn profiles_are_the_original_values_statistics() {
    let Some(csv) = shared("alllife/credit_card_customer_data.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    ok(strata(&[
        "fit",
        s(&csv),
        "--k",
        "3",
        "--features",
        ALLLIFE_FEATURES,
        "--id",
        "Sl_No",
        "--device",
        "cpu",
        "--out",
        s(&out),
    ]));
    // The input as pandas would read it: the CSV parsed here, independently of strata.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.trim().parse().unwrap()).collect())
        .collect();
    let labels = col_f64(&read_parquet(&out.join("labels.parquet")), "segment");
    let prof = read_parquet(&out.join("profiles.parquet"));
    let stats = ["mean", "std", "min", "p25", "median", "p75", "max"].map(|c| col_f64(&prof, c));
    let all = prof.column_by_name("all_customers").unwrap();
    let all = all.as_any().downcast_ref::<BooleanArray>().unwrap();
    assert_eq!(all.null_count(), 0);
    assert_eq!(prof.column_by_name("segment").unwrap().null_count(), 0);
    let mut checked = 0;
    for (seg, feature, r) in profile_rows(&prof) {
        assert_eq!(all.value(r), seg == -1);
        let j = header.iter().position(|h| *h == feature).unwrap();
        let mut v: Vec<f64> = rows
            .iter()
            .zip(&labels)
            .filter(|(_, l)| seg == -1 || **l as i64 == seg)
            .map(|(row, _)| row[j])
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        v.sort_by(f64::total_cmp);
        let want = [
            mean,
            std,
            v[0],
            quantile(&v, 0.25),
            quantile(&v, 0.5),
            quantile(&v, 0.75),
            v[v.len() - 1],
        ];
        for (c, w) in stats.iter().zip(want) {
            assert!(
                (c[r] - w).abs() <= 1e-12 * w.abs().max(1.0),
                "segment {seg} {feature}: {} vs {w}",
                c[r]
            );
        }
        // Order statistics are input values, exactly (a minimum of 0 is 0, a limit of 150 is 150).
        assert_eq!((stats[2][r], stats[6][r]), (v[0], v[v.len() - 1]));
        checked += 1;
    }
    assert_eq!(checked, 4 * 5);
}

fn write(path: &Path, cols: Vec<(&str, Vec<f64>)>) {
    write_parquet(
        path,
        cols.into_iter()
            .map(|(n, v)| (n, Arc::new(Float64Array::from(v)) as _))
            .collect(),
    );
}

/// Skewed money columns: most customers small, one group moderately large, a handful enormous.
fn skewed(n: usize, phase: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match (i + phase) % 100 {
            0 => 100_000.0 + i as f64,
            1..=20 => 20.0 + (i % 7) as f64,
            _ => 0.5 + (i % 13) as f64 / 10.0,
        })
        .collect()
}

#[test]
fn directions_come_from_the_clustering_space() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rfm.parquet");
    let n = 2_000;
    let (a, b) = (skewed(n, 0), skewed(n, 0));
    write(
        &input,
        vec![
            ("monetary", a.clone()),
            ("frequency", b.clone()),
            ("flat", vec![5.0; n]),
        ],
    );
    let out = dir.path().join("o");
    let stdout = ok(strata(&[
        "fit",
        s(&input),
        "--k",
        "3",
        "--log1p",
        "monetary,frequency",
        "--device",
        "cpu",
        "--out",
        s(&out),
        "-q",
    ]));
    let labels = col_f64(&read_parquet(&out.join("labels.parquet")), "segment");
    let prof = read_parquet(&out.join("profiles.parquet"));
    let z = col_f64(&prof, "z");
    let mean = col_f64(&prof, "mean");
    let rows = profile_rows(&prof);
    let mut disagree_with_raw = 0;
    for (name, x) in [("monetary", &a), ("frequency", &b)] {
        // The clustering space, computed here: log1p, then z-scored (population std).
        let t: Vec<f64> = x.iter().map(|v| v.ln_1p()).collect();
        let m = t.iter().sum::<f64>() / n as f64;
        let sd = (t.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
        let raw_all = x.iter().sum::<f64>() / n as f64;
        for seg in 0..3 {
            let members: Vec<usize> = (0..n).filter(|&i| labels[i] as i64 == seg).collect();
            let zs = members.iter().map(|&i| (t[i] - m) / sd).sum::<f64>() / members.len() as f64;
            let r = rows
                .iter()
                .find(|(s, f, _)| *s == seg && f == name)
                .unwrap()
                .2;
            assert!(
                (z[r] - zs).abs() < 1e-3,
                "{name} segment {seg}: z {} vs {zs}",
                z[r]
            );
            if (mean[r] > raw_all) != (zs > 0.0) {
                disagree_with_raw += 1;
            }
            // The printed summary says the same.
            let line = stdout
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("segment {seg} ")))
                .unwrap();
            let word = if zs > 0.0 { "high" } else { "low" };
            if zs.abs() >= 0.1 {
                assert!(line.contains(&format!("{name} {word}")), "{line}");
            }
        }
    }
    assert!(
        disagree_with_raw > 0,
        "the case must separate log space from raw means"
    );
    // A constant feature is never high or low.
    for (_, f, r) in &rows {
        if f == "flat" {
            assert_eq!(z[*r], 0.0);
        }
    }
    for line in stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("segment"))
    {
        assert!(!line.contains("flat"), "{line}");
    }
}

#[test]
fn int64_beyond_f32_precision_keeps_its_spread() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.parquet");
    let n = 1_000i64;
    let base = 1i64 << 40;
    // Two groups 1000 apart at 2^40: one value in f32 (24 bits), two clear groups in f64.
    let big: Vec<i64> = (0..n).map(|i| base + (i % 2) * 1000 + i % 5).collect();
    let noise: Vec<f64> = (0..n).map(|i| (i % 7) as f64 / 100.0).collect();
    write_parquet(
        &input,
        vec![
            ("balance", Arc::new(Int64Array::from(big.clone())) as _),
            ("noise", Arc::new(Float64Array::from(noise)) as _),
        ],
    );
    let out = dir.path().join("o");
    ok(strata(&[
        "fit",
        s(&input),
        "--k",
        "2",
        "--device",
        "cpu",
        "--out",
        s(&out),
        "-q",
    ]));
    let summary = json(&out.join("summary.json"));
    assert_eq!(
        summary["warnings"].as_array().unwrap().len(),
        0,
        "{summary}"
    );
    let labels = col_f64(&read_parquet(&out.join("labels.parquet")), "segment");
    for i in 0..n as usize {
        assert_eq!(labels[i] == labels[0], i % 2 == 0, "row {i}");
    }
    let prof = read_parquet(&out.join("profiles.parquet"));
    let (min, max) = (col_f64(&prof, "min"), col_f64(&prof, "max"));
    for (seg, f, r) in profile_rows(&prof) {
        if f == "balance" && seg >= 0 {
            let group = if seg as f64 == labels[0] { 0 } else { 1000 };
            assert_eq!(min[r], (base + group) as f64);
            assert_eq!(max[r], (base + group + 4) as f64);
        }
    }
}

#[test]
fn squares_beyond_single_precision_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("huge.parquet");
    let x: Vec<f64> = (0..100).map(|i| (1 + i % 3) as f64 * 1e25).collect();
    write(
        &input,
        vec![
            ("assets", x),
            ("calls", (0..100).map(|i| i as f64).collect()),
        ],
    );
    let out = dir.path().join("o");
    let o = strata(&[
        "fit",
        s(&input),
        "--k",
        "2",
        "--scale",
        "none",
        "--out",
        s(&out),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("'assets'") && lines[0].contains("overflow"),
        "{err}"
    );
    assert!(!out.exists());
    // Z-scored, the same values cluster (three clear groups).
    ok(strata(&[
        "fit",
        s(&input),
        "--k",
        "3",
        "--out",
        s(&out),
        "-q",
        "--device",
        "cpu",
    ]));
    assert!(
        json(&out.join("summary.json"))["sse"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
}
