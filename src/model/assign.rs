//! [`Model::assign`]: new rows from an array, prepared with the model's fitted preparation and assigned
//! with the same nearest-centroid pass as `strata assign`.

use ndarray::{Array1, ArrayView2};

use super::Model;
use crate::compute::{Backend, CpuBackend, Dataset};
use crate::data::Missing;
use crate::error::{Error, Result};

/// Segments of new rows (see [`Model::assign`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    /// Segment id of each row.
    pub segment: Array1<u32>,
    /// Euclidean distance to that segment's centroid, in the prepared space.
    pub distance: Array1<f32>,
    /// The second-nearest segment of each row; None when the model has a single segment.
    pub second_segment: Option<Array1<u32>>,
    /// Distance to the second-nearest segment minus `distance` (how clear-cut the choice is).
    pub margin: Option<Array1<f32>>,
}

impl Model {
    /// Assigns the rows of `x` (one column per model feature, in the model's feature order, original
    /// units) on the CPU. Missing values (NaN) take the training median when the model was fitted with
    /// `Missing::Median`; otherwise they are an error naming the feature and row.
    ///
    /// ```
    /// use ndarray::array;
    /// use strata::KMeans;
    ///
    /// let x = array![[1.0f32, 1.0], [1.2, 0.8], [9.0, 9.0], [9.1, 8.7]];
    /// let model = KMeans::params(2).seed(7).fit(&x.view()).unwrap();
    /// let new = array![[1.1f32, 0.9], [8.0, 9.5]];
    /// let a = model.assign(&new.view()).unwrap();
    /// // Segment ids follow size, then centroid order; the two new rows land in different segments,
    /// // each with the training rows next to it.
    /// let train = model.assign(&x.view()).unwrap();
    /// assert_eq!(a.segment[0], train.segment[0]);
    /// assert_eq!(a.segment[1], train.segment[2]);
    /// assert_ne!(a.segment[0], a.segment[1]);
    /// ```
    pub fn assign(&self, x: &ArrayView2<f32>) -> Result<Assigned> {
        self.assign_on(x, &CpuBackend::default())
    }

    /// [`Model::assign`] on the given device.
    pub fn assign_on(&self, x: &ArrayView2<f32>, backend: &dyn Backend) -> Result<Assigned> {
        let (n, d) = x.dim();
        if !self.preparation.categorical.is_empty() {
            return Err(Error::input(
                "this model has categorical features, which an f32 array cannot hold; assign with `strata assign`",
            ));
        }
        if d != self.features.len() {
            return Err(Error::input(format!(
                "the array has {d} columns; the model has {} features ({})",
                self.features.len(),
                self.feature_names().join(", ")
            )));
        }
        let raw: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let impute = self.missing == Missing::Median;
        if let Some(e) = raw
            .iter()
            .position(|v| !(v.is_finite() || impute && v.is_nan()))
        {
            return Err(Error::input(format!(
                "feature '{}' holds {} at row {} (0-based); {}",
                self.features[e % d].name,
                raw[e],
                e / d,
                if raw[e].is_nan() {
                    "the model was not fitted to impute missing values"
                } else {
                    "infinite values cannot be assigned"
                }
            )));
        }
        let prep = &self.preparation;
        let mut data = vec![0f32; raw.len()];
        prep.transform(&raw, &mut data, impute)
            .map_err(|e| prep.value_error(e, "row"))?;
        let near = if n == 0 {
            crate::compute::Nearest::empty()
        } else {
            backend
                .load(Dataset::new(&data, d, None))?
                .nearest(&self.centroids(), self.k())?
        };
        let ids: Vec<u32> = self.segments.iter().map(|s| s.id).collect();
        let seconds: Option<Vec<(u32, f32)>> = (0..n).map(|i| near.second(i)).collect();
        Ok(Assigned {
            segment: near.labels.iter().map(|&l| ids[l as usize]).collect(),
            distance: (0..n).map(|i| near.distance(i)).collect(),
            second_segment: seconds
                .as_ref()
                .map(|s| s.iter().map(|&(l, _)| ids[l as usize]).collect()),
            margin: seconds.map(|s| s.iter().map(|&(_, m)| m).collect()),
        })
    }
}
