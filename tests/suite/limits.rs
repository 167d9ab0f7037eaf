//! No aborts, no hangs, a quiet console: sizes from metadata are checked, non-regular inputs are refused,
//! and stderr carries only strata's own lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exactly one `error:` line, containing `needle`.
fn one_error(o: &std::process::Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(needle), "expected '{needle}' in {err}");
}

#[test]
fn footer_claiming_billions_of_rows_is_an_error_not_an_abort() {
    use parquet::file::metadata::ParquetMetaDataWriter;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    generate_table(&good, 1000, 6);
    let bytes = std::fs::read(&good).unwrap();
    let meta = SerializedFileReader::new(std::fs::File::open(&good).unwrap())
        .unwrap()
        .metadata()
        .clone();
    let groups = meta
        .row_groups()
        .iter()
        .map(|g| {
            g.clone()
                .into_builder()
                .set_num_rows(4_200_000_000)
                .build()
                .unwrap()
        })
        .collect();
    let fake = meta.into_builder().set_row_groups(groups).build();
    let footer_len =
        u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
    let mut out = bytes[..bytes.len() - 8 - footer_len as usize].to_vec();
    ParquetMetaDataWriter::new(&mut out, &fake)
        .finish()
        .unwrap();
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, out).unwrap();
    let o = strata(&[
        "fit",
        s(&bad),
        "--k",
        "2",
        "--device",
        "cpu",
        "--out",
        s(&dir.path().join("o")),
    ]);
    one_error(&o, 3, "4200000000 rows");
}

#[test]
fn impossible_generate_sizes_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.parquet");
    let o = strata(&[
        "generate",
        "--rows",
        "1000",
        "--clusters",
        "1000000000",
        "--out",
        s(&out),
    ]);
    one_error(&o, 2, "--clusters");
    let o = strata(&[
        "generate",
        "--rows",
        "2000000000",
        "--features",
        "100000000",
        "--clusters",
        "1000000000",
        "--out",
        s(&out),
    ]);
    one_error(&o, 2, "more than this machine can allocate");
    assert!(!out.exists());
}

#[test]
fn named_pipe_input_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("customers.csv");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "fit",
            s(&fifo),
            "--k",
            "2",
            "--device",
            "cpu",
            "--out",
            s(&dir.path().join("o")),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = c.kill();
            panic!("strata hangs on a named pipe");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    one_error(&c.wait_with_output().unwrap(), 3, "not a regular file");
}

#[test]
fn mistyped_init_method_is_a_usage_error_listing_the_methods() {
    let o = strata(&[
        "fit",
        "data/customers.parquet",
        "--k",
        "3",
        "--init",
        "kmeans+",
        "--out",
        "/tmp/x",
    ]);
    one_error(&o, 2, "k-means++");
}

#[test]
fn console_has_only_strata_lines_and_cpu_never_loads_vulkan() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.parquet");
    generate_table(&input, 2000, 4);
    // As under cron: no XDG_RUNTIME_DIR. A default run probes the GPU; its stderr is strata's alone.
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "fit",
            s(&input),
            "--k",
            "3",
            "--out",
            s(&dir.path().join("a")),
        ])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    for line in err.lines() {
        assert!(
            line.starts_with("strata: "),
            "a line strata did not write: {line:?}"
        );
    }
    // The Vulkan loader's own debug output shows whether Vulkan was touched at all.
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["fit", s(&input), "--k", "3", "--device", "cpu"])
        .args(["--init", "k-means++", "--out", s(&dir.path().join("b"))])
        .env("VK_LOADER_DEBUG", "all")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.lines().all(|l| l.starts_with("strata: ")), "{err}");
    // With an init file, one restart runs and one is reported.
    let init = dir.path().join("init.csv");
    let model = json(&dir.path().join("b/model.json"));
    let names = model_feature_names(&model);
    let segs = model["segments"].as_array().unwrap();
    let mut csv = names.join(",") + "\n";
    for seg in segs {
        let c: Vec<String> = seg["centroid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap().to_string())
            .collect();
        csv += &(c.join(",") + "\n");
    }
    std::fs::write(&init, csv).unwrap();
    let o = strata(&[
        "fit",
        s(&input),
        "--k",
        "3",
        "--device",
        "cpu",
        "--init",
        s(&init),
        "--out",
        s(&dir.path().join("c")),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("(1 restart(s))"), "{err}");
    let summary = json(&dir.path().join("c/summary.json"));
    assert_eq!(summary["restarts"].as_array().unwrap().len(), 1);
}

#[test]
fn bench_without_any_device_follows_the_exit_codes() {
    let o = strata(&["bench", "--no-cpu", "--no-gpu", "--sizes", "1000x4x2"]);
    one_error(&o, 2, "--no-gpu");
    // No hardware GPU here (lavapipe is software): --no-cpu leaves nothing, a device problem.
    let o = strata(&["bench", "--no-cpu", "--sizes", "1000x4x2"]);
    if o.status.code() != Some(0) {
        one_error(&o, 5, "no usable GPU adapter");
    }
}
