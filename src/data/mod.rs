//! Reading inputs into a [`FeatureMatrix`] and writing Parquet/JSON outputs atomically.

pub(crate) mod columns;
pub(crate) mod ids;
pub mod load;
pub(crate) mod matrix;
pub(crate) mod numbers;
#[allow(unsafe_code)]
pub(crate) mod pages;
pub mod sink;
pub mod source;
pub(crate) mod write;

pub use columns::RawColumns;
pub use load::{LoadSpec, Loaded, Missing, load};
pub use matrix::FeatureMatrix;
pub use source::Source;
