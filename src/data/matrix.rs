//! The row-major f32 feature matrix every backend consumes.

/// `n` rows × `d` features, row-major. The raw input is held in f64 (original units, NaN = missing) and
/// the prepared matrix every backend consumes in f32 (the GPU's native width; sums are accumulated in f64).
#[derive(Debug, Clone)]
pub struct FeatureMatrix<T = f32> {
    pub data: Vec<T>,
    pub n: usize,
    pub d: usize,
    pub names: Vec<String>,
}

impl<T: Copy> FeatureMatrix<T> {
    pub fn new(data: Vec<T>, n: usize, names: Vec<String>) -> Self {
        let d = names.len();
        assert_eq!(data.len(), n * d, "matrix shape");
        FeatureMatrix { data, n, d, names }
    }

    /// The values of column `j`, row by row.
    pub fn values(&self, j: usize) -> impl Iterator<Item = T> + '_ {
        self.data.iter().skip(j).step_by(self.d).copied()
    }
}

/// A zeroed vector of `n` elements whose size comes from input metadata or arguments, or None when this
/// machine cannot allocate it: callers turn that into an error naming the size, where a plain `vec!` would
/// abort the process (a corrupt footer claiming billions of rows).
pub fn try_zeroed<T: Clone + Default>(n: usize) -> Option<Vec<T>> {
    // The vector is advised onto huge pages before it is filled.
    can_allocate::<T>(n).then(|| super::pages::zeros(n))
}

/// Whether this machine's allocator grants `n` elements of `T`: asked by reserving, without touching the
/// memory (a probe for a buffer allocated later).
pub fn can_allocate<T>(n: usize) -> bool {
    let bytes_fit = n
        .checked_mul(size_of::<T>())
        .is_some_and(|b| b <= isize::MAX as usize);
    bytes_fit && Vec::<T>::new().try_reserve_exact(n).is_ok()
}

/// `bytes` for a message ("134.4 GB").
pub fn human_bytes(bytes: f64) -> String {
    let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}
