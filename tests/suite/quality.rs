//! Quality indices against scikit-learn's, on the same labels and rows of real data (the fixture and the
//! script that wrote it are in tests/fixtures/).

use std::path::Path;

use strata::data::{LoadSpec, Missing, Source, load};
use strata::kmeans::quality::{calinski_harabasz, davies_bouldin, silhouettes};
use strata::prep::{FittedPrep, Scaling};

fn close(what: &str, k: u64, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-6 * want.abs(),
        "{what} at k={k}: strata {got}, scikit-learn {want}"
    );
}

#[test]
fn indices_match_scikit_learn_on_alllife() {
    let Some(csv) = crate::common::shared("alllife/credit_card_customer_data.csv") else {
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alllife_quality.json");
    let fixture = crate::common::json(&fixture);
    let features: Vec<String> = (fixture["features"].as_array().unwrap().iter())
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let source = Source::open(&[csv], &[]).unwrap();
    let spec = LoadSpec {
        features: Some(features),
        ..Default::default()
    };
    let raw = load(&source, &spec, Missing::Error).unwrap().raw;
    let (_, m, _) = FittedPrep::fit_transform(&raw, Scaling::Zscore, &[], false).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    let labels: Vec<Vec<u32>> = (cases.iter())
        .map(|c| {
            let l = c["labels"].as_array().unwrap();
            l.iter().map(|v| v.as_u64().unwrap() as u32).collect()
        })
        .collect();
    let ks: Vec<usize> = cases
        .iter()
        .map(|c| c["k"].as_u64().unwrap() as usize)
        .collect();
    let all: Vec<(&[u32], usize)> = labels
        .iter()
        .map(Vec::as_slice)
        .zip(ks.iter().copied())
        .collect();
    // Every segmentation's silhouette from one pass over the pairs.
    let sil = silhouettes(&m.data, m.d, &all);
    for (t, c) in cases.iter().enumerate() {
        let k = c["k"].as_u64().unwrap();
        let (l, kk) = all[t];
        close("silhouette", k, sil[t], c["silhouette"].as_f64().unwrap());
        close(
            "Calinski-Harabasz",
            k,
            calinski_harabasz(&m.data, m.d, l, kk),
            c["calinski_harabasz"].as_f64().unwrap(),
        );
        close(
            "Davies-Bouldin",
            k,
            davies_bouldin(&m.data, m.d, l, kk),
            c["davies_bouldin"].as_f64().unwrap(),
        );
    }
}

#[test]
fn sweep_recommends_the_published_k_on_alllife() {
    let Some(csv) = crate::common::shared("alllife/credit_card_customer_data.csv") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let fixture = crate::common::json(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alllife_quality.json"),
    );
    crate::common::ok(crate::common::strata(&[
        "sweep",
        csv.to_str().unwrap(),
        "--k",
        "2..6",
        "--features",
        crate::common::ALLLIFE_FEATURES,
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]));
    let s = crate::common::json(&out.join("sweep.json"));
    // The published segmentation of this data has three segments; every criterion agrees here.
    assert_eq!(s["recommendation"]["k"], 3, "{}", s["recommendation"]);
    assert_eq!(s["elbow"], 3);
    let b = crate::common::read_parquet(&out.join("sweep.parquet"));
    assert_eq!(b.num_rows(), 5);
    // At k = 3 strata and scikit-learn find the same segments: the same silhouette and indices.
    let sk = &fixture["cases"][1];
    assert_eq!(sk["k"], 3);
    let p = &s["points"][1];
    for (name, key) in [
        ("silhouette", "silhouette"),
        ("Calinski-Harabasz", "calinski_harabasz"),
        ("Davies-Bouldin", "davies_bouldin"),
    ] {
        close(name, 3, p[key].as_f64().unwrap(), sk[key].as_f64().unwrap());
    }
}
