//! End-to-end `strata fit` through the binary: published results on real data, output schemas,
//! determinism across thread counts, missing-value modes, sample weights and given initial centroids.

use std::sync::Arc;

use crate::common::*;
use arrow_array::{Array, Float64Array, Int64Array, StringArray};

#[test]
fn alllife_reproduces_published_partition() {
    let Some(csv) = shared("alllife/credit_card_customer_data.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let stdout = ok(strata(&[
        "fit",
        csv.to_str().unwrap(),
        "--k",
        "3",
        "--id",
        "Sl_No",
        "--features",
        ALLLIFE_FEATURES,
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(stdout.contains("segment 0"), "{stdout}");
    let model = json(&out.join("model.json"));
    let sse = model["fit"]["sse"].as_f64().unwrap();
    assert!(
        (sse - 933.04).abs() <= 0.01,
        "SSE {sse}, published 933.0437"
    );
    let seg = read_parquet(&out.join("segments.parquet"));
    let sizes = col_f64(&seg, "customers");
    assert_eq!(
        sizes,
        vec![386.0, 224.0, 50.0],
        "segments renumbered largest first"
    );
    // Raw-unit centroids = published per-segment means (k-means centroids are means).
    let limit = col_f64(&seg, "Avg_Credit_Limit");
    let calls = col_f64(&seg, "Total_calls_made");
    for (got, want) in limit.iter().zip([33782.38, 12174.11, 141040.0]) {
        assert!(
            (got - want).abs() < 0.01 * want,
            "credit limit {got} vs {want}"
        );
    }
    for (got, want) in calls.iter().zip([2.0, 6.8705, 1.08]) {
        assert!((got - want).abs() < 1e-3, "calls {got} vs {want}");
    }
    // Labels keep the id column and input order; distance is the Euclidean distance in z units.
    let labels = read_parquet(&out.join("labels.parquet"));
    assert_eq!(labels.num_rows(), 660);
    assert_eq!(col_f64(&labels, "Sl_No")[..3], [1.0, 2.0, 3.0]);
    let d = col_f64(&labels, "distance");
    let sse_from_labels: f64 = d.iter().map(|v| v * v).sum();
    assert!((sse_from_labels - sse).abs() < 1e-3 * sse);
    // Profiles: overall mean/std (the all-customers rows) match the published column statistics.
    let prof = read_parquet(&out.join("profiles.parquet"));
    let all = prof
        .column_by_name("all_customers")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::BooleanArray>()
        .unwrap();
    let feat = prof
        .column_by_name("feature")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let (mean, std) = (col_f64(&prof, "mean"), col_f64(&prof, "std"));
    let i = (0..prof.num_rows())
        .find(|&i| all.value(i) && feat.value(i) == "Avg_Credit_Limit")
        .unwrap();
    assert!((mean[i] - 34574.2424).abs() < 0.01 && (std[i] - 37596.9728).abs() < 0.01);
    assert_eq!(prof.num_rows(), 4 * 5);
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["rows_read"], 660);
    assert_eq!(summary["restarts"].as_array().unwrap().len(), 10);
}

#[test]
fn mall_reproduces_reference_with_text_ids_and_odd_names() {
    let Some(csv) = shared("mall_customers/Mall_Customers.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mall");
    ok(strata(&[
        "fit",
        csv.to_str().unwrap(),
        "--k",
        "5",
        "--id",
        "CustomerID",
        "--features",
        "Annual Income (k$),Spending Score (1-100)",
        "--scale",
        "none",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]));
    let sse = json(&out.join("model.json"))["fit"]["sse"]
        .as_f64()
        .unwrap();
    assert!(
        (sse - 44448.46).abs() <= 0.01,
        "SSE {sse}, reference 44448.4554"
    );
    let seg = read_parquet(&out.join("segments.parquet"));
    assert_eq!(
        col_f64(&seg, "customers"),
        vec![81.0, 39.0, 35.0, 23.0, 22.0]
    );
    let labels = read_parquet(&out.join("labels.parquet"));
    let ids = labels
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("CustomerID kept as text");
    assert_eq!(ids.value(0), "0001");
}

fn generate(path: &std::path::Path, rows: usize, features: usize, clusters: usize) {
    crate::common::generate(path, rows, features, clusters, 7, &[]);
}

