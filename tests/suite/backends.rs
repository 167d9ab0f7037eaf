//! One suite for every backend: the CPU path and each GPU adapter present (CI: Mesa lavapipe) run the same
//! cases, checked against an independent brute-force computation in f64 and against each other.
//! With no GPU adapter the GPU cases say so loudly, and fail when STRATA_REQUIRE_GPU=1.

use crate::common::{backends, gpu};

use std::path::PathBuf;

use strata::compute::kernel::Isa;
use strata::compute::select::Selected;
use strata::compute::{Assignment, Backend, CpuBackend, Dataset, GpuOptions, Stats};
use strata::jobs::fit::{FitOptions, InitChoice, OutputSpec};
use strata::kmeans::{self, Init, KMeans};
use strata::prep::Scaling;

/// Deterministic pseudo-random data: `k_true` blobs plus noise.
fn data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .flat_map(|i| {
            let blob = (i % 5) as f64;
            (0..d)
                .map(|j| (blob * ((j % 3) as f64 - 1.0) * 2.0 + next() * 3.0 - 1.5) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn dist64(x: &[f32], c: &[f32]) -> f64 {
    x.iter()
        .zip(c)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum()
}

/// How far (relative) a label's f64 distance may exceed the f64 nearest: only as far as the rounding of an
/// f32 squared distance over d features can hide, 3·γ(d + 6) with γ(n) = n·2⁻²⁴ (the exact form's bound,
/// Higham §3.1). A GEMM-form argmin without its exact re-check misses this by orders of magnitude where
/// ‖x‖² dwarfs the distances.
fn tie_tolerance(d: usize) -> f64 {
    3.0 * (d + 6) as f64 * f64::from(f32::EPSILON) / 2.0
}

/// The step's per-cluster sums, weights and SSE against brute force in f64 over the assignment `a` it
/// left (the CPU adds to the previous step's sums only what the moved rows change: this checks that they
/// still add up, and the SSE summed in lanes).
fn check_sums(ds: &Dataset, stats: &Stats, a: &Assignment, what: &str) {
    let (d, k) = (ds.d, stats.k);
    let mut sums = vec![0.0f64; k * d];
    let mut weights = vec![0.0f64; k];
    let mut sse = vec![0.0f64; k];
    for (i, &l) in a.labels.iter().enumerate() {
        let l = l as usize;
        weights[l] += ds.weight(i);
        sse[l] += ds.weight(i) * a.dist2[i] as f64;
        for (j, &v) in ds.row(i).iter().enumerate() {
            sums[l * d + j] += ds.weight(i) * v as f64;
        }
    }
    for (c, (&got, &want)) in stats.weights.iter().zip(&weights).enumerate() {
        assert!(
            (got - want).abs() <= 1e-9 * want.max(1.0),
            "{what}: weight of cluster {c} {got} vs {want}"
        );
        if want == 0.0 {
            let zero = &stats.sums[c * d..(c + 1) * d];
            assert!(
                zero.iter().all(|&v| v == 0.0),
                "{what}: empty cluster {c}'s sums {zero:?}"
            );
        }
    }
    for (g, w) in stats.sums.iter().zip(&sums) {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what}: cluster sum {g} vs {w}"
        );
    }
    for (c, (&got, &want)) in stats.sse.iter().zip(&sse).enumerate() {
        assert!(
            (got - want).abs() <= 1e-5 * want + 1e-9,
            "{what}: SSE of cluster {c} {got} vs {want}"
        );
    }
}

/// Checks one step's labels, per-cluster SSE, sums and weights, and the nearest/second-nearest pass,
/// against brute force; labels may differ only at ties within f32 rounding (`tie_tolerance`). A second
/// step with moved centroids must count as `moved` exactly the rows whose label changed.
fn check_step(b: &dyn Backend, ds: &Dataset, cent: &[f32], k: usize, what: &str) -> Vec<u32> {
    let mut res = b.load(*ds).unwrap();
    let stats = res.step(cent, k).unwrap();
    let a = res.assignment().unwrap();
    let shifted: Vec<f32> = (cent.iter().enumerate())
        .map(|(i, &v)| if i % ds.d == 0 { v + 0.3 } else { v })
        .collect();
    let again = res.step(&shifted, k).unwrap();
    let a2 = res.assignment().unwrap();
    let changed = a
        .labels
        .iter()
        .zip(&a2.labels)
        .filter(|(x, y)| x != y)
        .count() as u64;
    assert_eq!(again.moved, changed, "{what} on {}: moved", b.name());
    check_sums(
        ds,
        &again,
        &a2,
        &format!("{what}, second step on {}", b.name()),
    );
    let near = res.nearest(cent, k).unwrap();
    let d = ds.d;
    let mut sse = vec![0.0; k];
    let mut weights = vec![0.0; k];
    let mut sums = vec![0.0f64; k * d];
    for i in 0..ds.n {
        let x = ds.row(i);
        let dists: Vec<f64> = cent.chunks_exact(d).map(|c| dist64(x, c)).collect();
        let best = dists.iter().cloned().fold(f64::INFINITY, f64::min);
        let l = a.labels[i] as usize;
        assert!(
            dists[l] <= best * (1.0 + tie_tolerance(d)) + 1e-30,
            "{what} on {}: row {i} labelled {l} at {} but the nearest is at {best}",
            b.name(),
            dists[l]
        );
        assert!(
            (a.dist2[i] as f64 - dists[l]).abs() <= 1e-4 * (1.0 + dists[l]),
            "{what}: distance of row {i}"
        );
        // The nearest pass: the step's label and distance bit for bit, and a true second-nearest.
        assert_eq!(
            (near.labels[i], near.dist2[i].to_bits()),
            (a.labels[i], a.dist2[i].to_bits()),
            "{what} on {}: nearest pass disagrees with the step at row {i}",
            b.name()
        );
        if k == 1 {
            assert_eq!(near.second[i], u32::MAX);
            assert_eq!(near.second_dist2[i], f32::INFINITY);
        } else {
            let l2 = near.second[i] as usize;
            let second = (0..k)
                .filter(|&c| c != l)
                .map(|c| dists[c])
                .fold(f64::INFINITY, f64::min);
            assert!(
                l2 != l && dists[l2] <= second * (1.0 + tie_tolerance(d)) + 1e-30,
                "{what} on {}: row {i} second {l2} at {} but the second-nearest is at {second}",
                b.name(),
                dists[l2]
            );
            assert!((near.second_dist2[i] as f64 - dists[l2]).abs() <= 1e-4 * (1.0 + dists[l2]));
        }
        sse[l] += ds.weight(i) * dists[l];
        weights[l] += ds.weight(i);
        for j in 0..d {
            sums[l * d + j] += ds.weight(i) * x[j] as f64;
        }
    }
    // After the brute-force checks, so that a wrong label fails against the independent expectation.
    let closest = res.closest(cent, k).unwrap();
    assert_eq!(
        closest.labels,
        near.labels,
        "{what} on {}: closest",
        b.name()
    );
    assert_eq!(
        closest
            .dist2
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        near.dist2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "{what} on {}: closest distances",
        b.name()
    );
    for (c, (&got, &want)) in stats.sse.iter().zip(&sse).enumerate() {
        assert!(
            (got - want).abs() <= 1e-5 * want.max(1e-9) + 1e-9,
            "{what} on {}: SSE of cluster {c} {got} vs brute force {want}",
            b.name()
        );
    }
    for (c, (&got, &want)) in stats.weights.iter().zip(&weights).enumerate() {
        assert!(
            (got - want).abs() <= 1e-9 * want.max(1.0),
            "{what} on {}: weight of cluster {c} {got} vs {want}",
            b.name()
        );
    }
    for (g, w) in stats.sums.iter().zip(&sums) {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what} on {}: cluster sum {g} vs {w}",
            b.name()
        );
    }
    a.labels
}

