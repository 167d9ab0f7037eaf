//! Atomic output: every file is written into a hidden staging directory inside the output directory and
//! renamed into place only after all of them were written, so a failed run leaves the directory as it was.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};

/// A set of output files being written; nothing is visible in `dir` until [`Staging::commit`].
pub struct Staging {
    dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
    created_dir: bool,
    files: Vec<String>,
}

impl Staging {
    /// Creates `dir` if needed and a staging directory inside it. Fails early (before any work) if the
    /// directory cannot be written.
    pub fn new(dir: &Path) -> Result<Staging> {
        let created_dir = !dir.exists();
        if dir.exists() && !dir.is_dir() {
            return Err(Error::output(
                dir,
                "exists and is not a directory; give a directory for --out",
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::output(dir, format!("{e}; choose a writable --out directory")))?;
        let tmp = tempfile::Builder::new()
            .prefix(".strata-tmp-")
            .tempdir_in(dir)
            .map_err(|e| {
                if created_dir {
                    let _ = std::fs::remove_dir(dir);
                }
                Error::output(dir, format!("{e}; choose a writable --out directory"))
            })?;
        Ok(Staging {
            dir: dir.to_path_buf(),
            tmp: Some(tmp),
            created_dir,
            files: Vec::new(),
        })
    }

    /// Path for a staged file `name` (final name in `dir` after commit).
    pub fn path(&mut self, name: &str) -> PathBuf {
        if !self.files.iter().any(|f| f == name) {
            self.files.push(name.to_string());
        }
        self.tmp.as_ref().expect("staging alive").path().join(name)
    }

    /// Writes `value` as pretty JSON to staged file `name`.
    pub fn write_json<T: serde::Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        let path = self.path(name);
        let out = File::create(&path).map_err(|e| Error::output(&path, e))?;
        let mut w = BufWriter::new(out);
        serde_json::to_writer_pretty(&mut w, value).map_err(|e| Error::output(&path, e))?;
        w.write_all(b"\n").map_err(|e| Error::output(&path, e))?;
        w.into_inner()
            .map_err(|e| Error::output(&path, e.into_error()))?
            .sync_all()
            .map_err(|e| Error::output(&path, e))
    }

    /// Renames all staged files into the output directory.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let tmp = self.tmp.take().expect("staging alive");
        let mut done = Vec::new();
        for name in &self.files {
            let to = self.dir.join(name);
            std::fs::rename(tmp.path().join(name), &to).map_err(|e| Error::output(&to, e))?;
            done.push(to);
        }
        drop(tmp);
        Ok(done)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Not committed: the TempDir removes the staged files; remove the directory too if we created it.
        if let Some(tmp) = self.tmp.take() {
            drop(tmp);
            if self.created_dir {
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
    }
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

/// Writes `bytes` to `path` through a temporary file in the same directory renamed at the end.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".strata-")
        .tempfile_in(dir)
        .map_err(|e| Error::output(dir, format!("{e}; choose a writable path")))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::output(path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::output(path, e.error))?;
    Ok(())
}
