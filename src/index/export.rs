//! Rows out as they are made: a `.npy` matrix with its `.ids.jsonl` sidecar, a Parquet table
//! (feature `parquet`), or JSON lines, each written a slice at a time (files to temporaries renamed
//! at the end), so writing a million rows holds one slice.

use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use serde::Serialize;

#[cfg(feature = "parquet")]
use super::parquet::{ParquetError, TableWriter};
use crate::corpus::{Paragraph, ParagraphKind};
use crate::fsutil::AtomicFile;

/// Why rows could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {}: {}", path.display(), crate::fsutil::io_reason(source))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[cfg(feature = "parquet")]
    #[error("cannot write {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
    #[error("{paragraphs} paragraphs for {vectors} vectors: one vector per paragraph is needed")]
    Rows { paragraphs: usize, vectors: usize },
}

/// Where embedded rows go, a slice at a time and in order.
pub trait RowSink {
    fn write(
        &mut self,
        paragraphs: &[Paragraph],
        vectors: ArrayView2<f32>,
    ) -> Result<(), ExportError>;
}

/// One row as `embed` writes it in JSON: the sidecar's record, and with its vector on stdout.
#[derive(Debug, Serialize)]
pub struct RowRecord<'a> {
    pub id: &'a str,
    pub doc: &'a str,
    pub line: usize,
    /// A PDF paragraph's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// The article's date, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<chrono::NaiveDate>,
    pub kind: ParagraphKind,
    pub text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

impl<'a> RowRecord<'a> {
    pub fn new(p: &'a Paragraph, vector: Option<Vec<f32>>) -> Self {
        Self {
            id: &p.id,
            doc: &p.doc,
            line: p.line,
            page: p.page,
            date: p.date,
            kind: p.kind,
            text: &p.text,
            vector,
        }
    }
}

fn check_rows(paragraphs: &[Paragraph], vectors: &ArrayView2<f32>) -> Result<(), ExportError> {
    if paragraphs.len() != vectors.nrows() {
        return Err(ExportError::Rows {
            paragraphs: paragraphs.len(),
            vectors: vectors.nrows(),
        });
    }
    Ok(())
}

/// Rows as JSON lines, vectors included, to any writer (stdout for `embed`).
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> RowSink for JsonLines<W> {
    fn write(
        &mut self,
        paragraphs: &[Paragraph],
        vectors: ArrayView2<f32>,
    ) -> Result<(), ExportError> {
        check_rows(paragraphs, &vectors)?;
        let io = |source| ExportError::Io {
            path: PathBuf::from("stdout"),
            source,
        };
        for (p, v) in paragraphs.iter().zip(vectors.rows()) {
            serde_json::to_writer(&mut self.out, &RowRecord::new(p, Some(v.to_vec())))
                .map_err(|e| io(e.into()))?;
            self.out.write_all(b"\n").map_err(io)?;
        }
        Ok(())
    }
}

/// The `.npy` header of a float32 matrix of `rows` × `dim` in C order, as NumPy writes it
/// (format 1.0, padded with spaces to a multiple of 64 bytes and ended by a newline). The
/// header of a count up to 20 digits has the same length, so it can be written first and
/// rewritten in place once the rows are counted.
fn npy_header(rows: usize, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim})}}");
    let unpadded = 6 + 2 + 2 + dict.len() + 1;
    let padding = unpadded.next_multiple_of(NPY_ALIGN) - unpadded;
    let header_len = dict.len() + padding + 1;
    let mut bytes = Vec::with_capacity(unpadded + padding);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header_len as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.resize(bytes.len() + padding, b' ');
    bytes.push(b'\n');
    bytes
}

const NPY_ALIGN: usize = 64;

/// The matrix of `embed -o FILE.npy` and its sidecar `FILE.ids.jsonl` (one record a row),
/// written as rows come; both appear together on [`NpyFiles::commit`], or neither.
pub struct NpyFiles {
    npy: BufWriter<AtomicFile>,
    ids: BufWriter<AtomicFile>,
    dim: usize,
    rows: usize,
}