/// One test per backend for each case, so that a failing backend names itself
/// (`parity_grid::gpu`): the CPU kernels of this machine (AVX-512 where it has it), the AVX2 ones, the
/// portable ones, and the GPU adapter.
macro_rules! on_every_backend {
    ($($case:ident),*) => {$(
        mod $case {
            #[test]
            fn cpu() {
                super::$case(&super::CpuBackend::default());
            }
            #[test]
            fn cpu_avx2() {
                match super::Isa::avx2() {
                    Some(isa) => super::$case(&super::CpuBackend::new(isa)),
                    None => eprintln!("SKIPPING the AVX2 kernels: this CPU has no AVX2+FMA"),
                }
            }
            #[test]
            fn cpu_portable() {
                super::$case(&super::CpuBackend::new(super::Isa::Portable));
            }
            #[test]
            fn gpu() {
                if let Some(g) = super::gpu(Default::default()) {
                    super::$case(&g);
                }
            }
        }
    )*};
}

on_every_backend!(
    parity_grid,
    far_from_origin,
    exact_ties,
    near_twins,
    large_blocks,
    empty_cluster_repair,
    running_sums
);

/// k centroids: rows spread evenly over the data, nudged so that they are not exactly data points.
fn spread_centroids(ds: &Dataset, k: usize) -> Vec<f32> {
    (0..k)
        .flat_map(|c| ds.row(c * ds.n / k).iter().map(|v| v + 0.01))
        .collect()
}

