//! k-means parameters in linfa's `ParamGuard` style: [`KMeans::params`] gives unchecked, buildable
//! [`KMeansParams`]; [`KMeansParams::check`] validates them into a [`KMeansConfig`], whose fields are
//! private, so invalid parameters cannot reach a fit.

use super::Init;
use crate::compute::DeviceChoice;
use crate::error::{Error, Result};
use crate::prep::Scaling;

/// Restarts by default (scikit-learn's `n_init`). The defaults live here only: the CLI, the nightly job
/// file and the library read them.
pub const N_INIT: usize = 10;
/// Lloyd iterations per restart at most, by default.
pub const MAX_ITER: usize = 300;
/// Convergence tolerance by default (relative to the mean feature variance, as scikit-learn's).
pub const TOL: f64 = 1e-4;
/// The random seed by default.
pub const SEED: u64 = 0;

/// Entry point of the k-means estimator: `KMeans::params(k)`.
pub struct KMeans;

impl KMeans {
    /// Parameters for `k` segments, with scikit-learn's defaults: k-means++ (k-means‖ from 200,000 rows),
    /// 10 restarts, 300 iterations, tol 1e-4, seed 0; no scaling; the best device (`auto`).
    pub fn params(k: usize) -> KMeansParams {
        KMeansParams(KMeansConfig {
            k,
            init: Init::Auto,
            n_init: N_INIT,
            max_iter: MAX_ITER,
            tol: TOL,
            seed: SEED,
            scaling: Scaling::None,
            device: DeviceChoice::Auto,
        })
    }
}

/// Unchecked parameters: set them with the builder methods, then [`check`](KMeansParams::check) them
/// (or call `fit`, which checks first).
///
/// ```
/// use strata::{KMeans, Kind};
///
/// let err = KMeans::params(3).n_init(0).check().unwrap_err();
/// assert_eq!(err.kind(), Kind::Usage);
/// assert_eq!(err.param_name(), Some("n_init"));
/// assert_eq!(err.to_string(), "`n_init` must be at least 1");
/// assert!(KMeans::params(3).tol(f64::NAN).check().is_err());
/// assert_eq!(KMeans::params(3).max_iter(50).check().unwrap().max_iter(), 50);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams(KMeansConfig);

/// Checked parameters: only [`KMeansParams::check`] makes one.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansConfig {
    pub(crate) k: usize,
    pub(crate) init: Init,
    pub(crate) n_init: usize,
    pub(crate) max_iter: usize,
    pub(crate) tol: f64,
    pub(crate) seed: u64,
    pub(crate) scaling: Scaling,
    pub(crate) device: DeviceChoice,
}

impl KMeansParams {
    /// How the initial centroids are chosen (`Init::Given` holds k × d centroids in the prepared space).
    pub fn init(mut self, init: Init) -> Self {
        self.0.init = init;
        self
    }
    /// Restarts; the lowest SSE wins (the earliest on ties). 1 with `Init::Given`.
    pub fn n_init(mut self, n: usize) -> Self {
        self.0.n_init = n;
        self
    }
    /// Lloyd iterations per restart at most.
    pub fn max_iter(mut self, n: usize) -> Self {
        self.0.max_iter = n;
        self
    }
    /// Stop when the squared centroid shift is at most `tol` × the mean feature variance.
    pub fn tol(mut self, tol: f64) -> Self {
        self.0.tol = tol;
        self
    }
    /// Same data and seed give bit-identical results, at any thread count.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// How features are scaled before clustering (by `fit` on an array; the CLI's default is z-score).
    pub fn scaling(mut self, scaling: Scaling) -> Self {
        self.0.scaling = scaling;
        self
    }
    /// Where `fit` on an array runs.
    pub fn device(mut self, device: DeviceChoice) -> Self {
        self.0.device = device;
        self
    }

    /// Validates the parameters; an invalid one is a usage error that names it.
    pub fn check(self) -> Result<KMeansConfig> {
        let c = self.0;
        if c.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if c.n_init == 0 {
            return Err(Error::param("n_init", "must be at least 1"));
        }
        if c.max_iter == 0 {
            return Err(Error::param("max_iter", "must be at least 1"));
        }
        if !(c.tol >= 0.0 && c.tol.is_finite()) {
            return Err(Error::param("tol", "must be a finite number >= 0"));
        }
        if let Init::Given(v) = &c.init {
            if v.is_empty() || v.len() % c.k != 0 {
                return Err(Error::param(
                    "init",
                    format!(
                        "holds {} values, not k = {} centroids of d values",
                        v.len(),
                        c.k
                    ),
                ));
            }
            if !v.iter().all(|x| x.is_finite()) {
                return Err(Error::param("init", "holds a non-finite value"));
            }
        }
        Ok(c)
    }
}

impl KMeansConfig {
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn init(&self) -> &Init {
        &self.init
    }
    pub fn n_init(&self) -> usize {
        self.n_init
    }
    /// Restarts that will run: `n_init`, or 1 when the initial centroids are given.
    pub fn restarts(&self) -> usize {
        if matches!(self.init, Init::Given(_)) {
            1
        } else {
            self.n_init
        }
    }
    pub fn max_iter(&self) -> usize {
        self.max_iter
    }
    pub fn tol(&self) -> f64 {
        self.tol
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn scaling(&self) -> Scaling {
        self.scaling
    }
    pub fn device(&self) -> DeviceChoice {
        self.device
    }
}
