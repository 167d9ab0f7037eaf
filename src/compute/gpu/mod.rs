//! The GPU backend (wgpu: Vulkan, Metal, DX12). The data is uploaded once per fit in chunks that respect
//! the adapter's buffer limits (or streamed through two chunk slots when it exceeds the memory budget);
//! each step uploads the k×d centroids, runs the fused assign+accumulate kernel per chunk (`step.wgsl`, the
//! exact form; above `GEMM_ABOVE` centroids `gemm.wgsl`, the GEMM form with an exact re-check) and a
//! fixed-order reduction, and reads back k×(d+2) totals. Labels and distances are read back only when asked
//! for.

mod context;
mod floor;

pub use context::{AdapterReport, GpuContext, list};

use wgpu::util::DeviceExt;

use super::{Assignment, Backend, Dataset, Nearest, Resident, Stats};
use crate::error::{Error, Result};

const WG: usize = 256;
/// Above this many centroids the step runs in the GEMM form (`shaders/gemm.wgsl`) where the adapter's
/// workgroup memory holds its tiles; the same cut as the CPU kernels', not tuned on a GPU.
const GEMM_ABOVE: usize = 32;
/// The GEMM kernel's row tile, centroid tile and feature slice (the constants TR, TC, TD of gemm.wgsl).
const GEMM_TR: usize = 64;
const GEMM_TC: usize = 64;
const GEMM_TD: usize = 8;
/// Bytes of per-workgroup partial sums held at once (bounds GPU memory at large k·d).
const PARTIAL_BUDGET: u64 = 64 << 20;
/// Upload granularity: bounds wgpu's staging memory while the data goes up.
const UPLOAD_PIECE: usize = 64 << 20;

/// GPU tuning and test knobs.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Adapter name substring (case-insensitive); software adapters are used only when named or allowed.
    pub adapter: Option<String>,
    pub allow_software: bool,
    /// Bytes of feature data to keep resident; beyond it chunks are streamed every iteration.
    pub memory_budget: Option<u64>,
    /// Cap on one chunk's bytes (below the adapter's binding limit), to exercise the multi-buffer path.
    pub max_chunk_bytes: Option<u64>,
    /// Cap on the bytes of one step's partial sums (default 64 MiB): a smaller one gives each workgroup
    /// more rows, to exercise that path on small data.
    pub max_partial_bytes: Option<u64>,
}

/// Default resident-data budget when `--gpu-memory` is not given (wgpu cannot query VRAM size).
pub const DEFAULT_MEMORY_BUDGET: u64 = 6 << 30;

pub struct GpuBackend {
    ctx: GpuContext,
    opts: GpuOptions,
}

impl GpuBackend {
    pub fn open(opts: GpuOptions) -> Result<GpuBackend> {
        let ctx = GpuContext::open(opts.adapter.as_deref(), opts.allow_software)?;
        Ok(GpuBackend { ctx, opts })
    }