/// Weights 0.25 … 2 (none 0), varying row to row.
fn weights(n: usize) -> Vec<f32> {
    (0..n).map(|i| 0.25 * (1 + i % 8) as f32).collect()
}

/// Every d class the kernels specialise (⌊d/8⌋ = 0…8, and 16), k from 1 to 257, 701 rows (no row tile
/// divides it, so every kernel's tail runs); half of the cases weighted, every d class among them.
fn parity_grid(b: &dyn Backend) {
    for d in [1usize, 3, 8, 12, 16, 24, 31, 33, 40, 63, 64, 130] {
        for k in [1usize, 2, 7, 13, 29, 64, 257] {
            let n = 701;
            let x = data(n, d, (d * 1000 + k) as u64);
            let w = weights(n);
            let weighted = (d + k) % 2 == 1;
            let ds = Dataset::new(&x, d, weighted.then_some(w.as_slice()));
            let cent = spread_centroids(&ds, k);
            check_step(
                b,
                &ds,
                &cent,
                k,
                &format!("d={d} k={k} weighted={weighted}"),
            );
        }
    }
}

/// Data far from the origin (‖x‖² ≈ 10⁶·d against distances of ~1–100): the GEMM form ‖x‖² − 2x·c + ‖c‖²
/// cancels almost all its digits here, so labels are right only if the near ties are re-checked exactly.
fn far_from_origin(b: &dyn Backend) {
    for (d, k) in [
        (1usize, 257usize),
        (3, 13),
        (16, 8),
        (33, 64),
        (64, 32),
        (40, 100),
    ] {
        let n = 701;
        let x: Vec<f32> = data(n, d, (d * 7 + k) as u64)
            .iter()
            .map(|v| v + 1000.0)
            .collect();
        let ds = Dataset::new(&x, d, None);
        let cent = spread_centroids(&ds, k);
        check_step(b, &ds, &cent, k, &format!("d={d} k={k} offset 1000"));
    }
}

/// Duplicated centroids tie exactly for every row near them: the lowest index wins, in the step, the
/// nearest pass (whose second-nearest is then the duplicate at the same distance) and the closest pass, on
/// every CPU path (k ≤ 32: the exact tile; on AVX-512, 17–32 centroids of 16–128 features and 33–64 of
/// 2–128: the GEMM form with its argmin in registers; above 32: the GEMM form's re-check) and the GPU.
fn exact_ties(b: &dyn Backend) {
    for (d, k) in [
        (5usize, 8usize),
        (12, 20),
        (24, 30),
        (7, 40),
        (24, 50),
        (33, 100),
    ] {
        let n = 701;
        let x = data(n, d, (d * 31 + k) as u64);
        let ds = Dataset::new(&x, d, None);
        let mut cent = spread_centroids(&ds, k);
        // Centroid k − 2 is a copy of centroid 1, and k − 1 of centroid 0.
        cent.copy_within(d..2 * d, (k - 2) * d);
        cent.copy_within(0..d, (k - 1) * d);
        let what = format!("d={d} k={k} duplicated centroids");
        let labels = check_step(b, &ds, &cent, k, &what);
        assert!(
            labels.iter().all(|&l| (l as usize) < k - 2),
            "{what} on {}: a duplicate (higher index) won a tie",
            b.name()
        );
        let near = b.load(ds).unwrap().nearest(&cent, k).unwrap();
        assert!(
            near.labels.iter().filter(|&&l| l <= 1).count() > 10,
            "{what}: too few ties to test"
        );
        for i in 0..n {
            let (l, s) = (near.labels[i] as usize, near.second[i] as usize);
            if l <= 1 {
                assert_eq!(
                    (s, near.second_dist2[i].to_bits()),
                    (k - 1 - l, near.dist2[i].to_bits()),
                    "{what} on {}: row {i}'s second-nearest is not its label's duplicate",
                    b.name()
                );
            }
        }
    }
}

