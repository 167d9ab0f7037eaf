//! `strata nightly`: arguments and the lines printed at the end.

use std::path::PathBuf;

use strata::compute::{GpuOptions, select};
use strata::error::Result;
use strata::jobs::nightly::{self, Job};

#[derive(Debug, Clone, clap::Args)]
pub struct NightlyArgs {
    /// The job file (TOML): input, features and preparation, k, policy, runs and registry directories.
    #[arg(long)]
    pub config: PathBuf,
    /// The night to run, YYYY-MM-DD (default: today, UTC); `{date}` in the input paths becomes it.
    #[arg(long)]
    pub date: Option<String>,
}

pub fn run(args: NightlyArgs, log: &dyn Fn(&str)) -> Result<()> {
    let mut job = Job::read(&args.config)?;
    job.progress = super::show_progress();
    let date = args.date.unwrap_or_else(nightly::today);
    let sel = select(job.device, super::cpu_isa()?, GpuOptions::default(), log)?;
    let n = nightly::run(&job, &date, &sel, log)?;
    println!(
        "night {}: {} ({}), since {}",
        n.date,
        n.action,
        n.reason,
        n.previous.as_deref().unwrap_or("nothing (first night)")
    );
    super::print_lifecycle("  ", &n.events, n.migration.as_ref(), n.drift.as_ref());
    for r in &n.removed {
        println!("  removed by retention: {r}");
    }
    println!(
        "  outputs in {} (runs/current points at the latest night)",
        n.run.display()
    );
    Ok(())
}
