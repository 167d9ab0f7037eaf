//! report.html in a real browser: headless Chromium opens the reports of a sweep, a Ward fit with
//! groups and a fit against a previous night, and the test fails on any console message, on a chart the
//! browser did not lay out, on a missing section or on anything the page would fetch from elsewhere.
//! Without Chromium it skips loudly, unless STRATA_REQUIRE_CHROMIUM=1 (CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{generate_night, ok, stderr, strata};

/// The Chromium binary, or None (with a loud message) when absent and not required.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .ok()?;
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        });
    if found.is_none() {
        if std::env::var("STRATA_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
            panic!(
                "Chromium is not installed but STRATA_REQUIRE_CHROMIUM=1 (apt-get install chromium)"
            );
        }
        eprintln!(
            "SKIPPING the report's browser test: Chromium not found (apt-get install chromium; STRATA_REQUIRE_CHROMIUM=1 makes this a failure)"
        );
    }
    found
}

/// Runs headless Chromium on `html` with `args`; returns (stdout, the browser's log).
fn browse(bin: &Path, html: &Path, args: &[&str]) -> (String, String) {
    let url = format!("file://{}", html.canonicalize().unwrap().display());
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
        ])
        .args(args)
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Opens `dir`/report.html: no console message, every chart laid out, at least `charts` of them, each
/// of `sections` present, nothing fetched from elsewhere; then a screenshot that is a real PNG.
fn check_report(bin: &Path, dir: &Path, charts: usize, sections: &[&str]) {
    let html_path = dir.join("report.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    // Self-contained: no external scripts, styles, fonts or images.
    let outside = html
        .replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xlink", "");
    for bad in ["http://", "https://", "<link", " src=", "@import", "url("] {
        assert!(
            !outside.contains(bad),
            "{}: references '{bad}'",
            html_path.display()
        );
    }
    let (dom, log) = browse(bin, &html_path, &["--dump-dom"]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "{}: console messages: {console:?}",
        html_path.display()
    );
    let figures = dom.matches("<figure class=\"chart\">").count();
    let rendered = dom.matches("data-rendered=\"yes\"").count();
    assert!(
        figures >= charts,
        "{}: {figures} charts, expected at least {charts}",
        html_path.display()
    );
    assert_eq!(
        rendered,
        figures,
        "{}: charts the browser did not lay out",
        html_path.display()
    );
    assert!(!dom.contains("chart not drawn"), "{}", html_path.display());
    for s in sections {
        assert!(dom.contains(s), "{}: no '{s}'", html_path.display());
    }
    let png = dir.join("report.png");
    let shot = format!("--screenshot={}", png.display());
    browse(bin, &html_path, &[&shot, "--window-size=1280,2000"]);
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000,
        "{}: screenshot of {} bytes",
        png.display(),
        bytes.len()
    );
}

#[test]
fn reports_open_in_a_real_browser() {
    let Some(bin) = chromium() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let night = |n: usize| {
        let p = t.join(format!("night{n}.parquet"));
        generate_night(&p, 8_000, 5, 4, n, "stable,split");
        p
    };
    let (n0, n2) = (night(0), night(2));
    // A sweep with the best k's fit: curves, cards, heatmap, sizes, distributions.
    let sweep = t.join("sweep");
    ok(strata(&[
        "sweep",
        &s(&n0),
        "--k",
        "2..6",
        "--id",
        "customer_id",
        "--fit-best",
        "--device",
        "cpu",
        "--out",
        &s(&sweep),
    ]));
    // 4 curves + heatmap + sizes + 5 distributions.
    check_report(
        &bin,
        &sweep,
        11,
        &[
            "How many segments",
            "Recommendation: k = 4",
            "The segments",
            "Feature distributions",
        ],
    );
    // Ward with groups: one heatmap per group and the dendrogram.
    let ward = t.join("ward");
    ok(strata(&[
        "fit",
        &s(&n0),
        "--k",
        "4",
        "--id",
        "customer_id",
        "--method",
        "ward",
        "--micro-clusters",
        "50",
        "--groups",
        "money=balance,credit_limit,monthly_spend;channels=branch_visits,online_logins",
        "--device",
        "cpu",
        "--out",
        &s(&ward),
    ]));
    check_report(
        &bin,
        &ward,
        9,
        &[
            "money: effect by segment",
            "channels: effect by segment",
            "How the segments relate (Ward)",
            "Adjusted Rand index",
        ],
    );
    // A night against the previous one: drift, transitions, migration matrix.
    let (f0, f2) = (t.join("f0"), t.join("f2"));
    let fit = |input: &Path, k: &str, out: &Path, prev: Option<&Path>| {
        let mut a = vec![
            "fit".to_string(),
            s(input),
            "--k".into(),
            k.into(),
            "--id".into(),
            "customer_id".into(),
        ];
        a.extend(["--device", "cpu", "--out"].map(String::from));
        a.push(s(out));
        if let Some(p) = prev {
            a.extend(["--previous".into(), s(p)]);
        }
        ok(strata(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    };
    fit(&n0, "4", &f0, None);
    fit(&n2, "5", &f2, Some(&f0));
    check_report(
        &bin,
        &f2,
        8,
        &[
            "Since the previous run",
            "Drift verdict",
            "split into",
            "Migration: share of each previous segment",
        ],
    );
    // `strata report` rewrites it; a group naming no feature is one clear error.
    std::fs::remove_file(f2.join("report.html")).unwrap();
    ok(strata(&["report", &s(&f2)]));
    assert!(f2.join("report.html").exists());
    let bad = strata(&[
        "report",
        &s(&f2),
        "--groups",
        "channels=branch_visits,calls_made",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("'calls_made' (group 'channels') is not a feature"),
        "{}",
        stderr(&bad)
    );
    // A plain copy of an output set (report, explanations included) is still taken over as strata's.
    let plain = t.join("plain");
    std::fs::create_dir(&plain).unwrap();
    for e in std::fs::read_dir(&ward).unwrap() {
        let p = e.unwrap().path();
        // report.png is this test's screenshot, not strata's.
        if p.file_name().unwrap() != "report.png" {
            std::fs::copy(&p, plain.join(p.file_name().unwrap())).unwrap();
        }
    }
    assert!(plain.join("dendrogram.json").exists() && plain.join("explain.json").exists());
    fit(&n0, "3", &plain, None);
}

/// A misspelt group fails before any work, naming the feature and listing the real ones; nothing is
/// written.
#[test]
fn a_group_naming_no_feature_fails_first() {
    let tmp = tempfile::tempdir().unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/customers.parquet");
    let out = tmp.path().join("out");
    let o = strata(&[
        "fit",
        data.to_str().unwrap(),
        "--k",
        "3",
        "--device",
        "cpu",
        "--groups",
        "channels=branch_visits,calls_made",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("'calls_made' (group 'channels') is not a feature") && err.contains("calls"),
        "{err}"
    );
    assert!(!out.exists());
}
