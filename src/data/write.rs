//! Writing Parquet and JSON files; an output set, and a single file replaced atomically, are published by
//! `sink`, which uses these writers (the dependency goes one way).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};

/// Writes `value` as pretty JSON to `path`, synced to disk.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let out = File::create(path).map_err(|e| Error::output(path, e))?;
    let mut w = BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, value).map_err(|e| Error::output(path, e))?;
    w.write_all(b"\n").map_err(|e| Error::output(path, e))?;
    w.into_inner()
        .map_err(|e| Error::output(path, e.into_error()))?
        .sync_all()
        .map_err(|e| Error::output(path, e))
}

/// Writes `bytes` to `path`, synced to disk (a staged file: the set is published by rename afterwards).
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    File::create(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .map_err(|e| Error::output(path, e))
}

/// Writer properties: Snappy; dictionary encoding only for segment numbers and booleans (continuous
/// values and customer ids, nearly all distinct, gain nothing from it and cost time).
fn properties(schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20));
    for f in schema.fields() {
        let small = matches!(f.data_type(), DataType::UInt32 | DataType::Boolean);
        if !small {
            b = b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    b.build()
}

/// Streams record batches into a Parquet file.
pub struct ParquetSink {
    path: PathBuf,
    writer: ArrowWriter<File>,
}

impl ParquetSink {
    pub fn create(path: PathBuf, schema: Arc<Schema>) -> Result<ParquetSink> {
        let file = File::create(&path).map_err(|e| Error::output(&path, e))?;
        let props = properties(&schema);
        let writer =
            ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| Error::output(&path, e))?;
        Ok(ParquetSink { path, writer })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .map_err(|e| Error::output(&self.path, e))
    }

    pub fn finish(self) -> Result<()> {
        let file = self
            .writer
            .into_inner()
            .map_err(|e| Error::output(&self.path, e))?;
        file.sync_all().map_err(|e| Error::output(&self.path, e))
    }
}

/// Writes one batch as a complete Parquet file.
pub fn write_parquet(path: PathBuf, batch: &RecordBatch) -> Result<()> {
    let mut sink = ParquetSink::create(path, batch.schema())?;
    sink.write(batch)?;
    sink.finish()
}

/// Writes one batch made of `fields` and their `cols` as a Parquet file at `path`.
pub fn write_columns(path: PathBuf, fields: Vec<Field>, cols: Vec<ArrayRef>) -> Result<()> {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| Error::output(&path, e))?;
    write_parquet(path, &batch)
}
