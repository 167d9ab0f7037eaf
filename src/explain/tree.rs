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

/// Builds the IMM tree of the centroids on the rows `rows`, thresholds placed by `choose`. Each feature's
/// values are sorted once, at the root (as IMM's own implementation keeps sorted orders); every node splits
/// its parent's orders, so a node costs a pass over its rows per feature, not a sort.
pub fn imm(data: &Data, rows: Vec<usize>, choose: Chooser) -> Tree {
    let (d, k) = (data.d, data.centroids.len() / data.d);
    assert!(u32::try_from(rows.len()).is_ok(), "at most 2^32 rows");
    let orders: Vec<Vec<(f32, u32)>> = (0..d)
        .into_par_iter()
        .map(|j| {
            let mut o: Vec<(f32, u32)> = (rows.iter().enumerate())
                .map(|(p, &i)| (data.value(i, j), p as u32))
                .collect();
            o.sort_by(|a, b| a.0.total_cmp(&b.0));
            o
        })
        .collect();
    let owns: Vec<u32> = rows.iter().map(|&i| data.labels[i]).collect();
    let node = Rows {
        owns: &owns,
        orders,
    };
    let mut tree = Tree { nodes: Vec::new() };
    let mut side = vec![Side::Out; rows.len()];
    grow(&mut tree, data, choose, node, (0..k).collect(), &mut side);
    tree
}

impl Data<'_> {
    fn value(&self, row: usize, j: usize) -> f32 {
        self.x[row * self.d + j]
    }
    fn centre(&self, s: usize, j: usize) -> f32 {
        self.centroids[s * self.d + j]
    }
}

/// A node's rows: per feature, (value, position among the tree's rows) in ascending order of value; and
/// the segment of every row of the tree, by position.
struct Rows<'r> {
    owns: &'r [u32],
    orders: Vec<Vec<(f32, u32)>>,
}

/// Where a split sends a row of its node: left or right with its centre, or out (a mistake).
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Out,
    Left,
    Right,
}