/// Pairs of centroids 0.01 apart, far from the origin and far from other pairs: the GEMM form cannot tell
/// the twins apart (its error, ~γ·‖x‖², is ~10³ times their gap) while the exact form can, and usually
/// no other centroid is within the rounding bound, so each row's label rests on the re-check seeing the
/// twin. Twins are 50 indices apart, which puts them in different column invocations of the GPU's GEMM
/// tile and different lane blocks of the CPU's (AVX2's 16 lanes; most pairs under AVX-512's 64), so the
/// second-best score must survive every merge.
fn near_twins(b: &dyn Backend) {
    let (n, d, half) = (701, 4, 50);
    let x: Vec<f32> = data(n, d, 99).iter().map(|v| 10.0 * v + 1000.0).collect();
    let ds = Dataset::new(&x, d, None);
    let mut cent = spread_centroids(&ds, half);
    for j in 0..half * d {
        cent.push(cent[j] + if j % d == (j / d) % d { 0.01 } else { 0.0 });
    }
    check_step(b, &ds, &cent, 2 * half, "twins 0.01 apart at offset 1000");
}

/// More than one 8192-row block and more than one 524,288-row group on the CPU (and many workgroups on
/// a GPU), weighted, with a tail in every tile.
fn large_blocks(b: &dyn Backend) {
    let (n, d, k) = (600_001, 3, 5);
    let x = data(n, d, 77);
    let w = weights(n);
    let ds = Dataset::new(&x, d, Some(&w));
    let cent = spread_centroids(&ds, k);
    check_step(b, &ds, &cent, k, "600,001 rows");
}

/// Plain weighted Lloyd in f64 with scikit-learn's relocation of empty clusters (`_relocate_empty_clusters`):
/// each empty cluster, in index order, takes the row farthest from its current centroid (farthest first,
/// ties to the lower row), whose mass leaves its old cluster. Stops when no label changes. Returns the
/// centroids, the labels and how many clusters were relocated.
fn reference_lloyd(
    x: &[f32],
    d: usize,
    w: &[f32],
    init: &[f32],
    iters: usize,
) -> (Vec<f64>, Vec<u32>, usize) {
    let (n, k) = (x.len() / d, init.len() / d);
    let mut c: Vec<f64> = init.iter().map(|&v| v as f64).collect();
    let mut labels = vec![u32::MAX; n];
    let mut relocated = 0;
    for _ in 0..iters {
        let mut dist = vec![0f64; n];
        let mut next = vec![0u32; n];
        for i in 0..n {
            let row = &x[i * d..(i + 1) * d];
            let (best, d2) = (0..k)
                .map(|j| {
                    (
                        j,
                        (0..d)
                            .map(|t| (row[t] as f64 - c[j * d + t]).powi(2))
                            .sum::<f64>(),
                    )
                })
                .fold((0, f64::INFINITY), |b, t| if t.1 < b.1 { t } else { b });
            next[i] = best as u32;
            dist[i] = d2;
        }
        if next == labels {
            break;
        }
        labels = next;
        let (mut sums, mut wt) = (vec![0f64; k * d], vec![0f64; k]);
        for i in 0..n {
            let l = labels[i] as usize;
            wt[l] += w[i] as f64;
            for t in 0..d {
                sums[l * d + t] += w[i] as f64 * x[i * d + t] as f64;
            }
        }
        let empty: Vec<usize> = (0..k).filter(|&j| wt[j] <= 0.0).collect();
        let mut far: Vec<usize> = (0..n).collect();
        far.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]).then(a.cmp(&b)));
        for (&j, &r) in empty.iter().zip(&far) {
            let (from, wr) = (labels[r] as usize, w[r] as f64);
            for t in 0..d {
                sums[from * d + t] -= wr * x[r * d + t] as f64;
                sums[j * d + t] = wr * x[r * d + t] as f64;
            }
            wt[from] -= wr;
            wt[j] = wr;
            relocated += 1;
        }
        c = (0..k * d).map(|i| sums[i] / wt[i / d]).collect();
    }
    (c, labels, relocated)
}

