//! The nightly lifecycle against known truth: six generated nights of the same customers (stable, split,
//! merge, emerge, feature shift), each fitted with `--previous` the night before.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::common::{json, ok, read_parquet, strata};
use arrow_array::{Array, Int64Array, StringArray, UInt32Array};

const EVENTS: &str = "stable,split,merge,emerge,shift";
/// Clusters on each night (the generator's truth): 4, then a split (+1), a merge (−1), an emergence (+1).
const K: [usize; 6] = [4, 4, 5, 4, 5, 5];

fn generate(dir: &Path, night: usize) -> String {
    let out = dir.join(format!("night{night}.parquet"));
    crate::common::generate_night(&out, 20_000, 6, 4, night, EVENTS);
    out.to_str().unwrap().to_string()
}

/// The options of every fit here.
const FIT: &str = "fit --device cpu --log1p balance,credit_limit,monthly_spend";

/// Fits `input` with `k` segments into `out` (with `extra` options), relative to `prev` when given.
fn fit_into(input: &Path, out: &Path, k: usize, prev: Option<&Path>, extra: &str) {
    let k = k.to_string();
    let mut more = vec![
        input.to_str().unwrap(),
        "--k",
        &k,
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(p) = prev {
        more.extend(["--previous", p.to_str().unwrap()]);
    }
    run(&format!("{FIT} {extra}"), &more);
}

/// Assigns `input` with the model in `model` into `out` on the CPU; `previous` adds `--previous DIR`.
fn assign_into(model: &Path, input: &Path, out: &Path, previous: Option<&Path>) {
    let mut more = vec!["--model", model.to_str().unwrap(), input.to_str().unwrap()];
    more.extend(["--out", out.to_str().unwrap()]);
    if let Some(p) = previous {
        more.extend(["--previous", p.to_str().unwrap()]);
    }
    run("assign --device cpu", &more);
}

/// Generates night `night` and fits it (with ids) into `dir`/n`night`, relative to the night before.
fn fit(dir: &Path, night: usize) -> PathBuf {
    let input = generate(dir, night);
    let out = dir.join(format!("n{night}"));
    let prev = (night > 0).then(|| dir.join(format!("n{}", night - 1)));
    fit_into(
        Path::new(&input),
        &out,
        K[night],
        prev.as_deref(),
        "--id customer_id",
    );
    out
}

/// Column `name` of `b` as its concrete array type.
fn column<A: Clone + 'static>(b: &arrow_array::RecordBatch, name: &str) -> A {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    c.as_any().downcast_ref::<A>().unwrap().clone()
}

/// A numeric column's values as f64.
fn values(a: &arrow_array::ArrayRef) -> Vec<f64> {
    let b = arrow_array::RecordBatch::try_from_iter([("v", a.clone())]).unwrap();
    crate::common::col_f64(&b, "v")
}

/// The words of `fixed` (flags and their values) followed by `more` (paths and flags naming them).
fn args<'a>(fixed: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    fixed
        .split_whitespace()
        .chain(more.iter().copied())
        .collect()
}

/// Runs strata with [`args`] and expects success.
fn run(fixed: &str, more: &[&str]) -> String {
    ok(strata(&args(fixed, more)))
}

/// customer id → segment, from a labels.parquet.
fn labels(dir: &Path) -> HashMap<i64, u32> {
    let b = read_parquet(&dir.join("labels.parquet"));
    let id = column::<Int64Array>(&b, "customer_id");
    let seg = column::<UInt32Array>(&b, "segment");
    (0..b.num_rows())
        .map(|i| (id.value(i), seg.value(i)))
        .collect()
}

/// The migration computed here by a hash join of the two nights' labels.
fn expected_migration(prev: &Path, now: &Path) -> BTreeMap<(String, String), u64> {
    let (a, b) = (labels(prev), labels(now));
    let mut m = BTreeMap::new();
    for (id, s) in &a {
        let to = b.get(id).map_or("gone".to_string(), |t| t.to_string());
        *m.entry((s.to_string(), to)).or_insert(0) += 1;
    }
    for (id, t) in &b {
        if !a.contains_key(id) {
            *m.entry(("new".to_string(), t.to_string())).or_insert(0) += 1;
        }
    }
    m
}

