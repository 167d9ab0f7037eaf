//! `strata fit`: arguments and the human-readable summary printed at the end.

use std::path::PathBuf;

use super::{DeviceArgs, LifecycleArgs, TextArgs, one_of};
use strata::data::Missing;
use strata::error::Result;
use strata::jobs::fit::{FitOptions, FitOutcome};
use strata::jobs::options::PrepSpec;
use strata::jobs::options::{InitChoice, InputSpec, KMeansSpec, Method};
use strata::kmeans::params;
use strata::prep::Scaling;

/// What to read and how to prepare it (shared by fit and sweep).
#[derive(Debug, Clone, clap::Args)]
pub struct ColumnArgs {
    /// Feature columns, comma-separated (default: every numeric column except --id and --weight).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Column passed through unchanged to labels.parquet (default: the 0-based row number).
    #[arg(long)]
    pub id: Option<String>,
    /// Per-customer sample weights (scikit-learn's sample_weight).
    #[arg(long)]
    pub weight: Option<String>,
    /// Missing values (null, NaN) in feature columns.
    #[arg(long, value_parser = one_of::<Missing>(Missing::NAMES), default_value_t = PrepSpec::default().missing)]
    pub missing: Missing,
    /// Feature scaling.
    #[arg(long, value_parser = one_of::<Scaling>(Scaling::NAMES), default_value_t = PrepSpec::default().scale)]
    pub scale: Scaling,
    /// Categorical columns (text, boolean, dictionary or integer codes), one-hot encoded so that each
    /// column as a whole weighs like one numeric feature; comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Categories rarer than this share of the rows pool into "(other)".
    #[arg(long, default_value_t = PrepSpec::default().min_category_share)]
    pub min_category_share: f64,
    /// Columns to transform with log(1 + x) before scaling (skewed money columns), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub log1p: Vec<String>,
}