#[test]
fn bit_identical_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("gen.parquet");
    generate(&data, 60_000, 6, 4);
    let mut outs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = dir.path().join(format!("out{threads}"));
        let args = [
            "fit",
            data.to_str().unwrap(),
            "--k",
            "5",
            "--n-init",
            "2",
            "--id",
            "customer_id",
            "--out",
            out.to_str().unwrap(),
        ];
        ok(strata_env(&args, &[("RAYON_NUM_THREADS", threads)]));
        let mut model = json(&out.join("model.json"));
        model.as_object_mut().unwrap().remove("created_unix");
        outs.push((
            std::fs::read(out.join("labels.parquet")).unwrap(),
            model,
            std::fs::read(out.join("profiles.parquet")).unwrap(),
        ));
    }
    assert!(
        outs[0].0 == outs[1].0 && outs[0].0 == outs[2].0,
        "labels.parquet differs across thread counts"
    );
    assert_eq!(outs[0].1, outs[1].1);
    assert_eq!(outs[0].1, outs[2].1);
    assert!(
        outs[0].2 == outs[1].2,
        "profiles.parquet differs across thread counts"
    );
}

#[test]
fn generated_directory_input_and_log1p() {
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join("export");
    std::fs::create_dir(&parts).unwrap();
    generate(&parts.join("part-0.parquet"), 3_000, 8, 3);
    std::fs::copy(parts.join("part-0.parquet"), parts.join("part-1.parquet")).unwrap();
    let out = dir.path().join("out");
    ok(strata(&[
        "fit",
        parts.to_str().unwrap(),
        "--k",
        "3",
        "--id",
        "customer_id",
        "--log1p",
        "balance,credit_limit,monthly_spend",
        "--scale",
        "robust",
        "--out",
        out.to_str().unwrap(),
    ]));
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["rows_read"], 6_000);
    // Duplicated rows land in the same segment as their twin.
    let labels = read_parquet(&out.join("labels.parquet"));
    let seg = col_f64(&labels, "segment");
    assert_eq!(seg[..3_000], seg[3_000..]);
    // Centroids of log1p columns come back in original (positive money) units.
    let segs = read_parquet(&out.join("segments.parquet"));
    assert!(col_f64(&segs, "balance").iter().all(|&v| v > 1.0));
}

/// A small table with nulls and NaN in `b`; row 2 has both columns missing.
fn table_with_missing(path: &std::path::Path) {
    let a = Float64Array::from(vec![
        Some(1.0),
        Some(2.0),
        None,
        Some(10.0),
        Some(11.0),
        Some(12.0),
    ]);
    let b = Float64Array::from(vec![
        Some(1.0),
        Some(f64::NAN),
        None,
        Some(10.0),
        Some(7.0),
        Some(12.0),
    ]);
    let id = Int64Array::from(vec![100, 101, 102, 103, 104, 105]);
    write_parquet(
        path,
        vec![("id", Arc::new(id)), ("a", Arc::new(a)), ("b", Arc::new(b))],
    );
}

#[test]
fn missing_drop_and_median() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("m.parquet");
    table_with_missing(&data);
    let out = dir.path().join("drop");
    let base = [
        "fit",
        data.to_str().unwrap(),
        "--k",
        "2",
        "--id",
        "id",
        "--scale",
        "none",
    ];
    ok(strata(
        &[
            &base[..],
            &["--missing", "drop", "--out", out.to_str().unwrap()],
        ]
        .concat(),
    ));
    let labels = read_parquet(&out.join("labels.parquet"));
    assert_eq!(
        labels.num_rows(),
        6,
        "dropped rows stay in labels.parquet with a null segment"
    );
    let seg = labels.column_by_name("segment").unwrap();
    assert!(seg.is_null(1) && seg.is_null(2) && !seg.is_null(0));
    assert_eq!(json(&out.join("summary.json"))["rows_dropped"], 2);

    let out = dir.path().join("median");
    ok(strata(
        &[
            &base[..],
            &["--missing", "median", "--out", out.to_str().unwrap()],
        ]
        .concat(),
    ));
    let model = json(&out.join("model.json"));
    let cols = &model["preparation"]["columns"];
    // Independent medians: a over {1,2,10,11,12} = 10; b over {1,10,7,12} = (7+10)/2.
    assert_eq!(cols[0]["median"].as_f64(), Some(10.0));
    assert_eq!(cols[1]["median"].as_f64(), Some(8.5));
    assert_eq!(json(&out.join("summary.json"))["values_imputed"], 3);
}

/// Plain Lloyd in f64 from given centroids, the independent reference for --init FILE and weights.
fn reference_lloyd(
    x: &[[f64; 2]],
    w: &[f64],
    mut c: Vec<[f64; 2]>,
    iters: usize,
) -> (Vec<[f64; 2]>, f64) {
    let nearest = |p: &[f64; 2], c: &[[f64; 2]]| {
        (0..c.len())
            .map(|j| (j, (p[0] - c[j][0]).powi(2) + (p[1] - c[j][1]).powi(2)))
            .fold((0, f64::INFINITY), |b, t| if t.1 < b.1 { t } else { b })
    };
    for _ in 0..iters {
        let mut s = vec![[0.0; 3]; c.len()];
        for (p, &wi) in x.iter().zip(w) {
            let (j, _) = nearest(p, &c);
            s[j][0] += wi * p[0];
            s[j][1] += wi * p[1];
            s[j][2] += wi;
        }
        c = s.iter().map(|t| [t[0] / t[2], t[1] / t[2]]).collect();
    }
    let sse = x.iter().zip(w).map(|(p, wi)| wi * nearest(p, &c).1).sum();
    (c, sse)
}

