//! Feature preparation: median imputation, log1p for skewed money columns, and scaling. The fitted
//! [`FittedPrep`] is saved in the model so that later runs prepare data exactly the same way, and it inverts
//! the transform so that centroids and profiles are reported in original units.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::compute::sum_in_order;
use crate::data::{FeatureMatrix, RawColumns};
use crate::error::{Error, Result};
use crate::quantile::quantiles;

pub(crate) mod categorical;

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
    /// Per numeric feature, of the values present: min, 25 %, median, 75 %, max (what the profiles' overall
    /// row reports, selected here with the model's deciles instead of again).
    pub quartiles: Vec<[f64; 5]>,
    /// When only a sample's rows were prepared: each prepared numeric column's mean and variance over every
    /// row (what [`mean_var`] gives on the whole prepared matrix).
    pub spread: Vec<(f64, f64)>,
}

const PAR_ROWS: usize = 16_384;
/// The deciles the model keeps, then the extremes and quartiles the profiles report: one selection for both.
const QUANTILES: [f64; 13] = [
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.0, 0.25, 0.75, 1.0,
];

/// The kept rows a prepared matrix holds when it holds a sample's only, and every prepared numeric column's
/// mean and variance over all rows.
pub type SampleRows<'a> = (&'a [u32], &'a [(f64, f64)]);

/// A raw value the preparation cannot take, found while preparing: a negative value of a `--log1p` column,
/// or one whose prepared value is too large for single-precision squared distances.
#[derive(Debug, Clone, Copy)]
pub struct BadValue {
    pub column: usize,
    pub row: usize,
    pub value: f64,
    pub negative_log: bool,
}

/// The largest prepared magnitude accepted: squared distances over many features stay far inside f32's
/// range (3.4e38), and a feature this far from the rest means the scale is wrong, not a customer.
pub const MAX_PREPARED: f64 = 1e15;

impl FittedPrep {
    /// Fits the preparation on the raw matrix (original units in f64, NaN = missing) and returns it with the
    /// prepared f32 matrix. Every statistic and every prepared value is computed in f64 from the original
    /// values and rounded to f32 once, at the end: int64 amounts beyond f32's 24-bit precision keep their
    /// spread, and a value whose square would overflow is an error instead of a silently wrong fit.
    /// `impute` fills missing entries with the column median; otherwise there must be none.
    pub fn fit_transform(
        raw: &RawColumns,
        scaling: Scaling,
        log1p: &[String],
        impute: bool,
    ) -> Result<(Self, FeatureMatrix<f32>, PrepReport)> {
        Self::fit_transform_rows(raw, (scaling, log1p, impute), None)
    }

