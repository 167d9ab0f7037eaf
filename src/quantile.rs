//! Quantiles with linear interpolation between order statistics (numpy's default "linear" method, which
//! pandas and scikit-learn's RobustScaler also use), computed by selection instead of a full sort.

/// Returns the `qs` quantiles (each in [0, 1], ascending) of `values`, reordering `values` in place.
/// NaNs must have been removed. Empty input gives NaN.
pub fn quantiles(values: &mut [f32], qs: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![f64::NAN; qs.len()];
    }
    // Selection on integer keys ordered like `f32::total_cmp`: plain integer comparisons partition faster.
    let keys: &mut [i32] = bytemuck::cast_slice_mut(values);
    keys.iter_mut().for_each(|k| *k = flip(*k));
    let mut out = Vec::with_capacity(qs.len());
    // Selecting ascending positions lets each selection work on the suffix left by the previous one.
    let mut done = 0usize;
    for &q in qs {
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = (lo + 1).min(n - 1);
        let v_lo = select(keys, done, lo);
        let v_hi = if hi == lo {
            v_lo
        } else {
            select(keys, lo + 1, hi)
        };
        done = lo;
        out.push(v_lo + (v_hi - v_lo) * (pos - lo as f64));
    }
    keys.iter_mut().for_each(|k| *k = flip(*k));
    out
}

/// The f32 bit pattern ↔ an i32 that orders like `f32::total_cmp` (an involution).
#[inline]
fn flip(bits: i32) -> i32 {
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// The value of rank `k` given that `values[..from]` already hold the `from` smallest values.
fn select(keys: &mut [i32], from: usize, k: usize) -> f64 {
    let from = from.min(k);
    let tail = &mut keys[from..];
    let (_, v, _) = tail.select_nth_unstable(k - from);
    f32::from_bits(flip(*v) as u32) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sorted_interpolation() {
        let mut rng = 12345u64;
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let mut v: Vec<f32> = (0..n)
                .map(|_| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((rng >> 33) % 1000) as f32 / 7.0 - 60.0
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(f32::total_cmp);
            let qs = [0.0, 0.25, 0.5, 0.75, 1.0];
            let got = quantiles(&mut v, &qs);
            for (q, g) in qs.iter().zip(got) {
                let pos = q * (n - 1) as f64;
                let lo = pos.floor() as usize;
                let hi = pos.ceil() as usize;
                let want =
                    sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * (pos - lo as f64);
                assert!((g - want).abs() < 1e-9, "n={n} q={q}: {g} vs {want}");
            }
        }
    }
}