#[test]
fn weights_and_given_init_match_reference_lloyd() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 99u64;
    let mut next = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 40) as f64 / (1u64 << 24) as f64
    };
    let x: Vec<[f64; 2]> = (0..400)
        .map(|i| [next() * 10.0 + (i % 3) as f64 * 6.0, next() * 10.0])
        .collect();
    let w: Vec<f64> = (0..400).map(|i| (i % 4) as f64).collect();
    let data = dir.path().join("w.parquet");
    write_parquet(
        &data,
        vec![
            (
                "x",
                Arc::new(Float64Array::from_iter_values(x.iter().map(|p| p[0]))),
            ),
            (
                "y",
                Arc::new(Float64Array::from_iter_values(x.iter().map(|p| p[1]))),
            ),
            (
                "w",
                Arc::new(Float64Array::from_iter_values(w.iter().copied())),
            ),
        ],
    );
    let init = dir.path().join("init.csv");
    std::fs::write(&init, "y,x\n2,1\n5,9\n8,20\n").unwrap();
    let out = dir.path().join("out");
    ok(strata(&[
        "fit",
        data.to_str().unwrap(),
        "--k",
        "3",
        "--features",
        "x,y",
        "--weight",
        "w",
        "--scale",
        "none",
        "--init",
        init.to_str().unwrap(),
        "--tol",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]));
    let (c, sse) = reference_lloyd(&x, &w, vec![[1.0, 2.0], [9.0, 5.0], [20.0, 8.0]], 300);
    let got = json(&out.join("model.json"))["fit"]["sse"]
        .as_f64()
        .unwrap();
    assert!(
        (got - sse).abs() < 1e-4 * sse,
        "weighted SSE {got} vs reference {sse}"
    );
    let seg = read_parquet(&out.join("segments.parquet"));
    let (gx, gy) = (col_f64(&seg, "x"), col_f64(&seg, "y"));
    for ref_c in &c {
        assert!(
            gx.iter()
                .zip(&gy)
                .any(|(a, b)| (a - ref_c[0]).abs() < 1e-3 && (b - ref_c[1]).abs() < 1e-3),
            "reference centroid {ref_c:?} not among {gx:?} {gy:?}"
        );
    }
}

/// `strata bench`: one row per device, devices agree on the SSE of the same fixed work, the derived rates
/// follow from the timings, JSON and CSV say the same; a malformed shape is a usage error.
#[test]
fn bench_reports_every_device_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let (j, c) = (dir.path().join("b.json"), dir.path().join("b.csv"));
    let table = ok(strata(&[
        "bench",
        "--sizes",
        "6000x5x3,3000x9x4",
        "--iters",
        "3",
        "--allow-software",
        "--dir",
        dir.path().to_str().unwrap(),
        "--json",
        j.to_str().unwrap(),
        "--csv",
        c.to_str().unwrap(),
    ]));
    let rows = json(&j);
    let rows = rows.as_array().unwrap();
    let gpu = std::env::var("STRATA_REQUIRE_GPU").is_ok_and(|v| v == "1");
    let per_shape = if gpu { 2 } else { 1 };
    assert!(rows.len() >= 2 * per_shape, "{table}");
    for shape in ["6000x5x3", "3000x9x4"] {
        let mine: Vec<_> = rows.iter().filter(|r| r["shape"] == shape).collect();
        assert!(mine.len() >= per_shape, "{shape}: {table}");
        assert!(mine[0]["device"].as_str().unwrap().starts_with("cpu"));
        let sse0 = mine[0]["sse"].as_f64().unwrap();
        for r in &mine {
            let (n, d) = (r["n"].as_f64().unwrap(), r["d"].as_f64().unwrap());
            let ms = r["ms_per_iter"].as_f64().unwrap();
            assert!(ms > 0.0);
            let gbs = n * d * 4.0 / (ms / 1e3) / 1e9;
            assert!((r["gb_per_s"].as_f64().unwrap() - gbs).abs() <= 1e-9 * gbs.max(1.0));
            // Every device, GPU included, measures its own floor in the run; % floor is relative to it.
            let floor = r["floor_ms"]
                .as_f64()
                .expect("a floor for every resident device");
            assert!(floor > 0.0, "{shape}: floor {floor}");
            let pct = 100.0 * floor / ms;
            assert!((r["pct_of_floor"].as_f64().unwrap() - pct).abs() <= 1e-9 * pct.max(1.0));
            let sse = r["sse"].as_f64().unwrap();
            assert!(
                (sse - sse0).abs() <= 1e-5 * sse0,
                "{shape}: {sse} vs {sse0}"
            );
        }
    }
    let csv = std::fs::read_to_string(&c).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1);
    assert!(csv.starts_with("shape,n,d,k,device,"));
    // Generated files are removed afterwards.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let bad = strata(&["bench", "--sizes", "10x3"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("NxDxK"), "{}", stderr(&bad));
}

