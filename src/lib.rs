//! strata: customer segmentation at portfolio scale.
//!
//! As a library: [`KMeans::params`] → checked parameters → `fit` on an ndarray array → a [`Model`]
//! (the same model file `strata fit` writes) → [`Model::assign`] for new rows. Errors are one [`Error`]
//! type whose [`Kind`] says whether the parameters, the input, the output or the device failed.
//!
//! ```
//! use ndarray::array;
//! use strata::{KMeans, prep::Scaling};
//!
//! let customers = array![
//!     [1_200.0f32, 3.0], [900.0, 4.0], [1_100.0, 5.0],
//!     [25_000.0, 40.0], [27_500.0, 38.0],
//! ];
//! let model = KMeans::params(2).scaling(Scaling::Zscore).seed(42).fit(&customers.view())?;
//! let tonight = array![[1_000.0f32, 4.0], [26_000.0, 41.0]];
//! let a = model.assign(&tonight.view())?;
//! assert_eq!(a.segment.to_vec(), vec![0, 1]); // segment 0 is the largest
//! assert!(a.margin.unwrap().iter().all(|&m| m > 0.0));
//! # Ok::<(), strata::Error>(())
//! ```
//!
//! The data path is one straight line: [`data::Source`] batches → [`data::FeatureMatrix`] →
//! [`prep::FittedPrep`] → [`kmeans::fit`] on a [`compute::Backend`] → labels + statistics → profiles →
//! [`output`] writers. [`jobs`] run that line; the `strata` binary's CLI is a thin layer over them.
//!
//! The public API: the option sections of the jobs ([`jobs::options`]: `InputSpec`, `PrepSpec`,
//! `KMeansSpec`, `LifecycleOptions`, `OutputSpec`, each `Default` and deserializable) and the jobs that take
//! them once checked ([`jobs::fit`], [`jobs::assign`], [`jobs::sweep`], [`jobs::nightly`]); the k-means
//! parameters ([`KMeans::params`]) and their fit on ndarray arrays; [`Model`] (read, write, assign); the
//! compute backends ([`compute`]); the output documents' types ([`output::schema`]); one [`Error`] whose
//! messages name options in the library's spelling ([`error::OPTIONS`]). The preparation pipeline, the
//! profiles, the explanations and the quantile sketches are internal. The binary's own tools (`bench`,
//! `generate`, `report`, `progress`) are public for it.

#![deny(unsafe_code)]

/// Declares `NAMES`, `FromStr` and `Display` for a fieldless option enum from its variants' names, so that
/// the library parses and prints its options without the CLI's types.
macro_rules! text_enum {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// The names accepted by `FromStr` (and listed by the CLI).
            pub const NAMES: &'static [&'static str] = &[$($s),+];
        }
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($s => Ok($t::$v),)+
                    _ => Err(format!("'{s}' is not one of {}", Self::NAMES.join(", "))),
                }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($t::$v => $s,)+
                })
            }
        }
    };
}

pub mod bench;
pub mod compute;
pub mod data;
pub mod error;
pub(crate) mod explain;
pub mod generate;
pub mod jobs;
pub mod kmeans;
pub mod model;
pub mod output;
pub(crate) mod pipeline;
pub mod prep;
pub(crate) mod profile;
pub mod progress;
pub(crate) mod quantile;
pub mod report;

pub use error::{Error, Kind, Result};
pub use kmeans::{KMeans, KMeansConfig, KMeansParams};
pub use model::{Assigned, Model};
