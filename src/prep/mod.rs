//! Feature preparation: median imputation, log1p for skewed money columns, and scaling. The fitted
//! [`Preprocessor`] is saved in the model so that later runs prepare data exactly the same way, and it inverts
//! the transform so that centroids and profiles are reported in original units.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compute::sum_in_order;
use crate::data::FeatureMatrix;
use crate::error::{Error, Result};
use crate::quantile::quantiles;

/// How features are scaled before clustering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// (x − mean) / std, population std (scikit-learn's StandardScaler).
    Zscore,
    /// (x − min) / (max − min).
    Minmax,
    /// (x − median) / IQR (scikit-learn's RobustScaler).
    Robust,
    /// Raw values.
    None,
}

/// Fitted preparation of one feature column: prepared = (t(x) − center) / scale, t = log1p or identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPrep {
    pub name: String,
    pub log1p: bool,
    /// Value used for missing entries, in original units (None when no imputation was fitted).
    pub impute: Option<f64>,
    pub center: f64,
    pub scale: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub scaling: Scaling,
    pub columns: Vec<ColumnPrep>,
}

/// What fitting the preparation did, for the summary.
#[derive(Debug, Default)]
pub struct PrepReport {
    pub imputed_values: usize,
    pub warnings: Vec<String>,
}

const PAR_ROWS: usize = 16_384;

impl Preprocessor {
    /// Fits the preparation on `m` and applies it in place (one copy of the data in memory).
    /// `impute` fills NaN (missing) entries with the column median; otherwise NaNs must be absent.
    pub fn fit_transform(
        m: &mut FeatureMatrix,
        scaling: Scaling,
        log1p: &[String],
        impute: bool,
    ) -> Result<(Self, PrepReport)> {
        let mut report = PrepReport::default();
        for name in log1p {
            if !m.names.contains(name) {
                return Err(Error::usage(format!(
                    "--log1p names '{name}', which is not one of the feature columns"
                )));
            }
        }
        let mut columns: Vec<ColumnPrep> = m
            .names
            .iter()
            .map(|n| ColumnPrep {
                name: n.clone(),
                log1p: log1p.contains(n),
                impute: None,
                center: 0.0,
                scale: 1.0,
            })
            .collect();
        if impute {
            for (j, c) in columns.iter_mut().enumerate() {
                let col: Vec<f32> = m.column(j).into_iter().filter(|v| !v.is_nan()).collect();
                let missing = m.n - col.len();
                if missing > 0 {
                    if col.is_empty() {
                        return Err(Error::input(format!(
                            "column '{}' has no values at all: nothing to impute from",
                            c.name
                        )));
                    }
                    c.impute = Some(quantiles(&col, &[0.5])[0]);
                    report.imputed_values += missing;
                }
            }
        }
        // Imputation and log1p in one pass over the rows.
        let d = m.d;
        let fill: Vec<Option<f32>> = columns.iter().map(|c| c.impute.map(|v| v as f32)).collect();
        let logs: Vec<bool> = columns.iter().map(|c| c.log1p).collect();
        if fill.iter().any(Option::is_some) || logs.iter().any(|&l| l) {
            let bad = m
                .data
                .par_chunks_mut(PAR_ROWS * d)
                .enumerate()
                .map(|(ci, chunk)| {
                    for (r, row) in chunk.chunks_exact_mut(d).enumerate() {
                        for j in 0..d {
                            if row[j].is_nan()
                                && let Some(f) = fill[j]
                            {
                                row[j] = f;
                            }
                            if logs[j] {
                                if row[j] < 0.0 {
                                    return Some((j, ci * PAR_ROWS + r, row[j]));
                                }
                                row[j] = row[j].ln_1p();
                            }
                        }
                    }
                    None
                })
                .find_first(Option::is_some)
                .flatten();
            if let Some((j, r, v)) = bad {
                return Err(Error::input(format!(
                    "--log1p column '{}' has the negative value {v} at matrix row {r}; log1p needs values >= 0",
                    columns[j].name
                )));
            }
        }
        let moments = match scaling {
            Scaling::Zscore => mean_var(m),
            _ => Vec::new(),
        };
        for (j, c) in columns.iter_mut().enumerate() {
            let (center, scale) = match scaling {
                Scaling::None => (0.0, 1.0),
                Scaling::Zscore => (moments[j].0, moments[j].1.sqrt()),
                Scaling::Minmax => {
                    let (lo, hi) = m
                        .data
                        .iter()
                        .skip(j)
                        .step_by(d)
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                            (lo.min(v), hi.max(v))
                        });
                    (lo as f64, hi as f64 - lo as f64)
                }
                Scaling::Robust => {
                    let col = m.column(j);
                    let q = quantiles(&col, &[0.25, 0.5, 0.75]);
                    (q[1], q[2] - q[0])
                }
            };
            c.center = center;
            c.scale = if scale > 0.0 && scale.is_finite() {
                scale
            } else {
                if scaling != Scaling::None {
                    report.warnings.push(format!(
                        "feature '{}' has zero spread; using scale 1",
                        c.name
                    ));
                }
                1.0
            };
        }
        let p = Preprocessor { scaling, columns };
        if scaling != Scaling::None {
            p.scale_in_place(&mut m.data);
        }
        Ok((p, report))
    }

    fn scale_in_place(&self, data: &mut [f32]) {
        let d = self.columns.len();
        let cs: Vec<(f64, f64)> = self
            .columns
            .iter()
            .map(|c| (c.center, 1.0 / c.scale))
            .collect();
        data.par_chunks_mut(PAR_ROWS * d).for_each(|chunk| {
            for row in chunk.chunks_exact_mut(d) {
                for (v, &(c, inv)) in row.iter_mut().zip(&cs) {
                    *v = ((*v as f64 - c) * inv) as f32;
                }
            }
        });
    }

    /// Maps a prepared value of column `j` back to original units.
    pub fn invert(&self, j: usize, v: f64) -> f64 {
        let c = &self.columns[j];
        let t = v * c.scale + c.center;
        if c.log1p { t.exp_m1() } else { t }
    }

    /// Maps a value of column `j` in original units into the prepared space.
    pub fn forward(&self, j: usize, v: f64) -> f64 {
        let c = &self.columns[j];
        let t = if c.log1p { v.ln_1p() } else { v };
        (t - c.center) / c.scale
    }

    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

