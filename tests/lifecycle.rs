//! The nightly lifecycle against known truth: six generated nights of the same customers (stable, split,
//! merge, emerge, feature shift), each fitted with `--previous` the night before.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow_array::{Array, Int64Array, StringArray, UInt32Array};
use common::{json, ok, read_parquet, strata};

const EVENTS: &str = "stable,split,merge,emerge,shift";
/// Clusters on each night (the generator's truth): 4, then a split (+1), a merge (−1), an emergence (+1).
const K: [usize; 6] = [4, 4, 5, 4, 5, 5];

fn generate(dir: &Path, night: usize) -> String {
    let out = dir.join(format!("night{night}.parquet"));
    common::generate_night(&out, 20_000, 6, 4, night, EVENTS);
    out.to_str().unwrap().to_string()
}

fn fit(dir: &Path, night: usize) -> std::path::PathBuf {
    let input = generate(dir, night);
    let out = dir.join(format!("n{night}"));
    let prev = dir.join(format!("n{}", night.wrapping_sub(1)));
    let k = K[night].to_string();
    let mut args = vec![
        "fit",
        &input,
        "--k",
        &k,
        "--id",
        "customer_id",
        "--device",
        "cpu",
        "--log1p",
        "balance,credit_limit,monthly_spend",
        "--out",
        out.to_str().unwrap(),
    ];
    if night > 0 {
        args.extend(["--previous", prev.to_str().unwrap()]);
    }
    ok(strata(&args));
    out
}

/// customer id → segment, from a labels.parquet.
fn labels(dir: &Path) -> HashMap<i64, u32> {
    let b = read_parquet(&dir.join("labels.parquet"));
    let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    let seg = b.column_by_name("segment").unwrap();
    let seg = seg.as_any().downcast_ref::<UInt32Array>().unwrap();
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
    let s = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .clone()
    };
    let (f, t) = (s("from_segment"), s("to_segment"));
    let c = b.column_by_name("customers").unwrap();
    let c = c
        .as_any()
        .downcast_ref::<arrow_array::UInt64Array>()
        .unwrap();
    (0..b.num_rows())
        .map(|i| ((f.value(i).to_string(), t.value(i).to_string()), c.value(i)))
        .collect()
}

/// (kind, from, to) of every transition.
fn transitions(dir: &Path) -> Vec<(String, Option<u32>, Option<u32>)> {
    let b = read_parquet(&dir.join("transitions.parquet"));
    let kind = b.column_by_name("kind").unwrap();
    let kind = kind.as_any().downcast_ref::<StringArray>().unwrap();
    let id = |n: &str| {
        b.column_by_name(n)
            .unwrap()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .unwrap()
            .clone()
    };
    let (f, t) = (id("from_segment"), id("to_segment"));
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

#[test]
fn assign_previous_writes_migration_and_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let n0 = fit(tmp.path(), 0);
    let night1 = generate(tmp.path(), 1);
    let out = tmp.path().join("a1");
    ok(strata(&[
        "assign",
        "--model",
        n0.to_str().unwrap(),
        &night1,
        "--previous",
        n0.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(migration(&out), expected_migration(&n0, &out));
    let s = json(&out.join("summary.json"));
    assert_eq!(s["drift"]["verdict"], "keep");
    // The shifted night against the same model: refit.
    let night5 = generate(tmp.path(), 5);
    let out5 = tmp.path().join("a5");
    ok(strata(&[
        "assign",
        "--model",
        n0.to_str().unwrap(),
        &night5,
        "--device",
        "cpu",
        "--out",
        out5.to_str().unwrap(),
    ]));
    assert_eq!(
        json(&out5.join("summary.json"))["drift"]["verdict"],
        "refit"
    );
}
