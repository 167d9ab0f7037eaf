//! `strata bench`: fixed work (same data, same initial centroids, a fixed number of Lloyd iterations, no
//! early stop) on the CPU and on every usable GPU adapter, reported side by side with the machine's floor.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::compute::{Backend, CpuBackend, Dataset, GpuBackend, GpuOptions};
use crate::data::{LoadSpec, Missing, Source, load};
use crate::error::{Error, Result};
use crate::kmeans::init;
use crate::prep::{FittedPrep, Scaling};

/// One `--sizes` entry: rows × features × clusters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub n: usize,
    pub d: usize,
    pub k: usize,
}

impl std::str::FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<usize> = s
            .split(['x', 'X'])
            .map(|p| p.trim().replace('_', "").parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| format!("'{s}' is not NxDxK (e.g. 1000000x16x8)"))?;
        match parts[..] {
            [n, d, k] if n >= 2 && d >= 1 && k >= 1 && k <= n => Ok(Shape { n, d, k }),
            _ => Err(format!(
                "'{s}' is not NxDxK with N >= 2, D >= 1 and 1 <= K <= N"
            )),
        }
    }
}

/// Where the data of a run comes from.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Generated with `strata generate`'s model into `dir`, one file per shape, removed afterwards.
    Generated { shapes: Vec<Shape>, dir: PathBuf },
    /// An existing table: every numeric column but `id`, clustered into `k` segments.
    File {
        path: PathBuf,
        id: Option<String>,
        k: usize,
    },
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub workload: Workload,
    pub iters: usize,
    pub seed: u64,
    /// Time the CPU path on this instruction set (None: not at all).
    pub cpu: Option<crate::compute::kernel::Isa>,
    /// Run every hardware GPU adapter (and software ones when `allow_software`).
    pub gpus: bool,
    pub allow_software: bool,
}

/// One (shape, device) measurement.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub shape: String,
    pub n: usize,
    pub d: usize,
    pub k: usize,
    pub device: String,
    pub iters: usize,
    /// Parquet → prepared f32 matrix (read + convert), seconds; the same for every device of a shape.
    pub read_s: f64,
    /// Making the data resident on the device (upload for a GPU), seconds.
    pub load_s: f64,
    pub ms_per_iter: f64,
    /// Feature bytes streamed per second (n·d·4 per iteration).
    pub gb_per_s: f64,
    /// 2·n·d·k flops per iteration (the GEMM count), per second.
    pub gflop_per_s: f64,
    /// This device's floor, measured in the same run (`Resident::floor_ms`): max(one streaming read of
    /// the data, the step's flops at the measured multiply-add peak). None for streamed GPU data.
    pub floor_ms: Option<f64>,
    pub pct_of_floor: Option<f64>,
    /// CPU ms/iter ÷ this device's (GPU rows, when the CPU ran).
    pub speedup_vs_cpu: Option<f64>,
    /// SSE after the last iteration (devices should agree to ~1e-6 relative).
    pub sse: f64,
    /// Peak resident memory of the process so far (Linux), MB.
    pub peak_rss_mb: Option<f64>,
}

/// Runs the benchmark; `log` gets progress lines.
pub fn run(opts: &BenchOptions, log: &dyn Fn(&str)) -> Result<Vec<BenchRow>> {
    if opts.iters == 0 {
        return Err(Error::usage("--iters must be at least 1"));
    }
    let mut backends: Vec<Box<dyn Backend>> = Vec::new();
    if let Some(isa) = opts.cpu {
        backends.push(Box::new(CpuBackend::new(isa)));
    }
    if opts.gpus {
        let (all, _) = crate::compute::gpu::list();
        for a in all.iter().filter(|a| opts.allow_software || !a.software) {
            match GpuBackend::open(GpuOptions {
                adapter: Some(a.name.clone()),
                allow_software: true,
                ..Default::default()
            }) {
                Ok(g) => backends.push(Box::new(g)),
                Err(e) => log(&format!("skipping adapter {}: {e}", a.name)),
            }
        }
        if backends.len() == usize::from(opts.cpu.is_some()) {
            log("no usable GPU adapter (see `strata devices`; --allow-software adds lavapipe)");
        }
    }
    if backends.is_empty() && !opts.gpus {
        return Err(Error::usage("nothing to run: --no-cpu and --no-gpu"));
    }
    if backends.is_empty() {
        return Err(Error::device(
            "nothing to run: --no-cpu and no usable GPU adapter (see `strata devices`; --allow-software adds lavapipe)",
        ));
    }
    let mut rows = Vec::new();
    match &opts.workload {
        Workload::Generated { shapes, dir } => {
            for &s in shapes {
                let path = tempfile::Builder::new()
                    .prefix(".strata-bench-")
                    .suffix(".parquet")
                    .tempfile_in(dir)
                    .map_err(|e| Error::output(dir, format!("{e}; choose a writable --dir")))?
                    .into_temp_path();
                log(&format!("generating {}×{} (k={})", s.n, s.d, s.k));
                crate::generate::generate(&path, s.n, s.d, s.k, opts.seed)?;
                rows.extend(measure(
                    &path,
                    Some("customer_id"),
                    s.k,
                    opts,
                    &backends,
                    log,
                )?);
            }
        }
        Workload::File { path, id, k } => {
            rows.extend(measure(path, id.as_deref(), *k, opts, &backends, log)?);
        }
    }
    Ok(rows)
}

