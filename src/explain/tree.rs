//! The IMM threshold tree (Dasgupta, Frost, Moshkovitz, Rashtchian 2020, "Explainable k-means and
//! k-medians clustering", algorithm 1): k leaves, one feature threshold per node, built top-down from the
//! k-means centroids. At each node the split separates at least two of the node's centroids and, among
//! those splits, sends the fewest of the node's customers to the other side from their own centroid (a
//! "mistake"); mistaken customers are left out below that node, as in the paper.

use rayon::prelude::*;

/// One node of the tree, in the prepared space. `Split` sends x with x[feature] ≤ threshold left.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
    },
    /// A segment index (into the centroids).
    Leaf(usize),
}

/// A fitted tree: `nodes[0]` is the root.
#[derive(Debug, Clone)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// Picks a split's threshold on feature `j` in [lo, hi): any value there splits the node's rows the same
/// way (`lo` and `hi` are neighbouring values among them). The explanation picks the roundest number in
/// original units, so that the printed rule is the tree's rule.
pub type Chooser<'a> = &'a (dyn Fn(usize, f32, f32) -> f32 + Sync);

/// The inputs of [`imm`]: the row-major matrix `x` (n × d), its k-means labels and centroids (k × d).
pub struct Data<'a> {
    pub x: &'a [f32],
    pub d: usize,
    pub labels: &'a [u32],
    pub centroids: &'a [f32],
}

/// Builds the IMM tree of the centroids on the rows `rows`, thresholds placed by `choose`.
pub fn imm(data: &Data, rows: Vec<usize>, choose: Chooser) -> Tree {
    let k = data.centroids.len() / data.d;
    let mut tree = Tree { nodes: Vec::new() };
    grow(&mut tree, data, choose, rows, (0..k).collect());
    tree
}