/// A file of many row groups (decoded in parallel) gives the same result as the same rows in one group, drops
/// exactly the rows with a null, keeps the ids in order, and reports the first infinite value in row order.
#[test]
fn row_groups_read_in_parallel_like_one() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1000usize;
    let cols = |inf: &[usize]| -> Vec<(&'static str, arrow_array::ArrayRef)> {
        let a: Float64Array = (0..n)
            .map(|i| (![5, 300, 999].contains(&i)).then_some((i as f64 * 0.5) % 17.0))
            .collect();
        let b: Float64Array = (0..n)
            .map(|i| {
                Some(if inf.contains(&i) {
                    f64::INFINITY
                } else {
                    ((i * 7) % 13) as f64
                })
            })
            .collect();
        vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..n as i64)) as _,
            ),
            ("a", Arc::new(a) as _),
            ("b", Arc::new(b) as _),
        ]
    };
    let (many, one) = (
        dir.path().join("many.parquet"),
        dir.path().join("one.parquet"),
    );
    write_parquet_groups(&many, cols(&[]), Some(64));
    write_parquet(&one, cols(&[]));
    let run = |input: &std::path::Path, out: &str| {
        let out = dir.path().join(out);
        ok(strata(&[
            "fit",
            input.to_str().unwrap(),
            "--k",
            "3",
            "--id",
            "id",
            "--missing",
            "drop",
            "--out",
            out.to_str().unwrap(),
        ]));
        out
    };
    let (m, o) = (run(&many, "many"), run(&one, "one"));
    let (lm, lo) = (
        read_parquet(&m.join("labels.parquet")),
        read_parquet(&o.join("labels.parquet")),
    );
    assert_eq!(lm.num_rows(), n);
    assert_eq!(lm, lo, "many row groups vs one");
    assert_eq!(
        col_f64(&lm, "id"),
        (0..n).map(|i| i as f64).collect::<Vec<_>>()
    );
    let seg = lm.column_by_name("segment").unwrap();
    let nulls: Vec<usize> = (0..n).filter(|&i| seg.is_null(i)).collect();
    assert_eq!(nulls, vec![5, 300, 999]);
    assert_eq!(json(&m.join("summary.json"))["rows_dropped"], 3);

    let bad = dir.path().join("inf.parquet");
    write_parquet_groups(&bad, cols(&[900, 700]), Some(64));
    let o = strata(&[
        "fit",
        bad.to_str().unwrap(),
        "--k",
        "2",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("'b' holds inf at row 700"),
        "{}",
        stderr(&o)
    );
}