/// Reads and prepares one table, then times every backend on it.
fn measure(
    path: &Path,
    id: Option<&str>,
    k: usize,
    opts: &BenchOptions,
    backends: &[Box<dyn Backend>],
    log: &dyn Fn(&str),
) -> Result<Vec<BenchRow>> {
    let t = Instant::now();
    let source = Source::open(&[path.to_path_buf()], &[])?;
    let spec = LoadSpec {
        id: id.map(str::to_string),
        ..Default::default()
    };
    let raw = load(&source, &spec, Missing::Error)?.raw;
    let read_s = t.elapsed().as_secs_f64();
    let (_, m, _) = FittedPrep::fit_transform(&raw, Scaling::Zscore, &[], false)?;
    drop(raw);
    let (n, d) = (m.n, m.d);
    if k > n {
        return Err(Error::input(format!(
            "k = {k} is larger than the number of rows ({n}) of {}",
            path.display()
        )));
    }
    let ds = Dataset::new(&m.data, d, None);
    let c0 = init::random_rows(&ds, k, &mut init::restart_rng(opts.seed, 0));
    let shape = format!("{n}x{d}x{k}");
    let mut out: Vec<BenchRow> = Vec::new();
    for b in backends {
        log(&format!("{shape} on {}", b.name()));
        let t = Instant::now();
        let mut res = b.load(ds)?;
        // The first step also builds pipelines; it is not timed.
        res.step(&c0, k)?;
        let load_s = t.elapsed().as_secs_f64();
        let floor_ms = res.floor_ms(k)?;
        let mut c = c0.clone();
        let t = Instant::now();
        let mut sse = 0.0;
        for _ in 0..opts.iters {
            let s = res.step(&c, k)?;
            sse = s.total_sse();
            // Plain Lloyd updates (an empty cluster keeps its centroid): the same work on every device.
            c = s.means(&c);
        }
        let secs = t.elapsed().as_secs_f64() / opts.iters as f64;
        let is_cpu = b.name().starts_with("cpu");
        let cpu_ms = out
            .iter()
            .find(|r| r.device.starts_with("cpu"))
            .map(|r| r.ms_per_iter);
        out.push(BenchRow {
            shape: shape.clone(),
            n,
            d,
            k,
            device: b.name(),
            iters: opts.iters,
            read_s,
            load_s,
            ms_per_iter: secs * 1e3,
            gb_per_s: (n * d * 4) as f64 / secs / 1e9,
            gflop_per_s: 2.0 * (n * d * k) as f64 / secs / 1e9,
            floor_ms,
            pct_of_floor: floor_ms.map(|f| 100.0 * f / (secs * 1e3)),
            speedup_vs_cpu: if is_cpu {
                None
            } else {
                cpu_ms.map(|c| c / (secs * 1e3))
            },
            sse,
            peak_rss_mb: peak_rss_mb(),
        });
    }
    Ok(out)
}

/// VmHWM from /proc/self/status (None off Linux).
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The rows as an aligned text table.
pub fn table(rows: &[BenchRow]) -> String {
    let mut s = format!(
        "{:<18} {:<34} {:>9} {:>10} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9}\n",
        "shape",
        "device",
        "read s",
        "ms/iter",
        "GB/s",
        "GFLOP/s",
        "floor",
        "% floor",
        "vs CPU",
        "RSS MB",
        "SSE"
    );
    let opt =
        |v: Option<f64>, suffix: &str| v.map_or("-".to_string(), |v| format!("{v:.1}{suffix}"));
    for r in rows {
        let mut dev = r.device.clone();
        dev.truncate(34);
        s += &format!(
            "{:<18} {:<34} {:>9.2} {:>10.2} {:>8.1} {:>9.1} {:>8} {:>8} {:>8} {:>7} {:>9.4e}\n",
            r.shape,
            dev,
            r.read_s,
            r.ms_per_iter,
            r.gb_per_s,
            r.gflop_per_s,
            opt(r.floor_ms, ""),
            opt(r.pct_of_floor, "%"),
            opt(r.speedup_vs_cpu, "×"),
            opt(r.peak_rss_mb, ""),
            r.sse
        );
    }
    s
}

/// The rows as CSV (header + one line per row).
pub fn csv(rows: &[BenchRow]) -> String {
    let mut s = String::from(
        "shape,n,d,k,device,iters,read_s,load_s,ms_per_iter,gb_per_s,gflop_per_s,floor_ms,pct_of_floor,speedup_vs_cpu,sse,peak_rss_mb\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for r in rows {
        s += &format!(
            "{},{},{},{},\"{}\",{},{},{},{},{},{},{},{},{},{},{}\n",
            r.shape,
            r.n,
            r.d,
            r.k,
            r.device.replace('"', "\"\""),
            r.iters,
            r.read_s,
            r.load_s,
            r.ms_per_iter,
            r.gb_per_s,
            r.gflop_per_s,
            opt(r.floor_ms),
            opt(r.pct_of_floor),
            opt(r.speedup_vs_cpu),
            r.sse,
            opt(r.peak_rss_mb)
        );
    }
    s
}