/// An initial centroid far from every row leaves its cluster empty on the first step: the repair, and the
/// fit it leads to, equal the independent Lloyd with scikit-learn's relocation rule.
/// Weighted and unweighted.
fn empty_cluster_repair(b: &dyn Backend) {
    let n = 301;
    empty_cluster_repair_with(b, Some(&weights(n)));
    empty_cluster_repair_with(b, None);
}

fn empty_cluster_repair_with(b: &dyn Backend, w: Option<&[f32]>) {
    let (n, d) = (301, 4);
    // Three tight blobs at 0, 10 and 20 on every axis.
    let x: Vec<f32> = (0..n)
        .flat_map(|i| {
            let centre = 10.0 * (i % 3) as f32;
            (0..d).map(move |t| centre + ((i * 7 + t * 3) % 11) as f32 * 0.1 - 0.5)
        })
        .collect();
    let ds = Dataset::new(&x, d, w);
    let w = w.map_or(vec![1.0; n], <[f32]>::to_vec);
    let mut init: Vec<f32> = x[..2 * d].to_vec();
    init.extend([1000.0f32; 4]);
    let cfg = KMeans::params(3)
        .init(Init::Given(init.clone()))
        .n_init(1)
        .max_iter(50)
        .tol(0.0)
        .seed(0)
        .check()
        .unwrap();
    let r = kmeans::fit(b, &ds, &cfg).unwrap();
    let (want, labels, relocated) = reference_lloyd(&x, d, &w, &init, 50);
    assert!(relocated >= 1, "the case must empty a cluster");
    assert_eq!(
        r.restarts[0].empty_clusters_repaired,
        relocated,
        "{}: repairs",
        b.name()
    );
    // strata renumbers segments by size: match each of its centroids to the reference's.
    for (s, c) in r.centroids.chunks_exact(d).enumerate() {
        let gap = |j: usize| -> f64 {
            (0..d)
                .map(|t| (c[t] as f64 - want[j * d + t]).powi(2))
                .sum()
        };
        let j = (0..3).min_by(|&a, &b| gap(a).total_cmp(&gap(b))).unwrap();
        for t in 0..d {
            assert!(
                (c[t] as f64 - want[j * d + t]).abs() < 1e-4,
                "{}: centroid {s} {c:?} vs {:?}",
                b.name(),
                &want[j * d..][..d]
            );
        }
        let members = |l: &[u32], id: u32| (0..n).filter(|&i| l[i] == id).collect::<Vec<_>>();
        assert_eq!(
            members(&r.nearest.labels, s as u32),
            members(&labels, j as u32),
            "{}: members of {s}",
            b.name()
        );
    }
}

/// Many steps on one resident dataset, rows moving between clusters at every step and one cluster emptied
/// on a later step (its sums must then be exactly zero): the sums and weights of every step against brute
/// force, so that the CPU's running sums (only the moved rows' changes added) cannot drift; and after
/// `restart`, the step of a fresh resident bit for bit, so that a restart does not depend on the ones
/// before it. 20,001 rows: three CPU blocks, the last with a partial chunk and row tile. Unweighted and
/// weighted.
fn running_sums(b: &dyn Backend) {
    let n = 20_001;
    running_sums_with(b, n, None);
    running_sums_with(b, n, Some(&weights(n)));
}

