//! Parquet out: paragraphs and their vectors as one table — id, doc, line, page, kind, text, and the
//! vector as a fixed-size list of float32 — for the engines that take over past one machine
//! (Spark, Ray Data, DuckDB, pandas read it as it is).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use ndarray::ArrayView2;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use std::path::Path;

use super::DiskIndex;
use crate::corpus::Paragraph;
use crate::fsutil::AtomicFile;

/// Why a table could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("{paragraphs} paragraphs for {vectors} vectors: one vector per paragraph is needed")]
    Rows { paragraphs: usize, vectors: usize },
    #[error("vectors of {0} dimensions do not fit a Parquet fixed-size list")]
    Dimensions(usize),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Index(#[from] super::IndexError),
    #[error("{}", crate::fsutil::io_reason(.0))]
    Io(std::io::Error),
}

/// Rows per row group: a reader can take a slice of a large file without the rest.
const ROW_GROUP: usize = 65_536;

/// The schema of the table: `vector` is `FixedSizeList<float32, dim>`, `page` null outside
/// PDFs.
pub fn schema(dim: usize) -> Result<Schema, ParquetError> {
    let size = i32::try_from(dim).map_err(|_| ParquetError::Dimensions(dim))?;
    Ok(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("doc", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        // A PDF paragraph's page; null elsewhere.
        Field::new("page", DataType::UInt32, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), size),
            false,
        ),
    ]))
}

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build()
}

/// One record batch: `rows` and their vectors.
fn batch(
    schema: &Arc<Schema>,
    rows: &[Paragraph],
    vectors: ArrayView2<f32>,
) -> Result<RecordBatch, ParquetError> {
    let dim = vectors.ncols();
    let values: Vec<f32> = vectors.iter().copied().collect();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let vector = FixedSizeListArray::try_new(
        item,
        i32::try_from(dim).map_err(|_| ParquetError::Dimensions(dim))?,
        Arc::new(Float32Array::from(values)),
        None,
    )?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|p| &p.id))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|p| &p.doc))),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|p| p.line as u64),
        )),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|p| p.page))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|p| p.kind.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|p| &p.text))),
        Arc::new(vector),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The paragraphs and their vectors (one row each, in order) as a Parquet file's bytes,
/// Snappy-compressed.
pub fn to_parquet(
    paragraphs: &[Paragraph],
    vectors: ArrayView2<f32>,
) -> Result<Vec<u8>, ParquetError> {
    if paragraphs.len() != vectors.nrows() {
        return Err(ParquetError::Rows {
            paragraphs: paragraphs.len(),
            vectors: vectors.nrows(),
        });
    }
    let schema = Arc::new(schema(vectors.ncols())?);
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), Some(properties()))?;
    for start in (0..paragraphs.len()).step_by(ROW_GROUP) {
        let end = (start + ROW_GROUP).min(paragraphs.len());
        let rows = &paragraphs[start..end];
        let block = vectors.slice(ndarray::s![start..end, ..]);
        writer.write(&batch(&schema, rows, block)?)?;
    }
    writer.close()?;
    Ok(bytes)
}

/// Writes a whole on-disk index to `path` as the same table, a row group at a time (memory
/// holds one group), through a temporary file renamed into place: whole or not at all.
pub fn write_index(index: &DiskIndex, path: &Path) -> Result<usize, ParquetError> {
    let mut table = TableWriter::create(path, index.dim())?;
    let mut paragraphs = index.paragraphs()?;
    let rows = index.len();
    for start in (0..rows).step_by(ROW_GROUP) {
        let n = ROW_GROUP.min(rows - start);
        let group: Vec<Paragraph> = paragraphs.by_ref().take(n).collect::<Result<_, _>>()?;
        let vectors = index.read_rows(start, n)?;
        table.write(&group, vectors.view())?;
    }
    table.commit()?;
    Ok(rows)
}

/// A table written as its rows come, a row group at a time, to a temporary file that
/// [`TableWriter::commit`] renames onto the target: whole or not at all.
pub struct TableWriter {
    writer: ArrowWriter<std::io::BufWriter<AtomicFile>>,
    schema: Arc<Schema>,
    rows: usize,
}

impl TableWriter {
    pub fn create(path: &Path, dim: usize) -> Result<Self, ParquetError> {
        let schema = Arc::new(schema(dim)?);
        let file = AtomicFile::create(path).map_err(ParquetError::Io)?;
        let writer = ArrowWriter::try_new(
            std::io::BufWriter::new(file),
            schema.clone(),
            Some(properties()),
        )?;
        Ok(Self {
            writer,
            schema,
            rows: 0,
        })
    }

    /// Appends rows and their vectors (one each, in order).
    pub fn write(
        &mut self,
        paragraphs: &[Paragraph],
        vectors: ArrayView2<f32>,
    ) -> Result<(), ParquetError> {
        if paragraphs.len() != vectors.nrows() {
            return Err(ParquetError::Rows {
                paragraphs: paragraphs.len(),
                vectors: vectors.nrows(),
            });
        }
        self.writer
            .write(&batch(&self.schema, paragraphs, vectors)?)?;
        self.rows += paragraphs.len();
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Closes the table and renames it into place.
    pub fn commit(self) -> Result<usize, ParquetError> {
        let file = self.writer.into_inner()?;
        let file = file
            .into_inner()
            .map_err(|e| ParquetError::Io(e.into_error()))?;
        file.commit().map_err(ParquetError::Io)?;
        Ok(self.rows)
    }
}
