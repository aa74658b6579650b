//! Parquet out: paragraphs and their vectors as one table — id, doc, line, kind, text, and the
//! vector as a fixed-size list of float32 — for the engines that take over past one machine
//! (Spark, Ray Data, DuckDB, pandas read it as it is).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use ndarray::ArrayView2;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::corpus::Paragraph;

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
}

/// Rows per row group: a reader can take a slice of a large file without the rest.
const ROW_GROUP: usize = 65_536;

/// The schema of the table: `vector` is `FixedSizeList<float32, dim>`.
pub fn schema(dim: usize) -> Result<Schema, ParquetError> {
    let size = i32::try_from(dim).map_err(|_| ParquetError::Dimensions(dim))?;
    Ok(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("doc", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), size),
            false,
        ),
    ]))
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
    let dim = vectors.ncols();
    let schema = Arc::new(schema(dim)?);
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), Some(properties))?;
    for start in (0..paragraphs.len()).step_by(ROW_GROUP) {
        let end = (start + ROW_GROUP).min(paragraphs.len());
        let rows = &paragraphs[start..end];
        let values: Vec<f32> = vectors
            .slice(ndarray::s![start..end, ..])
            .iter()
            .copied()
            .collect();
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
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|p| p.kind.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|p| &p.text))),
            Arc::new(vector),
        ];
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
    }
    writer.close()?;
    Ok(bytes)
}