fn migration(dir: &Path) -> BTreeMap<(String, String), u64> {
    let b = read_parquet(&dir.join("migration.parquet"));
    let s = |n: &str| column::<StringArray>(&b, n);
    let (f, t) = (s("from_segment"), s("to_segment"));
    let c = column::<arrow_array::UInt64Array>(&b, "customers");
    (0..b.num_rows())
        .map(|i| ((f.value(i).to_string(), t.value(i).to_string()), c.value(i)))
        .collect()
}

/// (kind, from, to) of every transition.
fn transitions(dir: &Path) -> Vec<(String, Option<u32>, Option<u32>)> {
    let b = read_parquet(&dir.join("transitions.parquet"));
    let kind = column::<StringArray>(&b, "kind");
    let (f, t) = (
        column::<UInt32Array>(&b, "from_segment"),
        column::<UInt32Array>(&b, "to_segment"),
    );
    (0..b.num_rows())
        .map(|i| {
            let opt = |a: &UInt32Array| a.is_valid(i).then(|| a.value(i));
            (kind.value(i).to_string(), opt(&f), opt(&t))
        })
        .collect()
}

fn count(ts: &[(String, Option<u32>, Option<u32>)], kind: &str) -> usize {
    ts.iter().filter(|t| t.0 == kind).count()
}

