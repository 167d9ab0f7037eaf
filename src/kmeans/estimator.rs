//! k-means as a library estimator on ndarray arrays and on Arrow record batches: checked parameters →
//! [`Model`], the same model file and the same engine as `strata fit` (an array's columns are features
//! `x0`, `x1`, …; a batch's keep their names).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use ndarray::{ArrayView1, ArrayView2};

use super::{KMeansConfig, KMeansParams};
use crate::compute::kernel::Isa;
use crate::compute::select::{run_with_fallback, select};
use crate::compute::{Dataset, GpuOptions};
use crate::data::{FeatureMatrix, Missing, RawColumns};
use crate::error::{Error, Result};
use crate::model::{self, Feature, FitRecord, Model, ModelParts, Role};
use crate::prep::FittedPrep;

impl KMeansParams {
    /// Checks the parameters, then fits (see [`KMeansConfig::fit`]).
    pub fn fit(self, x: &ArrayView2<f32>) -> Result<Model> {
        self.check()?.fit(x)
    }

    /// Checks the parameters, then fits the named columns of record batches (see
    /// [`KMeansConfig::fit_batches`]).
    pub fn fit_batches(self, batches: &[RecordBatch], features: &[&str]) -> Result<Model> {
        self.check()?.fit_batches(batches, features)
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

    /// Fits k-means to the `features` columns of `batches` (a pyarrow table's, a Spark partition's), read
    /// as f64: the model names its features after them, with their Arrow types. Every column must be
    /// numeric and hold no null.
    pub fn fit_batches(&self, batches: &[RecordBatch], features: &[&str]) -> Result<Model> {
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let d = features.len();
        let mut data = vec![0.0f64; n * d];
        let mut types = vec![DataType::Float64; d];
        for (j, &name) in features.iter().enumerate() {
            let mut first = 0;
            for b in batches {
                let c = b
                    .column_by_name(name)
                    .ok_or_else(|| Error::input(format!("the batches have no column '{name}'")))?;
                if !crate::data::load::numeric_type(c.data_type()) {
                    return Err(Error::input(format!(
                        "column '{name}' has type {}, not a number",
                        c.data_type()
                    )));
                }
                types[j] = c.data_type().clone();
                let a = arrow_cast::cast(c, &DataType::Float64)
                    .map_err(|e| Error::input(format!("column '{name}': {e}")))?;
                let a = a.as_primitive::<Float64Type>();
                if let Some(i) = (0..a.len()).find(|&i| a.is_null(i)) {
                    return Err(Error::input(format!(
                        "column '{name}' has a null at row {}: k-means needs a value in every row",
                        first + i
                    )));
                }
                for (i, &v) in a.values().iter().enumerate() {
                    data[(first + i) * d + j] = v;
                }
                first += b.num_rows();
            }
        }
        let names = features.iter().map(|f| f.to_string()).collect();
        self.fit_values(names, types, data, None)
    }

    fn fit_rows(&self, x: &ArrayView2<f32>, weights: Option<Vec<f32>>) -> Result<Model> {
        let d = x.ncols();
        let data: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let names: Vec<String> = (0..d).map(|j| format!("x{j}")).collect();
        self.fit_values(names, vec![DataType::Float32; d], data, weights)
    }

    /// Fits the rows of `data` (row-major, one value per feature of `names`, of Arrow `types`).
    fn fit_values(
        &self,
        names: Vec<String>,
        types: Vec<DataType>,
        data: Vec<f64>,
        weights: Option<Vec<f32>>,
    ) -> Result<Model> {
        let d = names.len();
        let n = data.len() / d.max(1);
        if let Some(e) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::input(format!(
                "column '{}' holds {} at row {}: k-means needs finite values",
                names[e % d],
                data[e],
                e / d
            )));
        }
        let raw = FeatureMatrix::new(data, n, names.clone());
        let (prep, m, _) =
            FittedPrep::fit_transform(&RawColumns::in_memory(raw), self.scaling, &[], false)?;
        let ds = Dataset::new(&m.data, d, weights.as_deref());
        let sel = select(self.device, Isa::detect(), GpuOptions::default(), &|_| {})?;
        let fit = run_with_fallback(&sel, &|_| {}, |b| super::fit(b, &ds, self))?.value;
        let schema = Schema::new(
            (names.iter().zip(&types))
                .map(|(n, t)| Field::new(n, t.clone(), false))
                .collect::<Vec<_>>(),
        );
        let parts = ModelParts {
            features: (names.into_iter().zip(&types))
                .map(|(name, t)| Feature {
                    name,
                    input_type: t.to_string(),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float32Array, Int64Array, RecordBatch, StringArray};
    use ndarray::Array2;

    use crate::KMeans;

    /// Record batches fit as the same values in an ndarray do (bit for bit), their columns named and typed
    /// in the model; a missing, text or null column is an error that names it.
    #[test]
    fn record_batches_fit_as_the_array_of_their_values() {
        let a: Vec<f32> = (0..40)
            .map(|i| (i % 7) as f32 + if i < 20 { 0.0 } else { 30.0 })
            .collect();
        let b: Vec<i64> = (0..40)
            .map(|i| (i % 5) as i64 * 3 + if i < 20 { 0 } else { 50 })
            .collect();
        let batch = |r: std::ops::Range<usize>| {
            RecordBatch::try_from_iter([
                (
                    "a",
                    Arc::new(Float32Array::from(a[r.clone()].to_vec())) as _,
                ),
                ("b", Arc::new(Int64Array::from(b[r.clone()].to_vec())) as _),
                (
                    "name",
                    Arc::new(StringArray::from_iter_values(r.map(|i| format!("c{i}")))) as _,
                ),
            ])
            .unwrap()
        };
        let batches = [batch(0..25), batch(25..40)];
        let cfg = KMeans::params(2).n_init(3).seed(7).check().unwrap();
        let from_batches = cfg.fit_batches(&batches, &["a", "b"]).unwrap();
        let x = Array2::from_shape_fn((40, 2), |(i, j)| if j == 0 { a[i] } else { b[i] as f32 });
        let from_array = cfg.fit(&x.view()).unwrap();
        assert_eq!(from_batches.centroids(), from_array.centroids());
        assert_eq!(
            from_batches.assign(&x.view()).unwrap().segment,
            from_array.assign(&x.view()).unwrap().segment
        );
        let names: Vec<_> = from_batches
            .features
            .iter()
            .map(|f| (f.name.as_str(), f.input_type.as_str()))
            .collect();
        assert_eq!(names, [("a", "Float32"), ("b", "Int64")]);
        for (features, says) in [
            (&["a", "zz"][..], "no column 'zz'"),
            (&["a", "name"][..], "'name' has type Utf8"),
        ] {
            let e = cfg.fit_batches(&batches, features).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let nulls = RecordBatch::try_from_iter([(
            "a",
            Arc::new(Float32Array::from(vec![Some(1.0), None])) as _,
        )])
        .unwrap();
        let e = cfg.fit_batches(&[nulls], &["a"]).unwrap_err().to_string();
        assert!(e.contains("'a' has a null at row 1"), "{e}");
    }
}
