//! Input discovery and streaming: Parquet files, directories of Parquet files (a partitioned nightly export),
//! and CSV files, all exposed as one schema and one stream of projected record batches.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};

use crate::data::numbers::Notation;
use crate::error::{Error, Result};

/// Rows per streamed record batch.
pub const BATCH_ROWS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    /// Record batches already in memory ([`Batches`]), read in place.
    Arrow,
    /// Delimited text: its delimiter (given or detected) and whether it is gzip-compressed.
    Csv {
        delimiter: u8,
        gzip: bool,
    },
}

/// Cells read as missing by default in delimited text: pandas' `read_csv` defaults.
pub const NA_VALUES: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// Delimiters detected in delimited text, in order of preference on ties.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How delimited text (CSV, TSV, …) is read. Deserialized with characters written as on the command line
/// (`{"delimiter": ";", "decimal": ",", "thousands": "none"}`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvOptions {
    /// The field delimiter; None = detected per file among `,` `;` TAB `|`.
    #[serde(deserialize_with = "delimiter_text")]
    pub delimiter: Option<u8>,
    /// Cells that mean "missing" (matched exactly).
    pub na_values: Vec<String>,
    /// The decimal mark of numbers written as text (`.` or `,`); None = detected per file.
    #[serde(deserialize_with = "decimal_text")]
    pub decimal: Option<u8>,
    /// The thousands separator: Some(None) = none; None = the one that goes with the decimal mark.
    #[serde(deserialize_with = "thousands_text")]
    pub thousands: Option<Option<u8>>,
}

/// A field delimiter: `tab` or one ASCII character (not a quote or a newline).
pub fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "TAB" | "\\t" | "\t" => Ok(b'\t'),
        s if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" => Ok(s.as_bytes()[0]),
        _ => Err(format!("'{s}' is not one ASCII character (or 'tab')")),
    }
}

/// A decimal mark: `.` or `,`.
pub fn parse_decimal(s: &str) -> std::result::Result<u8, String> {
    match s {
        "." | "," => Ok(s.as_bytes()[0]),
        _ => Err(format!("'{s}' is not a decimal mark: give '.' or ','")),
    }
}

/// A thousands separator (`,` `.` space `'`), or `none`.
pub fn parse_thousands(s: &str) -> std::result::Result<Option<u8>, String> {
    match s {
        "none" => Ok(None),
        "," | "." | " " | "'" => Ok(Some(s.as_bytes()[0])),
        _ => Err(format!(
            "'{s}' is not a thousands separator: give ',' '.' ' ' \"'\" or none"
        )),
    }
}

/// A field of [`CsvOptions`] written as text and read by `parse` (the command line's parsers).
fn text_with<'de, D: serde::Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> std::result::Result<T, String>,
) -> std::result::Result<Option<T>, D::Error> {
    let s: String = serde::Deserialize::deserialize(d)?;
    parse(&s).map(Some).map_err(serde::de::Error::custom)
}

fn delimiter_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u8>, D::Error> {
    text_with(d, parse_delimiter)
}

fn decimal_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u8>, D::Error> {
    text_with(d, parse_decimal)
}

fn thousands_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<u8>>, D::Error> {
    text_with(d, parse_thousands)
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: None,
            na_values: NA_VALUES.iter().map(|s| s.to_string()).collect(),
            decimal: None,
            thousands: None,
        }
    }
}

/// A text column of a delimited file whose cells are mostly numbers: probably a number column with a few
/// unparseable cells ("12,345", "n.a."), reported instead of silently leaving the features.
#[derive(Debug, Clone, PartialEq)]
pub struct MostlyNumeric {
    pub column: String,
    /// Cells that are neither numbers nor missing-value tokens, and the first of them.
    pub bad_cells: usize,
    pub first: String,
    /// Its row (0-based, in the run's input order).
    pub first_row: usize,
}

impl MostlyNumeric {
    pub fn describe(&self) -> String {
        format!(
            "mostly numbers, but {} cell(s) are not (first '{}' at row {}): clean them, add the token to --na-values, or give --decimal/--thousands if they are numbers in another notation",
            self.bad_cells, self.first, self.first_row
        )
    }
}

