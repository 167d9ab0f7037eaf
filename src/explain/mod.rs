//! How the segments differ, in words a relationship manager reads: per segment the features ranked by
//! effect size, a short name from the strongest of them, and a rule from an IMM threshold tree
//! ([`tree`]) with its fidelity.
//!
//! The effect size is the profile's `z`: the centroid's distance from the overall mean in standard
//! deviations of the prepared feature — the space the clustering used, so a ranking never contradicts the
//! centroids (see [`crate::profile`]); for a category, the standardized difference of its share.

pub mod tree;

use serde::{Deserialize, Serialize};

use crate::prep::FittedPrep;
use crate::profile::FeatureProfile;
use tree::{Node, Tree};

/// Rows the tree is built on (a uniform sample when there are more); its fidelity is measured on all rows.
pub const TREE_ROWS: usize = 100_000;

/// A name uses features whose |effect| is at least this, and at least half the strongest one's.
const NAME_MIN_EFFECT: f64 = 0.5;

/// One feature (or category) of a segment, with its effect size and values in original units.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RankedFeature {
    pub feature: String,
    /// For a categorical feature: the category (the values are then shares of customers).
    pub category: Option<String>,
    pub effect: f64,
    /// The segment's mean (or share) and everyone's.
    pub segment_value: f64,
    pub overall_value: f64,
}

/// One segment's explanation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentExplanation {
    pub segment: u32,
    pub name: String,
    /// True when the name is the previous night's for the matched segment.
    pub name_kept: bool,
    pub rule: String,
    /// Customers the rule describes, and the share of them in this segment (the rule's precision).
    pub rule_customers: u64,
    pub rule_precision: f64,
    /// Every feature, strongest effect first.
    pub features: Vec<RankedFeature>,
}

/// One node of the threshold tree in original units, for explain.json and the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TreeNode {
    Split {
        feature: String,
        /// `feature ≤ threshold` goes left; for a category, `left` is "not this category".
        threshold: Option<f64>,
        category: Option<String>,
        left: usize,
        right: usize,
    },
    Leaf {
        segment: u32,
    },
}

/// explain.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Explanation {
    /// Share of all customers whose rule segment is their k-means segment.
    pub fidelity: f64,
    pub tree_rows: usize,
    pub rows: usize,
    pub segments: Vec<SegmentExplanation>,
    pub tree: Vec<TreeNode>,
}

/// What prepared column `j` is: a numeric feature, or one category's indicator.
enum Column<'a> {
    Numeric(&'a str),
    Category(&'a str, &'a str),
}

fn column(prep: &FittedPrep, j: usize) -> Column<'_> {
    if let Some(c) = prep.columns.get(j) {
        return Column::Numeric(&c.name);
    }
    let mut at = prep.columns.len();
    for c in &prep.categorical {
        if j < at + c.categories.len() {
            return Column::Category(&c.name, &c.categories[j - at]);
        }
        at += c.categories.len();
    }
    unreachable!("prepared column {j} is beyond the preparation")
}

/// A number as a person writes it: integers with thousands separators from 1,000 on, else three
/// significant digits.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1000.0 {
        let digits = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        return if v < 0.0 { format!("-{out}") } else { out };
    }
    let decimals = if v == 0.0 {
        0
    } else {
        (2 - v.abs().log10().floor() as i32).max(0) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `v` with `decimals` decimal places and thousands separators ("20,000", "1,234.5").
fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{:.decimals$}", v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out = format!("{out}.{f}");
    }
    if v < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// Powers of ten tried for round thresholds, coarsest first: (step, decimals).
fn steps() -> impl Iterator<Item = (f64, usize)> {
    (-17i32..=15)
        .rev()
        .map(|p| (10f64.powi(p), (-p).max(0) as usize))
}

