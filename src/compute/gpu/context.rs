//! Adapter discovery and device creation. Headless (no surface); errors are captured, never panicked on.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};

/// What `strata devices` prints for one adapter.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterReport {
    pub index: usize,
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub software: bool,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_workgroup_storage_size: u32,
}

fn instance() -> wgpu::Instance {
    // with_env: WGPU_BACKEND and WGPU_ADAPTER_NAME work as documented by wgpu.
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn adapters() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()))
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn report(index: usize, a: &wgpu::Adapter) -> AdapterReport {
    let (info, limits) = (a.get_info(), a.limits());
    AdapterReport {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        software: info.device_type == wgpu::DeviceType::Cpu,
        max_buffer_size: limits.max_buffer_size,
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
    }
}

/// All adapters, and the index of the one `--device auto` would use (software adapters never).
pub fn list() -> (Vec<AdapterReport>, Option<usize>) {
    let all: Vec<AdapterReport> = adapters()
        .iter()
        .enumerate()
        .map(|(i, a)| report(i, a))
        .collect();
    let auto = pick(&all, None, false);
    (all, auto)
}

/// Best adapter: the one whose name contains `name` (case-insensitive) if given, else the best-ranked
/// hardware adapter (discrete > integrated > virtual), else — only if `allow_software` — a software one.
fn pick(all: &[AdapterReport], name: Option<&str>, allow_software: bool) -> Option<usize> {
    let rank_of = |r: &AdapterReport| {
        let t = match r.device_type.as_str() {
            "DiscreteGpu" => wgpu::DeviceType::DiscreteGpu,
            "IntegratedGpu" => wgpu::DeviceType::IntegratedGpu,
            "VirtualGpu" => wgpu::DeviceType::VirtualGpu,
            "Cpu" => wgpu::DeviceType::Cpu,
            _ => wgpu::DeviceType::Other,
        };
        rank(t)
    };
    all.iter()
        .filter(|r| match name {
            Some(n) => r.name.to_lowercase().contains(&n.to_lowercase()),
            None => allow_software || !r.software,
        })
        .min_by_key(|r| (rank_of(r), r.index))
        .map(|r| r.index)
}

/// An open device with captured errors.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub report: AdapterReport,
    pub limits: wgpu::Limits,
    /// Errors wgpu reported outside an error scope (would otherwise panic).
    pub uncaptured: Arc<Mutex<Vec<String>>>,
    pub lost: Arc<Mutex<Option<String>>>,
    /// Compiled pipelines by shader source and entry point: a shape is compiled once per process (assign
    /// loads every record batch as its own resident data set).
    pipelines: Mutex<std::collections::HashMap<(String, String), wgpu::ComputePipeline>>,
}

impl GpuContext {
    /// Opens the adapter named `name` or the best one (see `pick`).
    pub fn open(name: Option<&str>, allow_software: bool) -> Result<GpuContext> {
        let all = adapters();
        let reports: Vec<AdapterReport> =
            all.iter().enumerate().map(|(i, a)| report(i, a)).collect();
        let Some(i) = pick(&reports, name, allow_software) else {
            let seen: Vec<String> = reports
                .iter()
                .map(|r| format!("{} ({})", r.name, r.device_type))
                .collect();
            return Err(Error::device(match name {
                Some(n) => format!(
                    "no GPU adapter matches '{n}'; adapters found: [{}] (see `strata devices`)",
                    seen.join(", ")
                ),
                None => format!(
                    "no usable GPU adapter (found: [{}]); install the GPU's Vulkan driver or use `device` cpu",
                    seen.join(", ")
                ),
            }));
        };
        let adapter = &all[i];
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("strata"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            Error::device(format!("cannot open GPU '{}'", reports[i].name)).with_source(e)
        })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *flag.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        Ok(GpuContext {
            device,
            queue,
            report: reports[i].clone(),
            limits,
            uncaptured,
            lost,
            pipelines: Default::default(),
        })
    }

    /// The compute pipeline for `entry` in the WGSL `source` (auto layout), compiled on first use.
    /// Call inside an error scope.
    pub fn pipeline(&self, source: &str, entry: &str) -> wgpu::ComputePipeline {
        let key = (source.to_string(), entry.to_string());
        if let Some(p) = self.pipelines.lock().expect("pipeline cache").get(&key) {
            return p.clone();
        }
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(entry),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let p = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        self.pipelines
            .lock()
            .expect("pipeline cache")
            .insert(key, p.clone());
        p
    }

    /// Fails if the device was lost or reported an error outside a scope.
    pub fn check(&self) -> Result<()> {
        if let Some(why) = self.lost.lock().unwrap().clone() {
            return Err(Error::device(format!("GPU device lost ({why})")));
        }
        if let Some(e) = self.uncaptured.lock().unwrap().pop() {
            return Err(Error::device(format!("GPU error: {e}")));
        }
        Ok(())
    }

    /// Runs `f` inside out-of-memory and validation error scopes; a captured error becomes an `Error`.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(Error::device(format!(
                "GPU out of memory while {what}: {e}; try `gpu_memory` with a smaller budget"
            )));
        }
        if let Some(e) = v {
            return Err(Error::device(format!("GPU rejected {what}: {e}")));
        }
        self.check()?;
        Ok(out)
    }

    /// Waits for all submitted work.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::device("waiting for the GPU failed").with_source(e))?;
        self.check()
    }
}