fn running_sums_with(b: &dyn Backend, n: usize, w: Option<&[f32]>) {
    let (d, k) = (5, 6);
    let x = data(n, d, 11);
    let ds = Dataset::new(&x, d, w);
    let mut res = b.load(ds).unwrap();
    let mut c = spread_centroids(&ds, k);
    for it in 0..12 {
        if it == 8 {
            // Cluster 2 loses every row at once.
            c[2 * d..3 * d].fill(1.0e4);
        }
        let stats = res.step(&c, k).unwrap();
        let a = res.assignment().unwrap();
        let what = format!("step {it} on {} (weighted: {})", b.name(), w.is_some());
        if it == 1 || it == 8 {
            assert!(stats.moved > 0, "{what}: the case must move rows");
        }
        check_sums(&ds, &stats, &a, &what);
        if it >= 8 {
            assert_eq!(stats.weights[2], 0.0, "{what}: cluster 2 must be empty");
        }
        let next = stats.means(&c);
        c = next;
    }
    res.restart();
    let again = res.step(&c, k).unwrap();
    let fresh = b.load(ds).unwrap().step(&c, k).unwrap();
    let bits = |s: &Stats| -> Vec<u64> {
        (s.sums.iter().chain(&s.weights).chain(&s.sse))
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(
        bits(&again),
        bits(&fresh),
        "{}: a restart's first step",
        b.name()
    );
}

/// The AVX-512 and AVX2 kernels give the same bits (README: results depend on FMA, not on the vector
/// width): labels, distances and every statistic of a run of Lloyd steps, unweighted (the SSE summed in
/// lanes: registers on AVX-512, memory on AVX2) and weighted, with at most 8 and 16 clusters (the two
/// register counts) and more. (Sums of distances of similar size are exact in f64 whatever their order;
/// the order of the SSE lanes themselves is checked on distances of every size by the kernel's own test.)
#[test]
fn avx512_and_avx2_give_the_same_bits() {
    let (wide @ Isa::Avx512(_), Some(avx2)) = (Isa::detect(), Isa::avx2()) else {
        eprintln!("SKIPPING: this CPU lacks AVX-512: nothing to compare");
        return;
    };
    let n = 20_001;
    let w = weights(n);
    for (d, k) in [(5usize, 6usize), (16, 8), (7, 13), (20, 40)] {
        let x = data(n, d, (d + k) as u64);
        for weighted in [false, true] {
            let ds = Dataset::new(&x, d, weighted.then_some(w.as_slice()));
            let run = |isa: Isa| {
                let b = CpuBackend::new(isa);
                let mut res = b.load(ds).unwrap();
                let mut c = spread_centroids(&ds, k);
                let mut out = Vec::new();
                for _ in 0..6 {
                    let s = res.step(&c, k).unwrap();
                    let a = res.assignment().unwrap();
                    out.extend(
                        s.sums
                            .iter()
                            .chain(&s.weights)
                            .chain(&s.sse)
                            .map(|v| v.to_bits()),
                    );
                    out.extend(a.labels.iter().map(|&l| l as u64));
                    out.extend(a.dist2.iter().map(|v| v.to_bits() as u64));
                    c = s.means(&c);
                }
                out
            };
            assert!(
                run(wide) == run(avx2),
                "d={d} k={k} weighted={weighted}: AVX-512 and AVX2 differ"
            );
        }
    }
}

/// GPU workgroups owning many more rows than one workgroup-sized block (a small partial-sums budget),
/// with the sums in workgroup memory (small k·d) and in global memory (large k·d).
#[test]
fn gpu_workgroups_owning_many_rows() {
    for (n, d, k) in [(5001usize, 9usize, 5usize), (2001, 33, 257)] {
        let lanes = d + 2;
        let s = (256 / lanes).clamp(1, 8);
        let opts = GpuOptions {
            // About four workgroups' partials: each owns n / 4 rows.
            max_partial_bytes: Some((4 * s * k * lanes * 4) as u64),
            ..Default::default()
        };
        let Some(g) = gpu(opts) else { return };
        let x = data(n, d, (n + d) as u64);
        let w = weights(n);
        let ds = Dataset::new(&x, d, Some(&w));
        let cent = spread_centroids(&ds, k);
        check_step(
            &g,
            &ds,
            &cent,
            k,
            &format!("n={n} d={d} k={k}, ~n/4 rows per workgroup"),
        );
    }
}

#[test]
fn weighted_fit_agrees_and_sse_never_increases() {
    let (n, d, k) = (3000, 5, 6);
    let x = data(n, d, 42);
    let w: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.5).collect();
    let ds = Dataset::new(&x, d, Some(&w));
    let cfg = KMeans::params(k)
        .init(Init::KMeansPlusPlus)
        .n_init(3)
        .max_iter(100)
        .tol(0.0)
        .seed(5)
        .check()
        .unwrap();
    let mut sses = Vec::new();
    for b in backends() {
        let r = kmeans::fit(b.as_ref(), &ds, &cfg).unwrap();
        for pair in r.sse_history.windows(2) {
            assert!(
                pair[1] <= pair[0] * (1.0 + 1e-6),
                "{}: SSE rose {} -> {}",
                b.name(),
                pair[0],
                pair[1]
            );
        }
        // Independent SSE of the final labels and centroids.
        let brute: f64 = (0..n)
            .map(|i| {
                w[i] as f64
                    * dist64(
                        ds.row(i),
                        &r.centroids[r.nearest.labels[i] as usize * d..][..d],
                    )
            })
            .sum();
        assert!(
            (r.sse - brute).abs() <= 1e-5 * brute,
            "{}: SSE {} vs {brute}",
            b.name(),
            r.sse
        );
        sses.push(r.sse);
    }
    for s in &sses[1..] {
        assert!(
            (s - sses[0]).abs() <= 1e-5 * sses[0],
            "backends disagree: {sses:?}"
        );
    }
}