/// The roundest number c with `fits(c)`: near `v`, a multiple of the coarsest power of ten that fits (the
/// multiples just below and just above `v` are tried at each power).
fn roundest(v: f64, fits: impl Fn(f64) -> bool) -> Option<f64> {
    steps()
        .flat_map(|(s, _)| [(v / s).floor() * s, (v / s).ceil() * s])
        .find(|&c| fits(c))
}

/// The threshold of a split on numeric feature `j` in prepared [lo, hi): the roundest number in original
/// units whose prepared value (in f32, as the data) lies in [lo, hi), so that it splits the rows as any
/// threshold there does (`lo` itself when no decimal does).
fn choose_threshold(prep: &FittedPrep, j: usize, lo: f32, hi: f32) -> f32 {
    if j >= prep.columns.len() {
        return lo + (hi - lo) / 2.0;
    }
    let prepared = |c: f64| prep.forward(j, c) as f32;
    roundest(prep.invert(j, lo as f64), |c| {
        (lo..hi).contains(&prepared(c))
    })
    .map_or(lo, prepared)
}

/// A tree threshold of numeric feature `j` in original units: the shortest decimal that maps to the same
/// prepared value, and its text, so that the printed rule is the tree's.
fn threshold(prep: &FittedPrep, j: usize, t: f32) -> (f64, String) {
    let v = prep.invert(j, t as f64);
    steps()
        .map(|(s, dec)| ((v / s).round() * s, dec))
        .find(|&(c, _)| prep.forward(j, c) as f32 == t)
        .map_or_else(|| (v, v.to_string()), |(c, dec)| (c, fixed(c, dec)))
}

fn words(feature: &str) -> String {
    feature.replace('_', " ")
}

/// The features of segment `id` ranked by |effect| (ties: profile order).
fn ranked(profiles: &[FeatureProfile], id: u32) -> Vec<RankedFeature> {
    let overall = |p: &FeatureProfile| {
        profiles
            .iter()
            .find(|o| o.segment.is_none() && o.feature == p.feature && o.category == p.category)
    };
    let mut v: Vec<RankedFeature> = (profiles.iter())
        .filter(|p| p.segment == Some(id))
        .map(|p| {
            let all = overall(p);
            let value = |q: &FeatureProfile| {
                if q.category.is_some() {
                    q.share
                } else {
                    q.mean
                }
            };
            RankedFeature {
                feature: p.feature.clone(),
                category: p.category.clone(),
                effect: p.z,
                segment_value: value(p),
                overall_value: all.map_or(f64::NAN, value),
            }
        })
        .collect();
    v.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
    v
}

