//! Command-line interface: clap definitions and one handler per subcommand.

mod assign;
mod bench;
mod fit;
mod nightly;
mod report;
mod sweep;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use strata::compute::select::{Selected, parse_bytes};
use strata::compute::{DeviceChoice, GpuOptions, select};
use strata::data::source::{self, CsvOptions};
use strata::error::Result;
use strata::generate::Scenario;
use strata::jobs::options::{LifecycleOptions, OutputSpec};
use strata::model::lifecycle::drift::{Limits, Thresholds};
use strata::model::lifecycle::transitions::Overlaps;

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Customer segmentation (k-means) for Parquet customer tables, on GPU or CPU"
)]
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
    /// Score customers with a saved model: labels, segments, drift (and with --previous migration and
    /// transitions), streamed in bounded memory.
    Assign(assign::AssignArgs),
    /// How many segments? Fit every k of a range on one read of the input and report SSE, silhouette,
    /// Calinski-Harabasz, Davies-Bouldin, the elbow and a recommended k (sweep.parquet, sweep.json).
    Sweep(sweep::SweepArgs),
    /// Run one night of a production job from a TOML job file: fit or assign per its policy into
    /// runs/<date>/, with segment ids, transitions, migration and drift against the previous night.
    Nightly(nightly::NightlyArgs),
    /// Write report.html for an output directory of fit, assign, sweep or nightly (they write one
    /// themselves unless --no-report): segment cards, heatmap, distributions, sweep curves, dendrogram,
    /// migration and drift, in one self-contained file.
    Report(report::ReportArgs),
    /// Time fixed Lloyd iterations on the CPU and every GPU adapter, side by side (CPU-vs-GPU comparisons).
    Bench(bench::BenchArgs),
    /// Write a synthetic customer-like Parquet table (streamed; any size).
    Generate(GenerateArgs),
    /// List GPU adapters and say which one `--device auto` uses.
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// report.html beside a job's outputs.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Do not write report.html.
    #[arg(long)]
    pub no_report: bool,
    /// Features by business angle for the report, e.g. "channels=branch_visits,online_logins,calls;
    /// products=products,credit_limit" (features in no group are shown as "other").
    #[arg(long)]
    pub groups: Option<strata::report::Groups>,
}

impl ReportArgs {
    /// The output section: `out`, with report.html unless --no-report.
    pub fn output(&self, out: PathBuf) -> OutputSpec {
        OutputSpec {
            out,
            report: (!self.no_report).then(|| self.groups.clone().unwrap_or_default()),
            decision: None,
            progress: show_progress(),
        }
    }
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
    /// Write this night of a lifecycle simulation (0 = the first night): the same customers (ids) on
    /// every night, well-separated clusters, and the first N events of --scenarios applied.
    #[arg(long)]
    pub night: Option<usize>,
    /// The events of nights 1, 2, …, comma-separated: stable, grow, shrink, split, merge, emerge, shift.
    #[arg(long, value_delimiter = ',', value_parser = one_of::<Scenario>(Scenario::NAMES))]
    pub scenarios: Vec<Scenario>,
}

/// A clap value parser for a library enum parsed by `FromStr`: help and errors list `names`.
pub fn one_of<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names)
        .map(|s| s.parse::<T>().ok().expect("a listed name parses"))
}

/// How delimited text inputs are read (shared by fit and assign).
#[derive(Debug, Clone, clap::Args)]
pub struct TextArgs {
    /// Field delimiter of CSV/TSV inputs: ',' ';' '|' 'tab' or any single character (default: detected
    /// per file among , ; TAB |).
    #[arg(long, value_parser = source::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Cells of CSV/TSV inputs read as missing, comma-separated; replaces the default list, pandas'
    /// (empty, NA, N/A, n/a, NaN, nan, null, NULL, None, #N/A, <NA>, …).
    #[arg(long, value_delimiter = ',')]
    pub na_values: Option<Vec<String>>,
    /// Decimal mark of numbers in CSV/TSV inputs: '.' or ',' (default: detected per file; a ','-delimited
    /// file uses '.', other delimiters try ',' first).
    #[arg(long, value_parser = source::parse_decimal)]
    pub decimal: Option<u8>,
    /// Thousands separator of numbers in CSV/TSV inputs: ',' '.' ' ' "'" or 'none' (default: the one
    /// that goes with the decimal mark).
    #[arg(long, value_parser = parse_thousands)]
    pub thousands: Option<Thousands>,
}

