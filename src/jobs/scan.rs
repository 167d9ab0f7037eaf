//! One pass of an input through a saved model: every row prepared with the model's fitted preparation and
//! assigned to the nearest of its segments, batch by batch in bounded memory. `assign` writes its labels
//! from this pass; a fit with `--previous` measures last night's model on tonight's customers with it.

use std::sync::Mutex;

use super::accumulate::Accumulator;
use crate::compute::{Backend, Dataset, Nearest};
use crate::data::load::{Columns, check_mostly_numeric, numeric_type, resolve};
use crate::data::{LoadSpec, Missing, Source};
use crate::error::{Error, Result};
use crate::model::{Model, Role};
use crate::pipeline::{PreparedBatch, stream_prepared};

/// What the pass counted.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub rows: usize,
    pub dropped: usize,
    pub imputed: usize,
    pub missing: Vec<usize>,
    /// Customers per segment (the model's segment order), and the sum of their squared distances.
    pub per_segment: Vec<u64>,
    pub sse: Vec<f64>,
    /// Values of each categorical feature that the model does not know.
    pub unseen: Vec<u64>,
}

impl Accumulator for Counts {
    fn fresh(&self) -> Self {
        Counts {
            missing: vec![0; self.missing.len()],
            per_segment: vec![0; self.per_segment.len()],
            sse: vec![0.0; self.sse.len()],
            unseen: vec![0; self.unseen.len()],
            ..Default::default()
        }
    }
    fn update(&mut self, b: &PreparedBatch, near: &Nearest) -> Result<()> {
        self.rows += b.rows.len();
        self.dropped += b.rows.iter().filter(|r| r.is_none()).count();
        self.imputed += b.imputed;
        let add = |a: &mut Vec<usize>, v: &[usize]| a.iter_mut().zip(v).for_each(|(a, m)| *a += m);
        add(&mut self.missing, &b.missing);
        self.unseen
            .iter_mut()
            .zip(&b.unseen)
            .for_each(|(a, u)| *a += u);
        for (&l, &d2) in near.labels.iter().zip(&near.dist2) {
            self.per_segment[l as usize] += 1;
            self.sse[l as usize] += d2 as f64;
        }
        Ok(())
    }
    fn merge(&mut self, o: Counts) {
        self.rows += o.rows;
        self.dropped += o.dropped;
        self.imputed += o.imputed;
        let add = |a: &mut Vec<usize>, v: &[usize]| a.iter_mut().zip(v).for_each(|(a, m)| *a += m);
        add(&mut self.missing, &o.missing);
        (self.unseen.iter_mut().zip(&o.unseen)).for_each(|(a, u)| *a += u);
        (self.per_segment.iter_mut().zip(&o.per_segment)).for_each(|(a, n)| *a += n);
        (self.sse.iter_mut().zip(&o.sse)).for_each(|(a, e)| *a += e);
    }
}

/// The model's features resolved in the input (any order, extra columns ignored), each checked to be
/// numeric, plus the id column.
pub fn model_columns(model: &Model, source: &Source, id: Option<String>) -> Result<Columns> {
    let schema = source.schema();
    check_mostly_numeric(source, &model.names_with(Role::Numeric))?;
    for f in model.features.iter().filter(|f| f.role == Role::Numeric) {
        let i = resolve(schema, &f.name, "model feature")?;
        let t = schema.field(i).data_type();
        if !numeric_type(t) {
            return Err(Error::input(format!(
                "model feature column '{}' has type {t} in the input, not a number (it was {} at training)",
                f.name, f.input_type
            )));
        }
    }
    Columns::resolve(
        schema,
        &LoadSpec {
            features: Some(model.names_with(Role::Numeric)),
            id,
            weight: None,
            categorical: model.names_with(Role::Categorical),
        },
    )
}

/// A model's missing-value policy for measuring another night with it: `error` becomes `drop` (tonight's
/// refit or drift check must not fail because last night's model would not have taken a null; the rows
/// left out are counted).
pub fn measuring(missing: Missing) -> Missing {
    match missing {
        Missing::Error => Missing::Drop,
        m => m,
    }
}

/// Streams `source` through `model` (rows with missing values handled per `missing`) on `backend`: every
/// batch prepared, assigned to its nearest segment, counted ([`Counts`]) and added to a fresh partial of
/// `acc`; the partials are merged into `acc` in input order (the same result at any thread count). `map`
/// runs on worker threads with each prepared batch (already accumulated: it may take the batch's vectors)
/// and its nearest segments; `sink` receives its results in input order.
pub fn scan<T: Send, A: Accumulator + Sync>(
    (source, cols): (&Source, &Columns),
    model: &Model,
    missing: Missing,
    backend: &dyn Backend,
    acc: A,
    map: impl Fn(&mut PreparedBatch, &Nearest) -> Result<T> + Sync,
    mut sink: impl FnMut(T) -> Result<()>,
) -> Result<(Counts, A)> {
    let (k, d) = (model.k(), model.prepared_d());
    let centroids = model.centroids();
    let template = acc.fresh();
    // One batch on the device at a time; decoding and preparing run on all workers.
    let device = Mutex::new(());
    let empty = Counts {
        missing: vec![0; model.features.len()],
        per_segment: vec![0; k],
        sse: vec![0.0; k],
        unseen: vec![0; model.preparation.categorical.len()],
        ..Default::default()
    };
    let each = |mut b: PreparedBatch| -> Result<(T, Counts, A)> {
        let near = if b.x.is_empty() {
            Nearest::empty()
        } else {
            let _one = device.lock().expect("device lock");
            backend
                .load(Dataset::new(&b.x, d, None))?
                .nearest(&centroids, k)?
        };
        let (mut c, mut a) = (empty.fresh(), template.fresh());
        c.update(&b, &near)?;
        a.update(&b, &near)?;
        Ok((map(&mut b, &near)?, c, a))
    };
    let workers = rayon::current_num_threads();
    // `acc` is the running total (it may hold reserved room); batches start from fresh partials.
    let (mut counts, mut all) = (empty.fresh(), acc);
    stream_prepared(
        source,
        cols,
        &model.preparation,
        missing,
        workers,
        each,
        |(out, c, a)| {
            sink(out)?;
            counts.merge(c);
            all.merge(a);
            Ok(())
        },
    )?;
    if counts.rows == 0 {
        return Err(Error::input("the input has no rows"));
    }
    Ok((counts, all))
}