/// Mean and population variance of column `j` (two passes in f64, stable).
pub fn mean_var(m: &FeatureMatrix) -> Vec<(f64, f64)> {
    let n = m.n as f64;
    let mean: Vec<f64> = column_sums(m, |_, v| v as f64)
        .iter()
        .map(|s| s / n)
        .collect();
    let var = column_sums(m, |j, v| (v as f64 - mean[j]).powi(2));
    mean.iter().zip(var).map(|(&m, v)| (m, v / n)).collect()
}

/// Σ_rows f(j, x_j) for every column j: row-major passes over fixed blocks merged in block order.
fn column_sums(m: &FeatureMatrix, f: impl Fn(usize, f32) -> f64 + Sync) -> Vec<f64> {
    let d = m.d;
    let parts: Vec<Vec<f64>> = m
        .data
        .par_chunks(PAR_ROWS * d)
        .map(|chunk| {
            let mut s = vec![0.0f64; d];
            for row in chunk.chunks_exact(d) {
                for (j, (a, &v)) in s.iter_mut().zip(row).enumerate() {
                    *a += f(j, v);
                }
            }
            s
        })
        .collect();
    sum_in_order(&parts, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> FeatureMatrix {
        FeatureMatrix::new(
            vec![1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 6.0, 10.0],
            4,
            vec!["a".into(), "b".into()],
        )
    }

    #[test]
    fn zscore_uses_population_std_and_warns_on_constant() {
        let mut m = matrix();
        let (p, rep) = Preprocessor::fit_transform(&mut m, Scaling::Zscore, &[], false).unwrap();
        // mean 3, population variance (4+1+0+9)/4 = 3.5
        assert!((p.columns[0].center - 3.0).abs() < 1e-12);
        assert!((p.columns[0].scale - 3.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(p.columns[1].scale, 1.0);
        assert_eq!(rep.warnings.len(), 1);
        assert!((m.data[0] as f64 - (-2.0 / 3.5f64.sqrt())).abs() < 1e-6);
        assert!((p.invert(0, m.data[6] as f64) - 6.0).abs() < 1e-5);
    }

    #[test]
    fn robust_and_log1p_and_impute() {
        let mut m =
            FeatureMatrix::new(vec![0.0, f32::NAN, 3.0, 7.0, 15.0], 5, vec!["money".into()]);
        let (p, rep) =
            Preprocessor::fit_transform(&mut m, Scaling::Robust, &["money".into()], true).unwrap();
        // median of 0,3,7,15 (NaN ignored) = 5 imputed
        assert_eq!(p.columns[0].impute, Some(5.0));
        assert_eq!(rep.imputed_values, 1);
        let logged: Vec<f64> = [0.0f64, 5.0, 3.0, 7.0, 15.0]
            .iter()
            .map(|v| v.ln_1p())
            .collect();
        let mut s = logged.clone();
        s.sort_by(f64::total_cmp);
        assert!((p.columns[0].center - s[2]).abs() < 1e-6);
        assert!((p.columns[0].scale - (s[3] - s[1])).abs() < 1e-6);
        assert!((p.invert(0, m.data[4] as f64) - 15.0).abs() < 1e-4);
        assert!((p.forward(0, 15.0) - m.data[4] as f64).abs() < 1e-6);
    }

    #[test]
    fn log1p_rejects_negative() {
        let mut m = FeatureMatrix::new(vec![1.0, -2.0], 2, vec!["x".into()]);
        let e =
            Preprocessor::fit_transform(&mut m, Scaling::None, &["x".into()], false).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }
}