impl NpyFiles {
    pub fn create(npy: &Path, ids: &Path, dim: usize) -> Result<Self, ExportError> {
        let open = |path: &Path| {
            AtomicFile::create(path)
                .map(|f| BufWriter::with_capacity(1 << 20, f))
                .map_err(|source| ExportError::Io {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let mut files = Self {
            npy: open(npy)?,
            ids: open(ids)?,
            dim,
            rows: 0,
        };
        let header = npy_header(0, dim);
        files.npy.write_all(&header).map_err(|e| files.npy_err(e))?;
        Ok(files)
    }

    fn npy_err(&self, source: io::Error) -> ExportError {
        ExportError::Io {
            path: self.npy.get_ref().target().to_path_buf(),
            source,
        }
    }

    fn ids_err(&self, source: io::Error) -> ExportError {
        ExportError::Io {
            path: self.ids.get_ref().target().to_path_buf(),
            source,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Writes the row count into the header, then renames both files into place.
    pub fn commit(self) -> Result<usize, ExportError> {
        let header = npy_header(self.rows, self.dim);
        debug_assert_eq!(header.len(), npy_header(0, self.dim).len());
        let npy_path = self.npy.get_ref().target().to_path_buf();
        let ids_path = self.ids.get_ref().target().to_path_buf();
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| ExportError::Io { path, source }
        };
        let mut npy = self
            .npy
            .into_inner()
            .map_err(|e| io(&npy_path)(e.into_error()))?;
        npy.file_mut()
            .seek(SeekFrom::Start(0))
            .and_then(|_| npy.file_mut().write_all(&header))
            .map_err(io(&npy_path))?;
        let ids = self
            .ids
            .into_inner()
            .map_err(|e| io(&ids_path)(e.into_error()))?;
        AtomicFile::commit_all(vec![npy, ids]).map_err(io(&npy_path))?;
        Ok(self.rows)
    }
}

impl RowSink for NpyFiles {
    fn write(
        &mut self,
        paragraphs: &[Paragraph],
        vectors: ArrayView2<f32>,
    ) -> Result<(), ExportError> {
        check_rows(paragraphs, &vectors)?;
        for row in vectors.rows() {
            for x in row {
                self.npy
                    .write_all(&x.to_le_bytes())
                    .map_err(|e| self.npy_err(e))?;
            }
        }
        for p in paragraphs {
            serde_json::to_writer(&mut self.ids, &RowRecord::new(p, None))
                .map_err(|e| self.ids_err(e.into()))?;
            self.ids.write_all(b"\n").map_err(|e| self.ids_err(e))?;
        }
        self.rows += paragraphs.len();
        Ok(())
    }
}

/// The Parquet table of `embed --format parquet`, written a row group at a time.
#[cfg(feature = "parquet")]
pub struct ParquetFile {
    table: TableWriter,
    path: PathBuf,
}

#[cfg(feature = "parquet")]
impl ParquetFile {
    pub fn create(path: &Path, dim: usize) -> Result<Self, ExportError> {
        let table = TableWriter::create(path, dim).map_err(|source| ExportError::Parquet {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            table,
            path: path.to_path_buf(),
        })
    }

    pub fn rows(&self) -> usize {
        self.table.rows()
    }

    pub fn commit(self) -> Result<usize, ExportError> {
        let path = self.path;
        self.table
            .commit()
            .map_err(|source| ExportError::Parquet { path, source })
    }
}

#[cfg(feature = "parquet")]
impl RowSink for ParquetFile {
    fn write(
        &mut self,
        paragraphs: &[Paragraph],
        vectors: ArrayView2<f32>,
    ) -> Result<(), ExportError> {
        self.table
            .write(paragraphs, vectors)
            .map_err(|source| ExportError::Parquet {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use ndarray_npy::WriteNpyExt;

    #[test]
    fn npy_header_is_the_one_ndarray_npy_writes_and_keeps_its_length() {
        for (rows, dim) in [(0, 384), (1, 3), (10_000, 384), (123_456, 256)] {
            let matrix = Array2::<f32>::zeros((rows, dim));
            let mut bytes = Vec::new();
            matrix.write_npy(&mut bytes).unwrap();
            let header = npy_header(rows, dim);
            assert_eq!(&bytes[..header.len()], &header[..], "{rows} × {dim}");
            assert_eq!(bytes.len(), header.len() + rows * dim * 4);
        }
        assert_eq!(npy_header(0, 384).len(), npy_header(usize::MAX, 384).len());
    }

    fn paragraph(i: usize) -> Paragraph {
        Paragraph {
            id: format!("p{i}"),
            doc: "d.txt".into(),
            line: i + 1,
            page: None,
            date: None,
            text: format!("text {i}"),
            kind: ParagraphKind::Body,
        }
    }

    #[test]
    fn npy_files_written_in_slices_equal_the_whole_matrix() {
        let dir = tempfile::tempdir().unwrap();
        let (npy, ids) = (dir.path().join("v.npy"), dir.path().join("v.ids.jsonl"));
        let matrix = Array2::from_shape_fn((7, 3), |(i, j)| (i * 3 + j) as f32 * 0.5);
        let rows: Vec<Paragraph> = (0..7).map(paragraph).collect();
        let mut files = NpyFiles::create(&npy, &ids, 3).unwrap();
        for (start, end) in [(0, 3), (3, 4), (4, 7)] {
            files
                .write(&rows[start..end], matrix.slice(ndarray::s![start..end, ..]))
                .unwrap();
        }
        assert!(!npy.exists(), "nothing at the target before commit");
        assert_eq!(files.commit().unwrap(), 7);
        let mut whole = Vec::new();
        matrix.write_npy(&mut whole).unwrap();
        assert_eq!(std::fs::read(&npy).unwrap(), whole);
        let sidecar = std::fs::read_to_string(&ids).unwrap();
        assert_eq!(sidecar.lines().count(), 7);
        assert!(sidecar
            .starts_with(r#"{"id":"p0","doc":"d.txt","line":1,"kind":"body","text":"text 0"}"#));
    }

    #[test]
    fn npy_files_dropped_before_commit_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (npy, ids) = (dir.path().join("v.npy"), dir.path().join("v.ids.jsonl"));
        let mut files = NpyFiles::create(&npy, &ids, 2).unwrap();
        files
            .write(&[paragraph(0)], Array2::<f32>::ones((1, 2)).view())
            .unwrap();
        drop(files);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
