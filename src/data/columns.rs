//! The numeric features in original units (f64, NaN = missing), handed out one column at a time, so that a
//! fit never holds the whole input: a Parquet input is re-read column by column (its columns are stored apart),
//! a delimited-text input, which can only be read whole, is spilled once while it is first read into an
//! unnamed temporary file of columns (removed by the OS when strata exits, kill -9 included).

use std::fs::File;
use std::os::unix::fs::FileExt;

use arrow_array::{Array, Float64Array};
use rayon::prelude::*;

use crate::data::load::to_f64;
use crate::data::matrix::{FeatureMatrix, human_bytes};
use crate::data::source::Source;
use crate::error::{Error, Kind, Result};

/// Where the columns are read from.
enum Store {
    /// Re-read from the Parquet input: each feature's schema index.
    Parquet { source: Source, schema: Vec<usize> },
    /// Every input row's values, feature-major: feature j at `[j·rows, (j + 1)·rows)`.
    Spill { file: File, rows: usize },
    /// Row-major values of the kept rows, already in memory (small inputs built by hand).
    Memory(Vec<f64>),
}

/// The numeric feature columns of the rows a fit keeps.
pub struct RawColumns {
    /// Rows kept (the fit's matrix rows).
    pub n: usize,
    pub names: Vec<String>,
    /// Input row of each kept row, when rows were dropped (None = every input row).
    pub kept: Option<Vec<u32>>,
    store: Store,
}

/// Each value of a decoded column: itself when present and finite, NaN when null or NaN (infinities were
/// refused when the input was first read).
fn values_or_nan(c: &Float64Array) -> impl Iterator<Item = f64> + '_ {
    let nulls = c.null_count() > 0;
    (c.values().iter().enumerate())
        .map(move |(i, &v)| if nulls && c.is_null(i) { f64::NAN } else { v })
}

impl RawColumns {
    /// Columns kept in memory (row-major, `m.n` rows): tests and small inputs.
    pub fn in_memory(m: FeatureMatrix<f64>) -> RawColumns {
        RawColumns {
            n: m.n,
            names: m.names,
            kept: None,
            store: Store::Memory(m.data),
        }
    }

    /// Columns re-read from a Parquet `source` (`schema`: each feature's index in its schema).
    pub fn parquet(source: Source, schema: Vec<usize>, names: Vec<String>, rows: usize) -> Self {
        RawColumns {
            n: rows,
            names,
            kept: None,
            store: Store::Parquet { source, schema },
        }
    }

    /// Columns read back from `spill` (see [`Spill`]).
    pub fn spilled(spill: Spill, names: Vec<String>) -> Self {
        RawColumns {
            n: spill.rows,
            names,
            kept: None,
            store: Store::Spill {
                file: spill.file,
                rows: spill.rows,
            },
        }
    }

    /// Keeps only the input rows `kept` (ascending).
    pub fn keep(&mut self, kept: Vec<u32>) {
        self.n = kept.len();
        self.kept = Some(kept);
    }

    pub fn d(&self) -> usize {
        self.names.len()
    }

    /// Feature `j`'s value in every kept row, in row order, into `buf`, whose allocation a pass over every
    /// column reuses (a fresh one would have the OS clear its pages each time).
    pub fn column_into(&self, j: usize, buf: &mut Vec<f64>) -> Result<()> {
        match &self.store {
            Store::Memory(data) => {
                buf.clear();
                buf.extend(data.iter().skip(j).step_by(self.d()));
                return Ok(());
            }
            Store::Parquet { source, schema } => {
                read_parquet(source, (schema[j], &self.names[j]), buf)?
            }
            Store::Spill { file, rows } => {
                buf.resize(*rows, 0.0);
                file.read_exact_at(bytemuck::cast_slice_mut(buf), (j * rows * 8) as u64)
                    .map_err(|e| spill_err(e, rows * self.d() * 8))?;
            }
        }
        if let Some(kept) = &self.kept {
            // Ascending, so each kept row moves forward (or stays): compaction in place.
            for (to, &from) in kept.iter().enumerate() {
                buf[to] = buf[from as usize];
            }
            buf.truncate(kept.len());
        }
        Ok(())
    }

    /// All kept rows, row-major: for inputs known to be small (an `init` file, a benchmark's input).
    pub fn to_matrix(&self) -> Result<FeatureMatrix<f64>> {
        let d = self.d();
        let (mut data, mut col) = (vec![0f64; self.n * d], Vec::new());
        for j in 0..d {
            self.column_into(j, &mut col)?;
            for (dst, v) in data.iter_mut().skip(j).step_by(d).zip(&col) {
                *dst = *v;
            }
        }
        Ok(FeatureMatrix::new(data, self.n, self.names.clone()))
    }
}

/// One column of every input row of a Parquet source into `out`: the row groups decoded in parallel into
/// their rows.
fn read_parquet(source: &Source, (col, name): (usize, &str), out: &mut Vec<f64>) -> Result<()> {
    let parts = source.parts();
    out.resize(source.rows(), 0.0);
    let mut slices = Vec::with_capacity(parts.len());
    let mut rest = out.as_mut_slice();
    for p in &parts {
        let (mine, tail) = rest.split_at_mut(p.rows);
        slices.push(mine);
        rest = tail;
    }
    parts.par_iter().zip(slices).try_for_each(|(p, dst)| {
        let mut at = 0;
        for batch in source.part_batches(p, &[col]) {
            let batch = batch?;
            let c = to_f64(batch.column(0), name)?;
            for (d, v) in dst[at..at + c.len()].iter_mut().zip(values_or_nan(&c)) {
                *d = v;
            }
            at += c.len();
        }
        Ok::<_, Error>(())
    })
}

/// A failure of the temporary column file (`bytes` long), named by its folder (TMPDIR).
fn spill_err(e: std::io::Error, bytes: usize) -> Error {
    Error::new(
        Kind::Output,
        format!(
            "cannot use a temporary file of the input's columns ({}) in {} ({e}): set TMPDIR to a writable folder with that much room",
            human_bytes(bytes as f64),
            std::env::temp_dir().display()
        ),
    )
}

/// A delimited-text input's feature values being written, feature-major, into an unnamed temporary file
/// while it is read: one batch at a time, each at its rows' place.
pub struct Spill {
    file: File,
    rows: usize,
    d: usize,
}

impl Spill {
    /// A spill for `rows` input rows of `d` features. Its blocks are reserved up front, so that a disk
    /// too small is found before the read.
    pub fn create(rows: usize, d: usize) -> Result<Spill> {
        let bytes = rows * d * 8;
        let file = tempfile::tempfile().map_err(|e| spill_err(e, bytes))?;
        if bytes > 0 {
            rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes as u64)
                .map_err(|e| spill_err(e.into(), bytes))?;
        }
        Ok(Spill { file, rows, d })
    }

    /// Writes the rows `first_row..` of `xs` (row-major, `d` features).
    pub fn write(&self, first_row: usize, xs: &[f64]) -> Result<()> {
        let n = xs.len() / self.d;
        let mut col = vec![0f64; n];
        for j in 0..self.d {
            for (c, v) in col.iter_mut().zip(xs.iter().skip(j).step_by(self.d)) {
                *c = *v;
            }
            let at = (j * self.rows + first_row) * 8;
            self.file
                .write_all_at(bytemuck::cast_slice(&col), at as u64)
                .map_err(|e| spill_err(e, self.rows * self.d * 8))?;
        }
        Ok(())
    }
}