    pub fn report(&self) -> &AdapterReport {
        &self.ctx.report
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> String {
        let r = &self.ctx.report;
        format!("gpu: {} ({}, {})", r.name, r.backend, r.device_type)
    }

    fn load<'a>(&'a self, data: Dataset<'a>) -> Result<Box<dyn Resident + 'a>> {
        Ok(Box::new(GpuResident::new(&self.ctx, &self.opts, data)?))
    }
}

/// The distance code shared by the step and nearest kernels (prepended to each).
const DISTANCE: &str = include_str!("../../../shaders/distance.wgsl");
/// The per-cluster sums shared by the two step kernels (prepended to each).
const ACCUMULATE: &str = include_str!("../../../shaders/accumulate.wgsl");

/// Shader source with the shape constants filled in; `local` keeps the step's partial sums (s × k ×
/// (d + 2) floats) in workgroup memory.
fn shader(template: &str, d: usize, k: usize, tk: usize, s: usize, local: bool) -> String {
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
fn gamma_up(n: usize) -> f32 {
    (super::kernel::gamma(2 * n) * (1.0 + 1e-6)) as f32
}

/// Bytes of workgroup memory kept free of the accounting below: Metal rounds each workgroup variable up
/// to 16 bytes on its own.
const WG_MEM_SLACK: usize = 64;

/// WGSL source for an f32 constant: Rust's shortest round-trip form, which WGSL reads back exactly.
fn wgsl_f32(v: f32) -> String {
    format!("{v:?}")
}

/// Features padded to the GEMM kernel's feature slice.
fn gemm_dp(d: usize) -> usize {
    d.div_ceil(GEMM_TD) * GEMM_TD
}

/// Centroids padded to the GEMM kernel's centroid tile.
fn gemm_kp(k: usize) -> usize {
    k.div_ceil(GEMM_TC) * GEMM_TC
}

/// Floats in the GEMM kernel's centroid buffer (see [`gemm_centroids`]).
fn gemm_centroids_len(k: usize, d: usize) -> usize {
    k * d + k + 1 + gemm_dp(d) * gemm_kp(k)
}

/// Workgroup memory of the exact step kernel besides its centroid tile and partial sums: the tile's labels
/// and distances and the moved count.
const STEP_FIXED: usize = 4 * (2 * WG + 1);

/// Workgroup memory of the GEMM kernel besides its partial sums: the transposed row tile (one spare vec4
/// per feature), the 256-vec4 scratch, the tile's labels and distances and the moved count.
fn gemm_fixed_bytes(d: usize) -> usize {
    4 * ((GEMM_TR + 4) * gemm_dp(d) + 1024 + 2 * GEMM_TR + 1)
}

/// The GEMM kernel's centroid buffer (layout in gemm.wgsl): the k × d rows, ‖c‖² per centroid (as the CPU's
/// `Transposed` has them), cmax² rounded up (−1 when too large for the f32 bound: every row is then decided
/// in the exact form), and the centroids transposed into dp × kp, zero-padded.
fn gemm_centroids(c: &[f32], k: usize, d: usize) -> Vec<f32> {
    let kp = gemm_kp(k);
    let mut out = Vec::with_capacity(gemm_centroids_len(k, d));
    out.extend_from_slice(&c[..k * d]);
    let mut cmax2 = 0f64;
    for row in c.chunks_exact(d).take(k) {
        let n2 = super::kernel::norm2_f64(row);
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

/// A bind group for `pipeline` with `bufs` at bindings 0, 1, 2… in order.
fn bind_all(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    bufs: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = bufs
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

struct Chunk {
    first_row: usize,
    rows: usize,
    /// Index into `data_bufs` (its own buffer when resident; one of two slots when streaming).
    slot: usize,
    labels: wgpu::Buffer,
    dist: wgpu::Buffer,
    weights: wgpu::Buffer,
    params: wgpu::Buffer,
    groups: (u32, u32),
}

/// Pipelines for one (d, k) shape.
struct Kernels {
    k: usize,
    /// The step is the GEMM-form kernel (its centroid buffer holds more than the rows).
    gemm: bool,
    step: wgpu::ComputePipeline,
    reduce: wgpu::ComputePipeline,
    /// The reduce pass's 2-D grid: one workgroup per total.
    reduce_groups: (u32, u32),
    cent: wgpu::Buffer,
    total: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind: Vec<wgpu::BindGroup>,
    reduce_bind: wgpu::BindGroup,
}

struct GpuResident<'a> {
    ctx: &'a GpuContext,
    data: Dataset<'a>,
    streaming: bool,
    data_bufs: Vec<wgpu::Buffer>,
    chunks: Vec<Chunk>,
    rows_per_wg: usize,
    /// The partial sums' budget (see [`GpuOptions::max_partial_bytes`]).
    partial_budget: u64,
    kernels: Option<Kernels>,
    /// Nearest-centroid pipelines by number of centroids.
    nearest_pipes: Vec<(usize, (wgpu::ComputePipeline, wgpu::Buffer))>,
}

fn storage(ctx: &GpuContext, label: &str, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC
            | extra,
        mapped_at_creation: false,
    })
}

impl<'a> GpuResident<'a> {
    fn new(ctx: &'a GpuContext, opts: &GpuOptions, data: Dataset<'a>) -> Result<Self> {
        let (n, d) = (data.n, data.d);
        let row_bytes = (d * 4) as u64;
        let limit = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        let cap = opts.max_chunk_bytes.map_or(limit, |c| c.min(limit));
        let mut rows_per_chunk = ((cap / row_bytes) as usize / WG) * WG;
        if rows_per_chunk == 0 {
            return Err(Error::device(format!(
                "{d} features do not fit one GPU buffer row; use `device` cpu"
            )));
        }
        let budget = opts.memory_budget.unwrap_or(DEFAULT_MEMORY_BUDGET);
        let total_bytes = n as u64 * row_bytes;
        let streaming = total_bytes > budget;
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
        rows_per_chunk = rows_per_chunk.min(n.div_ceil(WG) * WG);
        let n_chunks = n.div_ceil(rows_per_chunk);
        let r = ctx.scoped("allocating GPU buffers", || -> Result<GpuResident<'a>> {
            let mut data_bufs = Vec::new();
            let n_bufs = if streaming { n_chunks.min(2) } else { n_chunks };
            for _ in 0..n_bufs {
                data_bufs.push(storage(
                    ctx,
                    "x",
                    rows_per_chunk as u64 * row_bytes,
                    wgpu::BufferUsages::empty(),
                ));
            }
            let mut chunks = Vec::new();
            for c in 0..n_chunks {
                let first_row = c * rows_per_chunk;
                let rows = rows_per_chunk.min(n - first_row);
                let weights = match data.weights {
                    Some(w) => ctx
                        .device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some("w"),
                            contents: bytemuck::cast_slice(&w[first_row..first_row + rows]),
                            usage: wgpu::BufferUsages::STORAGE,
                        }),
                    None => storage(ctx, "w", 4, wgpu::BufferUsages::empty()),
                };
                chunks.push(Chunk {
                    first_row,
                    rows,
                    slot: if streaming { c % 2 } else { c },
                    labels: storage(ctx, "labels", rows as u64 * 4, wgpu::BufferUsages::empty()),
                    dist: storage(ctx, "dist", rows as u64 * 4, wgpu::BufferUsages::empty()),
                    weights,
                    params: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("params"),
                        size: 32,
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }),
                    groups: (0, 0),
                });
            }
            Ok(GpuResident {
                ctx,
                data,
                streaming,
                data_bufs,
                chunks,
                rows_per_wg: WG,
                partial_budget: opts.max_partial_bytes.unwrap_or(PARTIAL_BUDGET),
                kernels: None,
                nearest_pipes: Vec::new(),
            })
        })??;

        if !streaming {
            for c in 0..r.chunks.len() {
                r.upload(c)?;
            }
        }
        Ok(r)
    }

    /// Copies chunk `c`'s rows into its data buffer, in pieces.
    fn upload(&self, c: usize) -> Result<()> {
        let ch = &self.chunks[c];
        let d = self.data.d;
        let bytes: &[u8] =
            bytemuck::cast_slice(&self.data.x[ch.first_row * d..(ch.first_row + ch.rows) * d]);
        self.ctx.scoped("uploading data", || {
            for (i, piece) in bytes.chunks(UPLOAD_PIECE).enumerate() {
                self.ctx.queue.write_buffer(
                    &self.data_bufs[ch.slot],
                    (i * UPLOAD_PIECE) as u64,
                    piece,
                );
                if bytes.len() > UPLOAD_PIECE {
                    self.ctx.queue.submit(None);
                }
            }
        })?;
        if !self.streaming {
            self.ctx.wait()?;
        }
        Ok(())
    }

    /// Centroids per workgroup-memory tile for `k` centroids (the step's `STEP_FIXED` bytes and
    /// `reserved` bytes beside it): a multiple of 4 (distance.wgsl's vec4s), at most 32 (each invocation
    /// keeps the tile's distances in registers).
    fn tile_k(&self, k: usize, reserved: usize) -> Result<usize> {
        let d = self.data.d.max(1);
        let wg_mem = (self.ctx.limits.max_compute_workgroup_storage_size as usize)
            .saturating_sub(WG_MEM_SLACK);
        let fixed = STEP_FIXED + reserved;
        let fours = wg_mem.saturating_sub(fixed) / (16 * d);
        if fours == 0 {
            return Err(Error::device(format!(
                "{d} features exceed this GPU's workgroup memory; use `device` cpu"
            )));
        }
        Ok((4 * fours).min(k.next_multiple_of(4)).min(32))
    }

    /// The nearest-centroid pipeline for `m` centroids and its centroid buffer, built once per `m` (the
    /// init passes use a few sizes; they leave the step's kernels alone).
    fn nearest_pipe(&mut self, m: usize) -> Result<&(wgpu::ComputePipeline, wgpu::Buffer)> {
        if !self.nearest_pipes.iter().any(|(k, _)| *k == m) {
            let (ctx, d) = (self.ctx, self.data.d);
            let tk = self.tile_k(m, 0)?;
            let pipe = ctx.scoped("building the nearest-centroid kernel", || {
                let src = [DISTANCE, include_str!("../../../shaders/nearest.wgsl")].concat();
                let p = ctx.pipeline(&shader(&src, d, m, tk, 1, false), "nearest");
                let cent = storage(
                    ctx,
                    "centroids",
                    (m * d * 4) as u64,
                    wgpu::BufferUsages::empty(),
                );
                (p, cent)
            })?;
            self.nearest_pipes.push((m, pipe));
        }
        Ok(&self
            .nearest_pipes
            .iter()
            .find(|(k, _)| *k == m)
            .expect("just built")
            .1)
    }

    /// Builds (or reuses) pipelines and bind groups for `k` centroids.
    fn kernels(&mut self, k: usize) -> Result<()> {
        if self.kernels.as_ref().is_some_and(|kn| kn.k == k) {
            return Ok(());
        }
        let ctx = self.ctx;
        let d = self.data.d;
        let lanes = d + 2;
        let wg_mem =
            (ctx.limits.max_compute_workgroup_storage_size as usize).saturating_sub(WG_MEM_SLACK);
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
            4 // unused by gemm.wgsl
        } else if let Some(Ok(tk)) = local.then(|| self.tile_k(k, s * k * lanes * 4)) {
            tk
        } else {
            // No local sums, or not even one vec4 of centroids beside them: the sums go to global memory.
            (s, local) = (s_max, false);
            self.tile_k(k, 0)?
        };
        let wg_bytes = (s * k * lanes * 4) as u64;
        let partial_cap = (self.partial_budget).min(ctx.limits.max_storage_buffer_binding_size);
        if wg_bytes > partial_cap {
            return Err(Error::device(format!(
                "k={k} × d={d} is too large for the GPU path; use `device` cpu"
            )));
        }
        // Enough rows per workgroup that all partials fit the budget.
        // Each chunk may round up by one workgroup, so leave that many spare.
        let max_groups = ((partial_cap / wg_bytes) as usize)
            .saturating_sub(self.chunks.len())
            .max(1);
        let n = self.data.n;
        self.rows_per_wg = (n.div_ceil(max_groups.max(1))).div_ceil(WG).max(1) * WG;
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension as usize;
        let mut total_groups = 0usize;
        for ch in &mut self.chunks {
            let g = ch.rows.div_ceil(self.rows_per_wg);
            let gx = g.min(max_dim);
            ch.groups = (gx as u32, g.div_ceil(gx) as u32);
            let params: [u32; 8] = [
                ch.rows as u32,
                self.rows_per_wg as u32,
                total_groups as u32,
                self.data.weights.is_some() as u32,
                gx as u32,
                0,
                0,
                0,
            ];
            ctx.queue
                .write_buffer(&ch.params, 0, bytemuck::cast_slice(&params));
            total_groups += (ch.groups.0 * ch.groups.1) as usize;
        }
        let kn = ctx.scoped("building GPU kernels", || {
            let (step, cent_len) = if gemm {
                let src = [ACCUMULATE, include_str!("../../../shaders/gemm.wgsl")].concat();
                let src = shader(&src, d, k, tk, s, local)
                    .replace("__DP__", &gemm_dp(d).to_string())
                    .replace("__KP__", &gemm_kp(k).to_string())
                    .replace("__GG__", &wgsl_f32(gamma_up(d + 4)))
                    .replace("__GE__", &wgsl_f32(gamma_up(d + 6)))
                    // Every operation may flush a subnormal input or result (up to 2⁻¹²⁶ each; an unfused
                    // fma is two operations): ~10·d + 8 of them reach the bound, with room to spare.
                    .replace(
                        "__TINY__",
                        &wgsl_f32(f32::MIN_POSITIVE * (16 * d + 64) as f32),
                    );
                (ctx.pipeline(&src, "gemm"), gemm_centroids_len(k, d))
            } else {
                let src = [
                    DISTANCE,
                    ACCUMULATE,
                    include_str!("../../../shaders/step.wgsl"),
                ]
                .concat();
                (
                    ctx.pipeline(&shader(&src, d, k, tk, s, local), "step"),
                    k * d,
                )
            };
            let reduce_src = include_str!("../../../shaders/reduce.wgsl");
            let reduce = ctx.pipeline(&shader(reduce_src, d, k, tk, s, false), "reduce");
            let cent = storage(
                ctx,
                "centroids",
                (cent_len * 4) as u64,
                wgpu::BufferUsages::empty(),
            );
            let partial = storage(
                ctx,
                "partial",
                total_groups as u64 * wg_bytes,
                wgpu::BufferUsages::empty(),
            );
            let moved = storage(
                ctx,
                "moved",
                total_groups as u64 * 4,
                wgpu::BufferUsages::empty(),
            );
            let total_bytes = ((k * lanes + 1) * 4) as u64;
            // One reduce workgroup per total (K × lanes sums, then the moved count), on a 2-D grid.
            let reduce_groups = {
                let n = (k * lanes + 1) as u32;
                let gx = n.min(ctx.limits.max_compute_workgroups_per_dimension);
                (gx, n.div_ceil(gx))
            };
            let total = storage(ctx, "total", total_bytes, wgpu::BufferUsages::empty());
            let readback = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: total_bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let reduce_params = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("reduce params"),
                    contents: bytemuck::cast_slice(&[total_groups as u32, reduce_groups.0, 0, 0]),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let bind = self
                .chunks
                .iter()
                .map(|ch| {
                    let bufs = [
                        &self.data_bufs[ch.slot],
                        &ch.weights,
                        &cent,
                        &ch.labels,
                        &ch.dist,
                        &partial,
                        &moved,
                        &ch.params,
                    ];
                    bind_all(ctx, &step, &bufs)
                })
                .collect();
            let reduce_bind = bind_all(ctx, &reduce, &[&partial, &moved, &total, &reduce_params]);
            Kernels {
                k,
                gemm,
                step,
                reduce,
                reduce_groups,
                cent,
                total,
                readback,
                bind,
                reduce_bind,
            }
        })?;
        self.kernels = Some(kn);
        Ok(())
    }

    /// Reads `bytes` of `src` back to the host through a mappable buffer.
    fn read(&self, src: &wgpu::Buffer, dst: Option<&wgpu::Buffer>, bytes: u64) -> Result<Vec<u8>> {
        let ctx = self.ctx;
        let own;
        let dst = match dst {
            Some(b) => b,
            None => {
                own = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                &own
            }
        };
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, 0, dst, 0, Some(bytes));
        ctx.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        dst.map_async(wgpu::MapMode::Read, ..bytes, move |r| {
            let _ = tx.send(r);
        });
        ctx.wait()?;
        rx.recv()
            .map_err(|_| Error::device("GPU readback was abandoned"))?
            .map_err(|e| Error::device("GPU readback failed").with_source(e))?;
        let out = dst
            .get_mapped_range(..bytes)
            .map_err(|e| Error::device("GPU readback failed").with_source(e))?
            .to_vec();
        dst.unmap();
        Ok(out)
    }
}

