//! Input discovery and streaming: Parquet files, directories of Parquet files (a partitioned nightly export),
//! and CSV files, all exposed as one schema and one stream of projected record batches.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};

use crate::error::{Error, Result};

/// Rows per streamed record batch.
pub const BATCH_ROWS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
}

#[derive(Debug, Clone)]
struct InputFile {
    path: PathBuf,
    format: Format,
    /// Rows per Parquet row group (from the footer), or the CSV file's rows (inference pass) as one part.
    parts: Vec<usize>,
    /// The parsed Parquet footer, shared by the readers of its row groups.
    meta: Option<ArrowReaderMetadata>,
}

/// A unit of input that can be decoded independently: one Parquet row group, or one CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    file: usize,
    row_group: Option<usize>,
    /// Rows it holds, as its file's metadata says.
    pub rows: usize,
    /// Rows of all the parts before it.
    pub first_row: usize,
}

/// All input files of one run, checked to share one schema.
#[derive(Debug, Clone)]
pub struct Source {
    files: Vec<InputFile>,
    schema: SchemaRef,
}

fn detect(path: &Path) -> Result<Format> {
    let mut f = File::open(path)
        .map_err(|e| Error::input(format!("cannot open {}", path.display())).with_source(e))?;
    let mut magic = [0u8; 4];
    let n = f
        .read(&mut magic)
        .map_err(|e| Error::input(format!("cannot read {}", path.display())).with_source(e))?;
    if n == 4 && &magic == b"PAR1" {
        return Ok(Format::Parquet);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "txt" => Ok(Format::Csv),
        "parquet" | "pq" => Err(Error::input(format!(
            "{} is not a Parquet file (no PAR1 header): the file is corrupt or not Parquet",
            path.display()
        ))),
        _ => Err(Error::input(format!(
            "{} is neither Parquet nor CSV: give a .parquet file, a directory of them, or a .csv file with a header row",
            path.display()
        ))),
    }
}

/// Expands directories to their *.parquet files in name order.
fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        let meta = std::fs::metadata(p).map_err(|e| {
            Error::input(format!("cannot open input {}", p.display())).with_source(e)
        })?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| {
                    Error::input(format!("cannot list directory {}", p.display())).with_source(e)
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && f.extension()
                            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::input(format!(
                    "directory {} contains no *.parquet files",
                    p.display()
                )));
            }
            out.extend(files);
        } else if meta.is_file() {
            out.push(p.clone());
        } else {
            return Err(Error::input(format!(
                "input {} is not a regular file (a named pipe or a device?): strata reads a file twice (types, then values); save the data to a file first",
                p.display()
            )));
        }
    }
    Ok(out)
}

fn parquet_err(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::input(format!(
        "cannot read Parquet file {} (corrupt or truncated?)",
        path.display()
    ))
    .with_source(e)
}