/// Adds the subtree of `node`'s rows and `centers` and returns its index; `side` is room for one mark per
/// row of the tree.
fn grow(
    tree: &mut Tree,
    data: &Data,
    choose: Chooser,
    node: Rows,
    centers: Vec<usize>,
    side: &mut [Side],
) -> usize {
    let at = tree.nodes.len();
    tree.nodes.push(Node::Leaf(centers[0]));
    if centers.len() < 2 || node.orders.is_empty() {
        return at;
    }
    let own = |p: u32| node.owns[p as usize] as usize;
    let mut count = vec![0usize; data.centroids.len() / data.d];
    node.orders[0].iter().for_each(|&(_, p)| count[own(p)] += 1);
    // The best split over the features: (mistakes, feature, threshold); the first feature wins ties.
    let best = (0..data.d)
        .into_par_iter()
        .filter_map(|j| {
            let points = (node.orders[j].iter()).map(|&(v, p)| (v, own(p)));
            let centres = centers.iter().map(|&s| (data.centre(s, j), s));
            best_threshold(points, centres, &count).map(|(mistakes, lo, hi)| (mistakes, j, lo, hi))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    // Centroids no feature separates (identical ones): the node is a leaf of the first.
    let Some((_, j, lo, hi)) = best else {
        return at;
    };
    let t = choose(j, lo, hi);
    for &(v, p) in &node.orders[j] {
        side[p as usize] = match (v <= t, data.centre(own(p), j) <= t) {
            (true, true) => Side::Left,
            (false, false) => Side::Right,
            _ => Side::Out,
        };
    }
    let part = |s: Side| -> Vec<Vec<(f32, u32)>> {
        (node.orders.par_iter())
            .map(|o| {
                (o.iter().copied())
                    .filter(|&(_, p)| side[p as usize] == s)
                    .collect()
            })
            .collect()
    };
    let (lo_rows, hi_rows) = (part(Side::Left), part(Side::Right));
    let owns = node.owns;
    drop(node.orders);
    let (lc, rc): (Vec<usize>, Vec<usize>) =
        centers.into_iter().partition(|&s| data.centre(s, j) <= t);
    let left = grow(
        tree,
        data,
        choose,
        Rows {
            owns,
            orders: lo_rows,
        },
        lc,
        side,
    );
    let right = grow(
        tree,
        data,
        choose,
        Rows {
            owns,
            orders: hi_rows,
        },
        rc,
        side,
    );
    tree.nodes[at] = Node::Split {
        feature: j,
        threshold: t,
        left,
        right,
    };
    at
}

/// The threshold along one feature with the fewest mistakes among those that separate the centres:
/// `points` are (value, own centre) in ascending order of value, `centers` the node's (value, centre),
/// `count` each centre's points. A point is a mistake at θ when θ lies in [min(value, centre),
/// max(value, centre)). Candidates are the distinct values in [lowest centre, highest centre); returned are
/// the mistakes and the best candidate with the next distinct value: every threshold in [candidate, next)
/// splits the same way. None when all centres share one value. One sweep: below θ, a point of a centre
/// above θ is a mistake; above θ, a point of a centre at or below θ.
fn best_threshold(
    points: impl Iterator<Item = (f32, usize)> + Clone,
    centers: impl Iterator<Item = (f32, usize)>,
    count: &[usize],
) -> Option<(usize, f32, f32)> {
    let mut centers: Vec<(f32, usize)> = centers.collect();
    let lo = centers.iter().map(|c| c.0).fold(f32::INFINITY, f32::min);
    let hi = centers
        .iter()
        .map(|c| c.0)
        .fold(f32::NEG_INFINITY, f32::max);
    if lo >= hi {
        return None;
    }
    centers.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The candidates: the points' values in [lo, hi] and the centres', merged in order, distinct (as
    // sorting them all would: ±0 keep the first of the two in `total_cmp` order).
    let mut cand: Vec<f32> = Vec::new();
    let mut push = |v: f32| {
        if cand.last() != Some(&v) {
            cand.push(v);
        }
    };
    let mut value_of = vec![f32::NAN; count.len()];
    centers.iter().for_each(|&(c, s)| value_of[s] = c);
    let mut cs = centers.iter().map(|c| c.0).peekable();
    // A point on its centre is no interval: its value is a candidate only as that centre's.
    let ends = (points.clone()).filter(|&(v, s)| v != value_of[s] && v >= lo && v <= hi);
    for (v, _) in ends {
        while let Some(c) = cs.next_if(|c| c.total_cmp(&v).is_lt()) {
            push(c);
        }
        push(v);
    }
    cs.for_each(&mut push);
    let (mut below, mut passed) = (vec![0usize; count.len()], vec![false; count.len()]);
    // Mistakes below θ (points of centres above it) and above θ (points of centres at or below it).
    let (mut under, mut over) = (0usize, 0usize);
    let (mut points, mut next_centre) = (points.peekable(), 0);
    let mut best: Option<(usize, usize)> = None;
    // cand ends with hi, which is only the upper neighbour of the last threshold.
    for (i, &theta) in cand[..cand.len() - 1].iter().enumerate() {
        while let Some((_, s)) = points.next_if(|p| p.0 <= theta) {
            below[s] += 1;
            if passed[s] {
                over -= 1;
            } else {
                under += 1;
            }
        }
        while let Some(&(_, s)) = centers.get(next_centre).filter(|c| c.0 <= theta) {
            passed[s] = true;
            under -= below[s];
            over += count[s] - below[s];
            next_centre += 1;
        }
        let mistakes = under + over;
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

    /// The threshold by sorting every interval's ends (the implementation before the sweep), the oracle of
    /// [`best_threshold`]: `points` are (value, own centre's value).
    fn sorted_threshold(points: &[(f32, f32)], centers: &[f32]) -> Option<(usize, f32, f32)> {
        let lo = centers.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = centers.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if lo >= hi {
            return None;
        }
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for &(v, c) in points {
            if v != c {
                starts.push(v.min(c));
                ends.push(v.max(c));
            }
        }
        let mut cand: Vec<f32> = (starts.iter().chain(&ends).chain(centers).copied())
            .filter(|&v| v >= lo && v <= hi)
            .collect();
        starts.sort_unstable_by(f32::total_cmp);
        ends.sort_unstable_by(f32::total_cmp);
        cand.sort_unstable_by(f32::total_cmp);
        cand.dedup();
        let (mut s, mut e) = (0, 0);
        let mut best: Option<(usize, usize)> = None;
        for (i, &theta) in cand[..cand.len() - 1].iter().enumerate() {
            while s < starts.len() && starts[s] <= theta {
                s += 1;
            }
            while e < ends.len() && ends[e] <= theta {
                e += 1;
            }
            if best.is_none_or(|(m, _)| s - e < m) {
                best = Some((s - e, i));
            }
        }
        best.map(|(m, i)| (m, cand[i], cand[i + 1]))
    }

    /// [`best_threshold`] on points of the centres `centers`, sorted by value as a node holds them.
    fn sweep(points: &[(f32, usize)], centers: &[f32]) -> Option<(usize, f32, f32)> {
        let mut sorted = points.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut count = vec![0; centers.len()];
        points.iter().for_each(|p| count[p.1] += 1);
        let cs = centers.iter().enumerate().map(|(s, &c)| (c, s));
        best_threshold(sorted.iter().copied(), cs, &count)
    }

    /// The sweep gives the sorted implementation's mistakes and thresholds, bit for bit, on random nodes
    /// with ties, points on their centres, values outside the centres' range and signed zeros.
    #[test]
    fn the_sweep_is_the_sort() {
        let mut state = 11u64;
        let mut next = move |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        for case in 0..2000 {
            let k = 2 + next(5) as usize;
            let grid = |v: u64| (v as f32 - 8.0) / 4.0;
            let centers: Vec<f32> = (0..k).map(|_| grid(next(17))).collect();
            let n = next(60) as usize;
            let points: Vec<(f32, usize)> = (0..n)
                .map(|_| {
                    let s = next(k as u64) as usize;
                    let v = match next(4) {
                        0 => centers[s],
                        1 => -0.0,
                        _ => grid(next(33)) - 2.0,
                    };
                    (v, s)
                })
                .collect();
            let with_centres: Vec<(f32, f32)> =
                points.iter().map(|&(v, s)| (v, centers[s])).collect();
            let want = sorted_threshold(&with_centres, &centers);
            let got = sweep(&points, &centers);
            let bits =
                |r: Option<(usize, f32, f32)>| r.map(|(m, a, b)| (m, a.to_bits(), b.to_bits()));
            assert_eq!(bits(got), bits(want), "case {case}: {points:?} {centers:?}");
        }
    }

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
        let own: Vec<(f32, usize)> = (0..200).map(|i| (points[i].0, i % 3)).collect();
        let (m, t, next) = sweep(&own, &centers).unwrap();
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
