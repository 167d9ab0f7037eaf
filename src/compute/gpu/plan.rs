//! What the GPU backend builds, decided without a device: how the rows are cut into chunks (resident or
//! streamed through two slots), which step kernel runs (exact or GEMM form), where its partial sums live,
//! how many centroids a workgroup tile holds, how many rows each workgroup owns and the dispatch grids; and
//! the shader sources with their constants. Plain functions of the data's shape and the adapter's limits,
//! unit-tested here; `mod.rs` builds the buffers and pipelines they describe.

use crate::error::{Error, Result};

/// Invocations per workgroup.
pub(super) const WG: usize = 256;
/// Above this many centroids the step runs in the GEMM form (`shaders/gemm.wgsl`) where the adapter's
/// workgroup memory holds its tiles; the same cut as the CPU kernels', not tuned on a GPU.
pub(super) const GEMM_ABOVE: usize = 32;
/// The GEMM kernel's row tile, centroid tile and feature slice (the constants TR, TC, TD of gemm.wgsl).
pub(super) const GEMM_TR: usize = 64;
pub(super) const GEMM_TC: usize = 64;
pub(super) const GEMM_TD: usize = 8;
/// Bytes of per-workgroup partial sums held at once (bounds GPU memory at large k·d).
pub(super) const PARTIAL_BUDGET: u64 = 64 << 20;

/// Shader source with the shape constants filled in; `local` keeps the step's partial sums (s × k ×
/// (d + 2) floats) in workgroup memory.
pub(super) fn shader(
    template: &str,
    d: usize,
    k: usize,
    tk: usize,
    s: usize,
    local: bool,
) -> String {
    let accn = if local { s * k * (d + 2) } else { 1 };
    template
        .replace("__D__", &d.to_string())
        .replace("__K__", &k.to_string())
        .replace("__TK__", &tk.to_string())
        .replace("__S__", &s.to_string())
        .replace("__LOCAL__", &local.to_string())
        .replace("__ACCN__", &accn.to_string())
}

/// γ(n) = n·u/(1 − n·u) (Higham §3.1) with u = 2⁻²³, rounded up to an f32: twice the round-to-nearest unit,
/// because WGSL (and Vulkan, unless asked for round-to-nearest-even) lets f32 operations round either way.
/// With u doubled that is the CPU's γ(2n).
pub(super) fn gamma_up(n: usize) -> f32 {
    (crate::compute::kernel::gamma(2 * n) * (1.0 + 1e-6)) as f32
}

/// Bytes of workgroup memory kept free of the accounting below: Metal rounds each workgroup variable up
/// to 16 bytes on its own.
pub(super) const WG_MEM_SLACK: usize = 64;

/// WGSL source for an f32 constant: Rust's shortest round-trip form, which WGSL reads back exactly.
pub(super) fn wgsl_f32(v: f32) -> String {
    format!("{v:?}")
}

/// Features padded to the GEMM kernel's feature slice.
pub(super) fn gemm_dp(d: usize) -> usize {
    d.div_ceil(GEMM_TD) * GEMM_TD
}

/// Centroids padded to the GEMM kernel's centroid tile.
pub(super) fn gemm_kp(k: usize) -> usize {
    k.div_ceil(GEMM_TC) * GEMM_TC
}

/// Floats in the GEMM kernel's centroid buffer (see [`gemm_centroids`]).
pub(super) fn gemm_centroids_len(k: usize, d: usize) -> usize {
    k * d + k + 1 + gemm_dp(d) * gemm_kp(k)
}

/// Workgroup memory of the exact step kernel besides its centroid tile and partial sums: the tile's labels
/// and distances and the moved count.
pub(super) const STEP_FIXED: usize = 4 * (2 * WG + 1);

/// Workgroup memory of the GEMM kernel besides its partial sums: the transposed row tile (one spare vec4
/// per feature), the 256-vec4 scratch, the tile's labels and distances and the moved count.
pub(super) fn gemm_fixed_bytes(d: usize) -> usize {
    4 * ((GEMM_TR + 4) * gemm_dp(d) + 1024 + 2 * GEMM_TR + 1)
}