/// The column-by-column passes read the same values from every kind of input: one table as Parquet in
/// many row groups, as two Parquet files and as two CSV files (read once, its columns spilled to a temporary
/// file) fits to the same labels, profiles, segments and model, with dropped rows and with imputed ones; and
/// `assign --profiles` of the training rows, which streams them, profiles them as the fit did.
#[test]
fn parquet_parts_and_spilled_csv_give_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000usize;
    let value = |i: usize, j: usize| -> Option<f64> {
        let v = ((i * (7 + 3 * j)) % 101) as f64 * 0.37 + (i % (5 + j)) as f64;
        (!(i % 97 == j && j < 2)).then_some(if j == 2 { v * 1000.0 } else { v })
    };
    let table = |rows: std::ops::Range<usize>| -> Vec<(&'static str, arrow_array::ArrayRef)> {
        let f = |j: usize| -> arrow_array::ArrayRef {
            Arc::new(rows.clone().map(|i| value(i, j)).collect::<Float64Array>())
        };
        let id = Int64Array::from_iter_values(rows.clone().map(|i| i as i64));
        vec![
            ("id", Arc::new(id) as _),
            ("a", f(0)),
            ("b", f(1)),
            ("money", f(2)),
        ]
    };
    let csv = |rows: std::ops::Range<usize>| -> String {
        let cell = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
        let mut s = String::from("id,a,b,money\n");
        for i in rows {
            let cells: Vec<String> = (0..3).map(|j| cell(value(i, j))).collect();
            s += &format!("{i},{}\n", cells.join(","));
        }
        s
    };
    let d = dir.path();
    write_parquet_groups(&d.join("groups.parquet"), table(0..n), Some(256));
    write_parquet(&d.join("p1.parquet"), table(0..1100));
    write_parquet(&d.join("p2.parquet"), table(1100..n));
    std::fs::write(d.join("c1.csv"), csv(0..1700)).unwrap();
    std::fs::write(d.join("c2.csv"), csv(1700..n)).unwrap();
    for missing in ["drop", "median"] {
        let fit = |inputs: &[&str], out: &str| {
            let out = d.join(format!("{out}-{missing}"));
            let mut args = vec!["fit"];
            let paths: Vec<String> = inputs
                .iter()
                .map(|f| d.join(f).display().to_string())
                .collect();
            args.extend(paths.iter().map(String::as_str));
            let o = out.display().to_string();
            args.extend([
                "--k",
                "4",
                "--id",
                "id",
                "--missing",
                missing,
                "--log1p",
                "money",
            ]);
            args.extend(["--device", "cpu", "--no-report", "-q", "--out", &o]);
            ok(strata(&args));
            out
        };
        let outs = [
            fit(&["groups.parquet"], "groups"),
            fit(&["p1.parquet", "p2.parquet"], "parts"),
            fit(&["c1.csv", "c2.csv"], "csv"),
        ];
        let labels = read_parquet(&outs[0].join("labels.parquet"));
        assert_eq!(labels.num_rows(), n);
        let summary = json(&outs[0].join("summary.json"));
        let dropped = summary["rows_dropped"].as_u64().unwrap();
        assert_eq!(dropped, if missing == "drop" { 62 } else { 0 }, "{missing}");
        for o in &outs[1..] {
            // A CSV's id column is read as text: the labels are compared without it, the ids by value.
            let (a, b) = (read_parquet(&o.join("labels.parquet")), labels.clone());
            let rest = |b: &arrow_array::RecordBatch| b.project(&[1, 2, 3, 4]).unwrap();
            assert_eq!(rest(&a), rest(&b), "labels of {} ({missing})", o.display());
            let ids = |b: &arrow_array::RecordBatch| -> Vec<String> {
                let c = arrow_cast::cast(b.column(0), &arrow_schema::DataType::Utf8).unwrap();
                let c = c.as_any().downcast_ref::<StringArray>().unwrap();
                c.iter().map(|v| v.unwrap().to_string()).collect()
            };
            assert_eq!(ids(&a), ids(&b));
            for f in ["profiles.parquet", "segments.parquet"] {
                assert_eq!(
                    read_parquet(&o.join(f)),
                    read_parquet(&outs[0].join(f)),
                    "{f} of {} ({missing})",
                    o.display()
                );
            }
            // What the model learned from the values (its input types and schema differ with the format).
            let model = |dir: &std::path::Path| {
                let m = json(&dir.join("model.json"));
                let keys = ["preparation", "segments", "reference", "fit", "fitted_rows"];
                keys.map(|k| m[k].clone())
            };
            assert_eq!(model(o), model(&outs[0]), "model of {}", o.display());
        }
        // assign --profiles reads the columns again the same ways: on the training rows it profiles
        // exactly as the fit did, from either format.
        for (inputs, name) in [
            (&["groups.parquet"][..], "a-groups"),
            (&["c1.csv", "c2.csv"], "a-csv"),
        ] {
            let out = d.join(format!("{name}-{missing}"));
            let paths: Vec<String> = inputs
                .iter()
                .map(|f| d.join(f).display().to_string())
                .collect();
            let (m, o) = (outs[0].display().to_string(), out.display().to_string());
            let mut args = vec!["assign", "--model", &m, "--profiles", "--device", "cpu"];
            args.extend(paths.iter().map(String::as_str));
            args.extend(["--no-report", "-q", "--out", &o]);
            ok(strata(&args));
            assert_eq!(
                read_parquet(&out.join("profiles.parquet")),
                read_parquet(&outs[0].join("profiles.parquet")),
                "assign's profiles from {name} ({missing})"
            );
        }
    }
    // A temporary folder that cannot take the columns is named, with what to do.
    let c1 = d.join("c1.csv").display().to_string();
    let out = d.join("no-tmp").display().to_string();
    let args = [
        "fit",
        &c1,
        "--k",
        "2",
        "--id",
        "id",
        "--missing",
        "median",
        "--out",
        &out,
    ];
    let o = strata_env(&args, &[("TMPDIR", "/nonexistent-strata-tmp")]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent-strata-tmp") && stderr(&o).contains("TMPDIR"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("no-tmp").exists());
}

