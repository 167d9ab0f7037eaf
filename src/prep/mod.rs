//! Feature preparation: median imputation, log1p for skewed money columns, and scaling. The fitted
//! [`FittedPrep`] is saved in the model so that later runs prepare data exactly the same way, and it inverts
//! the transform so that centroids and profiles are reported in original units.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compute::sum_in_order;
use crate::data::FeatureMatrix;
use crate::error::{Error, Result};
use crate::quantile::quantiles;

pub mod categorical;

use categorical::{CategoricalPrep, Dictionary, MISSING};

/// How features are scaled before clustering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Training median in original units (missing values excluded): the value imputed for a missing
    /// entry under `--missing median`, stored for every feature so that new nulls anywhere can be filled.
    pub median: f64,
    /// Training deciles (10 %, 20 % … 90 %) in original units, missing values excluded: the reference
    /// distribution for drift checks.
    pub deciles: Vec<f64>,
    pub center: f64,
    pub scale: f64,
}

/// The fitted preparation: what `fit` learned and every later run applies unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedPrep {
    pub scaling: Scaling,
    /// Numeric features, prepared in place; the first columns of the prepared space.
    pub columns: Vec<ColumnPrep>,
    /// Categorical features, each a block of one-hot indicator columns after the numeric ones.
    #[serde(default)]
    pub categorical: Vec<CategoricalPrep>,
}

/// What fitting the preparation did, for the summary.
#[derive(Debug, Default)]
pub struct PrepReport {
    pub imputed_values: usize,
    pub warnings: Vec<String>,
}

const PAR_ROWS: usize = 16_384;
/// Columns copied out per pass when computing the training medians and deciles.
const STATS_COLUMNS: usize = 4;
const DECILES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// A value of a `--log1p` column below zero, found while preparing.
#[derive(Debug, Clone, Copy)]
pub struct NegativeLog {
    pub column: usize,
    pub row: usize,
    pub value: f32,
}

impl FittedPrep {
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
        let mut columns = Vec::with_capacity(m.d);
        // Medians and deciles of every feature, a few columns per pass over the matrix (bounded memory).
        for group in (0..m.d).collect::<Vec<_>>().chunks(STATS_COLUMNS) {
            let mut cols: Vec<Vec<f32>> = group.iter().map(|_| Vec::with_capacity(m.n)).collect();
            for row in m.data.chunks_exact(m.d) {
                for (c, &j) in cols.iter_mut().zip(group) {
                    if !row[j].is_nan() {
                        c.push(row[j]);
                    }
                }
            }
            let deciles: Vec<Vec<f64>> = cols.par_iter().map(|c| quantiles(c, &DECILES)).collect();
            for ((&j, col), deciles) in group.iter().zip(&cols).zip(deciles) {
                let name = &m.names[j];
                if col.is_empty() {
                    return Err(Error::input(format!(
                        "column '{name}' has no values at all: nothing to cluster or impute from"
                    )));
                }
                if impute {
                    report.imputed_values += m.n - col.len();
                }
                columns.push(ColumnPrep {
                    name: name.clone(),
                    log1p: log1p.contains(name),
                    median: deciles[4],
                    deciles,
                    center: 0.0,
                    scale: 1.0,
                });
            }
        }
        let mut p = FittedPrep {
            scaling,
            columns,
            categorical: Vec::new(),
        };
        // Imputation and log1p first: the scale is fitted on their result.
        p.impute_and_log(&mut m.data, impute)
            .map_err(|e| p.negative_error(e, "matrix row"))?;
        let moments = match scaling {
            Scaling::Zscore => mean_var(m),
            _ => Vec::new(),
        };
        let d = m.d;
        for (j, c) in p.columns.iter_mut().enumerate() {
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
        p.scale_in_place(&mut m.data);
        Ok((p, report))
    }

    /// Learns the categorical columns (`cats`: each column's dictionary and a code per row of `m`, which
    /// is already prepared) and widens `m` with their indicator blocks. Returns warnings.
    pub fn fit_categorical(
        &mut self,
        m: &mut FeatureMatrix,
        names: &[String],
        cats: &[(Dictionary, Vec<u32>)],
        min_share: f64,
        impute: bool,
    ) -> Vec<String> {
        if cats.is_empty() {
            return Vec::new();
        }
        // One categorical column weighs like one numeric feature: the mean prepared numeric variance.
        let var = mean_var(m);
        let target = var.iter().map(|(_, v)| v).sum::<f64>() / var.len().max(1) as f64;
        let mut warnings = Vec::new();
        self.categorical = names
            .iter()
            .zip(cats)
            .map(|(name, (dict, codes))| {
                let mut c = CategoricalPrep::fit(name, &dict.values, codes, min_share);
                if !c.set_weight(target) {
                    warnings.push(format!(
                        "categorical feature '{name}' has a single category; it cannot separate segments"
                    ));
                }
                c
            })
            .collect();
        let codes: Vec<Vec<u32>> = self
            .categorical
            .iter()
            .zip(cats)
            .map(|(c, (dict, codes))| {
                let lookup = c.lookup();
                let map: Vec<u32> = dict.values.iter().map(|v| c.code(&lookup, v).0).collect();
                codes
                    .iter()
                    .map(|&x| {
                        if x == MISSING {
                            MISSING
                        } else {
                            map[x as usize]
                        }
                    })
                    .collect()
            })
            .collect();
        m.data = self.expand(std::mem::take(&mut m.data), m.n, &codes, impute);
        m.d = self.prepared_d();
        m.names = self.prepared_names();
        warnings
    }