    /// [`fit_transform`](Self::fit_transform) fitted on every row but returning only the prepared rows
    /// `rows` (ascending), when given: a sample the clustering runs on. Every value is still checked, and
    /// the report's `spread` holds each prepared column's mean and variance over every row.
    pub fn fit_transform_rows(
        raw: &RawColumns,
        (scaling, log1p, impute): (Scaling, &[String], bool),
        rows: Option<&[u32]>,
    ) -> Result<(Self, FeatureMatrix<f32>, PrepReport)> {
        let mut report = PrepReport {
            quartiles: vec![[f64::NAN; 5]; raw.d()],
            ..Default::default()
        };
        for name in log1p {
            if !raw.names.contains(name) {
                return Err(Error::usage(format!(
                    "`log1p` names '{name}', which is not one of the feature columns"
                )));
            }
        }
        let (n, d) = (raw.n, raw.d());
        let mut p = FittedPrep {
            scaling,
            columns: (raw.names.iter())
                .map(|name| ColumnPrep {
                    name: name.clone(),
                    log1p: log1p.contains(name),
                    median: f64::NAN,
                    deciles: Vec::new(),
                    center: 0.0,
                    scale: 1.0,
                })
                .collect(),
            categorical: Vec::new(),
        };
        let m = rows.map_or(n, <[u32]>::len);
        let mut out = crate::data::pages::zeros(m * d);
        let mut prepared = Vec::new();
        // One feature at a time (its column in memory, then its place in every prepared row): the deciles
        // and median of the original values, then the centre and scale of t(x), the imputed and
        // log-transformed values, all in f64. The errors keep their precedence as if the whole matrix were
        // checked at once: a negative log1p value first, then a column without values, then a value too
        // large; each the first in row order.
        let (mut negative, mut empty, mut large) =
            (None::<BadValue>, None::<usize>, None::<BadValue>);
        let first = |a: Option<BadValue>, b: Option<BadValue>| match (a, b) {
            (Some(a), Some(b)) => Some(if (b.row, b.column) < (a.row, a.column) {
                b
            } else {
                a
            }),
            (a, b) => a.or(b),
        };
        let (mut col, mut kept) = (Vec::new(), Vec::new());
        for j in 0..d {
            raw.column_into(j, &mut col)?;
            let c = &mut p.columns[j];
            if c.log1p
                && let Some(row) = col.iter().position(|&v| v < 0.0)
            {
                let bad = BadValue {
                    column: j,
                    row,
                    value: col[row],
                    negative_log: true,
                };
                negative = first(negative, Some(bad));
            }
            // The values present: the column itself unless some are missing.
            let gaps = col.iter().any(|v| v.is_nan());
            if gaps {
                kept.clear();
                kept.extend(col.iter().copied().filter(|v| !v.is_nan()));
            }
            let present = if gaps { &kept[..] } else { &col[..] };
            if present.is_empty() {
                empty = empty.or(Some(j));
                continue;
            }
            if impute {
                report.imputed_values += n - present.len();
            }
            let q = quantiles(present, &QUANTILES);
            c.deciles = q[..9].to_vec();
            c.median = q[4];
            report.quartiles[j] = [q[9], q[10], q[4], q[11], q[12]];
            (c.center, c.scale) = c.spread(present, n, scaling);
            if !(c.scale > 0.0 && c.scale.is_finite()) {
                if scaling != Scaling::None {
                    report.warnings.push(format!(
                        "feature '{}' has zero spread; using scale 1",
                        c.name
                    ));
                }
                c.scale = 1.0;
            }
            if negative.is_some() || empty.is_some() {
                continue;
            }
            let Some(rows) = rows else {
                large = first(large, c.transform_column(j, &col, &mut out, d, impute));
                continue;
            };
            // Every row prepared (and checked) for the column's spread; the sample's rows kept.
            large = first(large, c.transform_column(0, &col, &mut prepared, 1, impute));
            prepared.truncate(col.len());
            report.spread.push(column_mean_var(&prepared));
            for (o, &r) in out.chunks_exact_mut(d).zip(rows) {
                o[j] = prepared[r as usize];
            }
        }
        if let Some(e) = negative.or(large.filter(|_| empty.is_none())) {
            return Err(p.value_error(e, "matrix row"));
        }
        if let Some(j) = empty {
            return Err(Error::input(format!(
                "column '{}' has no values at all: nothing to cluster or impute from",
                raw.names[j]
            )));
        }
        Ok((p, FeatureMatrix::new(out, m, raw.names.clone()), report))
    }