#[derive(Debug, Clone)]
struct InputFile {
    path: PathBuf,
    format: Format,
    /// Rows per Parquet row group (from the footer), or the CSV file's rows (inference pass) as one part.
    parts: Vec<usize>,
    /// The parsed Parquet footer, shared by the readers of its row groups.
    meta: Option<ArrowReaderMetadata>,
    /// Delimited text: the columns (schema indices) read as text and converted to numbers, and how.
    numbers: Option<(Notation, Vec<usize>)>,
    /// Its size and modification time when opened: every later read checks them, since a fit reads its
    /// input more than once (the columns again after the clustering).
    stamp: Stamp,
    /// The batches of an in-memory input (one part each).
    batches: Option<Batches>,
}

/// Record batches already in memory (a table a caller holds, e.g. an Arrow stream from Python), read in
/// place: a pass projects slices of them, which shares their buffers rather than copying them.
#[derive(Clone)]
pub struct Batches {
    /// What messages and summary.json call the input.
    pub name: String,
    schema: SchemaRef,
    batches: Arc<Vec<RecordBatch>>,
}

impl Batches {
    /// `batches` of `schema` (each batch's schema must have the same fields), called `name`.
    pub fn new(
        name: impl Into<String>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<Self> {
        let name = name.into();
        for (i, b) in batches.iter().enumerate() {
            same_fields(&schema, &b.schema()).map_err(|why| {
                Error::input(format!(
                    "{name}: batch {i} does not match the stream's schema: {why}"
                ))
            })?;
        }
        // Parts of at most BATCH_ROWS rows, as a Parquet file's row groups would be: the passes work part by
        // part in parallel, and a whole table as one part would convert all its rows at once.
        let parts = (batches.iter())
            .flat_map(|b| {
                let rows = b.num_rows();
                (0..rows)
                    .step_by(BATCH_ROWS)
                    .map(move |start| b.slice(start, BATCH_ROWS.min(rows - start)))
            })
            .collect();
        Ok(Batches {
            name,
            schema: Arc::new(strip_metadata(&schema)),
            batches: Arc::new(parts),
        })
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batches({}, {} rows)", self.name, self.rows())
    }
}

/// The same batches (not equal values: a comparison would read every cell).
impl PartialEq for Batches {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.batches, &other.batches)
    }
}

/// A file's size and modification time.
type Stamp = (u64, Option<std::time::SystemTime>);

fn stamp(path: &Path) -> Result<Stamp> {
    let m = std::fs::metadata(path).map_err(|e| open_err(path, e))?;
    Ok((m.len(), m.modified().ok()))
}

/// Fails when `f` is no longer the file that was opened (replaced or still being written).
fn unchanged(f: &InputFile) -> Result<()> {
    if f.batches.is_some() {
        return Ok(());
    }
    match stamp(&f.path)? == f.stamp {
        true => Ok(()),
        false => Err(Error::input(format!(
            "{} changed while strata was reading it (its size or modification time differ from when it was opened): run again once the file is complete",
            f.path.display()
        ))),
    }
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
    null_regex: Option<regex::Regex>,
}

fn open_err(path: &Path, e: std::io::Error) -> Error {
    Error::input(format!("cannot open {}", path.display())).with_source(e)
}

/// Parquet by its magic bytes; delimited text by extension (`.csv`, `.tsv`, `.txt`, each optionally
/// `.gz`) or gzip's magic bytes, its delimiter given or detected.
fn detect(path: &Path, csv: &CsvOptions) -> Result<Format> {
    let mut f = File::open(path).map_err(|e| open_err(path, e))?;
    let mut magic = [0u8; 4];
    let n = f
        .read(&mut magic)
        .map_err(|e| Error::input(format!("cannot read {}", path.display())).with_source(e))?;
    if n == 4 && &magic == b"PAR1" {
        return Ok(Format::Parquet);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let gzip = n >= 2 && magic[..2] == [0x1f, 0x8b];
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = stem.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "csv" | "tsv" | "txt" => {}
        _ if gzip => {}
        "parquet" | "pq" => {
            return Err(Error::input(format!(
                "{} is not a Parquet file (no PAR1 header): the file is corrupt or not Parquet",
                path.display()
            )));
        }
        _ => {
            return Err(Error::input(format!(
                "{} is neither Parquet nor delimited text: give a .parquet file, a directory of them, or a .csv/.tsv/.txt file (optionally .gz) with a header row",
                path.display()
            )));
        }
    }
    let delimiter = match csv.delimiter {
        Some(d) => d,
        None => sniff(&mut text_reader(path, gzip)?, ext == "tsv")
            .map_err(|e| Error::input(format!("cannot read {}", path.display())).with_source(e))?,
    };
    Ok(Format::Csv { delimiter, gzip })
}

