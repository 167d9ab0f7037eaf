//! The assign+accumulate step (one Lloyd iteration) on each backend at a few shapes, and `fit` end to end
//! on the sample data. `cargo bench --bench kernels`; GPU rows appear when an adapter exists (software
//! ones only at small n).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::PathBuf;

use strata::compute::select::Selected;
use strata::compute::{Backend, CpuBackend, Dataset, GpuBackend, GpuOptions};
use strata::jobs::fit::{self, FitOptions};

fn data(n: usize, d: usize) -> Vec<f32> {
    let mut s = 0x2545F4914F6CDD1Du64;
    (0..n * d)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 + ((i / d) % 7) as f32
        })
        .collect()
}

fn step(c: &mut Criterion) {
    let gpu = GpuBackend::open(GpuOptions {
        allow_software: true,
        ..Default::default()
    })
    .ok();
    let cpu = CpuBackend::default();
    for (n, d, k) in [
        (1_000_000usize, 16usize, 8usize),
        (250_000, 64, 32),
        (250_000, 32, 256),
    ] {
        let x = data(n, d);
        let ds = Dataset::new(&x, d, None);
        let cent: Vec<f32> = x[..k * d].to_vec();
        let mut g = c.benchmark_group(format!("step_{n}x{d}_k{k}"));
        g.sample_size(10)
            .throughput(Throughput::Bytes((n * d * 4) as u64));
        let mut backends: Vec<&dyn Backend> = vec![&cpu];
        if let Some(gb) = gpu
            .as_ref()
            .filter(|g| !g.report().software || n * d * k <= 16_000_000)
        {
            backends.push(gb);
        }
        for b in backends {
            let mut res = b.load(ds).unwrap();
            g.bench_function(
                if b.name().starts_with("cpu") {
                    "cpu"
                } else {
                    "gpu"
                },
                // A restart's first step, which sums every row: repeated steps at the same centroids
                // would move no row, and the CPU would then add nothing to its running sums.
                |bench| {
                    bench.iter(|| {
                        res.restart();
                        res.step(&cent, k).unwrap()
                    })
                },
            );
        }
        g.finish();
    }
}

/// The whole `strata fit` pipeline (read, prepare, k-means++ with 10 restarts, profiles, atomic writes) on
/// data/customers.parquet (50,000 × 8), on the CPU.
fn fit_end_to_end(c: &mut Criterion) {
    let out = tempfile::tempdir().unwrap();
    let mut opts = FitOptions::default();
    let input = concat!(env!("CARGO_MANIFEST_DIR"), "/data/customers.parquet");
    opts.input.inputs = vec![PathBuf::from(input)];
    opts.input.id = Some("customer_id".into());
    opts.prep.log1p = ["balance", "credit_limit", "monthly_spend"]
        .map(String::from)
        .to_vec();
    opts.kmeans.k = 5;
    opts.output.out = out.path().join("o");
    opts.output.report = None;
    let opts = opts.check().unwrap();
    let cpu = Selected::only(Box::new(CpuBackend::default()));
    let mut g = c.benchmark_group("fit_end_to_end");
    g.sample_size(10);
    g.bench_function("customers_50k_cpu", |b| {
        b.iter(|| fit::run(&opts, &cpu, &|_| {}).unwrap())
    });
    g.finish();
}

criterion_group!(benches, step, fit_end_to_end);
criterion_main!(benches);