/// Over its memory budget a fit prepares only a sample's rows, runs k-means on them and assigns every
/// customer in one streamed pass: it says so (in the log and summary.json), its partition and distances are
/// those of the in-memory fit on the same sample (`--sample` alone, under the budget), it gives the same
/// bits on one thread as on two, and the same table as CSV gives the same segments and profiles.
#[test]
fn over_the_memory_budget_a_fit_runs_on_a_sample_and_streams_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.parquet");
    generate_table(&input, 20_000, 6);
    let csv = dir.path().join("t.csv");
    let fit_from = |input: &std::path::Path, extra: &[&str], out: &str, threads: &str| {
        let out = dir.path().join(out);
        let (i, o) = (input.display().to_string(), out.display().to_string());
        let mut args = vec![
            "fit",
            &i,
            "--k",
            "4",
            "--id",
            "customer_id",
            "--sample",
            "3000",
        ];
        args.extend(["--device", "cpu", "--no-report", "--out", &o]);
        args.extend(extra);
        let run = strata_env(&args, &[("RAYON_NUM_THREADS", threads)]);
        (stderr(&run), ok(run), out)
    };
    let fit = |extra: &[&str], out: &str, threads: &str| fit_from(&input, extra, out, threads);
    let (said, _, mem) = fit(&["--memory", "200K"], "mem", "2");
    assert!(
        said.contains("over the budget of 204.8 KB (as asked)")
            && said.contains("uniform sample of 3000 of 20000 rows"),
        "{said}"
    );
    let summary = json(&mem.join("summary.json"));
    assert_eq!(summary["memory"]["budget_bytes"], 204_800);
    assert_eq!(summary["sample_rows"], 3000);
    assert_eq!(summary["rows_used"], 20_000);
    let (said, _, full) = fit(&[], "full", "2");
    assert!(!said.contains("over the budget"), "{said}");
    assert!(json(&full.join("summary.json")).get("memory").is_none());
    // The same partition (segment numbers may differ: the streamed fit orders them by their sizes in the
    // sample) and the same distances, row for row.
    let (a, b) = (
        read_parquet(&mem.join("labels.parquet")),
        read_parquet(&full.join("labels.parquet")),
    );
    assert_eq!(a.num_rows(), 20_000);
    let (sa, sb) = (col_f64(&a, "segment"), col_f64(&b, "segment"));
    let mut map = std::collections::HashMap::new();
    for (x, y) in sa.iter().zip(&sb) {
        assert_eq!(
            *map.entry(*x as u32).or_insert(*y as u32),
            *y as u32,
            "one segment each"
        );
    }
    assert_eq!(map.len(), 4);
    assert_eq!(col_f64(&a, "distance"), col_f64(&b, "distance"));
    let (_, _, one) = fit(&["--memory", "200K"], "one", "1");
    for f in ["labels.parquet", "profiles.parquet", "segments.parquet"] {
        assert_eq!(
            read_parquet(&one.join(f)),
            read_parquet(&mem.join(f)),
            "{f}"
        );
    }
    assert_eq!(
        std::fs::read(one.join("explain.json")).unwrap(),
        std::fs::read(mem.join("explain.json")).unwrap()
    );
    // The same table as CSV (its columns spilled while read) takes the same path to the same segments.
    let mut w = arrow_csv::Writer::new(std::fs::File::create(&csv).unwrap());
    w.write(&read_parquet(&input)).unwrap();
    drop(w);
    fit_from(&csv, &["--memory", "200K"], "csv", "2");
    let from_csv = read_parquet(&dir.path().join("csv/labels.parquet"));
    for col in ["segment", "distance"] {
        assert_eq!(col_f64(&from_csv, col), col_f64(&a, col), "{col} from CSV");
    }
    assert_eq!(
        read_parquet(&dir.path().join("csv/profiles.parquet")),
        read_parquet(&mem.join("profiles.parquet"))
    );
}

