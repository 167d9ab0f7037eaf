//! `strata bench`: arguments and output files.

use std::path::PathBuf;

use strata::bench::{self, BenchOptions, Shape, Workload};
use strata::data::sink::write_file_atomic;
use strata::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Shapes to generate, NxDxK (rows × features × clusters), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000000x16x8,5000000x16x8,1000000x64x32"
    )]
    pub sizes: Vec<Shape>,
    /// Benchmark this Parquet/CSV table instead of generated data (all numeric columns but --id).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Identifier column of --input, left out of the features.
    #[arg(long)]
    pub id: Option<String>,
    /// Clusters for --input.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// Timed Lloyd iterations per device (after one untimed warm-up step).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip the CPU.
    #[arg(long)]
    pub no_cpu: bool,
    /// Skip GPU adapters.
    #[arg(long)]
    pub no_gpu: bool,
    /// Also run software GPU adapters (lavapipe: a correctness tool, slow).
    #[arg(long)]
    pub allow_software: bool,
    /// Directory for the generated data files (removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the results as CSV here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

pub fn run(a: BenchArgs, log: &dyn Fn(&str)) -> Result<()> {
    // Fail before minutes of measuring, not after, when a result file cannot be written.
    for p in a.json.iter().chain(&a.csv) {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            return Err(Error::output(
                p,
                "its directory does not exist; create it or choose another path",
            ));
        }
    }
    let workload = match a.input {
        Some(path) => Workload::File {
            path,
            id: a.id,
            k: a.k,
        },
        None => Workload::Generated {
            shapes: a.sizes,
            dir: a.dir.unwrap_or_else(std::env::temp_dir),
        },
    };
    let rows = bench::run(
        &BenchOptions {
            workload,
            iters: a.iters,
            seed: a.seed,
            cpu: (!a.no_cpu).then(super::cpu_isa).transpose()?,
            gpus: !a.no_gpu,
            allow_software: a.allow_software,
        },
        log,
    )?;
    print!("{}", bench::table(&rows));
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&rows).expect("rows serialize");
        write_file_atomic(p, text.as_bytes())?;
    }
    if let Some(p) = &a.csv {
        write_file_atomic(p, bench::csv(&rows).as_bytes())?;
    }
    Ok(())
}
