//! Filling an on-disk index: a corpus streamed file by file and embedded a slice at a time, or
//! vectors made elsewhere (`.npy` with the `embed` sidecar) read a block at a time; what is
//! already stored is skipped, so an interrupted run picks up where it stopped.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use ndarray_npy::ViewNpyExt;

use super::store::{IndexError, IndexWriter, Presence};
use crate::corpus::{
    CorpusError, CorpusOptions, Paragraph, ParagraphKind, ReadParagraph, Reader, Warning,
};
use crate::embed::{EmbedError, EmbedStats, Embedder};
use crate::model::files::{paragraph_fingerprint, FitRecord};

/// Paragraphs embedded and committed together. A fixed size, counted over the stream of new
/// paragraphs, so a run resumed after an interrupt cuts the same slices (and so embeds the same
/// batches, to the bit) as an uninterrupted one.
pub const SLICE: usize = 4096;
/// Rows of an imported matrix read and committed together.
const IMPORT_BLOCK: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{path}: {reason}")]
    Import { path: PathBuf, reason: String },
    /// Stopped on request between two commits (what was committed stays).
    #[error("interrupted")]
    Interrupted(#[from] crate::cancel::Interrupted),
}

fn import_err(path: &Path, reason: impl std::fmt::Display) -> BuildError {
    BuildError::Import {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// What one build, add or import did.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    pub files: usize,
    /// Paragraphs (or imported rows) read.
    pub read: usize,
    /// New rows appended.
    pub added: usize,
    /// Already stored with the same id and text: skipped.
    pub stored: usize,
    /// Stored under the same id with another text: appended too.
    pub changed: usize,
    /// Left out as boilerplate or fragments.
    pub boilerplate: usize,
    /// Imported vectors that were not unit length and were normalised.
    pub normalised: usize,
    pub warnings: Vec<Warning>,
    pub embed: EmbedStats,
    /// The rows of the new paragraphs, in order.
    pub new_rows: std::ops::Range<usize>,
    /// With a fitted static model: how much of what it was fitted on this corpus holds.
    pub fit_overlap: Option<FitOverlap>,
}

/// How many of a fitted static model's sampled fitting paragraphs
/// ([`FitRecord::sample`]) were read from the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitOverlap {
    pub sampled: usize,
    pub found: usize,
}

/// Counts the sampled fitting paragraphs a stream of paragraphs holds.
struct OverlapCounter {
    unseen: HashSet<String>,
    sampled: usize,
}

impl OverlapCounter {
    fn new(record: &FitRecord) -> Self {
        let unseen: HashSet<String> = record.sample.iter().cloned().collect();
        Self {
            sampled: unseen.len(),
            unseen,
        }
    }

    fn see(&mut self, paragraph: &Paragraph) {
        // Once every sampled paragraph is found, the rest of the corpus need not be hashed.
        if !self.unseen.is_empty() {
            self.unseen.remove(&paragraph_fingerprint(&paragraph.text));
        }
    }

    fn overlap(&self) -> FitOverlap {
        FitOverlap {
            sampled: self.sampled,
            found: self.sampled - self.unseen.len(),
        }
    }
}

/// Progress: (paragraphs read so far, new paragraphs embedded so far).
pub type BuildProgress<'a> = &'a mut dyn FnMut(usize, usize);

/// Streams `inputs` into the index: paragraphs read as they come ([`Reader`]), those already
/// stored skipped, new ones embedded and committed `slice` at a time ([`SLICE`] by default).
/// With `fitted_on` (a fitted static model's record), the report says how much of what the
/// model was fitted on the corpus holds.
/// Memory holds one article (or record) and one slice's vectors, whatever the corpus' size.
pub fn build<P: AsRef<Path>>(
    writer: &mut IndexWriter,
    embedder: &Embedder,
    inputs: &[P],
    options: CorpusOptions,
    slice: usize,
    fitted_on: Option<&FitRecord>,
    progress: BuildProgress,
) -> Result<BuildReport, BuildError> {
    let mut reader = Reader::open(inputs, options)?;
    let mut overlap = fitted_on.map(OverlapCounter::new);
    // The fit may have kept what the index leaves out (a short record, say): the counter sees
    // every paragraph read.
    let paragraphs = std::iter::from_fn(|| loop {
        match reader.next_read()? {
            Ok(ReadParagraph::Kept(paragraph)) => {
                if let Some(counter) = overlap.as_mut() {
                    counter.see(&paragraph);
                }
                return Some(Ok(paragraph));
            }
            Ok(ReadParagraph::LeftOut(paragraph)) => {
                if let Some(counter) = overlap.as_mut() {
                    counter.see(&paragraph);
                }
            }
            Err(e) => return Some(Err(BuildError::from(e))),
        }
    });
    let mut report = fill(writer, embedder, paragraphs, slice, progress)?;
    report.fit_overlap = overlap.map(|counter| counter.overlap());
    report.files = reader.files_opened();
    report.boilerplate = reader.skipped();
    report.warnings = reader.take_warnings();
    Ok(report)
}