impl Resident for GpuResident<'_> {
    fn step(&mut self, centroids: &[f32], k: usize) -> Result<Stats> {
        self.kernels(k)?;
        let ctx = self.ctx;
        let kn = self.kernels.as_ref().expect("kernels built");
        let d = self.data.d;
        let lanes = d + 2;
        ctx.scoped("running the k-means step", || -> Result<()> {
            if kn.gemm {
                let c = gemm_centroids(centroids, k, d);
                ctx.queue
                    .write_buffer(&kn.cent, 0, bytemuck::cast_slice(&c));
            } else {
                ctx.queue
                    .write_buffer(&kn.cent, 0, bytemuck::cast_slice(centroids));
            }
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            for (c, ch) in self.chunks.iter().enumerate() {
                if self.streaming {
                    // The upload must land between this chunk's dispatch and the previous use of its slot.
                    ctx.queue.submit([std::mem::replace(
                        &mut enc,
                        ctx.device.create_command_encoder(&Default::default()),
                    )
                    .finish()]);
                    self.upload(c)?;
                }
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&kn.step);
                pass.set_bind_group(0, &kn.bind[c], &[]);
                pass.dispatch_workgroups(ch.groups.0, ch.groups.1, 1);
            }
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&kn.reduce);
                pass.set_bind_group(0, &kn.reduce_bind, &[]);
                pass.dispatch_workgroups(kn.reduce_groups.0, kn.reduce_groups.1, 1);
            }
            ctx.queue.submit([enc.finish()]);
            Ok(())
        })??;
        let raw = self.read(&kn.total, Some(&kn.readback), ((k * lanes + 1) * 4) as u64)?;
        let t: Vec<u32> = bytemuck::pod_collect_to_vec(&raw);
        let mut s = Stats::zeros(k, d);
        for c in 0..k {
            let f = |lane: usize| f32::from_bits(t[c * lanes + lane]) as f64;
            let wsum = f(d);
            s.weights[c] = wsum;
            for j in 0..d {
                // Deviations from the centroid back to plain weighted sums.
                s.sums[c * d + j] = f(j) + wsum * centroids[c * d + j] as f64;
            }
            s.sse[c] = f(d + 1);
        }
        s.moved = t[k * lanes] as u64;
        Ok(s)
    }

    fn assignment(&mut self) -> Result<Assignment> {
        let n = self.data.n;
        let mut labels = Vec::with_capacity(n);
        let mut dist2 = Vec::with_capacity(n);
        for ch in &self.chunks {
            let bytes = ch.rows as u64 * 4;
            labels.extend(bytemuck::pod_collect_to_vec::<u8, u32>(
                &self.read(&ch.labels, None, bytes)?,
            ));
            dist2.extend(bytemuck::pod_collect_to_vec::<u8, f32>(
                &self.read(&ch.dist, None, bytes)?,
            ));
        }
        Ok(Assignment { labels, dist2 })
    }

    fn nearest(&mut self, centroids: &[f32], k: usize) -> Result<Nearest> {
        self.nearest_pipe(k)?;
        let ctx = self.ctx;
        let (pipe, cent) = &self
            .nearest_pipes
            .iter()
            .find(|(m, _)| *m == k)
            .expect("built above")
            .1;
        let n = self.data.n;
        let mut out = Nearest {
            labels: Vec::with_capacity(n),
            dist2: Vec::with_capacity(n),
            second: Vec::with_capacity(n),
            second_dist2: Vec::with_capacity(n),
        };
        ctx.queue
            .write_buffer(cent, 0, bytemuck::cast_slice(centroids));
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension as usize;
        for (c, ch) in self.chunks.iter().enumerate() {
            if self.streaming {
                self.upload(c)?;
            }
            let bytes = ch.rows as u64 * 4;
            let groups = ch.rows.div_ceil(WG);
            let gx = groups.min(max_dim);
            let outs = ctx.scoped("running the nearest-centroid pass", || {
                let outs: [wgpu::Buffer; 4] = std::array::from_fn(|_| {
                    storage(ctx, "nearest", bytes, wgpu::BufferUsages::empty())
                });
                let params = ctx
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("nearest params"),
                        contents: bytemuck::cast_slice(&[ch.rows as u32, gx as u32, 0, 0]),
                        usage: wgpu::BufferUsages::UNIFORM,
                    });
                let bufs = [
                    &self.data_bufs[ch.slot],
                    cent,
                    &outs[0],
                    &outs[1],
                    &outs[2],
                    &outs[3],
                    &params,
                ];
                let bind = bind_all(ctx, pipe, &bufs);
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(pipe);
                    pass.set_bind_group(0, &bind, &[]);
                    pass.dispatch_workgroups(gx as u32, groups.div_ceil(gx) as u32, 1);
                }
                ctx.queue.submit([enc.finish()]);
                outs
            })?;
            out.labels.extend(bytemuck::pod_collect_to_vec::<u8, u32>(
                &self.read(&outs[0], None, bytes)?,
            ));
            out.dist2.extend(bytemuck::pod_collect_to_vec::<u8, f32>(
                &self.read(&outs[1], None, bytes)?,
            ));
            out.second.extend(bytemuck::pod_collect_to_vec::<u8, u32>(
                &self.read(&outs[2], None, bytes)?,
            ));
            out.second_dist2
                .extend(bytemuck::pod_collect_to_vec::<u8, f32>(
                    &self.read(&outs[3], None, bytes)?,
                ));
        }
        // The kernel's "no centroid" sentinel distance is the largest finite f32; the CPU's is +∞.
        for v in &mut out.second_dist2 {
            if *v == f32::MAX {
                *v = f32::INFINITY;
            }
        }
        Ok(out)
    }

    fn weights(&self) -> Option<&[f32]> {
        self.data.weights
    }

    fn floor_ms(&self, k: usize) -> Result<Option<f64>> {
        if self.streaming {
            return Ok(None);
        }
        let d = self.data.d;
        let chunks: Vec<(&wgpu::Buffer, u64)> = self
            .chunks
            .iter()
            .map(|ch| (&self.data_bufs[ch.slot], (ch.rows * d) as u64))
            .collect();
        floor::floor_ms(self.ctx, &chunks, self.data.n, d, k).map(Some)
    }
}