/// Adds the subtree of `rows` and `centers` and returns its index.
fn grow(
    tree: &mut Tree,
    data: &Data,
    choose: Chooser,
    rows: Vec<usize>,
    centers: Vec<usize>,
) -> usize {
    let (x, d, labels, centroids) = (data.x, data.d, data.labels, data.centroids);
    let at = tree.nodes.len();
    tree.nodes.push(Node::Leaf(centers[0]));
    if centers.len() < 2 {
        return at;
    }
    let c = |s: usize, j: usize| centroids[s * d + j];
    // The best split over the features: (mistakes, feature, threshold); the first feature wins ties.
    let best = (0..d)
        .into_par_iter()
        .filter_map(|j| {
            let value = |i: usize| x[i * d + j];
            best_threshold(
                rows.iter().map(|&i| (value(i), c(labels[i] as usize, j))),
                centers.iter().map(|&s| c(s, j)),
            )
            .map(|(mistakes, lo, hi)| (mistakes, j, lo, hi))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    // Centroids no feature separates (identical ones): the node is a leaf of the first.
    let Some((_, j, lo, hi)) = best else {
        return at;
    };
    let t = choose(j, lo, hi);
    let (mut lr, mut rr) = (Vec::new(), Vec::new());
    for i in rows {
        let left = x[i * d + j] <= t;
        if left == (c(labels[i] as usize, j) <= t) {
            if left { &mut lr } else { &mut rr }.push(i);
        }
    }
    let (lc, rc): (Vec<usize>, Vec<usize>) = centers.into_iter().partition(|&s| c(s, j) <= t);
    let left = grow(tree, data, choose, lr, lc);
    let right = grow(tree, data, choose, rr, rc);
    tree.nodes[at] = Node::Split {
        feature: j,
        threshold: t,
        left,
        right,
    };
    at
}

/// The threshold along one feature with the fewest mistakes among those that separate the centres:
/// `points` are (value, own centre's value), `centers` the node's centre values. A point is a mistake at
/// θ when θ lies in [min(value, centre), max(value, centre)). Candidates are the distinct values in
/// [lowest centre, highest centre); returned are the mistakes and the best candidate with the next distinct
/// value: every threshold in [candidate, next) splits the same way. None when all centres share one value.
fn best_threshold(
    points: impl Iterator<Item = (f32, f32)>,
    centers: impl Iterator<Item = f32>,
) -> Option<(usize, f32, f32)> {
    let centers: Vec<f32> = centers.collect();
    let lo = centers.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = centers.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if lo >= hi {
        return None;
    }
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    for (v, c) in points {
        if v != c {
            starts.push(v.min(c));
            ends.push(v.max(c));
        }
    }
    let mut cand: Vec<f32> = (starts.iter().chain(&ends).chain(&centers).copied())
        .filter(|&v| v >= lo && v <= hi)
        .collect();
    starts.sort_unstable_by(f32::total_cmp);
    ends.sort_unstable_by(f32::total_cmp);
    cand.sort_unstable_by(f32::total_cmp);
    cand.dedup();
    let (mut s, mut e) = (0, 0);
    let mut best: Option<(usize, usize)> = None;
    // cand ends with hi, which is only the upper neighbour of the last threshold.
    for (i, &theta) in cand[..cand.len() - 1].iter().enumerate() {
        while s < starts.len() && starts[s] <= theta {
            s += 1;
        }
        while e < ends.len() && ends[e] <= theta {
            e += 1;
        }
        let mistakes = s - e;
        if best.is_none_or(|(m, _)| mistakes < m) {
            best = Some((mistakes, i));
        }
    }
    best.map(|(m, i)| (m, cand[i], cand[i + 1]))
}

impl Tree {
    /// The leaf (segment index) of one row.
    pub fn segment(&self, row: &[f32]) -> usize {
        let mut at = 0;
        loop {
            match self.nodes[at] {
                Node::Leaf(s) => return s,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    at = if row[feature] <= threshold {
                        left
                    } else {
                        right
                    }
                }
            }
        }
    }

    /// The conditions on the path to each segment's leaf, root first: (feature, goes left, threshold).
    /// A segment no leaf holds (a centroid equal to another) has none.
    pub fn paths(&self, k: usize) -> Vec<Option<Vec<(usize, bool, f32)>>> {
        let mut out = vec![None; k];
        let mut stack = vec![(0usize, Vec::new())];
        while let Some((at, path)) = stack.pop() {
            match self.nodes[at] {
                Node::Leaf(s) => out[s] = Some(path),
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let mut l = path.clone();
                    l.push((feature, true, threshold));
                    let mut r = path;
                    r.push((feature, false, threshold));
                    stack.push((left, l));
                    stack.push((right, r));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: the fewest mistakes over every threshold halfway between sorted distinct values (in
    /// f64, where two neighbouring f32 values always have one between them).
    fn brute(points: &[(f32, f32)], centers: &[f32]) -> usize {
        let mut vals: Vec<f64> = points
            .iter()
            .flat_map(|p| [p.0 as f64, p.1 as f64])
            .collect();
        vals.extend(centers.iter().map(|&c| c as f64));
        vals.sort_by(f64::total_cmp);
        vals.dedup();
        let below = |v: f32, t: f64| (v as f64) <= t;
        vals.windows(2)
            .map(|w| (w[0] + w[1]) / 2.0)
            .filter(|&t| {
                centers.iter().any(|&c| below(c, t)) && centers.iter().any(|&c| !below(c, t))
            })
            .map(|t| {
                points
                    .iter()
                    .filter(|p| below(p.0, t) != below(p.1, t))
                    .count()
            })
            .min()
            .unwrap()
    }

    #[test]
    fn threshold_has_the_fewest_mistakes() {
        let centers = [0.0f32, 3.0, 7.0];
        let points: Vec<(f32, f32)> = (0..200)
            .map(|i| {
                let c = centers[i % 3];
                (c + ((i * 37 % 23) as f32 - 11.0) / 3.0, c)
            })
            .collect();
        let (m, t, next) = best_threshold(points.iter().copied(), centers.iter().copied()).unwrap();
        assert!(t < next);
        assert_eq!(m, brute(&points, &centers));
        let at_t = points.iter().filter(|p| (p.0 <= t) != (p.1 <= t)).count();
        assert_eq!(at_t, m);
        assert!(centers.iter().any(|&c| c <= t) && centers.iter().any(|&c| c > t));
    }

    #[test]
    fn separated_clusters_give_a_faithful_tree() {
        // Four clusters on a 2 × 2 grid in two dimensions, with a third, uninformative dimension.
        let cents = [0f32, 0., 0., 10., 0., 0., 0., 10., 0., 10., 10., 0.];
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for i in 0..400 {
            let s = i % 4;
            let jitter = ((i * 7919) % 100) as f32 / 50.0 - 1.0;
            x.extend([cents[s * 3] + jitter, cents[s * 3 + 1] - jitter, jitter]);
            labels.push(s as u32);
        }
        let data = Data {
            x: &x,
            d: 3,
            labels: &labels,
            centroids: &cents,
        };
        let t = imm(&data, (0..400).collect(), &|_, lo, hi| lo + (hi - lo) / 2.0);
        let agree = (x.chunks_exact(3).zip(&labels)).all(|(r, &l)| t.segment(r) == l as usize);
        assert!(agree);
        let leaves = t
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf(_)))
            .count();
        assert_eq!(leaves, 4);
        assert!(
            t.paths(4)
                .iter()
                .all(|p| p.as_ref().is_some_and(|p| p.len() == 2))
        );
    }
}