/// Adds `paragraphs` given in memory to the index, as [`build`] adds a corpus' (every one is
/// kept: no boilerplate filter, which is the reader's).
pub fn add(
    writer: &mut IndexWriter,
    embedder: &Embedder,
    paragraphs: Vec<Paragraph>,
    slice: usize,
    progress: BuildProgress,
) -> Result<BuildReport, BuildError> {
    fill(
        writer,
        embedder,
        paragraphs.into_iter().map(Ok),
        slice,
        progress,
    )
}

/// Appends the paragraphs not stored yet, `slice` at a time.
fn fill(
    writer: &mut IndexWriter,
    embedder: &Embedder,
    paragraphs: impl Iterator<Item = Result<Paragraph, BuildError>>,
    slice: usize,
    progress: BuildProgress,
) -> Result<BuildReport, BuildError> {
    let slice = slice.max(1);
    let first_new = writer.rows();
    let mut report = BuildReport::default();
    let mut pending: Vec<Paragraph> = Vec::new();
    for paragraph in paragraphs {
        let paragraph = paragraph?;
        report.read += 1;
        match writer.presence(&paragraph) {
            Presence::Stored => report.stored += 1,
            presence => {
                report.changed += usize::from(presence == Presence::Changed);
                pending.push(paragraph);
            }
        }
        if report.read % PROGRESS_EVERY == 0 {
            progress(report.read, report.added);
        }
        embed_slices(
            writer,
            embedder,
            &mut pending,
            slice,
            &mut report,
            false,
            progress,
        )?;
    }
    progress(report.read, report.added);
    embed_slices(
        writer,
        embedder,
        &mut pending,
        slice,
        &mut report,
        true,
        progress,
    )?;
    report.new_rows = first_new..writer.rows();
    Ok(report)
}

/// Paragraphs read between two progress reports while nothing new is embedded.
const PROGRESS_EVERY: usize = 1024;

/// Embeds and commits whole slices of `pending` (and, when `all`, the last partial one).
fn embed_slices(
    writer: &mut IndexWriter,
    embedder: &Embedder,
    pending: &mut Vec<Paragraph>,
    slice: usize,
    report: &mut BuildReport,
    all: bool,
    progress: BuildProgress,
) -> Result<(), BuildError> {
    while pending.len() >= slice || (all && !pending.is_empty()) {
        let n = pending.len().min(slice);
        let slice: Vec<Paragraph> = pending.drain(..n).collect();
        let texts: Vec<&str> = slice.iter().map(|p| p.text.as_str()).collect();
        let embedded = embedder.embed(&texts)?;
        writer.append(&slice, embedded.vectors.view())?;
        report.embed += embedded.stats;
        report.added += n;
        progress(report.read, report.added);
    }
    Ok(())
}

/// The shape of an `.npy` file of float32 rows, read from its header (the data is not touched).
pub fn npy_shape(path: &Path) -> Result<(usize, usize), BuildError> {
    let (_, map) = map_npy(path)?;
    let view = view_npy(path, &map)?;
    Ok(view.dim())
}

fn map_npy(path: &Path) -> Result<(File, memmap2::Mmap), BuildError> {
    let file = File::open(path).map_err(|e| import_err(path, e))?;
    // SAFETY: the file is only read; if another process changes it meanwhile the rows read may
    // be wrong, as with any reader, but nothing unsafe follows from it.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| import_err(path, e))?;
    Ok((file, map))
}

fn view_npy<'a>(path: &Path, map: &'a memmap2::Mmap) -> Result<ArrayView2<'a, f32>, BuildError> {
    ArrayView2::<f32>::view_npy(map).map_err(|e| {
        import_err(
            path,
            format!("not a 2-D little-endian float32 .npy matrix in C order ({e})"),
        )
    })
}