/// The GEMM kernel's centroid buffer (layout in gemm.wgsl): the k × d rows, ‖c‖² per centroid (as the CPU's
/// `Transposed` has them), cmax² rounded up (−1 when too large for the f32 bound: every row is then decided
/// in the exact form), and the centroids transposed into dp × kp, zero-padded.
pub(super) fn gemm_centroids(c: &[f32], k: usize, d: usize) -> Vec<f32> {
    let kp = gemm_kp(k);
    let mut out = Vec::with_capacity(gemm_centroids_len(k, d));
    out.extend_from_slice(&c[..k * d]);
    let mut cmax2 = 0f64;
    for row in c.chunks_exact(d).take(k) {
        let n2 = crate::compute::kernel::norm2_f64(row);
        out.push(n2 as f32);
        cmax2 = cmax2.max(n2);
    }
    out.push(if cmax2 < 1e30 {
        (cmax2 * (1.0 + 1e-6)) as f32
    } else {
        -1.0
    });
    let ct = out.len();
    out.resize(gemm_centroids_len(k, d), 0.0);
    for (ci, row) in c.chunks_exact(d).take(k).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[ct + j * kp + ci] = v;
        }
    }
    out
}

/// The adapter limits a plan depends on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Bytes one storage binding may hold.
    pub binding: u64,
    /// Bytes one buffer may hold.
    pub buffer: u64,
    /// Workgroup memory the kernels may use (the adapter's, less [`WG_MEM_SLACK`]).
    pub wg_mem: usize,
    /// Workgroups per dispatch dimension.
    pub max_dim: usize,
}

impl Limits {
    pub fn of(l: &wgpu::Limits) -> Limits {
        Limits {
            binding: l.max_storage_buffer_binding_size,
            buffer: l.max_buffer_size,
            wg_mem: (l.max_compute_workgroup_storage_size as usize).saturating_sub(WG_MEM_SLACK),
            max_dim: l.max_compute_workgroups_per_dimension as usize,
        }
    }
}

/// How `n` rows are held on the device: in chunks of `rows_per_chunk` rows (a multiple of [`WG`]), each in
/// a buffer of its own, or streamed through two slots when the data exceeds the memory budget.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Chunks {
    pub streaming: bool,
    pub rows_per_chunk: usize,
    /// Each chunk's first row and row count, covering 0..n in order.
    pub chunks: Vec<(usize, usize)>,
    /// Data buffers: one per chunk, or two slots when streaming.
    pub buffers: usize,
}

/// The chunks of `n` rows of `d` features under `limits`, a cap on one chunk's bytes and the resident-data
/// `budget`.
pub(super) fn chunks(
    n: usize,
    d: usize,
    limits: &Limits,
    max_chunk_bytes: Option<u64>,
    budget: u64,
) -> Result<Chunks> {
    let row_bytes = (d * 4) as u64;
    let limit = limits.binding.min(limits.buffer);
    let cap = max_chunk_bytes.map_or(limit, |c| c.min(limit));
    let mut rows_per_chunk = ((cap / row_bytes) as usize / WG) * WG;
    if rows_per_chunk == 0 {
        return Err(Error::device(format!(
            "{d} features do not fit one GPU buffer row; use `device` cpu"
        )));
    }
    let streaming = n as u64 * row_bytes > budget;
    if streaming {
        // Two slots must fit the budget: upload of one chunk overlaps the kernel on the other.
        let slot_rows = ((budget / 2 / row_bytes) as usize / WG) * WG;
        if slot_rows == 0 {
            return Err(Error::device(format!(
                "`gpu_memory` {budget} bytes is too small for one chunk of rows"
            )));
        }
        rows_per_chunk = rows_per_chunk.min(slot_rows);
    }
    rows_per_chunk = rows_per_chunk.min(n.div_ceil(WG) * WG).max(WG);
    let chunks: Vec<(usize, usize)> = (0..n.div_ceil(rows_per_chunk))
        .map(|c| {
            (
                c * rows_per_chunk,
                rows_per_chunk.min(n - c * rows_per_chunk),
            )
        })
        .collect();
    let buffers = if streaming {
        chunks.len().min(2)
    } else {
        chunks.len()
    };
    Ok(Chunks {
        streaming,
        rows_per_chunk,
        chunks,
        buffers,
    })
}

/// Centroids per workgroup-memory tile for `k` centroids of `d` features (the step's [`STEP_FIXED`] bytes
/// and `reserved` bytes beside it): a multiple of 4 (distance.wgsl's vec4s), at most 32 (each invocation
/// keeps the tile's distances in registers).
pub(super) fn tile_k(d: usize, k: usize, reserved: usize, wg_mem: usize) -> Result<usize> {
    let d = d.max(1);
    let fours = wg_mem.saturating_sub(STEP_FIXED + reserved) / (16 * d);
    if fours == 0 {
        return Err(Error::device(format!(
            "{d} features exceed this GPU's workgroup memory; use `device` cpu"
        )));
    }
    Ok((4 * fours).min(k.next_multiple_of(4)).min(32))
}

