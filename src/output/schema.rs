//! The versions of strata's JSON documents (model.json carries its own, [`crate::model`]): each document is
//! written as `{"format_version": N, ...}` through [`Versioned`], and a reader checks the number before it
//! trusts the fields. Their fields are documented in docs/outputs.md.

use serde::{Deserialize, Serialize};

/// summary.json of fit, assign and sweep --fit-best.
pub const SUMMARY: u32 = 1;
/// sweep.json.
pub const SWEEP: u32 = 1;
/// explain.json.
pub const EXPLAIN: u32 = 1;
/// dendrogram.json.
pub const DENDROGRAM: u32 = 1;

/// A document with its format version first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Versioned<T> {
    pub format_version: u32,
    #[serde(flatten)]
    pub doc: T,
}

impl<T> Versioned<T> {
    pub fn new(format_version: u32, doc: T) -> Self {
        Versioned {
            format_version,
            doc,
        }
    }
}

/// dendrogram.json: Ward's linkage of the micro-clusters in scipy's numbering (leaves 0..M−1, merge s forms
/// M + s), each leaf's weight and segment, and each segment's node. Fields in the order they are written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dendrogram {
    pub leaves: Vec<Leaf>,
    pub merges: Vec<crate::kmeans::ward::Merge>,
    pub micro_clusters: usize,
    pub segments: Vec<SegmentNode>,
}

/// A micro-cluster: its segment (id) and its customers' total weight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Leaf {
    pub segment: u32,
    pub weight: f64,
}

/// A segment (id) and the node of the linkage that is its branch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentNode {
    pub node: usize,
    pub segment: u32,
}