/// A delimited file's bytes, decompressed when gzip.
fn text_reader(path: &Path, gzip: bool) -> Result<Box<dyn BufRead + Send>> {
    let f = BufReader::new(File::open(path).map_err(|e| open_err(path, e))?);
    Ok(if gzip {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(f)))
    } else {
        Box::new(f)
    })
}

/// The delimiter of delimited text: among `,` `;` TAB `|`, the one that splits the first lines (header
/// included) into the same number of fields, the most fields winning; `,` (TAB for .tsv) when none does.
fn sniff(r: &mut dyn BufRead, tsv: bool) -> std::io::Result<u8> {
    let mut lines = Vec::new();
    for line in r.lines().take(20) {
        let line = line?;
        if !line.trim().is_empty() {
            lines.push(line);
        }
    }
    let count = |line: &str, d: u8| {
        let mut quoted = false;
        line.bytes()
            .filter(|&b| {
                if b == b'"' {
                    quoted = !quoted;
                }
                b == d && !quoted
            })
            .count()
    };
    let best = DELIMITERS
        .iter()
        .filter_map(|&d| {
            let c = count(lines.first()?, d);
            (c > 0 && lines.iter().all(|l| count(l, d) == c)).then_some((c, d))
        })
        .max_by_key(|&(c, d)| {
            (
                c,
                std::cmp::Reverse(DELIMITERS.iter().position(|&x| x == d)),
            )
        });
    Ok(best.map_or(if tsv { b'\t' } else { b',' }, |(_, d)| d))
}

fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "TAB".into(),
        d => format!("'{}'", d as char),
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
    // The same file named twice (or a file and its directory) would count its customers twice.
    let mut seen: Vec<(PathBuf, &PathBuf)> = Vec::with_capacity(out.len());
    for f in &out {
        let real = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        if let Some((_, first)) = seen.iter().find(|(r, _)| *r == real) {
            return Err(Error::usage(format!(
                "input {} is given twice (also as {}): its rows would be read twice; name each input once",
                f.display(),
                first.display()
            )));
        }
        seen.push((real, f));
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

fn csv_format(delimiter: u8, null_regex: &Option<regex::Regex>) -> arrow_csv::reader::Format {
    let f = arrow_csv::reader::Format::default()
        .with_header(true)
        .with_delimiter(delimiter);
    match null_regex {
        Some(r) => f.with_null_regex(r.clone()),
        None => f,
    }
}

fn csv_err(path: &Path, e: arrow_schema::ArrowError) -> Error {
    Error::input(format!("cannot read delimited file {}", path.display())).with_source(e)
}

fn csv_schema(
    path: &Path,
    (delimiter, gzip): (u8, bool),
    text_columns: &[&str],
    null_regex: &Option<regex::Regex>,
) -> Result<(Schema, usize)> {
    // Infer from the whole file: a sample can miss a float late in an integer column.
    let (schema, records) = csv_format(delimiter, null_regex)
        .infer_schema(text_reader(path, gzip)?, None)
        .map_err(|e| csv_err(path, e))?;
    if schema.fields().len() == 1 {
        let header = schema.field(0).name();
        if let Some(&d) = DELIMITERS
            .iter()
            .find(|&&d| d != delimiter && header.contains(d as char))
        {
            return Err(Error::input(format!(
                "{} reads as a single column '{header}' with the delimiter {}: its delimiter is likely {}; give `delimiter`",
                path.display(),
                delimiter_name(delimiter),
                delimiter_name(d)
            )));
        }
    }
    // Columns passed through as text keep their exact spelling (e.g. zero-padded ids like "0001").
    let text: Vec<usize> = (schema.fields().iter().enumerate())
        .filter(|(_, f)| text_columns.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    Ok((with_type(&schema, &text, DataType::Utf8), records))
}

/// Merges the schema of a delimited file into the run's: a column inferred as integers in one file and
/// as floats in another is a float column (the values are the same numbers).
fn merge_numeric(first: &Schema, next: &Schema) -> Schema {
    let fields: Vec<Field> = first
        .fields()
        .iter()
        .zip(next.fields())
        .map(|(a, b)| match (a.data_type(), b.data_type()) {
            (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
                Field::new(a.name(), DataType::Float64, true)
            }
            _ => a.as_ref().clone(),
        })
        .collect();
    Schema::new(fields)
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
    /// Resolves the inputs and reads every file's schema, delimited text read with the default options.
    /// `text_columns` are read as text from delimited files (the id column), so that their values pass
    /// through unchanged.
    pub fn open(inputs: &[PathBuf], text_columns: &[&str]) -> Result<Source> {
        Self::open_with(inputs, text_columns, &CsvOptions::default())
    }

    /// [`Source::open`] with the given options for delimited text.
    pub fn open_with(
        inputs: &[PathBuf],
        text_columns: &[&str],
        csv: &CsvOptions,
    ) -> Result<Source> {
        if inputs.is_empty() {
            return Err(Error::usage(
                "no input given: name a Parquet file, a directory of Parquet files or a CSV file",
            ));
        }
        if csv.decimal.is_some() && csv.thousands == Some(csv.decimal) {
            return Err(Error::usage(
                "`decimal` and `thousands` name the same character: give different ones",
            ));
        }
        let paths = expand(inputs)?;
        let null_regex = null_regex(&csv.na_values)?;
        let mut files = Vec::with_capacity(paths.len());
        let mut schema: Option<SchemaRef> = None;
        for path in paths {
            let opened = stamp(&path)?;
            let format = detect(&path, csv)?;
            let (mut file_schema, rows, meta, numbers) = match format {
                Format::Parquet => {
                    let f = File::open(&path).map_err(|e| open_err(&path, e))?;
                    let meta = ArrowReaderMetadata::load(&f, Default::default())
                        .map_err(|e| parquet_err(&path, e))?;
                    let groups = meta
                        .metadata()
                        .row_groups()
                        .iter()
                        .map(|g| g.num_rows().max(0) as usize)
                        .collect();
                    let schema = Arc::new(strip_metadata(meta.schema()));
                    (schema, groups, Some(meta), None)
                }
                Format::Csv { delimiter, gzip } => {
                    let (schema, rows) =
                        csv_schema(&path, (delimiter, gzip), text_columns, &null_regex)?;
                    let file = (path.as_path(), (delimiter, gzip), &null_regex);
                    let numbers = written_numbers(file, &schema, text_columns, csv)?;
                    let schema = match &numbers {
                        Some((_, cols)) => with_type(&schema, cols, DataType::Float64),
                        None => schema,
                    };
                    (Arc::new(schema), vec![rows], None, numbers)
                }
                Format::Arrow => unreachable!("`detect` names files as Parquet or text"),
            };
            check_unique_names(&file_schema, &path)?;
            if let Some(first) = &mut schema {
                if matches!(format, Format::Csv { .. }) {
                    // Integers in one file, floats in another: one float column.
                    file_schema = Arc::new(merge_numeric(&file_schema, first));
                    *first = Arc::new(merge_numeric(first, &file_schema));
                }
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
                numbers,
                stamp: opened,
                batches: None,
            });
        }
        Ok(Source {
            files,
            schema: schema.expect("at least one file"),
            null_regex,
        })
    }

    /// Files when `memory` is None, else the batches in memory (`inputs` and `csv` unused).
    pub fn open_input(
        inputs: &[PathBuf],
        memory: Option<&Batches>,
        text_columns: &[&str],
        csv: &CsvOptions,
    ) -> Result<Source> {
        match memory {
            Some(b) => Source::from_batches(b),
            None => Source::open_with(inputs, text_columns, csv),
        }
    }

    /// Record batches in memory as a source: one part per slice of at most [`BATCH_ROWS`] rows, typed
    /// columns as in Parquet.
    pub fn from_batches(b: &Batches) -> Result<Source> {
        check_unique_names(&b.schema, Path::new(&b.name))?;
        if b.rows() == 0 {
            return Err(Error::input(format!(
                "{} has no rows: give a table with at least one customer",
                b.name
            )));
        }
        Ok(Source {
            files: vec![InputFile {
                path: PathBuf::from(&b.name),
                format: Format::Arrow,
                parts: b.batches.iter().map(RecordBatch::num_rows).collect(),
                meta: None,
                numbers: None,
                stamp: (0, None),
                batches: Some(b.clone()),
            }],
            schema: b.schema.clone(),
            null_regex: None,
        })
    }

    /// The text columns of a delimited input: where a number column with a few unparseable cells ends up.
    pub fn text_columns(&self) -> Vec<String> {
        if self.columnar() {
            return Vec::new();
        }
        (self.schema.fields().iter())
            .filter(|f| *f.data_type() == DataType::Utf8)
            .map(|f| f.name().clone())
            .collect()
    }

    /// Which of the columns `names` are text in a delimited input whose cells are mostly numbers. Reads
    /// those columns once more, so only the columns asked about (usually none) cost a pass.
    pub fn mostly_numeric(&self, names: &[String]) -> Result<Vec<MostlyNumeric>> {
        let text = self.text_columns();
        let cols: Vec<usize> = (self.schema.fields().iter().enumerate())
            .filter(|(_, f)| names.contains(f.name()) && text.contains(f.name()))
            .map(|(i, _)| i)
            .collect();
        if cols.is_empty() {
            return Ok(Vec::new());
        }
        // Per column: numbers, other cells, the first other cell and its row.
        #[derive(Clone, Default)]
        struct Tally {
            numbers: usize,
            others: usize,
            first: Option<(String, usize)>,
        }
        let mut tally = vec![Tally::default(); cols.len()];
        for part in self.parts() {
            if !matches!(self.files[part.file].format, Format::Csv { .. }) {
                continue;
            }
            let mut row = part.first_row;
            for batch in self.part_batches(&part, &cols) {
                let batch = batch?;
                for (c, t) in tally.iter_mut().enumerate() {
                    let a = batch
                        .column(c)
                        .as_any()
                        .downcast_ref::<arrow_array::StringArray>();
                    for (i, v) in a.into_iter().flatten().enumerate() {
                        let Some(v) = v else { continue };
                        if v.trim().parse::<f64>().is_ok() {
                            t.numbers += 1;
                        } else {
                            t.others += 1;
                            t.first.get_or_insert_with(|| (v.to_string(), row + i));
                        }
                    }
                }
                row += batch.num_rows();
            }
        }
        Ok(cols
            .iter()
            .zip(tally)
            .filter(|(_, t)| t.others > 0 && t.numbers >= t.others)
            .map(|(&c, t)| {
                let (first, first_row) = t.first.expect("a non-numeric cell");
                MostlyNumeric {
                    column: self.schema.field(c).name().clone(),
                    bad_cells: t.others,
                    first,
                    first_row,
                }
            })
            .collect())
    }

    /// The columns of delimited files read as numbers written for people (`12,345`, `-0,123`), in words.
    pub fn notes(&self) -> Vec<String> {
        (self.files.iter())
            .filter_map(|f| {
                let (n, cols) = f.numbers.as_ref()?;
                let names: Vec<String> = (cols.iter())
                    .map(|&c| format!("'{}'", self.schema.field(c).name()))
                    .collect();
                Some(format!(
                    "{}: {} read as numbers with {}",
                    f.path.display(),
                    names.join(", "),
                    n.describe()
                ))
            })
            .collect()
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Total rows (from footers and the CSV inference pass), for exact pre-allocation.
    pub fn rows(&self) -> usize {
        self.files.iter().flat_map(|f| &f.parts).sum()
    }

    /// Whether every file stores its columns apart (Parquet, batches in memory), so that one column reads
    /// alone.
    pub fn columnar(&self) -> bool {
        (self.files.iter()).all(|f| matches!(f.format, Format::Parquet | Format::Arrow))
    }

    /// The independently decodable parts of all files, in read order.
    pub fn parts(&self) -> Vec<Part> {
        let mut first_row = 0;
        let mut out = Vec::new();
        for (file, f) in self.files.iter().enumerate() {
            for (g, &rows) in f.parts.iter().enumerate() {
                out.push(Part {
                    file,
                    row_group: (!matches!(f.format, Format::Csv { .. })).then_some(g),
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
            (&self.schema, &self.null_regex),
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

/// The regex arrow-csv matches missing cells with: the tokens exactly.
fn null_regex(tokens: &[String]) -> Result<Option<regex::Regex>> {
    let alternatives: Vec<String> = tokens.iter().map(|t| regex::escape(t)).collect();
    let r = regex::Regex::new(&format!("^(?:{})$", alternatives.join("|")))
        .map_err(|e| Error::usage(format!("`na_values` cannot be matched: {e}")))?;
    Ok(Some(r))
}

/// Two columns with one name cannot be told apart: an error naming them.
fn check_unique_names(schema: &Schema, path: &Path) -> Result<()> {
    let fields = schema.fields();
    for (i, f) in fields.iter().enumerate() {
        if let Some(j) = fields.iter().skip(i + 1).position(|g| g.name() == f.name()) {
            return Err(Error::input(format!(
                "{} has two columns named '{}' (columns {} and {}, 0-based): rename one; strata cannot tell them apart",
                path.display(),
                f.name(),
                i,
                i + 1 + j
            )));
        }
    }
    Ok(())
}

fn strip_metadata(schema: &Schema) -> Schema {
    Schema::new(schema.fields().clone())
}

fn open_batches(
    f: &InputFile,
    row_group: Option<usize>,
    (schema, null_regex): (&SchemaRef, &Option<regex::Regex>),
    columns: &[usize],
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch>> + Send>> {
    unchanged(f)?;
    let path = f.path.clone();
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
        Format::Arrow => {
            let b = f
                .batches
                .as_ref()
                .expect("an in-memory input holds its batches");
            let batch = b.batches[row_group.expect("one part per batch")]
                .project(columns)
                .map_err(|e| Error::input(format!("cannot read {}", b.name)).with_source(e))?;
            Ok(Box::new(std::iter::once(Ok(batch))))
        }
        Format::Parquet => {
            let file = File::open(&path).map_err(|e| open_err(&path, e))?;
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
        Format::Csv { delimiter, gzip } => {
            let read_schema = match &f.numbers {
                Some((_, cols)) => Arc::new(with_type(schema, cols, DataType::Utf8)),
                None => schema.clone(),
            };
            let reader = arrow_csv::ReaderBuilder::new(read_schema)
                .with_format(csv_format(delimiter, null_regex))
                .with_batch_size(BATCH_ROWS)
                .with_projection(sorted.clone())
                .build(text_reader(&path, gzip)?)
                .map_err(|e| csv_err(&path, e))?;
            let numbers = f.numbers.clone();
            let columns = columns.to_vec();
            Ok(Box::new(reader.map(move |r| {
                let b = r.map(&reorder).map_err(|e| csv_err(&path, e))?;
                match &numbers {
                    Some(n) => to_numbers(b, &columns, n, &path),
                    None => Ok(b),
                }
            })))
        }
    }
}

/// `schema` with the columns `cols` of type `t`.
fn with_type(schema: &Schema, cols: &[usize], t: DataType) -> Schema {
    let fields: Vec<Field> = (schema.fields().iter().enumerate())
        .map(|(i, f)| {
            if cols.contains(&i) {
                Field::new(f.name(), t.clone(), true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Schema::new(fields)
}

/// A delimited file being opened: its path, (delimiter, gzip) and missing-cell regex.
type TextFile<'a> = (&'a Path, (u8, bool), &'a Option<regex::Regex>);

/// The columns of a delimited file that hold numbers written for people (`12,345`, `-0,123`), which the
/// reader infers as text, and their notation: one notation per file, the first of
/// [`Notation::candidates`] in which some text column reads whole (or the one `--decimal` gives). In a
/// decimal-comma file the columns inferred as decimal-point floats are read in that notation too
/// (`1.234` is 1234 there); one that does not read is an error, as guessing would be wrong either way.
fn written_numbers(
    (path, (delimiter, gzip), null_regex): TextFile,
    schema: &Schema,
    text_columns: &[&str],
    csv: &CsvOptions,
) -> Result<Option<(Notation, Vec<usize>)>> {
    let notations = Notation::candidates(csv.decimal, csv.thousands, delimiter);
    let comma = notations.iter().any(|n| n.decimal != b'.');
    let float = |i: usize| schema.field(i).data_type() == &DataType::Float64;
    let cols: Vec<usize> = (schema.fields().iter().enumerate())
        .filter(|(_, f)| !text_columns.contains(&f.name().as_str()))
        .filter(|(i, f)| f.data_type() == &DataType::Utf8 || (comma && float(*i)))
        .map(|(i, _)| i)
        .collect();
    if cols.is_empty() {
        return Ok(None);
    }
    let reader = arrow_csv::ReaderBuilder::new(Arc::new(with_type(schema, &cols, DataType::Utf8)))
        .with_format(csv_format(delimiter, null_regex))
        .with_batch_size(BATCH_ROWS)
        .with_projection(cols.clone())
        .build(text_reader(path, gzip)?)
        .map_err(|e| csv_err(path, e))?;
    // Per column and notation: the first cell that does not read (None while all do); cells seen.
    let mut bad = vec![vec![None::<(String, usize)>; notations.len()]; cols.len()];
    let mut cells = vec![0usize; cols.len()];
    let mut row = 0;
    for batch in reader {
        let batch = batch.map_err(|e| csv_err(path, e))?;
        for (c, b) in bad.iter_mut().enumerate() {
            let a = (batch.column(c).as_any())
                .downcast_ref::<arrow_array::StringArray>()
                .expect("read as text");
            for (i, v) in a.iter().enumerate() {
                if b.iter().all(Option::is_some) {
                    break;
                }
                let Some(v) = v else { continue };
                cells[c] += 1;
                for (n, slot) in notations.iter().zip(b.iter_mut()) {
                    if slot.is_none() && n.parse(v).is_none() {
                        *slot = Some((v.to_string(), row + i));
                    }
                }
            }
        }
        row += batch.num_rows();
        // Most text columns (names, regions) fail on their first cell: no need to read on.
        if csv.decimal.is_none() && bad.iter().flatten().all(Option::is_some) {
            return Ok(None);
        }
    }
    let reads = |c: usize, n: usize| cells[c] > 0 && bad[c][n].is_none();
    let Some(n) = (0..notations.len()).find(|&n| {
        csv.decimal.is_some() || (0..cols.len()).any(|c| !float(cols[c]) && reads(c, n))
    }) else {
        return Ok(None);
    };
    let notation = notations[n];
    let mut converted = Vec::new();
    for (c, &i) in cols.iter().enumerate() {
        if float(i) && notation.decimal == b'.' {
            continue;
        }
        if reads(c, n) {
            converted.push(i);
        } else if let (true, Some((cell, r))) = (float(i), &bad[c][n]) {
            return Err(Error::input(format!(
                "{}: column '{}' has '{cell}' at row {r} (0-based), which is not a number with {}, the notation of this file's other number columns; clean it, or give `decimal`",
                path.display(),
                schema.field(i).name(),
                notation.describe()
            )));
        }
    }
    Ok((!converted.is_empty()).then_some((notation, converted)))
}

/// `batch` (the columns `columns` of a delimited file, in that order) with the text columns of `numbers`
/// converted to numbers.
fn to_numbers(
    batch: RecordBatch,
    columns: &[usize],
    (notation, cols): &(Notation, Vec<usize>),
    path: &Path,
) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut arrays = batch.columns().to_vec();
    for (k, c) in columns.iter().enumerate() {
        if !cols.contains(c) {
            continue;
        }
        let text = (arrays[k].as_any())
            .downcast_ref::<arrow_array::StringArray>()
            .expect("read as text");
        let values = (text.iter())
            .map(|v| match v {
                None => Ok(None),
                Some(v) => notation.parse(v).map(Some).ok_or_else(|| {
                    Error::input(format!(
                        "{}: column '{}' has '{v}', not a number with {} (the file changed while it was read?)",
                        path.display(),
                        fields[k].name(),
                        notation.describe()
                    ))
                }),
            })
            .collect::<Result<arrow_array::Float64Array>>()?;
        arrays[k] = Arc::new(values);
        fields[k] = Field::new(fields[k].name(), DataType::Float64, true);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Error::input(format!("cannot read {}", path.display())).with_source(e))
}