#[test]
fn gpu_multi_buffer_and_streaming_match_cpu() {
    let (n, d, k) = (5000, 7, 9);
    let x = data(n, d, 3);
    let ds = Dataset::new(&x, d, None);
    let cent: Vec<f32> = x[..k * d].iter().map(|v| v + 0.01).collect();
    let cpu = check_step(&CpuBackend::default(), &ds, &cent, k, "cpu");
    // ~1000 rows per buffer: 5 chunks resident; then a 64 KiB budget: streamed through two slots.
    for opts in [
        GpuOptions {
            max_chunk_bytes: Some(1024 * 28),
            ..Default::default()
        },
        GpuOptions {
            memory_budget: Some(64 << 10),
            ..Default::default()
        },
    ] {
        let Some(g) = gpu(opts.clone()) else { return };
        let labels = check_step(&g, &ds, &cent, k, &format!("{opts:?}"));
        let differ = labels.iter().zip(&cpu).filter(|(a, b)| a != b).count();
        assert!(differ <= 5, "{opts:?}: {differ} labels differ from the CPU");
        // A whole fit over several iterations on the split layout.
        let cfg = KMeans::params(k)
            .init(Init::Given(cent.clone()))
            .n_init(1)
            .max_iter(50)
            .tol(1e-6)
            .seed(0)
            .check()
            .unwrap();
        let a = kmeans::fit(&g, &ds, &cfg).unwrap();
        let b = kmeans::fit(&CpuBackend::default(), &ds, &cfg).unwrap();
        assert!(
            (a.sse - b.sse).abs() <= 1e-5 * b.sse,
            "{opts:?}: SSE {} vs CPU {}",
            a.sse,
            b.sse
        );
    }
}

#[test]
fn gpu_fit_is_bit_identical_run_to_run() {
    let Some(g) = gpu(GpuOptions::default()) else {
        return;
    };
    let x = data(4000, 6, 11);
    let ds = Dataset::new(&x, 6, None);
    let cfg = KMeans::params(5)
        .init(Init::KMeansPlusPlus)
        .n_init(2)
        .max_iter(50)
        .tol(1e-4)
        .seed(1)
        .check()
        .unwrap();
    let a = kmeans::fit(&g, &ds, &cfg).unwrap();
    let b = kmeans::fit(&g, &ds, &cfg).unwrap();
    assert_eq!(a.nearest, b.nearest);
    assert_eq!(a.centroids, b.centroids);
    assert_eq!(a.sse.to_bits(), b.sse.to_bits());
}

fn fit_opts(csv: PathBuf, k: usize, features: &str, scale: Scaling, out: PathBuf) -> FitOptions {
    let mut o = FitOptions::default();
    o.input.inputs = vec![csv];
    o.input.features = Some(features.split(',').map(String::from).collect());
    o.prep.scale = scale;
    o.kmeans.k = k;
    o.kmeans.init = InitChoice::KMeansPlusPlus;
    o.output = OutputSpec {
        out,
        report: None,
        decision: None,
        progress: false,
    };
    o
}

