//! The on-disk index: paragraph vectors, texts and ids in append-only files under one directory,
//! committed a slice at a time by an atomically replaced manifest, with an approximate
//! nearest-neighbour graph beside them.
//!
//! Layout of `DIR`:
//! - `index.json` — the manifest: dimensions, model, committed rows and bytes, the ANN file.
//!   Written to a temporary file and renamed: the commit point of every slice.
//! - `vectors.f32` — one row of `dim` little-endian f32 per paragraph.
//! - `paragraphs.jsonl` — one record {id, doc, line, page, kind, text} per row; `offsets.u64` holds
//!   where each record starts.
//! - `keys.u64` — per row, a hash of the document and id and a hash of the text: what makes a
//!   rerun skip what is stored.
//! - `ann-ROWS.usearch` — the HNSW graph over the first ROWS rows (int8 vectors), see [`super::ann`].
//! - `themes.json` — the fitted themes, when `themes --index` has run.
//! - `lock` — held by the one writer.
//!
//! Files only grow; bytes past what the manifest counts are left by an interrupted writer and are
//! cut by the next one. Readers see the manifest's rows only, so a reader never sees a
//! half-written slice, and a writer can append while readers search.

use crate::fsutil::read_exact_at;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ann::Ann;
pub use super::error::IndexError;
use super::{top_k, Hit};
use crate::corpus::Paragraph;

const FORMAT: u32 = 1;
const MANIFEST: &str = "index.json";
const VECTORS: &str = "vectors.f32";
const TEXTS: &str = "paragraphs.jsonl";
const OFFSETS: &str = "offsets.u64";
const KEYS: &str = "keys.u64";
const LOCK: &str = "lock";
pub(crate) const THEMES: &str = "themes.json";

/// Below this many rows a query is answered by exact search: it is as fast, and exact.
pub const EXACT_BELOW: usize = 20_000;
/// The ANN graph is saved after this many rows were added to it since the last save, and at the
/// end of every run; an interrupted run re-adds the rows past the saved graph from the vectors
/// file (nothing is embedded again).
const ANN_SAVE_EVERY: u64 = 250_000;
/// ANN candidates re-ranked by exact cosine (at least 4 per result asked for): the graph's int8
/// distances order near rows roughly, the f32 rows decide. On 1M clustered rows (README "Index"),
/// queries at cosine 0.9 to a row: recall@10 0.918 with 40 candidates, 0.963 with 200, 0.9945
/// with 400 (p50 1.2 ms), 0.998 with 800; at cosine 0.7: 0.966 with 400, 0.9905 with 800
/// (p50 2.6 ms, p95 3.9 ms).
pub const DEFAULT_CANDIDATES: usize = 800;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the vectors are: checked when a writer or a query meets an existing index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    pub dim: usize,
    /// The model and embedding mode the vectors came from (`None`: imported from elsewhere,
    /// so any model of the same width may query it).
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnFile {
    pub file: String,
    pub rows: u64,
}

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    #[serde(flatten)]
    pub spec: IndexSpec,
    pub rows: u64,
    pub text_bytes: u64,
    pub ann: Option<AnnFile>,
    /// Seconds spent adding rows to the ANN graph, over every run.
    #[serde(default)]
    pub graph_seconds: f64,
}

impl Manifest {
    fn read(dir: &Path) -> Result<Self, IndexError> {
        let path = dir.join(MANIFEST);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IndexError::NotAnIndex(dir.to_path_buf()))
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| IndexError::Damaged {
                path: dir.to_path_buf(),
                reason: format!("index.json: {e}"),
            })?;
        if manifest.format != FORMAT {
            return Err(IndexError::Damaged {
                path: dir.to_path_buf(),
                reason: format!(
                    "format {} (this themescope reads format {FORMAT})",
                    manifest.format
                ),
            });
        }
        Ok(manifest)
    }

    fn write(&self, dir: &Path) -> Result<(), IndexError> {
        let path = dir.join(MANIFEST);
        let bytes = serde_json::to_vec_pretty(self).expect("a manifest serializes");
        crate::fsutil::atomic_write(&path, &bytes).map_err(io_err(&path))
    }
}