/// Imports vectors made elsewhere: `npy` a float32 matrix (one row per paragraph), `ids` the
/// `embed` sidecar (records {id, doc, line, kind?, text}, one per row) or, without it, rows named
/// `row N` of a document named after the file. Rows already stored are skipped, so an
/// interrupted import resumes. Non-unit rows are normalised; a row of zeros or non-finite
/// values is an error naming it.
pub fn import(
    writer: &mut IndexWriter,
    npy: &Path,
    ids: Option<&Path>,
    cancel: &crate::cancel::Cancel,
    progress: BuildProgress,
) -> Result<BuildReport, BuildError> {
    let (_file, map) = map_npy(npy)?;
    let view = view_npy(npy, &map)?;
    let (rows, dim) = view.dim();
    if dim != writer.manifest().spec.dim {
        return Err(import_err(
            npy,
            format!(
                "rows of {dim} values; the index holds {}-dimensional vectors",
                writer.manifest().spec.dim
            ),
        ));
    }
    let mut records: Box<dyn Iterator<Item = Result<Paragraph, BuildError>>> = match ids {
        Some(path) => {
            let lines = count_lines(path)?;
            if lines != rows {
                return Err(import_err(
                    path,
                    format!("{lines} records for the {rows} rows of {}", npy.display()),
                ));
            }
            let file = File::open(path).map_err(|e| import_err(path, e))?;
            let path = path.to_path_buf();
            Box::new(
                BufReader::new(file)
                    .lines()
                    .enumerate()
                    .map(move |(i, line)| {
                        let line = line.map_err(|e| import_err(&path, e))?;
                        parse_sidecar(&line)
                            .map_err(|e| import_err(&path, format!("line {}: {e}", i + 1)))
                    }),
            )
        }
        None => {
            let doc = npy.display().to_string();
            Box::new((0..rows).map(move |row| {
                Ok(Paragraph {
                    id: format!("row {row}"),
                    doc: doc.clone(),
                    line: row + 1,
                    page: None,
                    date: None,
                    text: String::new(),
                    kind: ParagraphKind::Body,
                })
            }))
        }
    };
    let first_new = writer.rows();
    let mut report = BuildReport {
        files: 1,
        ..BuildReport::default()
    };
    let mut start = 0;
    while start < rows {
        cancel.check()?;
        let n = (rows - start).min(IMPORT_BLOCK);
        let mut keep_paragraphs = Vec::with_capacity(n);
        let mut keep_rows = Vec::with_capacity(n);
        for offset in 0..n {
            let paragraph = records.next().expect("as many records as rows")?;
            report.read += 1;
            match writer.presence(&paragraph) {
                Presence::Stored => report.stored += 1,
                presence => {
                    report.changed += usize::from(presence == Presence::Changed);
                    keep_paragraphs.push(paragraph);
                    keep_rows.push(start + offset);
                }
            }
        }
        let mut block = Array2::<f32>::zeros((keep_rows.len(), dim));
        for (mut to, &row) in block.rows_mut().into_iter().zip(&keep_rows) {
            to.assign(&view.row(row));
            let norm = to.dot(&to).sqrt();
            if !norm.is_finite() || norm < 1e-6 {
                return Err(import_err(
                    npy,
                    format!("row {row} is zero or not finite: it has no direction to search by"),
                ));
            }
            if (norm - 1.0).abs() > 1e-3 {
                to /= norm;
                report.normalised += 1;
            }
        }
        writer.append(&keep_paragraphs, block.view())?;
        report.added += keep_rows.len();
        drop_pages(&map);
        start += n;
        progress(report.read, report.added);
    }
    report.new_rows = first_new..writer.rows();
    Ok(report)
}

/// Pages of the mapped file already copied are dropped from memory, so an import of any size
/// keeps about one block resident.
fn drop_pages(map: &memmap2::Mmap) {
    // SAFETY: the mapping is private and read-only, so dropping its pages only means they are
    // read from the file again if touched.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

fn count_lines(path: &Path) -> Result<usize, BuildError> {
    let file = File::open(path).map_err(|e| import_err(path, e))?;
    let mut reader = BufReader::new(file);
    let mut lines = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| import_err(path, e))?;
        if n == 0 {
            return Ok(lines);
        }
        lines += 1;
    }
}

#[derive(serde::Deserialize)]
struct SidecarRecord {
    id: String,
    #[serde(default)]
    doc: String,
    #[serde(default)]
    line: usize,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    date: Option<chrono::NaiveDate>,
    #[serde(default = "body")]
    kind: ParagraphKind,
    #[serde(default)]
    text: String,
}

fn body() -> ParagraphKind {
    ParagraphKind::Body
}

fn parse_sidecar(line: &str) -> Result<Paragraph, serde_json::Error> {
    let r: SidecarRecord = serde_json::from_str(line)?;
    Ok(Paragraph {
        id: r.id,
        doc: r.doc,
        line: r.line,
        page: r.page,
        date: r.date,
        kind: r.kind,
        text: r.text,
    })
}
