//! Device choice: `auto` takes a real GPU (discrete > integrated) and otherwise the CPU path; software
//! adapters (lavapipe, llvmpipe) are slower than the CPU path and are used only when asked for by name
//! or with `--device gpu`.

use super::{Backend, CpuBackend, GpuBackend, GpuOptions};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

pub fn select(choice: DeviceChoice, opts: GpuOptions, log: &dyn Fn(&str)) -> Result<Selected> {
    match choice {
        DeviceChoice::Cpu => Ok(Selected {
            primary: Box::new(CpuBackend::default()),
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
                fallback: Some(Box::new(CpuBackend::default())),
            }),
            Err(Error::Device(why)) => {
                log(&format!("no usable GPU ({why}); using the CPU path"));
                Ok(Selected {
                    primary: Box::new(CpuBackend::default()),
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
