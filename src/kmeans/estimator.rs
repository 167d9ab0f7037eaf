//! k-means as a library estimator on ndarray arrays: checked parameters → [`Model`], the same model
//! file and the same engine as `strata fit` (the array's columns are features `x0`, `x1`, …).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use ndarray::{ArrayView1, ArrayView2};

use super::{KMeansConfig, KMeansParams};
use crate::compute::kernel::Isa;
use crate::compute::select::{run_with_fallback, select};
use crate::compute::{Dataset, GpuOptions};
use crate::data::{FeatureMatrix, Missing};
use crate::error::{Error, Result};
use crate::model::{self, Feature, FitRecord, Model, ModelParts, Role};
use crate::prep::FittedPrep;

impl KMeansParams {
    /// Checks the parameters, then fits (see [`KMeansConfig::fit`]).
    pub fn fit(self, x: &ArrayView2<f32>) -> Result<Model> {
        self.check()?.fit(x)
    }

    /// Checks the parameters, then fits with sample weights (see [`KMeansConfig::fit_weighted`]).
    pub fn fit_weighted(self, x: &ArrayView2<f32>, weights: &ArrayView1<f32>) -> Result<Model> {
        self.check()?.fit_weighted(x, weights)
    }
}

impl KMeansConfig {
    /// Fits k-means to the rows of `x` (n × d, any memory layout). Values must be finite.
    ///
    /// ```
    /// use ndarray::array;
    /// use strata::{KMeans, prep::Scaling};
    ///
    /// let x = array![[1.0f32, 2.0], [1.5, 1.8], [8.0, 8.0], [8.5, 7.5], [1.2, 2.2]];
    /// let params = KMeans::params(2).n_init(4).seed(1).scaling(Scaling::Zscore).check()?;
    /// let model = params.fit(&x.view())?;
    /// assert_eq!(model.k(), 2);
    /// // Segment 0 is the largest: the three rows near (1, 2).
    /// assert_eq!(model.segments[0].training_customers, 3);
    /// let a = model.assign(&x.view())?;
    /// assert_eq!(a.segment.to_vec(), vec![0, 0, 1, 1, 0]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn fit(&self, x: &ArrayView2<f32>) -> Result<Model> {
        self.fit_rows(x, None)
    }

    /// Like [`fit`](Self::fit), with a non-negative weight per row (scikit-learn's `sample_weight`).
    pub fn fit_weighted(&self, x: &ArrayView2<f32>, weights: &ArrayView1<f32>) -> Result<Model> {
        if weights.len() != x.nrows() {
            return Err(Error::input(format!(
                "{} weights for {} rows",
                weights.len(),
                x.nrows()
            )));
        }
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::input(format!(
                "weight {} at row {i} is not a finite number >= 0",
                weights[i]
            )));
        }
        self.fit_rows(x, Some(weights.to_vec()))
    }

    fn fit_rows(&self, x: &ArrayView2<f32>, weights: Option<Vec<f32>>) -> Result<Model> {
        let (n, d) = x.dim();
        let data: Vec<f32> = x.iter().copied().collect();
        if let Some(e) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::input(format!(
                "column {} holds {} at row {}: k-means needs finite values",
                e % d,
                data[e],
                e / d
            )));
        }
        let names: Vec<String> = (0..d).map(|j| format!("x{j}")).collect();
        let raw = FeatureMatrix::new(data.iter().map(|&v| v as f64).collect(), n, names.clone());
        let (prep, m, _) = FittedPrep::fit_transform(&raw, self.scaling, &[], false)?;
        let ds = Dataset::new(&m.data, d, weights.as_deref());
        let sel = select(self.device, Isa::detect(), GpuOptions::default(), &|_| {})?;
        let fit = run_with_fallback(&sel, &|_| {}, |b| super::fit(b, &ds, self))?.value;
        let schema = Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Float32, false))
                .collect::<Vec<_>>(),
        );
        let parts = ModelParts {
            features: names
                .into_iter()
                .map(|name| Feature {
                    name,
                    input_type: DataType::Float32.to_string(),
                    role: Role::Numeric,
                })
                .collect(),
            id_column: None,
            weight_column: None,
            missing: Missing::Error,
            preparation: prep,
            record: FitRecord {
                init: self.init.clone().resolve(n).to_string(),
                n_init: self.n_init,
                seed: self.seed,
                tol: self.tol,
                max_iter: self.max_iter,
                sse: fit.sse,
                iterations: fit.iterations,
                converged: fit.converged,
            },
            training_rows: n,
            schema_fingerprint: model::schema_fingerprint(&Arc::new(schema)),
        };
        Ok(Model::from_fit(parts, &fit, &m))
    }
}