/// Four tight groups in two well-separated pairs: Ward cut at 4 finds the groups, cut at 2 the pairs;
/// the dendrogram's top merge joins the two pairs; assign with the Ward model reproduces the labels.
#[test]
fn ward_cuts_a_known_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nested.parquet");
    let centres = [(0.0, 0.0), (0.0, 3.0), (20.0, 0.0), (20.0, 3.0)];
    let n = 4000;
    let noise =
        |i: usize, s: u32| (((i as u32).wrapping_mul(2654435761) ^ s) % 1000) as f64 / 1000.0 - 0.5;
    let group: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let x: Vec<f64> = (0..n)
        .map(|i| centres[group[i]].0 + 0.6 * noise(i, 7))
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| centres[group[i]].1 + 0.6 * noise(i, 99_991))
        .collect();
    write_parquet(
        &input,
        vec![
            ("x", Arc::new(Float64Array::from(x)) as _),
            ("y", Arc::new(Float64Array::from(y)) as _),
        ],
    );
    let fit = |k: &str, out: &std::path::Path| {
        ok(strata(&[
            "fit",
            input.to_str().unwrap(),
            "--k",
            k,
            "--method",
            "ward",
            "--scale",
            "none",
            "--micro-clusters",
            "40",
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    // Labels as a partition: rows i and j together exactly when their generating groups (or pairs) are.
    let same_partition = |labels: &[f64], truth: &dyn Fn(usize) -> usize| {
        (0..n).all(|i| (0..8).all(|j| (labels[i] == labels[j]) == (truth(i) == truth(j))))
            && (0..n).all(|i| labels[i] == labels[i % 8])
    };
    let (four, two) = (dir.path().join("four"), dir.path().join("two"));
    fit("4", &four);
    fit("2", &two);
    let labels = |d: &std::path::Path| col_f64(&read_parquet(&d.join("labels.parquet")), "segment");
    assert!(same_partition(&labels(&four), &|i| group[i]));
    assert!(same_partition(&labels(&two), &|i| group[i] / 2));
    let s = json(&four.join("summary.json"));
    assert_eq!(s["method"], "ward");
    assert_eq!(s["ward"]["adjusted_rand_vs_kmeans"], 1.0, "{s}");
    // The last merge joins the nodes of the two pairs, each formed from two of the four segments.
    let dend = json(&four.join("dendrogram.json"));
    let merges = dend["merges"].as_array().unwrap();
    assert_eq!(merges.len(), 39);
    let nodes: Vec<u64> = (dend["segments"].as_array().unwrap().iter())
        .map(|s| s["node"].as_u64().unwrap())
        .collect();
    let (m2, m3) = (&merges[37], &merges[38]);
    let formed = |a: &serde_json::Value| a.as_u64().unwrap();
    let pair_nodes = [formed(&m3["a"]), formed(&m3["b"])];
    assert!(pair_nodes.contains(&(40 + 37)), "{m2} {m3}");
    assert!(
        nodes.iter().all(|&n| n < 40 + 36),
        "the segments are formed before the top merges"
    );
    let reassigned = dir.path().join("assigned");
    ok(strata(&[
        "assign",
        "--model",
        four.to_str().unwrap(),
        input.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        reassigned.to_str().unwrap(),
    ]));
    assert_eq!(labels(&reassigned), labels(&four));
}

/// The printed rules are the tree's rules: on the sample data (where the tree is not exact), every
/// customer satisfies exactly one segment's rule from segments.parquet, the one of the leaf explain.json's
/// tree sends it to; and the reported fidelity is the share of customers whose leaf is their segment.
#[test]
fn rules_in_words_are_the_threshold_tree() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/customers.parquet");
    let out = dir.path().join("out");
    ok(strata(&[
        "fit",
        data.to_str().unwrap(),
        "--k",
        "6",
        "--id",
        "customer_id",
        "--log1p",
        "balance,credit_limit,monthly_spend",
        "--device",
        "cpu",
        "--no-report",
        "--out",
        out.to_str().unwrap(),
    ]));
    let input = read_parquet(&data);
    let segs = read_parquet(&out.join("segments.parquet"));
    let ids = col_f64(&segs, "segment");
    let rules = segs
        .column_by_name("rule")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone();
    // "calls > 4.5 and balance ≤ 2,000" → (feature, ≤?, value).
    let parse = |r: &str| -> Vec<(String, bool, f64)> {
        r.split(" and ")
            .map(|c| {
                let (f, rest) = c.split_once(' ').unwrap();
                let (op, v) = rest.split_once(' ').unwrap();
                (
                    f.to_string(),
                    op == "≤",
                    v.replace(',', "").parse::<f64>().unwrap(),
                )
            })
            .collect()
    };
    let parsed: Vec<_> = (0..segs.num_rows())
        .map(|i| parse(rules.value(i)))
        .collect();
    let e = json(&out.join("explain.json"));
    let tree = e["tree"].as_array().unwrap();
    let labels = col_f64(&read_parquet(&out.join("labels.parquet")), "segment");
    let mut cols = std::collections::HashMap::new();
    let mut col = |f: &str| {
        cols.entry(f.to_string())
            .or_insert_with(|| col_f64(&input, f))
            .clone()
    };
    let features: Vec<String> = parsed.iter().flatten().map(|c| c.0.clone()).collect();
    let values: std::collections::HashMap<String, Vec<f64>> =
        features.iter().map(|f| (f.clone(), col(f))).collect();
    let mut agree = 0usize;
    for i in 0..input.num_rows() {
        let mut at = 0;
        while tree[at].get("segment").is_none() {
            let n = &tree[at];
            let left =
                values[n["feature"].as_str().unwrap()][i] <= n["threshold"].as_f64().unwrap();
            at = n[if left { "left" } else { "right" }].as_u64().unwrap() as usize;
        }
        let leaf = tree[at]["segment"].as_f64().unwrap();
        let holds: Vec<f64> = (0..parsed.len())
            .filter(|&s| {
                parsed[s]
                    .iter()
                    .all(|(f, le, v)| (values[f][i] <= *v) == *le)
            })
            .map(|s| ids[s])
            .collect();
        assert_eq!(holds, vec![leaf], "customer {i}");
        agree += usize::from(leaf == labels[i]);
    }
    let fidelity = e["fidelity"].as_f64().unwrap();
    assert_eq!(fidelity, agree as f64 / input.num_rows() as f64);
    assert!(
        fidelity < 1.0,
        "the case must have customers the rules misplace"
    );
}

/// Customers of weight 0 (legal sample weights) and micro-clusters of them do not break Ward; too many
/// micro-clusters are refused up front.
#[test]
fn ward_takes_zero_weights_and_bounds_micro_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("w0.parquet");
    let n = 300;
    let far = |i: usize| if i < 20 { 0.0 } else { 100.0 };
    let wobble = |i: usize| (i % 7) as f64 * 0.1;
    write_parquet(
        &input,
        vec![
            (
                "x",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| far(i) + wobble(i)),
                )) as _,
            ),
            (
                "y",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| far(i) - wobble(i)),
                )) as _,
            ),
            (
                "w",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| if i < 20 { 1.0 } else { 0.0 }),
                )) as _,
            ),
        ],
    );
    let out = dir.path().join("out");
    let args = |micro: &str| {
        vec![
            "fit".to_string(),
            input.to_str().unwrap().into(),
            "--k".into(),
            "3".into(),
            "--method".into(),
            "ward".into(),
            "--weight".into(),
            "w".into(),
            "--micro-clusters".into(),
            micro.into(),
            "--device".into(),
            "cpu".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let run = |micro: &str| strata(&args(micro).iter().map(String::as_str).collect::<Vec<_>>());
    ok(run("40"));
    let labels = col_f64(&read_parquet(&out.join("labels.parquet")), "segment");
    assert_eq!(labels.len(), n);
    let too_many = run("5000");
    assert_eq!(too_many.status.code(), Some(2), "{}", stderr(&too_many));
    assert!(
        stderr(&too_many).contains("--micro-clusters (5000) is above 2000"),
        "{}",
        stderr(&too_many)
    );
}

/// `--sample N`: k-means on a uniform sample, then every row labelled with the centroids found. The same at
/// any thread count; every row's segment is its nearest centroid (its distance at most its second's); the
/// SSE is over all rows (the labels' squared distances); on well-separated clusters it is within 1 % of the full
/// fit's; said in the log and in summary.json; a sample smaller than k, or with Ward, is refused.
#[test]
fn a_sample_fit_labels_every_row_with_its_centroids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.parquet");
    crate::common::generate(&data, 30_000, 6, 5, 4, &[]);
    let d = data.to_str().unwrap();
    let fit = |out: &str, extra: &[&str], threads: &str| {
        let out = dir.path().join(out);
        let mut args = vec![
            "fit",
            d,
            "--k",
            "5",
            "--id",
            "customer_id",
            "--device",
            "cpu",
        ];
        args.extend(extra);
        args.extend(["--no-report", "--out", out.to_str().unwrap()]);
        let o = strata_env(&args, &[("RAYON_NUM_THREADS", threads)]);
        (out, o)
    };
    let (one, o1) = fit("s1", &["--sample", "2000"], "1");
    assert!(o1.status.success(), "{}", stderr(&o1));
    assert!(
        stderr(&o1).contains("on a uniform sample of 2000 of 30000 rows"),
        "{}",
        stderr(&o1)
    );
    let (two, o2) = fit("s2", &["--sample", "2000"], "2");
    assert!(o2.status.success(), "{}", stderr(&o2));
    let bytes = |p: &std::path::Path| std::fs::read(p.join("labels.parquet")).unwrap();
    assert_eq!(
        bytes(&one),
        bytes(&two),
        "the same labels at 1 and 2 threads"
    );
    let s = json(&one.join("summary.json"));
    assert_eq!(s["sample_rows"], 2000);
    assert_eq!(s["rows_used"], 30_000);
    let labels = read_parquet(&one.join("labels.parquet"));
    let (dist, margin) = (col_f64(&labels, "distance"), col_f64(&labels, "margin"));
    assert_eq!(dist.len(), 30_000);
    assert!(
        margin.iter().all(|&m| m >= 0.0),
        "every row at its nearest centroid"
    );
    // `distance` is Euclidean, in f32: its squares add up to the SSE within f32's rounding.
    let total: f64 = dist.iter().map(|d| d * d).sum();
    let sse = s["sse"].as_f64().unwrap();
    assert!((total - sse).abs() <= 1e-5 * sse, "{total} vs {sse}");
    let (full, of) = fit("full", &[], "2");
    assert!(of.status.success(), "{}", stderr(&of));
    let full_sse = json(&full.join("summary.json"))["sse"].as_f64().unwrap();
    assert!(sse <= 1.01 * full_sse, "sample {sse} vs full {full_sse}");
    let (_, o) = fit("small", &["--sample", "3"], "1");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--sample (3) must be at least --k (5)"),
        "{}",
        stderr(&o)
    );
    let (_, o) = fit("ward", &["--sample", "2000", "--method", "ward"], "1");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--sample works with --method kmeans"),
        "{}",
        stderr(&o)
    );
}