    /// Prepared rows: the prepared numeric rows (`numeric`, n × numeric features) followed by each
    /// categorical column's indicators for the category codes in `codes` (one Vec per column; a missing
    /// code takes the training mode when `impute`).
    pub fn expand(
        &self,
        numeric: Vec<f32>,
        n: usize,
        codes: &[Vec<u32>],
        impute: bool,
    ) -> Vec<f32> {
        if self.categorical.is_empty() {
            return numeric;
        }
        let (dn, dp) = (self.columns.len(), self.prepared_d());
        let mut out = vec![0f32; n * dp];
        for (i, row) in out.chunks_exact_mut(dp).enumerate() {
            row[..dn].copy_from_slice(&numeric[i * dn..(i + 1) * dn]);
            let mut at = dn;
            for (c, col) in self.categorical.iter().zip(codes) {
                let code = match col[i] {
                    MISSING if impute => c.mode,
                    MISSING => unreachable!("missing categories are dropped or rejected before"),
                    x => x as usize,
                };
                row[at + code] = c.weight as f32;
                at += c.categories.len();
            }
        }
        out
    }

    /// Columns of the prepared space: numeric features, then every categorical indicator.
    pub fn prepared_d(&self) -> usize {
        self.columns.len()
            + self
                .categorical
                .iter()
                .map(|c| c.categories.len())
                .sum::<usize>()
    }

    /// Names of the prepared columns: numeric features, then "column=category".
    pub fn prepared_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| c.name.clone())
            .chain(self.categorical.iter().flat_map(|c| c.column_names()))
            .collect()
    }

    /// Prepares rows (row-major, this preparation's columns) in place exactly as `fit_transform` prepared
    /// the training rows, value for value: so the same input gives the same bits. With `impute`, NaN
    /// entries take the training median; otherwise they stay NaN (the caller has dealt with them).
    pub fn transform(
        &self,
        data: &mut [f32],
        impute: bool,
    ) -> std::result::Result<(), NegativeLog> {
        self.impute_and_log(data, impute)?;
        self.scale_in_place(data);
        Ok(())
    }

    /// The error for a negative `--log1p` value; `where_` names what the row number counts.
    pub fn negative_error(&self, e: NegativeLog, where_: &str) -> Error {
        Error::input(format!(
            "--log1p column '{}' has the negative value {} at {where_} {}; log1p needs values >= 0",
            self.columns[e.column].name, e.value, e.row
        ))
    }

    /// Imputation and log1p in one parallel pass over fixed row blocks; the first negative log1p value
    /// in row order is an error.
    fn impute_and_log(
        &self,
        data: &mut [f32],
        impute: bool,
    ) -> std::result::Result<(), NegativeLog> {
        let d = self.columns.len();
        // Only the columns with work to do are visited in each row.
        let fill: Vec<(usize, f32)> = if impute {
            self.columns
                .iter()
                .enumerate()
                .map(|(j, c)| (j, c.median as f32))
                .collect()
        } else {
            Vec::new()
        };
        let logs: Vec<usize> = (0..d).filter(|&j| self.columns[j].log1p).collect();
        if fill.is_empty() && logs.is_empty() {
            return Ok(());
        }
        let bad = data
            .par_chunks_mut(PAR_ROWS * d)
            .enumerate()
            .map(|(ci, chunk)| {
                for (r, row) in chunk.chunks_exact_mut(d).enumerate() {
                    for &(j, f) in &fill {
                        if row[j].is_nan() {
                            row[j] = f;
                        }
                    }
                    for &j in &logs {
                        if row[j] < 0.0 {
                            return Some(NegativeLog {
                                column: j,
                                row: ci * PAR_ROWS + r,
                                value: row[j],
                            });
                        }
                        row[j] = row[j].ln_1p();
                    }
                }
                None
            })
            .find_first(Option::is_some)
            .flatten();
        bad.map_or(Ok(()), Err)
    }

    fn scale_in_place(&self, data: &mut [f32]) {
        if self.scaling == Scaling::None {
            return;
        }
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

    /// Maps a prepared value of column `j` back to original units (an indicator column: to a share).
    pub fn invert(&self, j: usize, v: f64) -> f64 {
        let Some(c) = self.columns.get(j) else {
            return v / self.indicator(j).weight;
        };
        let t = v * c.scale + c.center;
        if c.log1p { t.exp_m1() } else { t }
    }

    /// Maps a value of column `j` in original units into the prepared space.
    pub fn forward(&self, j: usize, v: f64) -> f64 {
        let c = &self.columns[j];
        let t = if c.log1p { v.ln_1p() } else { v };
        (t - c.center) / c.scale
    }

    /// The categorical column that prepared column `j` (an indicator) belongs to.
    fn indicator(&self, j: usize) -> &CategoricalPrep {
        let mut at = self.columns.len();
        for c in &self.categorical {
            at += c.categories.len();
            if j < at {
                return c;
            }
        }
        panic!("prepared column {j} out of range")
    }

    /// Numeric feature names.
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

text_enum!(Scaling { Zscore => "zscore", Minmax => "minmax", Robust => "robust", None => "none" });

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
        let (p, rep) = FittedPrep::fit_transform(&mut m, Scaling::Zscore, &[], false).unwrap();
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
            FittedPrep::fit_transform(&mut m, Scaling::Robust, &["money".into()], true).unwrap();
        // median of 0,3,7,15 (NaN ignored) = 5 imputed
        assert_eq!(p.columns[0].median, 5.0);
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
        let e = FittedPrep::fit_transform(&mut m, Scaling::None, &["x".into()], false).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }
}
