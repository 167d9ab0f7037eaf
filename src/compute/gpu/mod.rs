//! The GPU backend (wgpu: Vulkan, Metal, DX12). The data is uploaded once per fit in chunks that respect
//! the adapter's buffer limits (or streamed through two chunk slots when it exceeds the memory budget);
//! each step uploads the k×d centroids, runs the fused assign+accumulate kernel per chunk (`step.wgsl`, the
//! exact form; above `GEMM_ABOVE` centroids `gemm.wgsl`, the GEMM form with an exact re-check) and a
//! fixed-order reduction, and reads back k×(d+2) totals. Labels and distances are read back only when asked
//! for.

mod context;
mod floor;
mod plan;

pub use context::{AdapterReport, GpuContext, list};

use wgpu::util::DeviceExt;

use super::{Assignment, Backend, Dataset, Nearest, Resident, Stats};
use crate::error::{Error, Result};
use plan::{
    Limits, PARTIAL_BUDGET, WG, gamma_up, gemm_centroids, gemm_centroids_len, gemm_dp, gemm_kp,
    shader, wgsl_f32,
};

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
        let budget = opts.memory_budget.unwrap_or(DEFAULT_MEMORY_BUDGET);
        let plan = plan::chunks(n, d, &Limits::of(&ctx.limits), opts.max_chunk_bytes, budget)?;
        let (streaming, rows_per_chunk) = (plan.streaming, plan.rows_per_chunk);
        let r = ctx.scoped("allocating GPU buffers", || -> Result<GpuResident<'a>> {
            let mut data_bufs = Vec::new();
            for _ in 0..plan.buffers {
                data_bufs.push(storage(
                    ctx,
                    "x",
                    rows_per_chunk as u64 * row_bytes,
                    wgpu::BufferUsages::empty(),
                ));
            }
            let mut chunks = Vec::new();
            for (c, &(first_row, rows)) in plan.chunks.iter().enumerate() {
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

    /// The nearest-centroid pipeline for `m` centroids and its centroid buffer, built once per `m` (the
    /// init passes use a few sizes; they leave the step's kernels alone).
    fn nearest_pipe(&mut self, m: usize) -> Result<&(wgpu::ComputePipeline, wgpu::Buffer)> {
        if !self.nearest_pipes.iter().any(|(k, _)| *k == m) {
            let (ctx, d) = (self.ctx, self.data.d);
            let tk = plan::tile_k(d, m, 0, Limits::of(&ctx.limits).wg_mem)?;
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
        let (ctx, d) = (self.ctx, self.data.d);
        let lanes = d + 2;
        let rows: Vec<usize> = self.chunks.iter().map(|c| c.rows).collect();
        let p = plan::step(d, k, &rows, &Limits::of(&ctx.limits), self.partial_budget)?;
        let (gemm, s, local, tk, wg_bytes) = (p.gemm, p.s, p.local, p.tk, p.wg_bytes);
        let total_groups = p.total_groups;
        self.rows_per_wg = p.rows_per_wg;
        for (ch, &(groups, first)) in self.chunks.iter_mut().zip(&p.grids) {
            ch.groups = groups;
            let params: [u32; 8] = [
                ch.rows as u32,
                p.rows_per_wg as u32,
                first as u32,
                self.data.weights.is_some() as u32,
                groups.0,
                0,
                0,
                0,
            ];
            ctx.queue
                .write_buffer(&ch.params, 0, bytemuck::cast_slice(&params));
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
            let reduce_groups = p.reduce_groups;
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