fn csv_schema(path: &Path, text_columns: &[&str]) -> Result<(Schema, usize)> {
    let file = File::open(path)
        .map_err(|e| Error::input(format!("cannot open {}", path.display())).with_source(e))?;
    // Infer from the whole file: a sample can miss a float late in an integer column.
    let (schema, records) = arrow_csv::reader::Format::default()
        .with_header(true)
        .infer_schema(BufReader::new(file), None)
        .map_err(|e| {
            Error::input(format!("cannot read CSV file {}", path.display())).with_source(e)
        })?;
    // Columns passed through as text keep their exact spelling (e.g. zero-padded ids like "0001").
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if text_columns.contains(&f.name().as_str()) {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Ok((Schema::new(fields), records))
}

fn same_fields(a: &Schema, b: &Schema) -> std::result::Result<(), String> {
    if a.fields().len() != b.fields().len() {
        return Err(format!(
            "{} columns instead of {}",
            b.fields().len(),
            a.fields().len()
        ));
    }
    for (fa, fb) in a.fields().iter().zip(b.fields()) {
        if fa.name() != fb.name() || fa.data_type() != fb.data_type() {
            return Err(format!(
                "column '{}' ({}) where the first file has '{}' ({})",
                fb.name(),
                fb.data_type(),
                fa.name(),
                fa.data_type()
            ));
        }
    }
    Ok(())
}

impl Source {
    /// Resolves the inputs and reads every file's schema. `text_columns` are read as text from CSV files
    /// (the id column), so that their values pass through unchanged.
    pub fn open(inputs: &[PathBuf], text_columns: &[&str]) -> Result<Source> {
        if inputs.is_empty() {
            return Err(Error::usage(
                "no input given: name a Parquet file, a directory of Parquet files or a CSV file",
            ));
        }
        let paths = expand(inputs)?;
        let mut files = Vec::with_capacity(paths.len());
        let mut schema: Option<SchemaRef> = None;
        for path in paths {
            let format = detect(&path)?;
            let (file_schema, rows, meta) = match format {
                Format::Parquet => {
                    let f = File::open(&path).map_err(|e| {
                        Error::input(format!("cannot open {}", path.display())).with_source(e)
                    })?;
                    let meta = ArrowReaderMetadata::load(&f, Default::default())
                        .map_err(|e| parquet_err(&path, e))?;
                    let groups = meta
                        .metadata()
                        .row_groups()
                        .iter()
                        .map(|g| g.num_rows().max(0) as usize)
                        .collect();
                    (Arc::new(strip_metadata(meta.schema())), groups, Some(meta))
                }
                Format::Csv => {
                    let (schema, rows) = csv_schema(&path, text_columns)?;
                    (Arc::new(schema), vec![rows], None)
                }
            };
            if let Some(first) = &schema {
                same_fields(first, &file_schema).map_err(|why| {
                    Error::input(format!(
                        "schema of {} does not match the first input file: {why}; all files of one run must share one schema",
                        path.display()
                    ))
                })?;
            } else {
                schema = Some(file_schema);
            }
            files.push(InputFile {
                path,
                format,
                parts: rows,
                meta,
            });
        }
        Ok(Source {
            files,
            schema: schema.expect("at least one file"),
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Total rows (from footers and the CSV inference pass), for exact pre-allocation.
    pub fn rows(&self) -> usize {
        self.files.iter().flat_map(|f| &f.parts).sum()
    }

    /// The independently decodable parts of all files, in read order.
    pub fn parts(&self) -> Vec<Part> {
        let mut first_row = 0;
        let mut out = Vec::new();
        for (file, f) in self.files.iter().enumerate() {
            for (g, &rows) in f.parts.iter().enumerate() {
                out.push(Part {
                    file,
                    row_group: (f.format == Format::Parquet).then_some(g),
                    rows,
                    first_row,
                });
                first_row += rows;
            }
        }
        out
    }

    /// The path a part comes from (for error messages).
    pub fn path_of(&self, part: &Part) -> &Path {
        &self.files[part.file].path
    }

    /// Input paths in read order (for the summary).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// Streams the record batches of one part, holding only `columns` (indices into `schema()`, returned
    /// in that order). A part holding more or fewer rows than its file's metadata says ends with an error.
    pub fn part_batches(
        &self,
        part: &Part,
        columns: &[usize],
    ) -> Box<dyn Iterator<Item = Result<RecordBatch>> + Send> {
        let mut inner = match open_batches(
            &self.files[part.file],
            part.row_group,
            &self.schema,
            columns,
        ) {
            Ok(it) => it,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let (path, expected) = (self.path_of(part).display().to_string(), part.rows);
        let mut row = 0usize;
        let mut done = false;
        Box::new(std::iter::from_fn(move || {
            if done {
                return None;
            }
            let item = inner.next();
            let (item, stop) = match item {
                Some(Ok(b)) => {
                    row += b.num_rows();
                    if row > expected {
                        let e = Error::input(format!(
                            "{path} holds more rows than its footer says ({expected}): the file is corrupt"
                        ));
                        (Some(Err(e)), true)
                    } else {
                        (Some(Ok(b)), false)
                    }
                }
                Some(Err(e)) => (Some(Err(e)), true),
                None if row != expected => (
                    Some(Err(Error::input(format!(
                        "{path} holds {row} rows where its footer says {expected}: the file is corrupt or truncated"
                    )))),
                    true,
                ),
                None => (None, true),
            };
            done = stop;
            item
        }))
    }
}

fn strip_metadata(schema: &Schema) -> Schema {
    Schema::new(schema.fields().clone())
}

fn open_batches(
    f: &InputFile,
    row_group: Option<usize>,
    schema: &SchemaRef,
    columns: &[usize],
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>> {
    let path = f.path.clone();
    let mut file = File::open(&path)
        .map_err(|e| Error::input(format!("cannot open {}", path.display())).with_source(e))?;
    // Projected columns come back in schema order; remember how to put them in the caller's order.
    let mut sorted: Vec<usize> = columns.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let order: Vec<usize> = columns
        .iter()
        .map(|c| sorted.binary_search(c).unwrap())
        .collect();
    let reorder = move |b: RecordBatch| -> RecordBatch {
        let cols = order
            .iter()
            .map(|&i| b.column(i).clone())
            .collect::<Vec<_>>();
        let fields = order
            .iter()
            .map(|&i| b.schema().field(i).clone())
            .collect::<Vec<_>>();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("reordered batch")
    };
    match f.format {
        Format::Parquet => {
            let meta = f.meta.clone().expect("Parquet footer read at open");
            let b = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
            let mask = ProjectionMask::roots(b.parquet_schema(), sorted.iter().copied());
            let reader = b
                .with_projection(mask)
                .with_row_groups(row_group.into_iter().collect())
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| parquet_err(&path, e))?;
            Ok(Box::new(reader.map(move |r| {
                r.map(&reorder).map_err(|e| parquet_err(&path, e))
            })))
        }
        Format::Csv => {
            file.seek(SeekFrom::Start(0)).map_err(|e| {
                Error::input(format!("cannot read {}", path.display())).with_source(e)
            })?;
            let reader = arrow_csv::ReaderBuilder::new(schema.clone())
                .with_header(true)
                .with_batch_size(BATCH_ROWS)
                .with_projection(sorted.clone())
                .build(BufReader::new(file))
                .map_err(|e| {
                    Error::input(format!("cannot read CSV file {}", path.display())).with_source(e)
                })?;
            Ok(Box::new(reader.map(move |r| {
                r.map(&reorder).map_err(|e| {
                    Error::input(format!("cannot read CSV file {}", path.display())).with_source(e)
                })
            })))
        }
    }
}