/// A paragraph as stored: one line of `paragraphs.jsonl`.
type Record = Paragraph;

/// Stable 64-bit hash (SHA-256's first bytes): the same on every machine and Rust version.
fn hash64(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// A paragraph's identity: its id within its document (JSONL ids are only unique per file).
fn id_key(paragraph: &Paragraph) -> u64 {
    hash64(&format!("{}\0{}", paragraph.doc, paragraph.id))
}

/// Whether a paragraph is already in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    New,
    /// Same id, same text: nothing to do.
    Stored,
    /// The id is stored with another text (an edited paragraph): the new text is added too.
    Changed,
}

/// The one writer of an index directory: appends slices of paragraphs with their vectors.
pub struct IndexWriter {
    dir: PathBuf,
    manifest: Manifest,
    _lock: File,
    vectors: File,
    texts: File,
    offsets: File,
    keys: File,
    /// id hash → text hash of the latest row with that id.
    seen: HashMap<u64, u64>,
    ann: Ann,
    ann_saved: u64,
}

impl IndexWriter {
    /// Opens `dir` for appending, creating the index if the directory is new or empty. An
    /// existing index must hold vectors of `spec`; what an interrupted writer left past the last
    /// commit is cut, and the ANN graph catches up with the committed rows.
    pub fn open(dir: &Path, spec: &IndexSpec) -> Result<Self, IndexError> {
        let fresh = match fs::read_dir(dir) {
            Ok(mut entries) => {
                if !dir.join(MANIFEST).exists() {
                    if entries.next().is_some() {
                        return Err(IndexError::NotEmpty(dir.to_path_buf()));
                    }
                    true
                } else {
                    false
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(IndexError::NotEmpty(dir.to_path_buf()))
            }
            Err(e) => return Err(io_err(dir)(e)),
        };
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match fs4::fs_std::FileExt::try_lock_exclusive(&lock) {
            Ok(true) => {}
            Ok(false) => return Err(IndexError::Busy(dir.to_path_buf())),
            Err(e) => return Err(io_err(&lock_path)(e)),
        }
        let manifest = if fresh {
            let manifest = Manifest {
                format: FORMAT,
                spec: spec.clone(),
                rows: 0,
                text_bytes: 0,
                ann: None,
                graph_seconds: 0.0,
            };
            manifest.write(dir)?;
            manifest
        } else {
            let manifest = Manifest::read(dir)?;
            check_spec(dir, &manifest.spec, spec)?;
            manifest
        };
        let open = |name: &str, len: u64| -> Result<File, IndexError> {
            let path = dir.join(name);
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            let have = file.metadata().map_err(io_err(&path))?.len();
            if have < len {
                return Err(IndexError::Damaged {
                    path: dir.to_path_buf(),
                    reason: format!("{name} holds {have} bytes, the manifest counts {len}"),
                });
            }
            if have > len {
                // An interrupted slice: never committed, so never seen by a reader.
                file.set_len(len).map_err(io_err(&path))?;
            }
            Ok(file)
        };
        let rows = manifest.rows;
        let dim = manifest.spec.dim as u64;
        let vectors = open(VECTORS, rows * dim * 4)?;
        let texts = open(TEXTS, manifest.text_bytes)?;
        let offsets = open(OFFSETS, rows * 8)?;
        let keys = open(KEYS, rows * 16)?;
        let mut seen = HashMap::with_capacity(rows as usize);
        let mut buf = vec![0u8; 16 * 65_536];
        let mut row = 0u64;
        while row < rows {
            let n = (rows - row).min(65_536);
            let bytes = &mut buf[..(n * 16) as usize];
            read_exact_at(&keys, bytes, row * 16).map_err(io_err(&dir.join(KEYS)))?;
            for pair in bytes.chunks_exact(16) {
                let id = u64::from_le_bytes(pair[..8].try_into().expect("8 bytes"));
                let text = u64::from_le_bytes(pair[8..].try_into().expect("8 bytes"));
                seen.insert(id, text);
            }
            row += n;
        }
        let (ann, ann_saved) = match &manifest.ann {
            Some(saved) => (Ann::load(&dir.join(&saved.file), dim as usize)?, saved.rows),
            None => (Ann::new(manifest.spec.dim)?, 0),
        };
        let mut writer = Self {
            dir: dir.to_path_buf(),
            manifest,
            _lock: lock,
            vectors,
            texts,
            offsets,
            keys,
            seen,
            ann,
            ann_saved,
        };
        writer.catch_up_ann()?;
        Ok(writer)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn rows(&self) -> usize {
        self.manifest.rows as usize
    }

    pub fn presence(&self, paragraph: &Paragraph) -> Presence {
        match self.seen.get(&id_key(paragraph)) {
            None => Presence::New,
            Some(&text) if text == hash64(&paragraph.text) => Presence::Stored,
            Some(_) => Presence::Changed,
        }
    }

    /// Rows committed but not yet in the ANN graph (after an interrupted run) go in now.
    fn catch_up_ann(&mut self) -> Result<(), IndexError> {
        let have = self.ann.len() as u64;
        let rows = self.manifest.rows;
        if have >= rows {
            return Ok(());
        }
        let dim = self.manifest.spec.dim;
        let mut start = have;
        while start < rows {
            let n = (rows - start).min(16_384);
            let block = read_rows(&self.vectors, &self.dir.join(VECTORS), dim, start, n)?;
            let started = std::time::Instant::now();
            self.ann.add(start, block.view())?;
            self.manifest.graph_seconds += started.elapsed().as_secs_f64();
            start += n;
        }
        Ok(())
    }

    /// Appends one slice and commits it: after this returns, the rows are in the index for
    /// every reader and survive a crash; if it fails or the process dies inside, none of them
    /// are.
    pub fn append(
        &mut self,
        paragraphs: &[Paragraph],
        vectors: ArrayView2<f32>,
    ) -> Result<(), IndexError> {
        assert_eq!(
            paragraphs.len(),
            vectors.nrows(),
            "one vector per paragraph"
        );
        assert_eq!(vectors.ncols(), self.manifest.spec.dim, "vector width");
        if paragraphs.is_empty() {
            return Ok(());
        }
        let start = self.manifest.rows;
        let mut vector_bytes = Vec::with_capacity(vectors.len() * 4);
        for row in vectors.rows() {
            for &x in row {
                vector_bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        let mut text_bytes = Vec::new();
        let mut offset_bytes = Vec::with_capacity(paragraphs.len() * 8);
        let mut key_bytes = Vec::with_capacity(paragraphs.len() * 16);
        let mut keys = Vec::with_capacity(paragraphs.len());
        for p in paragraphs {
            offset_bytes.extend_from_slice(
                &(self.manifest.text_bytes + text_bytes.len() as u64).to_le_bytes(),
            );
            serde_json::to_writer(&mut text_bytes, p).expect("a paragraph serializes");
            text_bytes.push(b'\n');
            let key = (id_key(p), hash64(&p.text));
            key_bytes.extend_from_slice(&key.0.to_le_bytes());
            key_bytes.extend_from_slice(&key.1.to_le_bytes());
            keys.push(key);
        }
        for (file, name, bytes) in [
            (&self.vectors, VECTORS, &vector_bytes),
            (&self.texts, TEXTS, &text_bytes),
            (&self.offsets, OFFSETS, &offset_bytes),
            (&self.keys, KEYS, &key_bytes),
        ] {
            let path = self.dir.join(name);
            let mut file = file;
            file.write_all(bytes).map_err(io_err(&path))?;
            file.sync_data().map_err(io_err(&path))?;
        }
        let started = std::time::Instant::now();
        self.ann.add(start, vectors)?;
        let mut next = self.manifest.clone();
        next.graph_seconds += started.elapsed().as_secs_f64();
        next.rows += paragraphs.len() as u64;
        next.text_bytes += text_bytes.len() as u64;
        if next.rows - self.ann_saved >= ANN_SAVE_EVERY {
            next.ann = Some(self.save_ann(next.rows)?);
        }
        next.write(&self.dir)?;
        self.remove_old_ann(&next);
        if let Some(saved) = &next.ann {
            self.ann_saved = saved.rows;
        }
        self.manifest = next;
        for (id, text) in keys {
            self.seen.insert(id, text);
        }
        Ok(())
    }

    fn save_ann(&self, rows: u64) -> Result<AnnFile, IndexError> {
        let file = format!("ann-{rows}.usearch");
        self.ann.save(&self.dir.join(&file))?;
        Ok(AnnFile { file, rows })
    }

    /// Older graphs go once the manifest names the new one; a reader that opened one keeps it
    /// (an open file outlives its name).
    fn remove_old_ann(&self, manifest: &Manifest) {
        let keep = manifest.ann.as_ref().map(|a| a.file.as_str());
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_graph = name.starts_with("ann-") && name.ends_with(".usearch")
                    || name.starts_with(".tmp-ann-");
                if is_graph && Some(name.as_str()) != keep {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// Saves the ANN graph for every committed row, so the next reader need not search the tail
    /// exactly.
    pub fn finish(mut self) -> Result<Manifest, IndexError> {
        let rows = self.manifest.rows;
        if rows > 0 && self.manifest.ann.as_ref().map(|a| a.rows) != Some(rows) {
            let mut next = self.manifest.clone();
            next.ann = Some(self.save_ann(rows)?);
            next.write(&self.dir)?;
            self.remove_old_ann(&next);
            self.manifest = next;
        }
        Ok(self.manifest)
    }
}

impl IndexSpec {
    /// Whether vectors of `want` can go into (or query) an index of these: the same width, and
    /// the same model unless either side does not say (imported vectors).
    pub fn check(&self, dir: &Path, want: &IndexSpec) -> Result<(), IndexError> {
        check_spec(dir, self, want)
    }
}

fn check_spec(dir: &Path, have: &IndexSpec, want: &IndexSpec) -> Result<(), IndexError> {
    if have.dim != want.dim {
        return Err(IndexError::Mismatch {
            path: dir.to_path_buf(),
            have: format!("{}-dimensional vectors", have.dim),
            want: format!(
                "this model gives {} (use the model the index was built with)",
                want.dim
            ),
        });
    }
    match (&have.model, &want.model) {
        (Some(a), Some(b)) if a != b => Err(IndexError::Mismatch {
            path: dir.to_path_buf(),
            have: format!("vectors of {a}"),
            want: format!(
                "this run embeds with {b} (use the same --model, --truncate and --precision)"
            ),
        }),
        _ => Ok(()),
    }
}

fn read_rows(
    file: &File,
    path: &Path,
    dim: usize,
    start: u64,
    n: u64,
) -> Result<Array2<f32>, IndexError> {
    let mut bytes = vec![0u8; n as usize * dim * 4];
    read_exact_at(file, &mut bytes, start * dim as u64 * 4).map_err(io_err(path))?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    Ok(Array2::from_shape_vec((n as usize, dim), values).expect("rows × dim values"))
}

/// A reader of an index directory: what the manifest had committed when it was opened.
pub struct DiskIndex {
    dir: PathBuf,
    manifest: Manifest,
    vectors: memmap2::Mmap,
    vector_file: File,
    offsets: memmap2::Mmap,
    texts: File,
    ann: Option<Ann>,
    candidates: usize,
}

impl DiskIndex {
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        // The writer may replace the graph between our reading the manifest and opening it:
        // read the manifest again then.
        let mut attempts = 0;
        loop {
            let manifest = Manifest::read(dir)?;
            match Self::open_at(dir, manifest) {
                Err(IndexError::Ann { .. }) if attempts < 3 => attempts += 1,
                other => return other,
            }
        }
    }

    fn open_at(dir: &Path, manifest: Manifest) -> Result<Self, IndexError> {
        let map = |name: &str, len: u64| -> Result<(File, memmap2::Mmap), IndexError> {
            let path = dir.join(name);
            let file = File::open(&path).map_err(io_err(&path))?;
            let have = file.metadata().map_err(io_err(&path))?.len();
            if have < len {
                return Err(IndexError::Damaged {
                    path: dir.to_path_buf(),
                    reason: format!("{name} holds {have} bytes, the manifest counts {len}"),
                });
            }
            // SAFETY: the files are only appended to (or cut past the committed length by a
            // writer after a crash); the bytes mapped here, up to the committed length, never
            // change while mapped.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .len(len as usize)
                    .map(&file)
                    .map_err(io_err(&path))?
            };
            Ok((file, map))
        };
        let rows = manifest.rows;
        let dim = manifest.spec.dim as u64;
        let (vector_file, vectors) = map(VECTORS, rows * dim * 4)?;
        let (_, offsets) = map(OFFSETS, rows * 8)?;
        let texts_path = dir.join(TEXTS);
        let texts = File::open(&texts_path).map_err(io_err(&texts_path))?;
        let ann = match &manifest.ann {
            Some(a) if rows as usize >= EXACT_BELOW => {
                Some(Ann::view(&dir.join(&a.file), dim as usize)?)
            }
            _ => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            vectors,
            vector_file,
            offsets,
            texts,
            ann,
            candidates: DEFAULT_CANDIDATES,
        })
    }

    /// How many ANN candidates a query re-ranks: more finds more of the true nearest rows,
    /// slower.
    pub fn set_candidates(&mut self, candidates: usize) {
        self.candidates = candidates.max(1);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn len(&self) -> usize {
        self.manifest.rows as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dim(&self) -> usize {
        self.manifest.spec.dim
    }

    /// The vector of one row (memory-mapped).
    pub fn vector(&self, row: usize) -> &[f32] {
        let dim = self.dim();
        &self.all_vectors()[row * dim..(row + 1) * dim]
    }

    fn all_vectors(&self) -> &[f32] {
        bytemuck::cast_slice(&self.vectors[..])
    }

    /// Rows `start..start + n` read into memory, not through the map: a pass over every row
    /// keeps only one block resident.
    pub fn read_rows(&self, start: usize, n: usize) -> Result<Array2<f32>, IndexError> {
        read_rows(
            &self.vector_file,
            &self.dir.join(VECTORS),
            self.dim(),
            start as u64,
            n as u64,
        )
    }

    /// The stored paragraph of one row.
    pub fn paragraph(&self, row: usize) -> Result<Paragraph, IndexError> {
        let offsets: &[u64] = bytemuck::cast_slice(&self.offsets[..]);
        let start = u64::from_le(offsets[row]);
        let end = offsets
            .get(row + 1)
            .map_or(self.manifest.text_bytes, |&o| u64::from_le(o));
        let mut bytes = vec![0u8; (end - start) as usize];
        let path = self.dir.join(TEXTS);
        read_exact_at(&self.texts, &mut bytes, start).map_err(io_err(&path))?;
        serde_json::from_slice::<Record>(&bytes).map_err(|e| IndexError::Damaged {
            path: self.dir.clone(),
            reason: format!("paragraphs.jsonl row {row}: {e}"),
        })
    }

    /// Every stored paragraph in row order, read as a stream.
    pub fn paragraphs(
        &self,
    ) -> Result<impl Iterator<Item = Result<Paragraph, IndexError>> + '_, IndexError> {
        use std::io::{BufRead, BufReader, Read};
        let path = self.dir.join(TEXTS);
        let file = File::open(&path).map_err(io_err(&path))?;
        let reader = BufReader::new(file.take(self.manifest.text_bytes));
        let dir = self.dir.clone();
        Ok(reader.lines().enumerate().map(move |(row, line)| {
            let line = line.map_err(io_err(&path))?;
            serde_json::from_str::<Record>(&line).map_err(|e| IndexError::Damaged {
                path: dir.clone(),
                reason: format!("paragraphs.jsonl row {row}: {e}"),
            })
        }))
    }

    /// Whether queries go through the ANN graph (else exact search).
    pub fn uses_ann(&self) -> bool {
        self.ann.is_some()
    }

    /// The `k` rows nearest `query`: through the ANN graph with the candidates re-ranked by
    /// exact cosine (and rows past the graph searched exactly), or exact search on a small index.
    pub fn nearest(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let Some(ann) = &self.ann else {
            return Ok(self.nearest_exact(query, k));
        };
        let graph_rows = ann.len().min(self.len());
        let want = (k * 4).max(self.candidates);
        let mut hits: Vec<Hit> = ann
            .search(query, want)?
            .into_iter()
            .filter(|&row| row < graph_rows)
            .map(|row| Hit {
                row,
                score: dot(self.vector(row), query),
            })
            .collect();
        let dim = self.dim();
        let tail = &self.all_vectors()[graph_rows * dim..];
        if !tail.is_empty() {
            let tail = ArrayView2::from_shape((tail.len() / dim, dim), tail).expect("whole rows");
            hits.extend(top_k(tail, query, k).into_iter().map(|h| Hit {
                row: h.row + graph_rows,
                score: h.score,
            }));
        }
        let better = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
        hits.sort_by(better);
        hits.dedup_by_key(|h| h.row);
        hits.truncate(k);
        Ok(hits)
    }

    /// Exact top-k over every row, a block at a time.
    pub fn nearest_exact(&self, query: &[f32], k: usize) -> Vec<Hit> {
        let dim = self.dim();
        let block_rows = 65_536;
        let mut best: Vec<Hit> = Vec::new();
        for (b, block) in self.all_vectors().chunks(block_rows * dim).enumerate() {
            let view = ArrayView2::from_shape((block.len() / dim, dim), block).expect("whole rows");
            let scores = view.dot(&ndarray::ArrayView1::from(query));
            best.extend(scores.iter().enumerate().map(|(i, &score)| Hit {
                row: b * block_rows + i,
                score,
            }));
            keep_best(&mut best, k);
        }
        keep_best(&mut best, k);
        best
    }
}

fn keep_best(hits: &mut Vec<Hit>, k: usize) {
    let better = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
    if hits.len() > k && k > 0 {
        hits.select_nth_unstable_by(k - 1, better);
    }
    hits.truncate(k);
    hits.sort_by(better);
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Bytes of the index directory's files.
pub fn disk_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::ParagraphKind;

    fn paragraph(i: usize, text: &str) -> Paragraph {
        Paragraph {
            id: format!("p{i}"),
            doc: "d.txt".into(),
            line: i + 1,
            page: None,
            date: None,
            text: text.into(),
            kind: ParagraphKind::Body,
        }
    }

    fn unit_rows(n: usize, dim: usize, seed: u64) -> Array2<f32> {
        let mut state = seed | 1;
        let mut m = Array2::from_shape_simple_fn((n, dim), || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        });
        for mut row in m.rows_mut() {
            let norm = row.dot(&row).sqrt();
            row /= norm;
        }
        m
    }

    fn spec(dim: usize) -> IndexSpec {
        IndexSpec {
            dim,
            model: Some("m".into()),
        }
    }

    #[test]
    fn a_torn_slice_is_never_seen_and_the_next_writer_cuts_it() {
        let dir = tempfile::tempdir().unwrap();
        let vectors = unit_rows(5, 4, 1);
        let mut writer = IndexWriter::open(dir.path(), &spec(4)).unwrap();
        let first: Vec<Paragraph> = (0..3).map(|i| paragraph(i, &format!("text {i}"))).collect();
        writer
            .append(&first, vectors.slice(ndarray::s![..3, ..]))
            .unwrap();
        drop(writer);
        // What a writer killed inside its next slice leaves: bytes past the commit.
        for name in [VECTORS, TEXTS, OFFSETS, KEYS] {
            let mut file = OpenOptions::new()
                .append(true)
                .open(dir.path().join(name))
                .unwrap();
            file.write_all(b"torn half of a slice").unwrap();
        }
        let reader = DiskIndex::open(dir.path()).unwrap();
        assert_eq!(reader.len(), 3);
        assert_eq!(reader.paragraph(2).unwrap(), first[2]);
        assert_eq!(reader.vector(1), vectors.row(1).as_slice().unwrap());

        let mut writer = IndexWriter::open(dir.path(), &spec(4)).unwrap();
        assert_eq!(
            fs::metadata(dir.path().join(VECTORS)).unwrap().len(),
            3 * 4 * 4
        );
        let next: Vec<Paragraph> = (3..5).map(|i| paragraph(i, &format!("text {i}"))).collect();
        writer
            .append(&next, vectors.slice(ndarray::s![3.., ..]))
            .unwrap();
        writer.finish().unwrap();
        let reader = DiskIndex::open(dir.path()).unwrap();
        assert_eq!(reader.len(), 5);
        let all: Vec<Paragraph> = reader.paragraphs().unwrap().map(Result::unwrap).collect();
        assert_eq!(all[..3], first[..]);
        assert_eq!(all[3..], next[..]);
        assert_eq!(reader.read_rows(0, 5).unwrap(), vectors);
    }

    #[test]
    fn presence_tells_new_stored_and_changed_and_other_widths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = IndexWriter::open(dir.path(), &spec(4)).unwrap();
        writer
            .append(&[paragraph(0, "same")], unit_rows(1, 4, 2).view())
            .unwrap();
        assert_eq!(writer.presence(&paragraph(0, "same")), Presence::Stored);
        assert_eq!(writer.presence(&paragraph(0, "edited")), Presence::Changed);
        assert_eq!(writer.presence(&paragraph(1, "same")), Presence::New);
        let mut elsewhere = paragraph(0, "same");
        elsewhere.doc = "other.jsonl".into();
        assert_eq!(
            writer.presence(&elsewhere),
            Presence::New,
            "ids are per document"
        );
        drop(writer);
        assert!(matches!(
            IndexWriter::open(dir.path(), &spec(8)),
            Err(IndexError::Mismatch { .. })
        ));
        let other_model = IndexSpec {
            dim: 4,
            model: Some("other".into()),
        };
        assert!(matches!(
            IndexWriter::open(dir.path(), &other_model),
            Err(IndexError::Mismatch { .. })
        ));
    }

    #[test]
    fn ann_search_finds_what_exact_search_finds_including_rows_past_the_saved_graph() {
        let dir = tempfile::tempdir().unwrap();
        let n = EXACT_BELOW + 2_000;
        let vectors = unit_rows(n, 16, 3);
        let paragraphs: Vec<Paragraph> = (0..n).map(|i| paragraph(i, "t")).collect();
        let mut writer = IndexWriter::open(dir.path(), &spec(16)).unwrap();
        writer
            .append(
                &paragraphs[..n - 10],
                vectors.slice(ndarray::s![..n - 10, ..]),
            )
            .unwrap();
        writer.finish().unwrap();
        // Ten rows committed after the graph was saved (no finish): searched exactly.
        let mut writer = IndexWriter::open(dir.path(), &spec(16)).unwrap();
        writer
            .append(
                &paragraphs[n - 10..],
                vectors.slice(ndarray::s![n - 10.., ..]),
            )
            .unwrap();
        drop(writer);
        let index = DiskIndex::open(dir.path()).unwrap();
        assert!(index.uses_ann());
        assert_eq!(index.len(), n);
        let mut found = 0;
        for q in (0..n).step_by(997).chain([n - 1, n - 5]) {
            let query = vectors.row(q).to_vec();
            let hits = index.nearest(&query, 10).unwrap();
            assert_eq!(hits[0].row, q, "a row is its own nearest");
            let exact = index.nearest_exact(&query, 10);
            found += hits
                .iter()
                .filter(|h| exact.iter().any(|e| e.row == h.row))
                .count();
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        }
        let queries = (0..n).step_by(997).count() + 2;
        assert!(found as f64 / (10 * queries) as f64 > 0.95, "{found}");
    }
}