/// The step kernel for `k` centroids over chunks of `rows` rows: its form, its partial sums and its grid.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Step {
    /// The GEMM form (gemm.wgsl) rather than the exact one (step.wgsl).
    pub gemm: bool,
    /// Substreams of partial sums per workgroup (one invocation per lane and substream).
    pub s: usize,
    /// The partial sums in workgroup memory (else in global memory).
    pub local: bool,
    /// Centroids per tile (the exact form's; unused by gemm.wgsl).
    pub tk: usize,
    /// Bytes of one workgroup's partial sums.
    pub wg_bytes: u64,
    /// Rows each workgroup owns (a multiple of [`WG`]).
    pub rows_per_wg: usize,
    /// Per chunk: its 2-D grid of workgroups and the index of its first workgroup's partial sums.
    pub grids: Vec<((u32, u32), usize)>,
    pub total_groups: usize,
    /// The reduce pass's 2-D grid: one workgroup per total (k × (d + 2) sums and the moved count).
    pub reduce_groups: (u32, u32),
}

/// The step for `k` centroids of `d` features over chunks of `rows` rows, with at most `partial_budget`
/// bytes of partial sums, or one workgroup's per chunk where there are more chunks than that.
pub(super) fn step(
    d: usize,
    k: usize,
    rows: &[usize],
    limits: &Limits,
    partial_budget: u64,
) -> Result<Step> {
    let (lanes, wg_mem) = (d + 2, limits.wg_mem);
    let gemm = k > GEMM_ABOVE && gemm_fixed_bytes(d) + 4 <= wg_mem;
    // Partial sums in workgroup memory with as many substreams (up to 8, one invocation per lane and
    // substream) as fit: beside the GEMM kernel's fixed tiles, or in half of what the exact kernel's
    // `STEP_FIXED` bytes leave (its centroid tile takes the rest). Otherwise in global memory.
    // On an H100 (BENCHMARKS.md) more substreams, or fewer and larger workgroups, measured slower.
    let room = if gemm {
        wg_mem - gemm_fixed_bytes(d)
    } else {
        wg_mem.saturating_sub(STEP_FIXED) / 2
    };
    let s_max = (WG / lanes).clamp(1, 8);
    let fits = (1..=s_max).rev().find(|s| s * k * lanes * 4 <= room);
    let (mut s, mut local) = fits.map_or((s_max, false), |s| (s, true));
    let tk = if gemm {
        4
    } else if let Some(Ok(tk)) = local.then(|| tile_k(d, k, s * k * lanes * 4, wg_mem)) {
        tk
    } else {
        // No local sums, or not even one vec4 of centroids beside them: the sums go to global memory.
        (s, local) = (s_max, false);
        tile_k(d, k, 0, wg_mem)?
    };
    let wg_bytes = (s * k * lanes * 4) as u64;
    let partial_cap = partial_budget.min(limits.binding);
    if wg_bytes > partial_cap {
        return Err(Error::device(format!(
            "k={k} × d={d} is too large for the GPU path; use `device` cpu"
        )));
    }
    // Enough rows per workgroup that all partials fit the budget; each chunk may round up by one
    // workgroup, so leave that many spare.
    let max_groups = ((partial_cap / wg_bytes) as usize)
        .saturating_sub(rows.len())
        .max(1);
    let n: usize = rows.iter().sum();
    let rows_per_wg = n.div_ceil(max_groups).div_ceil(WG).max(1) * WG;
    let mut total_groups = 0;
    let grids = (rows.iter())
        .map(|&r| {
            let g = r.div_ceil(rows_per_wg);
            let gx = g.clamp(1, limits.max_dim);
            let grid = (gx as u32, g.div_ceil(gx) as u32);
            let first = total_groups;
            total_groups += (grid.0 * grid.1) as usize;
            (grid, first)
        })
        .collect();
    // One workgroup per chunk at least: more chunks than the budget has workgroups exceed it, up to the
    // binding limit, which the partial sums' buffer may not.
    if total_groups as u64 * wg_bytes > limits.binding {
        return Err(Error::device(format!(
            "k={k} × d={d} over {} chunks is too large for the GPU path; use `device` cpu",
            rows.len()
        )));
    }
    let totals = (k * lanes + 1) as u32;
    let gx = totals.min(limits.max_dim as u32);
    Ok(Step {
        gemm,
        s,
        local,
        tk,
        wg_bytes,
        rows_per_wg,
        grids,
        total_groups,
        reduce_groups: (gx, totals.div_ceil(gx)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lavapipe's limits (what CI runs) and an H100's (Vulkan, NVIDIA 550).
    const LAVAPIPE: Limits = Limits {
        binding: 1 << 27,
        buffer: 1 << 31,
        wg_mem: 32768 - WG_MEM_SLACK,
        max_dim: 65535,
    };
    const H100: Limits = Limits {
        binding: (1 << 32) - 1,
        buffer: 1 << 40,
        wg_mem: 49152 - WG_MEM_SLACK,
        max_dim: 65535,
    };

    /// Chunks cover the rows in order within every limit; data beyond the budget streams through two
    /// slots; sizes that cannot work are refused with what to do.
    #[test]
    fn chunks_cover_the_rows_within_the_limits() {
        for limits in [LAVAPIPE, H100] {
            for (n, d, cap, budget) in [
                (1, 1, None, 1 << 30),
                (10_000_000, 16, None, 6 << 30),
                (10_000_000, 64, None, 1 << 30),
                (5000, 7, Some(1024 * 28), 1 << 30),
                (5000, 7, None, 64 << 10),
            ] {
                let c = chunks(n, d, &limits, cap, budget).unwrap();
                let bytes = (c.rows_per_chunk * d * 4) as u64;
                assert!(
                    c.rows_per_chunk.is_multiple_of(WG)
                        && bytes <= limits.binding.min(limits.buffer)
                );
                assert!(cap.is_none_or(|cap| bytes <= cap.max((WG * d * 4) as u64)));
                assert_eq!(c.streaming, (n * d * 4) as u64 > budget, "n={n} d={d}");
                if c.streaming {
                    assert!(c.buffers <= 2 && 2 * bytes <= budget);
                } else {
                    assert_eq!(c.buffers, c.chunks.len());
                }
                let mut next = 0;
                for &(first, rows) in &c.chunks {
                    assert!(first == next && rows > 0 && rows <= c.rows_per_chunk);
                    next += rows;
                }
                assert_eq!(next, n);
            }
        }
        let e = chunks(10, 40_000_000, &LAVAPIPE, None, 1 << 30).unwrap_err();
        assert!(
            e.to_string().contains("do not fit one GPU buffer row"),
            "{e}"
        );
        let e = chunks(1_000_000, 16, &LAVAPIPE, None, 1000).unwrap_err();
        assert!(e.to_string().contains("too small for one chunk"), "{e}");
    }

    /// Every step plan keeps its partial sums within the budget (or one workgroup's per chunk) and the
    /// binding limit, and its workgroup memory within the adapter's; its grid covers every row; the GEMM
    /// form runs above 32 centroids where its tiles fit.
    #[test]
    fn step_plans_fit_the_adapter() {
        for limits in [LAVAPIPE, H100] {
            for (d, k) in [
                (1, 1),
                (8, 8),
                (16, 33),
                (9, 257),
                (64, 32),
                (64, 256),
                (300, 5),
                (33, 1024),
            ] {
                let rows = [700_000, 700_000, 12_345];
                for budget in [PARTIAL_BUDGET, 1 << 16] {
                    let Ok(p) = step(d, k, &rows, &limits, budget) else {
                        // Only a sum too large for the whole budget is refused.
                        assert!(((d + 2) * k * 4) as u64 > budget, "d={d} k={k}");
                        continue;
                    };
                    let lanes = d + 2;
                    assert_eq!(p.wg_bytes, (p.s * k * lanes * 4) as u64);
                    let partials = p.total_groups as u64 * p.wg_bytes;
                    let one_each = rows.len() as u64 * p.wg_bytes;
                    assert!(
                        partials <= budget.min(limits.binding).max(one_each),
                        "d={d} k={k} {p:?}"
                    );
                    assert!(partials <= limits.binding);
                    let fixed = if p.gemm {
                        gemm_fixed_bytes(d)
                    } else {
                        STEP_FIXED + 4 * d * p.tk
                    };
                    let local = if p.local { p.wg_bytes as usize } else { 0 };
                    assert!(fixed + local <= limits.wg_mem, "d={d} k={k} {p:?}");
                    assert!(p.tk.is_multiple_of(4) && p.tk <= 32);
                    assert_eq!(
                        p.gemm,
                        k > GEMM_ABOVE && gemm_fixed_bytes(d) + 4 <= limits.wg_mem
                    );
                    for (&r, &((gx, gy), _)) in rows.iter().zip(&p.grids) {
                        assert!((gx * gy) as usize * p.rows_per_wg >= r);
                        assert!((gx as usize) <= limits.max_dim);
                    }
                    let (rx, ry) = p.reduce_groups;
                    assert!((rx * ry) as usize > k * lanes);
                }
            }
        }
    }
}
