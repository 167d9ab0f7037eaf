//! Reading inputs into a [`FeatureMatrix`] and writing Parquet/JSON outputs atomically.

pub mod columns;
pub mod ids;
pub mod load;
pub mod matrix;
pub mod numbers;
#[allow(unsafe_code)]
pub mod pages;
pub mod sink;
pub mod source;
pub mod write;

pub use columns::RawColumns;
pub use load::{LoadSpec, Loaded, Missing, load};
pub use matrix::FeatureMatrix;
pub use source::Source;
