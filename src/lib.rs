//! strata: customer segmentation at portfolio scale.
//!
//! The data path is one straight line: [`data::Source`] batches → [`data::FeatureMatrix`] →
//! [`prep::FittedPrep`] → [`kmeans::fit`] on a [`compute::Backend`] → labels + statistics →
//! [`profile`] → [`output`] writers. [`fit::run`] is that line; the CLI is a thin layer over it.

pub mod bench;
pub mod cli;
pub mod compute;
pub mod data;
pub mod error;
pub mod generate;
pub mod jobs;
pub mod kmeans;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod prep;
pub mod profile;
pub mod quantile;

pub use error::{Error, Result};
