//! Command-line interface: clap definitions and one handler per subcommand.

mod fit;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::Result;

#[derive(Debug, Parser)]
#[command(name = "strata", version, about = "Customer segmentation (k-means) for Parquet customer tables, on GPU or CPU")]
pub struct Cli {
    /// Print only errors and the final summary.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit segments on a customer table and write labels, segments, profiles and a model.
    Fit(fit::FitArgs),
    /// Write a synthetic customer-like Parquet table (streamed; any size).
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Number of customers (rows).
    #[arg(long)]
    pub rows: usize,
    /// Number of feature columns (besides customer_id).
    #[arg(long, default_value_t = 8)]
    pub features: usize,
    /// Number of generating clusters.
    #[arg(long, default_value_t = 5)]
    pub clusters: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output Parquet file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    let log = move |msg: &str| {
        if !quiet {
            eprintln!("strata: {msg}");
        }
    };
    match cli.command {
        Command::Fit(args) => fit::run(args, &log),
        Command::Generate(a) => {
            let t = std::time::Instant::now();
            crate::generate::generate(&a.out, a.rows, a.features, a.clusters, a.seed)?;
            log(&format!("wrote {} rows × {} features to {} in {:.2}s", a.rows, a.features, a.out.display(), t.elapsed().as_secs_f64()));
            Ok(())
        }
    }
}
