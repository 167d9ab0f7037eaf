//! `strata report DIR`: report.html for an existing output directory.

use std::path::PathBuf;

use strata::error::Result;
use strata::report::Groups;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The output directory of strata fit, assign, sweep or nightly (runs/<date> or runs/current).
    pub dir: PathBuf,
    /// Features by business angle, e.g. "channels=branch_visits,online_logins,calls;products=products".
    #[arg(long)]
    pub groups: Option<Groups>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let path = strata::report::write(&args.dir, &args.groups.unwrap_or_default())?;
    println!("report written to {}", path.display());
    Ok(())
}