    /// Learns the categorical columns (`cats`: each column's dictionary and a code per kept row) and widens
    /// `m` (prepared: every kept row, or with `sample` the rows it names and the numeric columns' spread over
    /// every row) with their indicator blocks. Returns warnings.
    pub fn fit_categorical(
        &mut self,
        m: &mut FeatureMatrix,
        (names, cats): (&[String], &[(Dictionary, Vec<u32>)]),
        min_share: f64,
        impute: bool,
        sample: Option<SampleRows>,
    ) -> Vec<String> {
        if cats.is_empty() {
            return Vec::new();
        }
        // One categorical column weighs like one numeric feature: the mean prepared numeric variance
        // (over every row, also when `m` holds a sample's rows only).
        let var = sample.map_or_else(|| mean_var(m), |(_, spread)| spread.to_vec());
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
                let mine: Box<dyn Iterator<Item = &u32>> = match sample {
                    Some((rows, _)) => Box::new(rows.iter().map(|&r| &codes[r as usize])),
                    None => Box::new(codes.iter()),
                };
                mine.map(|&x| {
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
        let mut out = crate::data::pages::zeros(n * dp);
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

    /// Prepares raw rows (row-major, original units in f64, this preparation's numeric columns) into `out`
    /// exactly as `fit_transform` prepared the training rows, value for value: the same input gives the same
    /// bits. With `impute`, NaN entries take the training median; otherwise they stay NaN (the caller has
    /// dealt with them). The first bad value in row order is returned.
    pub fn transform(
        &self,
        raw: &[f64],
        out: &mut [f32],
        impute: bool,
    ) -> std::result::Result<(), BadValue> {
        let d = self.columns.len();
        let bad = raw
            .par_chunks(PAR_ROWS * d)
            .zip(out.par_chunks_mut(PAR_ROWS * d))
            .enumerate()
            .map(|(ci, (rows, outs))| {
                for (r, (row, o)) in rows
                    .chunks_exact(d)
                    .zip(outs.chunks_exact_mut(d))
                    .enumerate()
                {
                    for (j, ((c, &v), o)) in self.columns.iter().zip(row).zip(o).enumerate() {
                        match c.prepare(v, impute) {
                            Ok(p) => *o = p,
                            Err(negative_log) => {
                                return Some(BadValue {
                                    column: j,
                                    row: ci * PAR_ROWS + r,
                                    value: v,
                                    negative_log,
                                });
                            }
                        }
                    }
                }
                None
            })
            .find_first(Option::is_some)
            .flatten();
        bad.map_or(Ok(()), Err)
    }

    /// The error for a value the preparation cannot take; `where_` names what the row number counts.
    pub fn value_error(&self, e: BadValue, where_: &str) -> Error {
        let name = &self.columns[e.column].name;
        if e.negative_log {
            return Error::input(format!(
                "`log1p` column '{name}' has the negative value {} at {where_} {}; log1p needs values >= 0",
                e.value, e.row
            ));
        }
        Error::input(format!(
            "column '{name}' holds {:e} at {where_} {}, which is {:e} in the clustering space (`scale` {}): squared distances would overflow single precision; scale the features (`scale` zscore, `log1p`) or fix the value",
            e.value,
            e.row,
            self.forward(e.column, e.value),
            self.scaling
        ))
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

impl ColumnPrep {
    /// Centre and scale of t(x) over `n` rows, of which `col` holds the values present (the rest are
    /// imputed with the median).
    fn spread(&self, col: &[f64], n: usize, scaling: Scaling) -> (f64, f64) {
        let missing = n - col.len();
        let fill = self.t(self.median, false);
        let t = || col.iter().map(|&v| self.t(v, false));
        match scaling {
            Scaling::None => (0.0, 1.0),
            Scaling::Zscore => {
                let mean = (t().sum::<f64>() + missing as f64 * fill) / n as f64;
                let ss = t().map(|v| (v - mean).powi(2)).sum::<f64>()
                    + missing as f64 * (fill - mean).powi(2);
                (mean, (ss / n as f64).sqrt())
            }
            Scaling::Minmax => {
                let init = if missing > 0 {
                    (fill, fill)
                } else {
                    (f64::INFINITY, f64::NEG_INFINITY)
                };
                let (lo, hi) = t().fold(init, |(lo, hi), v| (lo.min(v), hi.max(v)));
                (lo, hi - lo)
            }
            Scaling::Robust => {
                let all: Vec<f64> = t().chain(std::iter::repeat_n(fill, missing)).collect();
                let q = quantiles(&all, &[0.25, 0.5, 0.75]);
                (q[1], q[2] - q[0])
            }
        }
    }

    /// The prepared value of `v` (in f64, rounded to f32 once), or the check it fails: `Err(true)` a
    /// negative value of a log1p column, `Err(false)` a prepared magnitude beyond [`MAX_PREPARED`].
    #[inline]
    pub(crate) fn prepare(&self, v: f64, impute: bool) -> std::result::Result<f32, bool> {
        if self.log1p && v < 0.0 {
            return Err(true);
        }
        // Under --scale none, center 0 and scale 1 leave t exactly as it is.
        let p = (self.t(v, impute) - self.center) / self.scale;
        if p.abs() > MAX_PREPARED {
            return Err(false);
        }
        Ok(p as f32)
    }

    /// Prepares feature `j`'s column `col` into its place in every row of `out` (row-major, `d` columns);
    /// the first value it cannot take, in row order.
    fn transform_column(
        &self,
        j: usize,
        col: &[f64],
        out: &mut Vec<f32>,
        d: usize,
        impute: bool,
    ) -> Option<BadValue> {
        out.resize(col.len() * d, 0.0);
        (out.par_chunks_mut(PAR_ROWS * d)
            .zip(col.par_chunks(PAR_ROWS))
            .enumerate())
        .map(|(ci, (rows, vs))| {
            for (r, (o, &v)) in rows.chunks_exact_mut(d).zip(vs).enumerate() {
                match self.prepare(v, impute) {
                    Ok(p) => o[j] = p,
                    Err(negative_log) => {
                        let row = ci * PAR_ROWS + r;
                        return Some(BadValue {
                            column: j,
                            row,
                            value: v,
                            negative_log,
                        });
                    }
                }
            }
            None
        })
        .find_first(Option::is_some)
        .flatten()
    }

    /// t(x): the missing value imputed (when `impute`), then log1p where asked; in f64.
    #[inline]
    fn t(&self, v: f64, impute: bool) -> f64 {
        let v = if impute && v.is_nan() { self.median } else { v };
        if self.log1p { v.ln_1p() } else { v }
    }
}

/// Mean and population variance of every column of a prepared matrix (two passes in f64, stable).
pub fn mean_var(m: &FeatureMatrix<f32>) -> Vec<(f64, f64)> {
    let n = m.n as f64;
    let mean: Vec<f64> = column_sums(&m.data, m.d, |_, v| v as f64)
        .iter()
        .map(|s| s / n)
        .collect();
    let var = column_sums(&m.data, m.d, |j, v| (v as f64 - mean[j]).powi(2));
    mean.iter().zip(var).map(|(&m, v)| (m, v / n)).collect()
}

/// Mean and population variance of one prepared column, summed as [`mean_var`] sums a matrix's columns
/// (blocks of rows in order), so that both give the same bits.
pub fn column_mean_var(col: &[f32]) -> (f64, f64) {
    let n = col.len() as f64;
    let sum = |f: &(dyn Fn(f32) -> f64 + Sync)| {
        let parts: Vec<f64> = (col.par_chunks(PAR_ROWS))
            .map(|c| c.iter().fold(0.0, |a, &v| a + f(v)))
            .collect();
        parts.iter().fold(0.0, |a, b| a + b)
    };
    let mean = sum(&|v| v as f64) / n;
    (mean, sum(&|v| (v as f64 - mean).powi(2)) / n)
}

/// Σ_rows f(j, x_j) for every column j of row-major `data` (`d` columns): row-major passes over fixed
/// blocks merged in block order (deterministic at any thread count).
fn column_sums<T: Copy + Sync>(
    data: &[T],
    d: usize,
    f: impl Fn(usize, T) -> f64 + Sync,
) -> Vec<f64> {
    let parts: Vec<Vec<f64>> = data
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

    fn matrix() -> FeatureMatrix<f64> {
        FeatureMatrix::new(
            vec![1.0, 10.0, 2.0, 10.0, 3.0, 10.0, 6.0, 10.0],
            4,
            vec!["a".into(), "b".into()],
        )
    }

    #[test]
    fn zscore_uses_population_std_and_warns_on_constant() {
        let (p, m, rep) = FittedPrep::fit_transform(
            &RawColumns::in_memory(matrix()),
            Scaling::Zscore,
            &[],
            false,
        )
        .unwrap();
        // mean 3, population variance (4+1+0+9)/4 = 3.5
        assert!((p.columns[0].center - 3.0).abs() < 1e-12);
        assert!((p.columns[0].scale - 3.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(p.columns[1].scale, 1.0);
        assert_eq!(rep.warnings.len(), 1);
        assert_eq!(m.data[0], (-2.0 / 3.5f64.sqrt()) as f32);
        assert!((p.invert(0, m.data[6] as f64) - 6.0).abs() < 1e-5);
    }

    #[test]
    fn robust_and_log1p_and_impute() {
        let raw = FeatureMatrix::new(vec![0.0, f64::NAN, 3.0, 7.0, 15.0], 5, vec!["money".into()]);
        let (p, m, rep) = FittedPrep::fit_transform(
            &RawColumns::in_memory(raw),
            Scaling::Robust,
            &["money".into()],
            true,
        )
        .unwrap();
        // median of 0,3,7,15 (NaN ignored) = 5 imputed
        assert_eq!(p.columns[0].median, 5.0);
        assert_eq!(rep.imputed_values, 1);
        let logged: Vec<f64> = [0.0f64, 5.0, 3.0, 7.0, 15.0]
            .iter()
            .map(|v| v.ln_1p())
            .collect();
        let mut s = logged.clone();
        s.sort_by(f64::total_cmp);
        assert_eq!(p.columns[0].center, s[2]);
        assert_eq!(p.columns[0].scale, s[3] - s[1]);
        assert!((p.invert(0, m.data[4] as f64) - 15.0).abs() < 1e-4);
        assert_eq!(p.forward(0, 15.0) as f32, m.data[4]);
    }

    #[test]
    fn large_values_keep_their_spread_and_overflow_is_an_error() {
        // 2^40 + i: f32 holds 24 bits, so these would all be one value before preparation in f64.
        let big = 2f64.powi(40);
        let raw = FeatureMatrix::new(
            (0..4).map(|i| big + i as f64).collect(),
            4,
            vec!["id".into()],
        );
        let (p, m, rep) =
            FittedPrep::fit_transform(&RawColumns::in_memory(raw), Scaling::Zscore, &[], false)
                .unwrap();
        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        assert_eq!(p.columns[0].center, big + 1.5);
        let sd = 1.25f64.sqrt();
        let want: Vec<f32> = [-1.5, -0.5, 0.5, 1.5]
            .iter()
            .map(|v| (v / sd) as f32)
            .collect();
        assert_eq!(m.data, want);
        let huge = || {
            RawColumns::in_memory(FeatureMatrix::new(
                vec![1e25, 2e25, 3e25],
                3,
                vec!["x".into()],
            ))
        };
        let e = FittedPrep::fit_transform(&huge(), Scaling::None, &[], false).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
        assert!(FittedPrep::fit_transform(&huge(), Scaling::Zscore, &[], false).is_ok());
    }

    #[test]
    fn log1p_rejects_negative() {
        let m = FeatureMatrix::new(vec![1.0, -2.0], 2, vec!["x".into()]);
        let e = FittedPrep::fit_transform(
            &RawColumns::in_memory(m),
            Scaling::None,
            &["x".into()],
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }
}
