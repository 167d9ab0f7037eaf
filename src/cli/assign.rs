//! `strata assign`: arguments and the summary printed at the end.

use std::path::PathBuf;

use super::{DeviceArgs, LifecycleArgs, TextArgs};
use strata::error::Result;
use strata::jobs::assign::{AssignOptions, run as assign};

#[derive(Debug, Clone, clap::Args)]
pub struct AssignArgs {
    /// model.json, or a fit's output directory holding one.
    #[arg(long)]
    pub model: PathBuf,
    /// Parquet file(s), directories of *.parquet files (read in name order), or CSV files with a header row.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output directory for labels.parquet and summary.json (files appear only when the run succeeded).
    #[arg(long)]
    pub out: PathBuf,
    /// Column copied into labels.parquet (default: the model's id column when the input has it, else
    /// the 0-based row number).
    #[arg(long)]
    pub id: Option<String>,
    /// Also write profiles.parquet (per-segment statistics in original units; holds the input in memory
    /// like a fit, instead of streaming it).
    #[arg(long)]
    pub profiles: bool,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    #[command(flatten)]
    pub report: super::ReportArgs,
    #[command(flatten)]
    pub text: TextArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: AssignArgs, log: &dyn Fn(&str)) -> Result<()> {
    let opts = AssignOptions {
        model: args.model,
        inputs: args.inputs,
        memory: None,
        id: args.id,
        csv: args.text.options(),
        lifecycle: args.lifecycle.options(),
        profiles: args.profiles,
        output: args.report.output(args.out),
    }
    .check()?;
    let sel = args.device.select(log)?;
    let o = assign(&opts, &sel, log)?;
    let s = &o.summary;
    println!(
        "{} customers assigned ({} without a segment) on {} in {:.2}s ({:.0} rows/s)",
        s.rows_assigned, s.rows_dropped, s.device, s.seconds.total, s.seconds.rows_per_second
    );
    for seg in &s.segments {
        println!(
            "  segment {}: {:>9} customers ({:5.1}%, {:5.1}% at training)",
            seg.segment,
            seg.customers,
            100.0 * seg.share,
            100.0 * seg.training_share
        );
    }
    if let Some(l) = &s.lifecycle {
        super::print_lifecycle("  ", &l.events, l.migration.as_ref(), l.drift.as_ref());
    }
    for w in &s.warnings {
        println!("  warning: {w}");
    }
    println!("  outputs in {}", opts.output.out.display());
    Ok(())
}
