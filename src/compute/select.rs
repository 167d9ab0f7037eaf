//! Device choice: `auto` takes a real GPU (discrete > integrated) and otherwise the CPU path; software
//! adapters (lavapipe, llvmpipe) are slower than the CPU path and are used only when asked for by name
//! or with `--device gpu`.

use super::kernel::Isa;
use super::{Backend, CpuBackend, GpuBackend, GpuOptions};
use crate::error::{Kind, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Gpu,
}

/// The backend to run on, and the CPU to fall back to when a GPU chosen by `auto` fails mid-run.
pub struct Selected {
    pub primary: Box<dyn Backend>,
    pub fallback: Option<Box<dyn Backend>>,
}

impl Selected {
    /// Exactly this backend, with no fallback.
    pub fn only(backend: Box<dyn Backend>) -> Selected {
        Selected {
            primary: backend,
            fallback: None,
        }
    }
}

/// The backend for `choice`: a GPU opened with `opts`, or the CPU path on instruction set `cpu` (normally
/// [`Isa::detect`]'s; the caller decides, so that nothing here reads the environment).
pub fn select(
    choice: DeviceChoice,
    cpu: Isa,
    opts: GpuOptions,
    log: &dyn Fn(&str),
) -> Result<Selected> {
    match choice {
        DeviceChoice::Cpu => Ok(Selected {
            primary: Box::new(CpuBackend::new(cpu)),
            fallback: None,
        }),
        DeviceChoice::Gpu => {
            let gpu = GpuBackend::open(GpuOptions {
                allow_software: true,
                ..opts
            })?;
            if gpu.report().software {
                log(&format!(
                    "warning: '{}' is a software adapter, slower than --device cpu",
                    gpu.report().name
                ));
            }
            Ok(Selected {
                primary: Box::new(gpu),
                fallback: None,
            })
        }
        DeviceChoice::Auto => match GpuBackend::open(GpuOptions {
            allow_software: false,
            ..opts
        }) {
            Ok(gpu) => Ok(Selected {
                primary: Box::new(gpu),
                fallback: Some(Box::new(CpuBackend::new(cpu))),
            }),
            Err(why) if why.kind() == Kind::Device => {
                log(&format!("no usable GPU ({why}); using the CPU path"));
                Ok(Selected {
                    primary: Box::new(CpuBackend::new(cpu)),
                    fallback: None,
                })
            }
            Err(e) => Err(e),
        },
    }
}

/// Parses sizes like `512M`, `2G`, `1048576`.
pub fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].to_ascii_uppercase();
            let mul = match unit.trim_end_matches("IB").trim_end_matches('B') {
                "" => 1u64,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                _ => return Err(format!("unknown size unit in '{s}' (use K, M, G, T)")),
            };
            (&t[..i], mul)
        }
        None => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 512M or 2G"))?;
    Ok((v * mul as f64) as u64)
}

/// What a job run through [`run_with_fallback`] produced, and on which device.
pub struct OnDevice<T> {
    pub value: T,
    pub device: String,
    /// Set when the GPU failed and the job was rerun on the CPU.
    pub fell_back: Option<String>,
}

/// Runs `job` on the selected device. If that is a GPU chosen by `auto` and it fails with a device error,
/// the job is rerun from the start on the CPU fallback (logged, and reported in `fell_back`).
pub fn run_with_fallback<T>(
    sel: &Selected,
    log: &dyn Fn(&str),
    job: impl Fn(&dyn Backend) -> Result<T>,
) -> Result<OnDevice<T>> {
    match (job(sel.primary.as_ref()), sel.fallback.as_deref()) {
        (Err(e), Some(cpu)) if e.kind() == Kind::Device => {
            // A warning is read as the command line writes it (summary.json keeps it).
            let e = crate::error::with_flags(&e.to_string());
            let msg = format!("GPU failed ({e}); reran on {}", cpu.name());
            log(&format!("warning: {msg}"));
            Ok(OnDevice {
                value: job(cpu)?,
                device: cpu.name(),
                fell_back: Some(msg),
            })
        }
        (r, _) => Ok(OnDevice {
            value: r?,
            device: sel.primary.name(),
            fell_back: None,
        }),
    }
}

text_enum!(DeviceChoice { Auto => "auto", Cpu => "cpu", Gpu => "gpu" });