fn verdict(dir: &Path) -> String {
    json(&dir.join("summary.json"))["lifecycle"]["drift"]["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn six_nights_with_known_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..6).map(|t| fit(tmp.path(), t)).collect();
    for t in 1..6 {
        assert_eq!(
            migration(&dirs[t]),
            expected_migration(&dirs[t - 1], &dirs[t]),
            "night {t}: migration.parquet against an independent join"
        );
    }
    // Night 1, stable: every returning customer keeps its segment id; only survivals; keep.
    let (a, b) = (labels(&dirs[0]), labels(&dirs[1]));
    let kept = a.iter().filter(|(id, s)| b.get(id) == Some(s)).count();
    assert!(
        kept as f64 >= 0.99 * a.len() as f64,
        "{kept} of {}",
        a.len()
    );
    let ts = transitions(&dirs[1]);
    assert_eq!((count(&ts, "survived"), ts.len()), (4, 4), "{ts:?}");
    assert_eq!(verdict(&dirs[1]), "keep");
    // Every surviving segment keeps its name, in the model and in segments.parquet.
    let names = |dir: &Path| -> BTreeMap<u64, String> {
        let m = json(&dir.join("model.json"));
        (m["segments"].as_array().unwrap().iter())
            .map(|s| {
                (
                    s["id"].as_u64().unwrap(),
                    s["name"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(names(&dirs[0]), names(&dirs[1]));
    let seg = read_parquet(&dirs[1].join("segments.parquet"));
    let seg_names = column::<StringArray>(&seg, "name");
    assert!((0..seg.num_rows()).all(|i| names(&dirs[1]).values().any(|n| n == seg_names.value(i))));
    let explained = json(&dirs[1].join("explain.json"));
    assert!(
        explained["segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name_kept"] == true)
    );
    // The generated clusters are well separated: the threshold tree places every customer in its
    // k-means segment, checked by routing the original values through explain.json's tree.
    tree_places_every_customer(&dirs[0], &tmp.path().join("night0.parquet"));
    // Night 2: one segment split in two parts, the other three survived.
    let ts = transitions(&dirs[2]);
    assert_eq!(
        (count(&ts, "split"), count(&ts, "survived"), ts.len()),
        (2, 3, 5),
        "{ts:?}"
    );
    let parts: Vec<_> = ts.iter().filter(|t| t.0 == "split").collect();
    assert_eq!(parts[0].1, parts[1].1, "both parts come from one segment");
    // Night 3: two segments absorbed into one, the other three survived; the merged segment keeps one
    // of the two ids.
    let ts = transitions(&dirs[3]);
    assert_eq!(
        (count(&ts, "absorbed"), count(&ts, "survived"), ts.len()),
        (2, 3, 5),
        "{ts:?}"
    );
    let merged: Vec<_> = ts.iter().filter(|t| t.0 == "absorbed").collect();
    assert_eq!(merged[0].2, merged[1].2);
    assert!([merged[0].1, merged[1].1].contains(&merged[0].2));
    // Night 4: one segment emerged, holding exactly the 5,000 new customers, with an id never used.
    let ts = transitions(&dirs[4]);
    assert_eq!(
        (count(&ts, "emerged"), count(&ts, "survived"), ts.len()),
        (1, 4, 5),
        "{ts:?}"
    );
    let fresh = ts.iter().find(|t| t.0 == "emerged").unwrap().2.unwrap();
    let used: Vec<u32> = (0..4)
        .flat_map(|t| labels(&dirs[t]).into_values())
        .collect();
    assert!(!used.contains(&fresh), "fresh id {fresh} was used before");
    let m = migration(&dirs[4]);
    assert_eq!(m.get(&("new".into(), fresh.to_string())), Some(&5000));
    // Night 5: the first feature shifted: memberships survive, the verdict is refit.
    let ts = transitions(&dirs[5]);
    assert_eq!((count(&ts, "survived"), ts.len()), (5, 5), "{ts:?}");
    assert_eq!(verdict(&dirs[5]), "refit");
    let reasons = json(&dirs[5].join("summary.json"))["lifecycle"]["drift"]["reasons"].to_string();
    assert!(reasons.contains("'balance' PSI"), "{reasons}");
}

/// explain.json of `dir` reports fidelity 1, and its tree (thresholds in original units) sends every
/// customer of `input` to their segment in labels.parquet.
fn tree_places_every_customer(dir: &Path, input: &Path) {
    let e = json(&dir.join("explain.json"));
    assert_eq!(e["fidelity"], 1.0, "{e}");
    let data = read_parquet(input);
    let ids = column::<Int64Array>(&data, "customer_id");
    let segment = labels(dir);
    let tree = e["tree"].as_array().unwrap();
    let mut cols: HashMap<String, Vec<f64>> = HashMap::new();
    for i in 0..data.num_rows() {
        let mut at = 0;
        while tree[at].get("segment").is_none() {
            let n = &tree[at];
            let f = n["feature"].as_str().unwrap();
            let col = cols
                .entry(f.to_string())
                .or_insert_with(|| crate::common::col_f64(&data, f));
            let left = col[i] <= n["threshold"].as_f64().unwrap();
            at = n[if left { "left" } else { "right" }].as_u64().unwrap() as usize;
        }
        assert_eq!(
            tree[at]["segment"].as_u64().unwrap() as u32,
            segment[&ids.value(i)],
            "customer {}",
            ids.value(i)
        );
    }
}

#[test]
fn assign_previous_writes_migration_and_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let n0 = fit(tmp.path(), 0);
    let night1 = generate(tmp.path(), 1);
    let out = tmp.path().join("a1");
    assign_into(&n0, Path::new(&night1), &out, Some(&n0));
    assert_eq!(migration(&out), expected_migration(&n0, &out));
    let s = json(&out.join("summary.json"));
    assert_eq!(s["lifecycle"]["drift"]["verdict"], "keep");
    // The shifted night against the same model: refit.
    let night5 = generate(tmp.path(), 5);
    let out5 = tmp.path().join("a5");
    assign_into(&n0, Path::new(&night5), &out5, None);
    assert_eq!(
        json(&out5.join("summary.json"))["lifecycle"]["drift"]["verdict"],
        "refit"
    );
}

/// `measure`'s value for `subject` in a drift.parquet.
fn drift_value(dir: &Path, measure: &str, subject: &str) -> f64 {
    let b = read_parquet(&dir.join("drift.parquet"));
    let s = |n: &str| column::<StringArray>(&b, n);
    let (m, sub) = (s("measure"), s("subject"));
    let v = crate::common::col_f64(&b, "value");
    (0..b.num_rows())
        .find(|&i| m.value(i) == measure && sub.value(i) == subject)
        .map(|i| v[i])
        .unwrap_or_else(|| panic!("no {measure} for {subject}"))
}

/// PSI as documented: Σ (a − e) ln(a / e), shares floored at 1e-4.
fn psi(actual: &[f64], expected: &[f64]) -> f64 {
    actual
        .iter()
        .zip(expected)
        .map(|(&a, &e)| {
            let (a, e) = (a.max(1e-4), e.max(1e-4));
            (a - e) * (a / e).ln()
        })
        .sum()
}

#[test]
fn numeric_psi_matches_an_independent_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let n0 = fit(tmp.path(), 0);
    // Night 1 of a single event: the first feature shifted, nothing else.
    let shifted = tmp.path().join("shifted.parquet");
    crate::common::generate_night(&shifted, 20_000, 6, 4, 1, "shift");
    let night5 = shifted.to_str().unwrap().to_string();
    let out = tmp.path().join("a5");
    assign_into(&n0, Path::new(&night5), &out, None);
    // Prepare tonight's balance with the model's own numbers and bin it by the model's edges.
    let model = json(&n0.join("model.json"));
    let col = &model["preparation"]["columns"][0];
    assert_eq!(col["name"], "balance");
    let (center, scale) = (
        col["center"].as_f64().unwrap(),
        col["scale"].as_f64().unwrap(),
    );
    let bins = &model["reference"]["bins"][0];
    let edges: Vec<f32> = bins["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_f64().unwrap() as f32)
        .collect();
    let expected: Vec<f64> = bins["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_f64().unwrap())
        .collect();
    let balance = crate::common::col_f64(&read_parquet(Path::new(&night5)), "balance");
    let mut counts = vec![0f64; edges.len() + 1];
    for x in &balance {
        let p = ((x.ln_1p() - center) / scale) as f32;
        counts[edges.iter().filter(|&&e| e < p).count()] += 1.0;
    }
    let actual: Vec<f64> = counts.iter().map(|c| c / balance.len() as f64).collect();
    let want = psi(&actual, &expected);
    let got = drift_value(&out, "psi", "balance");
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{got} vs {want}"
    );
    assert!(want > 0.25, "the shift is a refit: {want}");
    // A feature that did not move stays below the watch threshold.
    assert!(drift_value(&out, "psi", "calls") < 0.1);
}

#[test]
fn categorical_drift_on_real_data() {
    let Some(mall) = crate::common::shared("mall_customers/Mall_Customers.csv") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let fitted = tmp.path().join("fit");
    let features = "Age,Annual Income (k$),Spending Score (1-100)";
    run(
        "fit --k 5 --categorical Genre --id CustomerID --device cpu",
        &[
            mall.to_str().unwrap(),
            "--features",
            features,
            "--out",
            fitted.to_str().unwrap(),
        ],
    );
    // The training customers themselves: every PSI is 0 and the verdict is keep.
    let same = tmp.path().join("same");
    assign_into(&fitted, &mall, &same, None);
    for f in [
        "Age",
        "Annual Income (k$)",
        "Spending Score (1-100)",
        "Genre",
    ] {
        assert_eq!(drift_value(&same, "psi", f), 0.0, "{f}");
    }
    assert_eq!(
        json(&same.join("summary.json"))["lifecycle"]["drift"]["verdict"],
        "keep"
    );
    // Only the women: Genre's PSI is the documented formula on the shares counted here.
    let text = std::fs::read_to_string(&mall).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    let women: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|l| l.contains(",Female,"))
        .collect();
    let female_csv = tmp.path().join("female.csv");
    std::fs::write(&female_csv, format!("{header}\n{}\n", women.join("\n"))).unwrap();
    let out = tmp.path().join("women");
    assign_into(&fitted, &female_csv, &out, None);
    // Categories in the model's order: Female, Male, (other).
    let p = women.len() as f64 / rows.len() as f64;
    let want = psi(&[1.0, 0.0, 0.0], &[p, 1.0 - p, 0.0]);
    let got = drift_value(&out, "psi", "Genre");
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    assert_eq!(
        json(&out.join("summary.json"))["lifecycle"]["drift"]["verdict"],
        "refit"
    );
}

#[test]
fn without_ids_segments_match_by_centroid_distance() {
    let tmp = tempfile::tempdir().unwrap();
    let features = "balance,credit_limit,monthly_spend,branch_visits,online_logins,calls";
    let mut outs = Vec::new();
    for (t, k) in K.iter().enumerate().take(3) {
        let input = generate(tmp.path(), t);
        let out = tmp.path().join(format!("r{t}"));
        let prev = (t > 0).then(|| tmp.path().join(format!("r{}", t - 1)));
        let extra = format!("--features {features}");
        fit_into(Path::new(&input), &out, *k, prev.as_deref(), &extra);
        outs.push(out);
    }
    let s = json(&outs[1].join("summary.json"));
    assert_eq!(s["lifecycle"]["matched_by"], "centroid distance");
    assert!(
        !outs[1].join("migration.parquet").exists(),
        "no ids, no migration"
    );
    // The same customers in the same rows: nearly all keep their segment id.
    let seg = |d: &Path| {
        let b = read_parquet(&d.join("labels.parquet"));
        column::<UInt32Array>(&b, "segment").values().to_vec()
    };
    let (a, b) = (seg(&outs[0]), seg(&outs[1]));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(
        same as f64 >= 0.99 * a.len() as f64,
        "{same} of {}",
        a.len()
    );
    let ts = transitions(&outs[1]);
    assert_eq!((count(&ts, "survived"), ts.len()), (4, 4), "{ts:?}");
    let ts = transitions(&outs[2]);
    assert_eq!(
        (count(&ts, "split"), count(&ts, "survived"), ts.len()),
        (2, 3, 5),
        "{ts:?}"
    );
}

#[test]
fn previous_may_be_the_output_directory_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fit(tmp.path(), 0);
    let before = labels(&out);
    let night1 = generate(tmp.path(), 1);
    fit_into(Path::new(&night1), &out, 4, Some(&out), "--id customer_id");
    let after = labels(&out);
    let m = migration(&out);
    let stayed: u64 = (m.iter())
        .filter(|((f, t), _)| f == t)
        .map(|(_, c)| *c)
        .sum();
    let kept = before
        .iter()
        .filter(|(id, s)| after.get(id) == Some(s))
        .count();
    assert_eq!(stayed, kept as u64);
    assert!(kept as f64 >= 0.99 * before.len() as f64);
}

#[test]
fn grow_and_shrink_are_new_and_gone_customers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for t in 0..3 {
        let input = tmp.path().join(format!("g{t}.parquet"));
        crate::common::generate_night(&input, 20_000, 6, 4, t, "grow,shrink");
        let out = tmp.path().join(format!("g{t}"));
        let prev = (t > 0).then(|| tmp.path().join(format!("g{}", t - 1)));
        fit_into(&input, &out, 4, prev.as_deref(), "--id customer_id");
        outs.push(out);
    }
    for t in 1..3 {
        let m = migration(&outs[t]);
        assert_eq!(m, expected_migration(&outs[t - 1], &outs[t]), "night {t}");
        let ts = transitions(&outs[t]);
        assert_eq!(
            (count(&ts, "survived"), ts.len()),
            (4, 4),
            "night {t}: {ts:?}"
        );
        let new: u64 = m
            .iter()
            .filter(|((f, _), _)| f == "new")
            .map(|(_, c)| c)
            .sum();
        let gone: u64 = m
            .iter()
            .filter(|((_, to), _)| to == "gone")
            .map(|(_, c)| c)
            .sum();
        // Night 1: a fifth of the smallest cluster joins, all into one segment; night 2: 30 % of the
        // largest leaves, all from one segment.
        let (moved, from_or_to): (u64, Vec<&String>) = if t == 1 {
            (
                new,
                m.keys().filter(|k| k.0 == "new").map(|k| &k.1).collect(),
            )
        } else {
            (
                gone,
                m.keys().filter(|k| k.1 == "gone").map(|k| &k.0).collect(),
            )
        };
        assert!(moved > 500, "night {t}: {m:?}");
        assert_eq!(from_or_to.len(), 1, "night {t}: {m:?}");
        assert_eq!(if t == 1 { gone } else { new }, 0);
    }
}

#[test]
fn lifecycle_outputs_do_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let n0 = fit(tmp.path(), 0);
    // Night 2 rewritten in row groups of 3,000 rows: seven parts streamed by concurrent workers.
    let night2 = generate(tmp.path(), 2);
    crate::common::rewrite_parquet(Path::new(&night2), Some(3_000), |_| {});
    let outputs = |threads: &str| {
        let out = tmp.path().join(format!("t{threads}"));
        ok(crate::common::strata_env(
            &[
                "fit",
                &night2,
                "--k",
                "5",
                "--id",
                "customer_id",
                "--device",
                "cpu",
                "--previous",
                n0.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        ));
        let a = tmp.path().join(format!("a{threads}"));
        ok(crate::common::strata_env(
            &[
                "assign",
                "--model",
                n0.to_str().unwrap(),
                &night2,
                "--device",
                "cpu",
                "--previous",
                n0.to_str().unwrap(),
                "--profiles",
                "--out",
                a.to_str().unwrap(),
            ],
            &[("RAYON_NUM_THREADS", threads)],
        ));
        let files = [
            "labels.parquet",
            "transitions.parquet",
            "migration.parquet",
            "drift.parquet",
        ];
        let mut bytes: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(out.join(f)).unwrap())
            .collect();
        bytes.extend(
            files
                .iter()
                .chain(&["profiles.parquet", "segments.parquet"])
                .map(|f| std::fs::read(a.join(f)).unwrap()),
        );
        bytes
    };
    assert_eq!(outputs("1"), outputs("2"));
}