/// A `--thousands` value: a separator, or none.
#[derive(Debug, Clone, Copy)]
pub struct Thousands(Option<u8>);

fn parse_thousands(s: &str) -> std::result::Result<Thousands, String> {
    source::parse_thousands(s).map(Thousands)
}

impl TextArgs {
    pub fn options(&self) -> CsvOptions {
        let mut o = CsvOptions {
            delimiter: self.delimiter,
            ..CsvOptions::default()
        };
        if let Some(v) = &self.na_values {
            o.na_values = v.clone();
        }
        o.decimal = self.decimal;
        o.thousands = self.thousands.map(|t| t.0);
        o
    }
}

/// The previous night and the lifecycle thresholds (shared by fit and assign).
#[derive(Debug, Clone, clap::Args)]
pub struct LifecycleArgs {
    /// The previous night's output directory (fit, assign or nightly): tonight's segments keep the ids of
    /// the segments they continue (fit), and transitions, migration and drift against it are written.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// A segment keeps a previous segment's id when it holds at least this share of its customers.
    #[arg(long, default_value_t = Overlaps::default().matching)]
    pub match_threshold: f64,
    /// MONIC survival (and absorption) threshold: the share of a previous segment one segment must hold.
    #[arg(long, default_value_t = Overlaps::default().survive)]
    pub survive: f64,
    /// MONIC split threshold: the share of a previous segment each part of a split must hold.
    #[arg(long, default_value_t = Overlaps::default().split)]
    pub split: f64,
    #[command(flatten)]
    pub drift: DriftArgs,
}

impl LifecycleArgs {
    pub fn options(&self) -> LifecycleOptions {
        LifecycleOptions {
            previous: self.previous.clone(),
            overlaps: Overlaps {
                survive: self.survive,
                split: self.split,
                matching: self.match_threshold,
            },
            drift: self.drift.thresholds(),
        }
    }
}

/// Drift thresholds, each "WATCH,REFIT" (shared by fit --previous and assign).
#[derive(Debug, Clone, clap::Args)]
pub struct DriftArgs {
    /// PSI of a feature against its training deciles.
    #[arg(long, value_parser = Limits::parse, default_value_t = Thresholds::default().psi)]
    pub psi: Limits,
    /// PSI of the segment shares against the training shares.
    #[arg(long, value_parser = Limits::parse, default_value_t = Thresholds::default().segment_psi)]
    pub segment_psi: Limits,
    /// |Standardized mean shift| of a feature, in training standard deviations.
    #[arg(long, value_parser = Limits::parse, default_value_t = Thresholds::default().mean_shift)]
    pub mean_shift: Limits,
    /// Shift of a segment's centroid, in training standard deviations.
    #[arg(long, value_parser = Limits::parse, default_value_t = Thresholds::default().centroid_shift)]
    pub centroid_shift: Limits,
    /// Share of customers farther from their centroid than the training 99th percentile (0.01 at training).
    #[arg(long, value_parser = Limits::parse, default_value_t = Thresholds::default().beyond_p99)]
    pub beyond_p99: Limits,
}

impl DriftArgs {
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            psi: self.psi,
            segment_psi: self.segment_psi,
            mean_shift: self.mean_shift,
            centroid_shift: self.centroid_shift,
            beyond_p99: self.beyond_p99,
        }
    }
}

/// Where the heavy passes run (shared by fit and assign).
#[derive(Debug, Clone, clap::Args)]
pub struct DeviceArgs {
    /// Where the k-means passes run: auto = a real GPU if there is one, else the CPU.
    #[arg(long, value_parser = one_of::<DeviceChoice>(DeviceChoice::NAMES), default_value = "auto")]
    pub device: DeviceChoice,
    /// GPU adapter by name (substring, case-insensitive; see `strata devices`), e.g. llvmpipe.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Feature bytes kept resident on the GPU (e.g. 2G); larger inputs are streamed each iteration.
    #[arg(long, value_parser = parse_bytes)]
    pub gpu_memory: Option<u64>,
}

impl DeviceArgs {
    pub fn select(&self, log: &dyn Fn(&str)) -> Result<Selected> {
        if self.adapter.is_some() && self.device == DeviceChoice::Cpu {
            return Err(strata::Error::usage("--adapter needs --device gpu or auto"));
        }
        let gpu = GpuOptions {
            adapter: self.adapter.clone(),
            memory_budget: self.gpu_memory,
            ..Default::default()
        };
        select(self.device, cpu_isa()?, gpu, log)
    }
}

