//! Categorical features: one-hot indicators, learned at fit and stored in the model.
//!
//! Categories are sorted by name (a deterministic order that does not depend on the row order); those
//! rarer than `min_share` of the fitted rows pool into [`OTHER`], which always exists so that a category
//! first seen at assign time has somewhere to go (it is counted). A missing value (null) is imputed with
//! the most frequent category under `--missing median`.
//!
//! Weighting: each indicator is 0 or `a`, with a² = v / Σ_c p_c(1 − p_c), where p_c are the training
//! shares and v the mean variance of the prepared numeric features (1 under z-scoring). Σ_c p_c(1 − p_c)
//! is the total variance of the column's indicators, so the block's total variance is v: one categorical
//! column weighs, in the k-means objective, like one numeric feature. This is the weighting of k-prototypes
//! (Huang 1998), whose γ balances the categorical mismatch term against the numeric variance, and the
//! normalisation FAMD applies (Pagès 2004) taken to the whole column instead of per category.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The pooled category: rare categories at fit, unseen ones at assign.
pub const OTHER: &str = "(other)";

/// Code of a missing value.
pub const MISSING: u32 = u32::MAX;

/// One fitted categorical column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalPrep {
    pub name: String,
    /// Encoding order: the kept categories by name, then [`OTHER`] last.
    pub categories: Vec<String>,
    /// Share of the fitted rows in each category (after pooling).
    pub shares: Vec<f64>,
    /// The indicator value `a` (see the module doc).
    pub weight: f64,
    /// The category imputed for a missing value: the most frequent one (the first by name on ties).
    pub mode: usize,
    /// Values seen at training but pooled into [`OTHER`] as rare, by name: at assign they map to
    /// `OTHER` without counting as unseen.
    pub pooled: Vec<String>,
}

/// At most this many distinct values in a categorical column: beyond it the column is an identifier or
/// free text, not a category (and one indicator per value would not be a useful feature).
pub const MAX_CATEGORIES: usize = 10_000;

impl CategoricalPrep {
    /// Learns the categories of one column from its `values` (the column's dictionary) and per-row
    /// `codes` into it (`MISSING` = null, ignored).
    pub fn fit(name: &str, values: &[String], codes: &[u32], min_share: f64) -> CategoricalPrep {
        let mut counts = vec![0u64; values.len()];
        for &c in codes {
            if c != MISSING {
                counts[c as usize] += 1;
            }
        }
        let total: u64 = counts.iter().sum();
        let mut kept: Vec<(&str, u64)> = Vec::new();
        let mut pooled_values: Vec<String> = Vec::new();
        let mut pooled = 0u64;
        for (v, &c) in values.iter().zip(&counts) {
            if c > 0 && (c as f64) >= min_share * total as f64 && v != OTHER {
                kept.push((v, c));
            } else if c > 0 {
                pooled += c;
                pooled_values.push(v.clone());
            }
        }
        kept.sort_by(|a, b| a.0.cmp(b.0));
        pooled_values.sort();
        let mut categories: Vec<String> = kept.iter().map(|(v, _)| v.to_string()).collect();
        let mut n: Vec<u64> = kept.iter().map(|&(_, c)| c).collect();
        categories.push(OTHER.into());
        n.push(pooled);
        let shares: Vec<f64> = n.iter().map(|&c| c as f64 / total.max(1) as f64).collect();
        let mode = (0..n.len()).fold(0, |b, i| if n[i] > n[b] { i } else { b });
        CategoricalPrep {
            name: name.into(),
            categories,
            shares,
            weight: 1.0,
            mode,
            pooled: pooled_values,
        }
    }

    /// Sets the indicator value so that the column's total variance is `target` (see the module doc).
    /// Returns false when the column has a single category (no variance to scale).
    pub fn set_weight(&mut self, target: f64) -> bool {
        let var: f64 = self.shares.iter().map(|p| p * (1.0 - p)).sum();
        let ok = var > 0.0 && target > 0.0;
        self.weight = if ok { (target / var).sqrt() } else { 1.0 };
        ok
    }

    /// Value → category index for every value seen at training (pooled ones → `OTHER`).
    pub fn lookup(&self) -> HashMap<&str, u32> {
        let other = self.other();
        self.categories
            .iter()
            .enumerate()
            .filter(|(_, c)| *c != OTHER)
            .map(|(i, c)| (c.as_str(), i as u32))
            .chain(self.pooled.iter().map(|v| (v.as_str(), other)))
            .collect()
    }

    pub fn other(&self) -> u32 {
        (self.categories.len() - 1) as u32
    }

    /// The category index of `value`, and whether it was unseen at training.
    pub fn code(&self, lookup: &HashMap<&str, u32>, value: &str) -> (u32, bool) {
        match lookup.get(value) {
            Some(&c) => (c, false),
            None => (self.other(), true),
        }
    }

    /// Indicator columns of this column: "name=category".
    pub fn column_names(&self) -> impl Iterator<Item = String> + '_ {
        self.categories.iter().map(|c| format!("{}={c}", self.name))
    }
}

/// A column's dictionary being learned: distinct values in first-seen order and a code per row.
#[derive(Debug, Default, Clone)]
pub struct Dictionary {
    pub values: Vec<String>,
    index: HashMap<String, u32>,
}

impl Dictionary {
    /// The code of `value`, adding it when new.
    pub fn code(&mut self, value: &str) -> u32 {
        if let Some(&c) = self.index.get(value) {
            return c;
        }
        let c = self.values.len() as u32;
        self.values.push(value.to_string());
        self.index.insert(value.to_string(), c);
        c
    }

    /// Adds `other`'s values and returns, for each of its codes, the code here.
    pub fn absorb(&mut self, other: &Dictionary) -> Vec<u32> {
        other.values.iter().map(|v| self.code(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_rare_sorts_and_weighs_like_one_feature() {
        let values: Vec<String> = ["b", "a", "c", "z"].iter().map(|s| s.to_string()).collect();
        // 60 b, 30 a, 9 c, 1 z (rare at 2 %), 2 missing.
        let mut codes = vec![0u32; 60];
        codes.extend(vec![1; 30]);
        codes.extend(vec![2; 9]);
        codes.push(3);
        codes.extend([MISSING, MISSING]);
        let mut p = CategoricalPrep::fit("region", &values, &codes, 0.02);
        assert_eq!(p.categories, vec!["a", "b", "c", OTHER]);
        assert_eq!(p.shares, vec![0.30, 0.60, 0.09, 0.01]);
        assert_eq!(p.mode, 1);
        assert!(p.set_weight(1.0));
        // Total variance of the weighted indicators = a² Σ p(1−p) = 1.
        let var: f64 = p.shares.iter().map(|s| s * (1.0 - s)).sum();
        assert!((p.weight * p.weight * var - 1.0).abs() < 1e-12);
        let l = p.lookup();
        assert_eq!(p.code(&l, "c"), (2, false));
        assert_eq!(p.pooled, vec!["z"]);
        assert_eq!(p.code(&l, "z"), (3, false));
        assert_eq!(p.code(&l, "never"), (3, true));
    }
}
