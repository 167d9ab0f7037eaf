//! Choosing k: the elbow of the SSE curve (Kneedle) and a recommendation from the quality indices.

use serde::Serialize;

/// Kneedle (Satopää, Albrecht, Irwin, Raghavan 2011) for a decreasing convex curve such as SSE over k:
/// with x and y scaled to [0, 1], the knee is the point farthest below the chord from the first point to
/// the last, i.e. the largest (1 − y) − x (kneed's transform for a convex decreasing curve). No smoothing:
/// a sweep has a handful of points. None when no point lies below the chord (no elbow) or there are
/// fewer than three points.
pub fn kneedle(x: &[f64], y: &[f64]) -> Option<usize> {
    if x.len() < 3 || x.len() != y.len() {
        return None;
    }
    let span = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| {
                (a.min(t), b.max(t))
            });
        (lo, (hi - lo).max(f64::MIN_POSITIVE))
    };
    let ((x0, xs), (y0, ys)) = (span(x), span(y));
    let diff: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(&a, &b)| (1.0 - (b - y0) / ys) - (a - x0) / xs)
        .collect();
    let best = (0..diff.len()).fold(0, |b, i| if diff[i] > diff[b] { i } else { b });
    (diff[best] > 1e-12).then_some(best)
}

/// One k of a sweep. An index that is not a number (written as null in JSON) reads back as NaN.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Point {
    pub k: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub sse: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub calinski_harabasz: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub davies_bouldin: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub silhouette: f64,
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The recommended k and why.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Recommendation {
    pub k: usize,
    /// In words: "k = 3: silhouette highest (0.516), elbow at 3; Davies-Bouldin prefers 2".
    pub reason: String,
    /// Each criterion's preferred k.
    pub silhouette_k: usize,
    pub elbow_k: Option<usize>,
    pub davies_bouldin_k: usize,
    pub calinski_harabasz_k: usize,
}

/// The rule: each of four criteria votes for one k — the highest silhouette, the elbow of the SSE curve,
/// the lowest Davies–Bouldin, the highest Calinski–Harabasz — and the k with the most votes wins; a tie
/// goes to the silhouette's k if it is among the tied, else to the smallest tied k (fewer segments are
/// easier to act on). `points` must be in increasing k and non-empty.
pub fn recommend(points: &[Point]) -> Recommendation {
    let pick = |better: &dyn Fn(&Point, &Point) -> bool| {
        points
            .iter()
            .fold(&points[0], |b, p| if better(p, b) { p } else { b })
            .k
    };
    let sil = pick(&|p, b| p.silhouette > b.silhouette);
    let db = pick(&|p, b| p.davies_bouldin < b.davies_bouldin);
    let ch = pick(&|p, b| p.calinski_harabasz > b.calinski_harabasz);
    let ks: Vec<f64> = points.iter().map(|p| p.k as f64).collect();
    let sse: Vec<f64> = points.iter().map(|p| p.sse).collect();
    let elbow = kneedle(&ks, &sse).map(|i| points[i].k);
    let votes = |k: usize| {
        [Some(sil), elbow, Some(db), Some(ch)]
            .iter()
            .filter(|v| **v == Some(k))
            .count()
    };
    let top = points.iter().map(|p| votes(p.k)).max().unwrap_or(0);
    let tied: Vec<usize> = points
        .iter()
        .map(|p| p.k)
        .filter(|&k| votes(k) == top)
        .collect();
    let k = if tied.contains(&sil) { sil } else { tied[0] };
    let s_of = |k: usize| {
        points
            .iter()
            .find(|p| p.k == k)
            .map_or(f64::NAN, |p| p.silhouette)
    };
    let mut agree = Vec::new();
    let mut differ = Vec::new();
    let mut say = |name: String, choice: Option<usize>| match choice {
        Some(c) if c == k => agree.push(name),
        Some(c) => differ.push(format!("{name} prefers {c}")),
        None => differ.push(format!("{name}: none")),
    };
    say(format!("silhouette highest ({:.3})", s_of(sil)), Some(sil));
    say("elbow".into(), elbow);
    say("Davies-Bouldin lowest".into(), Some(db));
    say("Calinski-Harabasz highest".into(), Some(ch));
    let agree: Vec<String> = agree
        .into_iter()
        .map(|a| {
            if a == "elbow" {
                format!("elbow at {k}")
            } else {
                a
            }
        })
        .collect();
    let mut reason = format!("k = {k}: {}", agree.join(", "));
    if !differ.is_empty() {
        reason.push_str(&format!("; {}", differ.join(", ")));
    }
    Recommendation {
        k,
        reason,
        silhouette_k: sil,
        elbow_k: elbow,
        davies_bouldin_k: db,
        calinski_harabasz_k: ch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kneedle_finds_known_knees() {
        let k: Vec<f64> = (2..10).map(f64::from).collect();
        // A sharp bend at 4.
        let sse = [100.0, 50.0, 20.0, 15.0, 12.0, 10.0, 9.0, 8.0];
        assert_eq!(kneedle(&k, &sse).map(|i| k[i]), Some(4.0));
        // y = 1/x on 1..=10: (1 − y_n) − x_n is 0.444 at x = 2, 0.519 at 3, 0.500 at 4 (by hand), so the
        // knee is 3; checked against every point too.
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 1.0 / v).collect();
        let knee = kneedle(&x, &y).unwrap();
        let d = |i: usize| (1.0 - (y[i] - 0.1) / 0.9) - (x[i] - 1.0) / 9.0;
        assert!((0..10).all(|i| d(i) <= d(knee)), "knee {}", x[knee]);
        assert_eq!(x[knee], 3.0);
        // A straight line has no elbow.
        assert_eq!(
            kneedle(&k, &k.iter().map(|v| 10.0 - v).collect::<Vec<_>>()),
            None
        );
    }

    #[test]
    fn recommendation_votes_and_explains() {
        let p = |k, sse, ch, db, s| Point {
            k,
            sse,
            calinski_harabasz: ch,
            davies_bouldin: db,
            silhouette: s,
        };
        let points = [
            p(2, 100.0, 400.0, 0.9, 0.40),
            p(3, 40.0, 800.0, 0.7, 0.52),
            p(4, 30.0, 700.0, 0.6, 0.35),
            p(5, 25.0, 600.0, 1.3, 0.27),
        ];
        let r = recommend(&points);
        assert_eq!(r.k, 3);
        assert_eq!(
            r.reason,
            "k = 3: silhouette highest (0.520), elbow at 3, Calinski-Harabasz highest; Davies-Bouldin lowest prefers 4"
        );
    }
}
