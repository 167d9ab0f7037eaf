//! Helpers shared by the integration tests: running the binary, reading Parquet outputs, locating the real
//! data sets in ../shared/data (which must be present when CI sets STRATA_REQUIRE_SHARED_DATA=1).
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata::compute::kernel::Isa;
use strata::compute::{Backend, CpuBackend, GpuBackend, GpuOptions};

pub fn strata(args: &[&str]) -> Output {
    strata_env(args, &[])
}

pub fn strata_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.args(args).env("XDG_RUNTIME_DIR", "/tmp");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run strata")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: Output) -> String {
    assert!(o.status.success(), "strata failed: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Path of a file in ../shared/data, or None (with a loud message) when absent and not required.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("STRATA_REQUIRE_SHARED_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "{} is missing but STRATA_REQUIRE_SHARED_DATA=1",
            p.display()
        );
    }
    eprintln!(
        "SKIPPING: {} not found (set STRATA_REQUIRE_SHARED_DATA=1 to make this a failure)",
        p.display()
    );
    None
}

pub fn read_parquet(path: &Path) -> RecordBatch {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = r.map(|b| b.unwrap()).collect();
    let schema = batches[0].schema();
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

pub fn write_parquet(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    write_parquet_groups(path, cols, None)
}

/// Like `write_parquet`, with row groups of at most `group_rows` rows.
pub fn write_parquet_groups(path: &Path, cols: Vec<(&str, ArrayRef)>, group_rows: Option<usize>) {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let props = group_rows.map(|g| {
        parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(g))
            .build()
    });
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), props).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

pub fn col_f64(b: &RecordBatch, name: &str) -> Vec<f64> {
    let c = arrow_cast::cast(
        b.column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}")),
        &arrow_schema::DataType::Float64,
    )
    .unwrap();
    let a = c
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap();
    (0..a.len())
        .map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) })
        .collect()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The AllLife features, in the published order.
pub const ALLLIFE_FEATURES: &str =
    "Avg_Credit_Limit,Total_Credit_Cards,Total_visits_bank,Total_visits_online,Total_calls_made";

/// `strata generate` of `rows` × `features` into `path` (5 clusters, seed 0).
pub fn generate_table(path: &Path, rows: usize, features: usize) {
    generate(path, rows, features, 5, 0, &[]);
}

/// `strata generate` with `clusters` and `seed`, plus `extra` arguments.
pub fn generate(
    path: &Path,
    rows: usize,
    features: usize,
    clusters: usize,
    seed: u64,
    extra: &[&str],
) {
    let (rows, features, clusters, seed) = (
        rows.to_string(),
        features.to_string(),
        clusters.to_string(),
        seed.to_string(),
    );
    let mut args = vec![
        "generate",
        "--rows",
        &rows,
        "--features",
        &features,
        "--clusters",
        &clusters,
        "--seed",
        &seed,
        "--out",
        path.to_str().unwrap(),
    ];
    args.extend(extra);
    ok(strata(&args));
}

/// The feature names of a model.json, in model order.
pub fn model_feature_names(model: &serde_json::Value) -> Vec<String> {
    model["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// Night `night` of a `strata generate --night` simulation (`features` columns, `clusters` clusters at night
/// 0, seed 11) with the events `scenarios`, into `path`.
pub fn generate_night(
    path: &Path,
    rows: usize,
    features: usize,
    clusters: usize,
    night: usize,
    scenarios: &str,
) {
    let night = night.to_string();
    generate(
        path,
        rows,
        features,
        clusters,
        11,
        &["--night", &night, "--scenarios", scenarios],
    );
}

/// A table's columns by name, for editing.
pub type Columns = Vec<(String, ArrayRef)>;

/// Rewrites the Parquet file at `path` with `edit` applied to its columns, in row groups of at most
/// `group_rows` rows.
pub fn rewrite_parquet(path: &Path, group_rows: Option<usize>, edit: impl FnOnce(&mut Columns)) {
    let b = read_parquet(path);
    let mut cols: Columns = (b.schema().fields().iter())
        .zip(b.columns())
        .map(|(f, c)| (f.name().clone(), c.clone()))
        .collect();
    edit(&mut cols);
    let cols = cols.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
    write_parquet_groups(path, cols, group_rows);
}

/// A GPU backend (software adapters allowed: CI runs lavapipe); None, said loudly, without one, and a
/// failure when STRATA_REQUIRE_GPU=1.
pub fn gpu(opts: GpuOptions) -> Option<GpuBackend> {
    match GpuBackend::open(GpuOptions {
        allow_software: true,
        ..opts
    }) {
        Ok(g) => Some(g),
        Err(e) if std::env::var("STRATA_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("STRATA_REQUIRE_GPU=1 but no GPU adapter: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPING GPU cases: {e} (install mesa-vulkan-drivers, or set STRATA_REQUIRE_GPU=1 to fail)"
            );
            None
        }
    }
}

/// Every backend the tests run the same cases on: the CPU (its best kernels, the AVX2 ones under AVX-512,
/// the portable ones) and the GPU.
pub fn backends() -> Vec<Box<dyn Backend>> {
    let mut v: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::default())];
    if matches!(Isa::detect(), Isa::Avx512(_)) {
        // The AVX2 kernels, which every x86-64 CPU without AVX-512 runs.
        v.push(Box::new(CpuBackend::new(
            Isa::avx2().expect("AVX-512 implies AVX2"),
        )));
    }
    if Isa::detect() != Isa::Portable {
        // The portable kernels (what a CPU without AVX2+FMA runs) against the same expectations.
        v.push(Box::new(CpuBackend::new(Isa::Portable)));
    }
    if let Some(g) = gpu(GpuOptions::default()) {
        v.push(Box::new(g));
    }
    v
}