#[test]
fn real_data_references_on_every_backend() {
    let (Some(alllife), Some(mall)) = (
        crate::common::shared("alllife/credit_card_customer_data.csv"),
        crate::common::shared("mall_customers/Mall_Customers.csv"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for b in backends() {
        let b = Selected::only(b);
        let o = fit_opts(
            alllife.clone(),
            3,
            crate::common::ALLLIFE_FEATURES,
            Scaling::Zscore,
            dir.path().join("a"),
        );
        let r = strata::jobs::fit::run(&o.check().unwrap(), &b, &|_| {}).unwrap();
        assert!(
            (r.summary.sse - 933.04).abs() <= 0.01,
            "{}: AllLife SSE {}",
            b.primary.name(),
            r.summary.sse
        );
        let sizes: Vec<u64> = r.written.segments.iter().map(|s| s.customers).collect();
        assert_eq!(sizes, vec![386, 224, 50], "{}", b.primary.name());
        let o = fit_opts(
            mall.clone(),
            5,
            "Annual Income (k$),Spending Score (1-100)",
            Scaling::None,
            dir.path().join("m"),
        );
        let r = strata::jobs::fit::run(&o.check().unwrap(), &b, &|_| {}).unwrap();
        assert!(
            (r.summary.sse - 44448.46).abs() <= 0.01,
            "{}: Mall SSE {}",
            b.primary.name(),
            r.summary.sse
        );
    }
}

/// Well-separated blobs: k-means‖ must seed one centre in each, so Lloyd recovers the true partition; and
/// its sampling must not depend on the thread count. 300,000 rows take the subsampled path.
#[test]
fn kmeans_parallel_init_separates_blobs_at_any_thread_count() {
    for n in [30_000, 300_000] {
        kmeans_parallel_case(n);
    }
}

fn kmeans_parallel_case(n: usize) {
    let (d, k) = (4, 6);
    let truth: Vec<usize> = (0..n).map(|i| (i * 7 + i / 3) % k).collect();
    let noise = data(n, d, 11);
    let x: Vec<f32> = (0..n * d)
        .map(|e| (truth[e / d] * 20 * ((e % d) % 2 + 1)) as f32 + noise[e] * 0.3)
        .collect();
    let ds = Dataset::new(&x, d, None);
    let cfg = KMeans::params(k)
        .init(Init::KMeansParallel)
        .n_init(1)
        .max_iter(50)
        .tol(1e-4)
        .seed(9)
        .check()
        .unwrap();
    let fit_with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| kmeans::fit(&CpuBackend::default(), &ds, &cfg).unwrap())
    };
    let one = fit_with(1);
    let three = fit_with(3);
    assert_eq!(
        one.centroids, three.centroids,
        "k-means|| differs by thread count"
    );
    assert_eq!(one.nearest, three.nearest);
    // Each fitted segment is exactly one true blob.
    let mut map = vec![None; k];
    for (i, &l) in one.nearest.labels.iter().enumerate() {
        let m = map[l as usize].get_or_insert(truth[i]);
        assert_eq!(*m, truth[i], "n={n}: segment {l} mixes blobs");
    }
    let true_sse: f64 = (0..n)
        .map(|i| {
            dist64(
                ds.row(i),
                &one.centroids[one.nearest.labels[i] as usize * d..][..d],
            )
        })
        .sum();
    assert!((one.sse - true_sse).abs() <= 1e-5 * true_sse);
}

/// The initialisation passes run on the device of the fit: every backend's k-means++ candidate
/// potentials match a brute-force sum, and k-means++ / k-means‖ pick the same rows as on the CPU.
#[test]
fn init_passes_agree_on_every_backend() {
    let (n, d) = (3000, 5);
    let x = data(n, d, 3);
    let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 4) as f32).collect();
    let ds = Dataset::new(&x, d, Some(&w));
    let cands: Vec<f32> = [10, 500, 2000]
        .iter()
        .flat_map(|&i| ds.row(i).to_vec())
        .collect();
    let closest: Vec<f32> = (0..n)
        .map(|i| dist64(ds.row(i), ds.row(0)) as f32)
        .collect();
    let want: Vec<f64> = cands
        .chunks_exact(d)
        .map(|c| {
            (0..n)
                .map(|i| w[i] as f64 * dist64(ds.row(i), c).min(closest[i] as f64))
                .sum()
        })
        .collect();
    let seeded = |b: &dyn Backend, parallel: bool| {
        let mut res = b.load(ds).unwrap();
        let mut rng = kmeans::init::restart_rng(4, 0);
        if parallel {
            kmeans::init::kmeans_parallel(b, res.as_mut(), &ds, 6, &mut rng).unwrap()
        } else {
            kmeans::init::kmeans_plus_plus(res.as_mut(), &ds, 6, &mut rng).unwrap()
        }
    };
    let cpu = CpuBackend::default();
    for b in backends() {
        let pots = b.load(ds).unwrap().potentials(&cands, 3, &closest).unwrap();
        for (g, e) in pots.iter().zip(&want) {
            assert!(
                (g - e).abs() <= 1e-5 * e,
                "{}: potential {g} vs {e}",
                b.name()
            );
        }
        assert_eq!(
            seeded(b.as_ref(), false),
            seeded(&cpu, false),
            "{}: k-means++",
            b.name()
        );
        assert_eq!(
            seeded(b.as_ref(), true),
            seeded(&cpu, true),
            "{}: k-means||",
            b.name()
        );
    }
}
