//! `strata sweep`: arguments and the table printed at the end.

use std::path::PathBuf;

use super::fit::{ColumnArgs, LloydArgs};
use super::{DeviceArgs, TextArgs};
use strata::error::Result;
use strata::jobs::fit::FitOptions;
use strata::jobs::options::{InitChoice, Method};
use strata::jobs::sweep::{SweepOptions, parse_ks, run as sweep};

/// The k values of `--k` (one argument holding several values).
#[derive(Debug, Clone)]
pub struct Ks(pub Vec<usize>);

#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Parquet file(s), directories of *.parquet files (read in name order), or CSV files with a header row.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The segment counts to try: a range "2..12" (inclusive) or a list "2,3,5".
    #[arg(long, short, value_parser = |s: &str| parse_ks(s).map(Ks))]
    pub k: Ks,
    /// Output directory for sweep.parquet and sweep.json (files appear only when the whole run succeeded).
    #[arg(long)]
    pub out: PathBuf,
    /// Rows in the silhouette's sample (one uniform sample, the same for every k; all rows when fewer).
    #[arg(long, default_value_t = strata::jobs::sweep::SILHOUETTE_SAMPLE)]
    pub silhouette_sample: usize,
    /// Also write the recommended k's fit outputs into --out (labels, segments, profiles, model,
    /// summary.json), as `strata fit` would.
    #[arg(long)]
    pub fit_best: bool,
    #[command(flatten)]
    pub columns: ColumnArgs,
    #[command(flatten)]
    pub lloyd: LloydArgs,
    #[command(flatten)]
    pub report: super::ReportArgs,
    #[command(flatten)]
    pub text: TextArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: SweepArgs, log: &dyn Fn(&str)) -> Result<()> {
    let opts = SweepOptions {
        fit: FitOptions {
            input: args.columns.input(args.inputs, &args.text),
            prep: args.columns.prep(),
            // Each k of the sweep replaces this one.
            kmeans: args.lloyd.kmeans(2, InitChoice::Auto, Method::KMeans),
            lifecycle: Default::default(),
            output: args.report.output(args.out.clone()),
        },
        ks: args.k.0,
        silhouette_sample: args.silhouette_sample,
        fit_best: args.fit_best,
    }
    .check()?;
    let sel = args.device.select(log)?;
    let s = sweep(&opts, &sel, log)?;
    println!(
        "sweep of {} customers on {} ({:.2}s; silhouette on {} rows):",
        s.rows, s.device, s.seconds.total, s.silhouette_sample
    );
    println!("   k          SSE  Calinski-Harabasz  Davies-Bouldin  silhouette");
    for r in &s.points {
        let p = &r.point;
        let mark = if p.k == s.recommendation.k {
            "  <-"
        } else {
            ""
        };
        println!(
            "  {:>2} {:>12.4} {:>18.4} {:>15.4} {:>11.4}{mark}",
            p.k, p.sse, p.calinski_harabasz, p.davies_bouldin, p.silhouette
        );
    }
    println!("  recommended {}", s.recommendation.reason);
    for w in &s.warnings {
        println!("  warning: {w}");
    }
    println!("  outputs in {}", args.out.display());
    Ok(())
}
