//! Segment identities across refits: tonight's segments matched one-to-one to last night's by optimal
//! assignment (Kuhn–Munkres, from the `pathfinding` crate), with a threshold below which no match is made.
//! A matched segment keeps its id; an unmatched one gets a fresh id from the model's counter.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Maximum-weight one-to-one matching on a `rows` × `cols` weight matrix (row-major, weights ≥ 0; a zero
/// weight is no edge). Returns, for each column, the row matched to it.
fn assign(weights: &[i64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    let mut out = vec![None; cols];
    if rows == 0 || cols == 0 {
        return out;
    }
    // kuhn_munkres needs rows ≤ columns: transpose when there are more previous segments.
    let transpose = rows > cols;
    let (r, c) = if transpose {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let w = |i: usize, j: usize| {
        if transpose {
            weights[j * cols + i]
        } else {
            weights[i * cols + j]
        }
    };
    let m = Matrix::from_fn(r, c, |(i, j)| w(i, j));
    let (_, pick) = kuhn_munkres(&m);
    for (i, &j) in pick.iter().enumerate() {
        if w(i, j) > 0 {
            let (row, col) = if transpose { (j, i) } else { (i, j) };
            out[col] = Some(row);
        }
    }
    out
}

/// Matches by member overlap: `overlap[p * new_k + n]` customers were in previous segment p last night
/// and are in segment n tonight. Previous segment p and segment n may match only when n holds at least
/// `threshold` of p's customers present on both nights; among the allowed pairs, the matching keeps the
/// largest number of customers in a segment of the same id. Returns the previous segment of each of
/// tonight's segments.
pub fn by_overlap(
    overlap: &[u64],
    prev_k: usize,
    new_k: usize,
    threshold: f64,
) -> Vec<Option<usize>> {
    let weights: Vec<i64> = (0..prev_k * new_k)
        .map(|i| {
            let p = i / new_k;
            let present: u64 = overlap[p * new_k..(p + 1) * new_k].iter().sum();
            let share = overlap[i] as f64 / present.max(1) as f64;
            if overlap[i] > 0 && share >= threshold {
                overlap[i] as i64
            } else {
                0
            }
        })
        .collect();
    assign(&weights, prev_k, new_k)
}

/// Matches by centroid distance: `dist[p * new_k + n]` is the distance between previous centroid p and
/// tonight's segment n in the previous model's prepared space. A pair may match only when the distance is
/// at most `limit[p]` (the previous segment's median member distance: tonight's centroid sits among its
/// customers); among the allowed pairs, the total distance is minimised.
pub fn by_distance(dist: &[f64], prev_k: usize, new_k: usize, limit: &[f64]) -> Vec<Option<usize>> {
    // Integer weights: a large constant minus the distance in micro-units, so more matches always win and
    // then the smaller total distance.
    const BIG: f64 = 1e12;
    let weights: Vec<i64> = (0..prev_k * new_k)
        .map(|i| {
            let d = dist[i];
            if d.is_finite() && d <= limit[i / new_k] {
                (BIG - (d * 1e6).min(BIG / 2.0)) as i64
            } else {
                0
            }
        })
        .collect();
    assign(&weights, prev_k, new_k)
}

/// Segment ids for tonight's segments: a matched segment keeps its previous id, the others get fresh ids
/// from `next` on, in segment order. Returns the ids and the next unused id.
pub fn identities(matched: &[Option<usize>], prev_ids: &[u32], mut next: u32) -> (Vec<u32>, u32) {
    let ids = matched
        .iter()
        .map(|m| match m {
            Some(p) => prev_ids[*p],
            None => {
                next += 1;
                next - 1
            }
        })
        .collect();
    (ids, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every one-to-one matching of a small problem, the best by brute force.
    fn brute(weights: &[i64], rows: usize, cols: usize) -> i64 {
        fn go(w: &[i64], rows: usize, cols: usize, r: usize, used: &mut Vec<bool>) -> i64 {
            if r == rows {
                return 0;
            }
            let mut best = go(w, rows, cols, r + 1, used); // row r unmatched
            for c in 0..cols {
                if !used[c] && w[r * cols + c] > 0 {
                    used[c] = true;
                    best = best.max(w[r * cols + c] + go(w, rows, cols, r + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        go(weights, rows, cols, 0, &mut vec![false; cols])
    }

    #[test]
    fn assignment_is_optimal_against_brute_force() {
        let mut seed = 7u64;
        for (rows, cols) in [(3, 3), (2, 4), (4, 2), (4, 4), (1, 3), (3, 1)] {
            for _ in 0..20 {
                let w: Vec<i64> = (0..rows * cols)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let v = (seed >> 33) % 10;
                        if v < 3 { 0 } else { v as i64 }
                    })
                    .collect();
                let m = assign(&w, rows, cols);
                let total: i64 = (m.iter().enumerate())
                    .filter_map(|(c, r)| r.map(|r| w[r * cols + c]))
                    .sum();
                assert_eq!(total, brute(&w, rows, cols), "{rows}×{cols} {w:?}");
                let mut seen: Vec<usize> = m.iter().flatten().copied().collect();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), m.iter().flatten().count(), "one-to-one");
            }
        }
    }

    #[test]
    fn overlap_threshold_and_fresh_ids() {
        // Previous 0 stays in new 1; previous 1 splits 50/50 over new 0 and 2 (below 0.6: no match).
        let overlap = [0, 100, 0, 50, 0, 50];
        let m = by_overlap(&overlap, 2, 3, 0.6);
        assert_eq!(m, [None, Some(0), None]);
        let (ids, next) = identities(&m, &[4, 9], 10);
        assert_eq!((ids, next), (vec![10, 4, 11], 12));
        // At 0.5 one half keeps the id.
        assert_eq!(by_overlap(&overlap, 2, 3, 0.5).iter().flatten().count(), 2);
    }

    #[test]
    fn distance_limit() {
        let dist = [0.1, 5.0, 4.0, 0.2];
        assert_eq!(by_distance(&dist, 2, 2, &[1.0, 1.0]), [Some(0), Some(1)]);
        assert_eq!(by_distance(&dist, 2, 2, &[0.05, 1.0]), [None, Some(1)]);
    }
}