#[test]
fn a_null_tonight_does_not_stop_a_refit_against_a_strict_model() {
    let tmp = tempfile::tempdir().unwrap();
    let n0 = fit(tmp.path(), 0); // --missing error (the default)
    let night1 = generate(tmp.path(), 1);
    crate::common::rewrite_parquet(Path::new(&night1), None, |cols| {
        let b = &mut cols.iter_mut().find(|c| c.0 == "balance").unwrap().1;
        let mut v: Vec<Option<f64>> = values(b).into_iter().map(Some).collect();
        v[10] = None;
        *b = std::sync::Arc::new(arrow_array::Float64Array::from(v));
    });
    let out = tmp.path().join("n1");
    let extra = "--id customer_id --missing drop";
    fit_into(Path::new(&night1), &out, 4, Some(&n0), extra);
    let s = json(&out.join("summary.json"));
    assert!(
        s["warnings"]
            .to_string()
            .contains("1 rows with missing values in the previous model's features"),
        "{}",
        s["warnings"]
    );
    assert_eq!(s["lifecycle"]["drift"]["verdict"], "keep");
    // The dropped customer has no segment tonight: it is `gone` in the migration.
    assert_eq!(
        migration(&out).get(&(labels(&n0)[&11].to_string(), "gone".to_string())),
        Some(&1)
    );
}

