//! The row-major f32 feature matrix every backend consumes.

/// `n` rows × `d` features, row-major, f32 (the GPU's native width; sums are accumulated in f64).
#[derive(Debug, Clone)]
pub struct FeatureMatrix {
    pub data: Vec<f32>,
    pub n: usize,
    pub d: usize,
    pub names: Vec<String>,
}

impl FeatureMatrix {
    pub fn new(data: Vec<f32>, n: usize, names: Vec<String>) -> Self {
        let d = names.len();
        assert_eq!(data.len(), n * d, "matrix shape");
        FeatureMatrix { data, n, d, names }
    }

    /// Copies column `j` (for quantiles and other column statistics).
    pub fn column(&self, j: usize) -> Vec<f32> {
        self.data.iter().skip(j).step_by(self.d).copied().collect()
    }
}