/// The CPU path's instruction set: the best this CPU has, or a lesser one named by `STRATA_CPU_ISA`
/// (`avx2`, `portable`), to compare kernels. The only environment variable strata reads besides
/// `RAYON_NUM_THREADS` (rayon's) and the Vulkan loader's.
pub fn cpu_isa() -> Result<strata::compute::kernel::Isa> {
    let best = strata::compute::kernel::Isa::detect();
    match std::env::var("STRATA_CPU_ISA") {
        Ok(name) => best
            .at_most(&name)
            .map_err(|e| strata::Error::usage(format!("STRATA_CPU_ISA: {e}"))),
        Err(_) => Ok(best),
    }
}

/// Transitions (one line each, after `indent`), migration totals and the drift verdict with its reasons.
pub fn print_lifecycle(
    indent: &str,
    events: &[String],
    migration: Option<&strata::model::lifecycle::migration::Totals>,
    drift: Option<&strata::model::lifecycle::drift::Drift>,
) {
    for e in events {
        println!("{indent}{e}");
    }
    if let Some(m) = migration {
        println!(
            "  migration: {} of {} returning customers kept their segment ({:.1}%), {} moved, {} new, {} gone",
            m.stayed,
            m.both_nights,
            100.0 * m.stayed_share,
            m.moved,
            m.new,
            m.gone
        );
    }
    if let Some(d) = drift {
        println!("  drift: {}", d.verdict.as_str());
        for r in &d.reasons {
            println!("    {r}");
        }
    }
}

/// Progress bars unless `--quiet`: the command line's choice, set once before the command runs.
static PROGRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this run draws progress bars.
pub fn show_progress() -> bool {
    PROGRESS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let quiet = cli.quiet;
    PROGRESS.store(!quiet, std::sync::atomic::Ordering::Relaxed);
    let log = move |msg: &str| {
        if !quiet {
            // An error quoted in a log line names options as the command line writes them.
            let msg = strata::error::with_flags(msg);
            eprintln!("strata: {msg}");
        }
    };
    match cli.command {
        Command::Fit(args) => fit::run(args, &log),
        Command::Assign(args) => assign::run(args, &log),
        Command::Bench(args) => bench::run(args, &log),
        Command::Nightly(args) => nightly::run(args, &log),
        Command::Sweep(args) => sweep::run(args, &log),
        Command::Report(args) => report::run(args),
        Command::Devices { json } => {
            let (all, auto) = strata::compute::gpu::list();
            if json {
                let v = serde_json::json!({ "adapters": all, "auto": auto });
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
                return Ok(());
            }
            for a in &all {
                println!(
                    "[{}] {}{}\n    backend {}, type {}, driver {}\n    max buffer {} MiB, max storage binding {} MiB, workgroup memory {} KiB",
                    a.index,
                    a.name,
                    if Some(a.index) == auto {
                        "  <- auto"
                    } else if a.software {
                        "  (software: only with --device gpu / --adapter)"
                    } else {
                        ""
                    },
                    a.backend,
                    a.device_type,
                    a.driver,
                    a.max_buffer_size >> 20,
                    a.max_storage_buffer_binding_size >> 20,
                    a.max_compute_workgroup_storage_size >> 10
                );
            }
            match auto {
                Some(i) => println!("--device auto uses adapter [{i}] {}", all[i].name),
                None => println!("--device auto uses the CPU path (no hardware GPU adapter found)"),
            }
            Ok(())
        }
        Command::Generate(a) => {
            let t = std::time::Instant::now();
            match a.night {
                Some(night) => {
                    let events = strata::generate::generate_night(
                        &a.out,
                        a.rows,
                        a.features,
                        a.clusters,
                        a.seed,
                        night,
                        &a.scenarios,
                    )?;
                    events.iter().for_each(|e| log(e));
                }
                None if !a.scenarios.is_empty() => {
                    return Err(strata::Error::usage("--scenarios needs --night"));
                }
                None => strata::generate::generate(&a.out, a.rows, a.features, a.clusters, a.seed)?,
            }
            log(&format!(
                "wrote {} rows × {} features to {} in {:.2}s",
                a.rows,
                a.features,
                a.out.display(),
                t.elapsed().as_secs_f64()
            ));
            Ok(())
        }
    }
}