/// A short name from the strongest effects: "High online logins · low calls". Categories name only what
/// a segment has more of ("region North").
pub fn name(features: &[RankedFeature]) -> String {
    let usable = || (features.iter()).filter(|f| f.category.is_none() || f.effect > 0.0);
    let top = usable().next().map_or(0.0, |f| f.effect.abs());
    let parts: Vec<String> = usable()
        .filter(|f| f.effect.abs() >= NAME_MIN_EFFECT.max(top / 2.0))
        .take(3)
        .map(|f| match &f.category {
            Some(c) => format!("{} {c}", words(&f.feature)),
            None if f.effect > 0.0 => format!("high {}", words(&f.feature)),
            None => format!("low {}", words(&f.feature)),
        })
        .collect();
    let joined = if parts.is_empty() {
        "average customers".to_string()
    } else {
        parts.join(" · ")
    };
    let mut c = joined.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The rule of one leaf's path in original units: conditions on one numeric feature merged into the
/// tightest bound on each side, in the order they first appear.
fn rule(prep: &FittedPrep, path: &[(usize, bool, f32)]) -> String {
    let mut conds: Vec<(usize, bool, f32)> = Vec::new();
    for &(j, left, t) in path {
        match conds.iter_mut().find(|c| c.0 == j && c.1 == left) {
            Some(c) if left => c.2 = c.2.min(t),
            Some(c) => c.2 = c.2.max(t),
            None => conds.push((j, left, t)),
        }
    }
    // "region = North" makes "region ≠ East" redundant.
    let is = |j: usize| match column(prep, j) {
        Column::Category(name, _) => Some(name),
        Column::Numeric(_) => None,
    };
    let named: Vec<&str> = (conds.iter())
        .filter(|c| !c.1)
        .filter_map(|c| is(c.0))
        .collect();
    conds.retain(|c| !(c.1 && is(c.0).is_some_and(|n| named.contains(&n))));
    if conds.is_empty() {
        return "all customers".into();
    }
    (conds.iter())
        .map(|&(j, left, t)| match column(prep, j) {
            Column::Numeric(name) => {
                let v = threshold(prep, j, t).1;
                format!("{name} {} {v}", if left { "≤" } else { ">" })
            }
            Column::Category(name, cat) => format!("{name} {} {cat}", if left { "≠" } else { "=" }),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The inputs of [`explain`]: the prepared matrix and its k-means result.
pub struct Fitted<'a> {
    pub x: &'a [f32],
    pub d: usize,
    pub labels: &'a [u32],
    pub centroids: &'a [f32],
    pub prep: &'a FittedPrep,
    /// The segment id of each segment index.
    pub ids: &'a [u32],
    /// Profiles with segment ids (see [`crate::profile::with_ids`]).
    pub profiles: &'a [FeatureProfile],
    pub seed: u64,
}

/// Ranks, names and rules every segment. `kept_name(id)` is the name a matched segment keeps from the
/// previous night. Names are made unique by the segment id.
pub fn explain(f: &Fitted, kept_name: &dyn Fn(u32) -> Option<String>) -> Explanation {
    let (n, d, k) = (f.labels.len(), f.d, f.ids.len());
    let rows = if n > TREE_ROWS {
        crate::kmeans::sample::rows(n, TREE_ROWS, f.seed)
    } else {
        (0..n).collect()
    };
    let tree_rows = rows.len();
    let data = tree::Data {
        x: f.x,
        d,
        labels: f.labels,
        centroids: f.centroids,
    };
    let t = tree::imm(&data, rows, &|j, lo, hi| {
        choose_threshold(f.prep, j, lo, hi)
    });
    let (in_leaf, agree) = leaf_counts(&t, f, k);
    let fidelity = agree.iter().sum::<u64>() as f64 / n.max(1) as f64;
    let paths = t.paths(k);
    let mut segments: Vec<SegmentExplanation> = (0..k)
        .map(|s| {
            let id = f.ids[s];
            let features = ranked(f.profiles, id);
            let kept = kept_name(id);
            SegmentExplanation {
                segment: id,
                name_kept: kept.is_some(),
                name: kept.unwrap_or_else(|| name(&features)),
                rule: paths[s].as_ref().map_or_else(
                    || "no rule (its centroid equals another segment's)".into(),
                    |p| rule(f.prep, p),
                ),
                rule_customers: in_leaf[s],
                rule_precision: agree[s] as f64 / in_leaf[s].max(1) as f64,
                features,
            }
        })
        .collect();
    unique_names(&mut segments);
    let tree = (t.nodes.iter())
        .map(|node| match *node {
            Node::Leaf(s) => TreeNode::Leaf { segment: f.ids[s] },
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => match column(f.prep, feature) {
                Column::Numeric(name) => TreeNode::Split {
                    feature: name.into(),
                    threshold: Some(self::threshold(f.prep, feature, threshold).0),
                    category: None,
                    left,
                    right,
                },
                Column::Category(name, cat) => TreeNode::Split {
                    feature: name.into(),
                    threshold: None,
                    category: Some(cat.into()),
                    left,
                    right,
                },
            },
        })
        .collect();
    Explanation {
        fidelity,
        tree_rows,
        rows: n,
        segments,
        tree,
    }
}

/// Appends the segment id to every generated name that another segment also has (kept names stay).
fn unique_names(segments: &mut [SegmentExplanation]) {
    let names: Vec<String> = segments.iter().map(|s| s.name.clone()).collect();
    for (s, seg) in segments.iter_mut().enumerate() {
        let clash = (0..names.len()).any(|o| o != s && names[o] == names[s]);
        if clash && !seg.name_kept {
            seg.name = format!("{} ({})", seg.name, seg.segment);
        }
    }
}

/// Per segment index: the customers its leaf holds, and how many of them are its members.
fn leaf_counts(t: &Tree, f: &Fitted, k: usize) -> (Vec<u64>, Vec<u64>) {
    let (mut in_leaf, mut agree) = (vec![0u64; k], vec![0u64; k]);
    for (row, &l) in f.x.chunks_exact(f.d).zip(f.labels) {
        let s = t.segment(row);
        in_leaf[s] += 1;
        agree[s] += u64::from(s == l as usize);
    }
    (in_leaf, agree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_the_roundest_numbers_between_neighbours() {
        let within = |lo: f64, hi: f64| move |c: f64| c >= lo && c < hi;
        assert_eq!(roundest(4.0, within(4.0, 5.0)), Some(4.0));
        // Just above a round value (a value that went through f32 and back): the round value below fits.
        assert_eq!(roundest(3.0000002, within(2.9999, 3.5)), Some(3.0));
        assert!((roundest(4.2, within(4.2, 5.0)).unwrap() - 4.2).abs() < 1e-12);
        assert_eq!(
            roundest(17_321.0, within(17_321.0, 23_950.0)),
            Some(20_000.0)
        );
        assert!((roundest(159.358, within(159.358, 159.4)).unwrap() - 159.36).abs() < 1e-9);
        assert!((roundest(0.123, within(0.123, 0.1234)).unwrap() - 0.123).abs() < 1e-15);
        assert_eq!(fixed(1234.5, 1), "1,234.5");
        assert_eq!(fixed(-20000.0, 0), "-20,000");
        assert_eq!(fixed(-0.0, 0), "0");
    }

    #[test]
    fn values_read_like_a_person_writes_them() {
        assert_eq!(format_value(20000.0), "20,000");
        assert_eq!(format_value(-1234567.4), "-1,234,567");
        assert_eq!(format_value(4.5), "4.5");
        assert_eq!(format_value(12.345), "12.3");
        assert_eq!(format_value(0.01234), "0.0123");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(999.4), "999");
    }

    fn feature(name: &str, effect: f64) -> RankedFeature {
        RankedFeature {
            feature: name.into(),
            category: None,
            effect,
            segment_value: 0.0,
            overall_value: 0.0,
        }
    }

    #[test]
    fn every_clashing_generated_name_gets_its_id() {
        let seg = |id: u32, name: &str, kept: bool| SegmentExplanation {
            segment: id,
            name: name.into(),
            name_kept: kept,
            rule: String::new(),
            rule_customers: 0,
            rule_precision: 0.0,
            features: Vec::new(),
        };
        let mut s = vec![
            seg(0, "Average customers", false),
            seg(1, "Average customers", false),
            seg(2, "High calls", false),
            seg(3, "High calls", true),
        ];
        unique_names(&mut s);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Average customers (0)",
                "Average customers (1)",
                "High calls (2)",
                "High calls"
            ]
        );
    }

    #[test]
    fn names_use_the_strong_effects() {
        let f = [
            feature("online_logins", 2.0),
            feature("calls", -1.2),
            feature("tenure", 0.6),
        ];
        assert_eq!(name(&f), "High online logins · low calls");
        assert_eq!(name(&[feature("calls", 0.2)]), "Average customers");
        // A category the segment lacks cannot name it, nor raise the bar for the others.
        let mut lacks = feature("region", -3.0);
        lacks.category = Some("A".into());
        assert_eq!(name(&[lacks, feature("balance", 1.2)]), "High balance");
    }
}