/// Restarts and iterations (shared by fit and sweep).
#[derive(Debug, Clone, clap::Args)]
pub struct LloydArgs {
    /// Restarts; the lowest SSE wins (1 when --init is a file or previous).
    #[arg(long, default_value_t = params::N_INIT)]
    pub n_init: usize,
    /// Lloyd iterations per restart at most.
    #[arg(long, default_value_t = params::MAX_ITER)]
    pub max_iter: usize,
    /// Convergence tolerance on the centroid shift, relative to the mean feature variance.
    #[arg(long, default_value_t = params::TOL)]
    pub tol: f64,
    /// Random seed: the same input and seed give bit-identical outputs.
    #[arg(long, default_value_t = params::SEED)]
    pub seed: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FitArgs {
    /// Parquet file(s), directories of *.parquet files (read in name order), or CSV files with a header row.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Number of segments.
    #[arg(long, short)]
    pub k: usize,
    /// Output directory (created if needed; files appear only when the whole run succeeded).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// auto (k-means++ below 200,000 rows, k-means|| above), k-means++, k-means||, random, previous (the
    /// --previous model's centroids: a warm start), or a Parquet/CSV file of k centroids in original units
    /// (columns named like the features).
    #[arg(long, default_value = "auto")]
    pub init: InitChoice,
    /// kmeans, or ward: k-means to --micro-clusters micro-clusters, then Ward's hierarchical merging of
    /// them cut at --k (summary.json compares it with k-means; dendrogram.json holds the tree).
    #[arg(long, default_value = "kmeans", value_parser = ["kmeans", "ward"])]
    pub method: String,
    /// Micro-clusters of --method ward (default 256).
    #[arg(long)]
    pub micro_clusters: Option<usize>,
    /// Run k-means on a uniform sample of this many rows (the same for the same input and --seed), then
    /// label every row: faster on large inputs, at the cost of a slightly higher SSE (BENCHMARKS.md).
    #[arg(long)]
    pub sample: Option<usize>,
    /// Memory the prepared input may take (e.g. 8G; default 80 % of this machine's memory): above it,
    /// k-means runs on a sample (--sample, default 16,384 rows per segment) and one streamed pass assigns
    /// every customer.
    #[arg(long, value_parser = strata::compute::select::parse_bytes)]
    pub memory: Option<u64>,
    #[command(flatten)]
    pub lloyd: LloydArgs,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    #[command(flatten)]
    pub report: super::ReportArgs,
    #[command(flatten)]
    pub text: TextArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl ColumnArgs {
    /// The input section: `inputs` read with these columns and `text`'s dialect.
    pub fn input(&self, inputs: Vec<PathBuf>, text: &TextArgs) -> InputSpec {
        InputSpec {
            inputs,
            features: self.features.clone(),
            id: self.id.clone(),
            weight: self.weight.clone(),
            categorical: self.categorical.clone(),
            csv: text.options(),
            memory: None,
        }
    }

    /// The preparation section.
    pub fn prep(&self) -> PrepSpec {
        PrepSpec {
            missing: self.missing,
            scale: self.scale,
            log1p: self.log1p.clone(),
            min_category_share: self.min_category_share,
        }
    }
}

impl LloydArgs {
    /// The k-means section for `k` segments.
    pub fn kmeans(&self, k: usize, init: InitChoice, method: Method) -> KMeansSpec {
        KMeansSpec {
            k,
            init,
            n_init: self.n_init,
            max_iter: self.max_iter,
            tol: self.tol,
            seed: self.seed,
            method,
            sample: None,
            memory: None,
        }
    }
}

impl From<&FitArgs> for FitOptions {
    fn from(a: &FitArgs) -> Self {
        let method = match a.method.as_str() {
            "ward" => Method::Ward {
                micro: (a.micro_clusters).unwrap_or(strata::kmeans::ward::DEFAULT_MICRO),
            },
            _ => Method::KMeans,
        };
        FitOptions {
            input: a.columns.input(a.inputs.clone(), &a.text),
            prep: a.columns.prep(),
            kmeans: KMeansSpec {
                sample: a.sample,
                memory: a.memory,
                ..a.lloyd.kmeans(a.k, a.init.clone(), method)
            },
            lifecycle: a.lifecycle.options(),
            output: a.report.output(a.out.clone()),
        }
    }
}

pub fn run(args: FitArgs, log: &dyn Fn(&str)) -> Result<()> {
    if args.micro_clusters.is_some() && args.method != "ward" {
        return Err(strata::error::Error::usage(
            "--micro-clusters applies to --method ward only: add --method ward, or leave it out",
        ));
    }
    let opts = FitOptions::from(&args).check()?;
    let sel = args.device.select(log)?;
    let outcome = strata::jobs::fit::run(&opts, &sel, log)?;
    print_summary(&opts, &outcome);
    Ok(())
}

fn print_summary(opts: &FitOptions, o: &FitOutcome) {
    let s = &o.summary;
    println!(
        "{} segments of {} customers ({} dropped) on {}: SSE {:.4}, {} iterations{}, {:.2}s",
        s.k,
        s.rows_used,
        s.rows_dropped,
        s.device,
        s.sse,
        s.iterations,
        if s.converged { "" } else { " (not converged)" },
        s.seconds.total
    );
    // Direction and size from the clustering space (the effect), the original-unit values beside them.
    let ids = o.model.segment_ids();
    let lineage = s.lifecycle.as_ref();
    let w = &o.written;
    for (i, (seg, e)) in w.segments.iter().zip(&w.explanation.segments).enumerate() {
        let mut traits: Vec<String> = (e.features.iter())
            .filter(|f| f.effect.abs() >= strata::jobs::fit::DESCRIBE_MIN_Z)
            .take(3)
            .map(|f| match &f.category {
                Some(c) => format!(
                    "{}={c} {:.0}% ({:+.2}σ)",
                    f.feature,
                    100.0 * f.segment_value,
                    f.effect
                ),
                None => format!(
                    "{} {} ({:+.2}σ; mean {} vs {} overall)",
                    f.feature,
                    if f.effect > 0.0 { "high" } else { "low" },
                    f.effect,
                    short(f.segment_value),
                    short(f.overall_value)
                ),
            })
            .collect();
        if traits.is_empty() {
            traits.push("close to the average on every feature".into());
        }
        let was = match lineage.map(|l| l.continues[i]) {
            Some(Some(_)) => " (kept id)".to_string(),
            Some(None) => " (new id)".to_string(),
            _ => String::new(),
        };
        println!(
            "  segment {}{was} \"{}\": {:>9} customers ({:5.1}%)  {}",
            ids[i],
            e.name,
            seg.customers,
            100.0 * seg.customers as f64 / s.rows_used as f64,
            traits.join(", ")
        );
        println!("      rule: {}", e.rule);
    }
    if let Some(w) = &s.ward {
        println!(
            "  Ward over {} micro-clusters: adjusted Rand index {:.3} against k-means (SSE {:.4} vs {:.4})",
            w.micro_clusters, w.adjusted_rand_vs_kmeans, s.sse, w.kmeans_sse
        );
    }
    println!(
        "  the rules place {:.1}% of customers in their segment (threshold tree, explain.json)",
        100.0 * w.explanation.fidelity
    );
    if let Some(l) = lineage {
        let previous = l.previous.as_deref().unwrap_or("the previous night");
        println!("  since {previous} (matched by {}):", l.matched_by);
        super::print_lifecycle("    ", &l.events, l.migration.as_ref(), l.drift.as_ref());
    }
    for w in &s.warnings {
        println!("  warning: {w}");
    }
    println!("  outputs in {}", opts.output.out.display());
}

/// A value with about four significant digits, for the printed summary.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    }
}