#[test]
fn a_damaged_drift_reference_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let n0 = fit(tmp.path(), 0);
    let path = n0.join("model.json");
    let mut model = json(&path);
    let edges = model["reference"]["bins"][0]["edges"]
        .as_array_mut()
        .unwrap();
    edges.reverse();
    let edited = tmp.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&model).unwrap()).unwrap();
    let night1 = generate(tmp.path(), 1);
    let o = strata(&args(
        "assign",
        &[
            "--model",
            edited.to_str().unwrap(),
            &night1,
            "--out",
            tmp.path().join("a").to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(3));
    assert!(
        crate::common::stderr(&o).contains("drift reference"),
        "{}",
        crate::common::stderr(&o)
    );
}

#[test]
fn unusable_ids_fall_back_to_centroid_matching_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let n0 = fit(tmp.path(), 0);
    let night_with = |name: &str, edit: &dyn Fn(&mut crate::common::Columns)| {
        let input = tmp.path().join(format!("{name}.parquet"));
        crate::common::generate_night(&input, 20_000, 6, 4, 1, EVENTS);
        crate::common::rewrite_parquet(&input, None, edit);
        let out = tmp.path().join(name);
        fit_into(&input, &out, 4, Some(&n0), "--id customer_id");
        let s = json(&out.join("summary.json"));
        assert!(!out.join("migration.parquet").exists(), "{name}");
        assert_eq!(s["lifecycle"]["matched_by"], "centroid distance", "{name}");
        assert_eq!(count(&transitions(&out), "survived"), 4, "{name}");
        s["warnings"].to_string()
    };
    // Re-keyed ids: none joins.
    let w = night_with("rekeyed", &|cols| {
        let ids = values(&cols[0].1);
        let text = arrow_array::StringArray::from_iter_values(ids.iter().map(|v| format!("c{v}")));
        cols[0].1 = std::sync::Arc::new(text);
    });
    assert!(w.contains("the ids do not join"), "{w}");
    // A repeated id tonight: the join is ambiguous.
    let w = night_with("repeated", &|cols| {
        let mut ids = values(&cols[0].1);
        ids[1] = ids[0];
        cols[0].1 =
            std::sync::Arc::new(Int64Array::from_iter_values(ids.iter().map(|&v| v as i64)));
    });
    assert!(w.contains("tonight's ids repeat on 1 row(s)"), "{w}");
}
