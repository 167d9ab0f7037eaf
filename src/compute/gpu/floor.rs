//! The GPU's floor for one Lloyd step, measured on the device (`shaders/floor.wgsl`): one streaming read of
//! the resident data, and the step's arithmetic at the device's measured fp32 multiply-add peak. Each is
//! timed over enough back-to-back dispatches to bury the launch and readback latency.

use std::time::Instant;

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use crate::error::Result;

const WG: u32 = 256;
/// Values each stream invocation reads at least (fewer, larger workgroups).
const PER_INVOCATION: u64 = 16;
/// The peak kernel: workgroups per dispatch and loop trips (8 vec4 multiply-adds each) per invocation.
const PEAK_GROUPS: u32 = 1024;
const PEAK_ITERS: u32 = 64;
/// A timing repeats its dispatch until one submission runs at least this long (or MAX_REPS).
const MIN_SECS: f64 = 0.02;
const MAX_REPS: u32 = 4096;

/// Floor of one step in ms: max(read every byte of `chunks` once, 3·n·d·k flops at the peak). The 3 is
/// the exact form's subtract and multiply-add per (row, centroid, feature), which share the fp32 units.
pub(super) fn floor_ms(
    ctx: &GpuContext,
    chunks: &[(&wgpu::Buffer, u64)],
    n: usize,
    d: usize,
    k: usize,
) -> Result<f64> {
    let module = ctx.scoped("building the GPU floor kernels", || {
        ctx.device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("floor"),
                source: wgpu::ShaderSource::Wgsl(
                    include_str!("../../../shaders/floor.wgsl").into(),
                ),
            })
    })?;
    let sink = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("sink"),
        size: 16,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let mut read = 0.0;
    for &(buf, values) in chunks {
        let groups = values
            .div_ceil(WG as u64 * PER_INVOCATION)
            .clamp(1, ctx.limits.max_compute_workgroups_per_dimension as u64)
            as u32;
        read += per_dispatch(
            ctx,
            &module,
            "stream",
            Some(buf),
            &sink,
            [values as u32, 0, groups * WG, 0],
            groups,
        )?;
    }
    let peak_secs = per_dispatch(
        ctx,
        &module,
        "peak",
        None,
        &sink,
        [0, PEAK_ITERS, 0, 0],
        PEAK_GROUPS,
    )?;
    let peak_flops = (PEAK_GROUPS * WG) as f64 * PEAK_ITERS as f64 * 8.0 * 4.0 * 2.0 / peak_secs;
    let compute = 3.0 * (n * d * k) as f64 / peak_flops;
    Ok(1e3 * read.max(compute))
}

/// Best seconds per dispatch of `entry` over `groups` workgroups, bound as floor.wgsl declares them:
/// `x` (the stream entry only), `sink` and the uniform `params`.
fn per_dispatch(
    ctx: &GpuContext,
    module: &wgpu::ShaderModule,
    entry: &str,
    x: Option<&wgpu::Buffer>,
    sink: &wgpu::Buffer,
    params: [u32; 4],
    groups: u32,
) -> Result<f64> {
    let (pipeline, bind) = ctx.scoped("building the GPU floor kernels", || {
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        let params = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("floor params"),
                contents: bytemuck::cast_slice(&params),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let entries: Vec<wgpu::BindGroupEntry> = [(0, x), (1, Some(sink)), (2, Some(&params))]
            .into_iter()
            .filter_map(|(binding, b)| {
                b.map(|b| wgpu::BindGroupEntry {
                    binding,
                    resource: b.as_entire_binding(),
                })
            })
            .collect();
        let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        (pipeline, bind)
    })?;
    let run = |reps: u32| -> Result<f64> {
        let t = Instant::now();
        ctx.scoped("measuring the GPU floor", || {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind, &[]);
                for _ in 0..reps {
                    pass.dispatch_workgroups(groups, 1, 1);
                }
            }
            ctx.queue.submit([enc.finish()]);
        })?;
        ctx.wait()?;
        Ok(t.elapsed().as_secs_f64())
    };
    run(1)?;
    let mut reps = 1;
    let mut t = run(reps)?;
    while t < MIN_SECS && reps < MAX_REPS {
        let want = (reps as f64 * 1.25 * MIN_SECS / t.max(1e-7)).ceil() as u32;
        reps = want.clamp(2 * reps, MAX_REPS);
        t = run(reps)?;
    }
    for _ in 0..2 {
        t = t.min(run(reps)?);
    }
    Ok(t / reps as f64)
}
