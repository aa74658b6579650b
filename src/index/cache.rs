//! The embedding cache: vectors already computed, in checksummed pack files on disk, so a
//! corpus is embedded once and a second run reads it back.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ndarray::Array2;
use sha2::{Digest, Sha256};

use crate::embed::{EmbedError, EmbedStats, Embedder, LongText};

/// A cache write that failed. Neither reading nor writing the cache fails a run: a bad entry is
/// rebuilt, and this is reported in [`CacheStats::write_error`].
#[derive(Debug, thiserror::Error)]
#[error("embedding cache {path}: {source}")]
pub struct CacheError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

const PACK_MAGIC: &[u8; 8] = b"TSCACHE1";
const PACKS_BEFORE_COMPACTION: usize = 16;

type TextKey = [u8; 32];

/// Vectors already computed, keyed by (model and revision, max_seq_length, long-text mode,
/// text hash). Stored as checksummed pack files written by atomic rename, so concurrent runs
/// never see a half-written pack and a damaged one is dropped and rebuilt.
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    dir: PathBuf,
}

/// What the cache contributed to one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: usize,
    pub misses: usize,
    /// Damaged pack files found and removed.
    pub dropped: usize,
    /// Why new vectors could not be stored (disk full, read-only cache directory): the run
    /// goes on, the vectors are computed again next time.
    pub write_error: Option<String>,
}

impl EmbeddingCache {
    /// The cache for one model and embedding mode under `root` (usually THEMESCOPE_HOME/cache).
    pub fn new(root: &Path, model_key: &str, max_seq_length: usize, long_text: LongText) -> Self {
        let mode = match long_text {
            LongText::Truncate => "truncate".to_string(),
            LongText::Window { overlap } => format!("window{overlap}"),
        };
        let safe: String = model_key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            dir: root.join(format!("{safe}-len{max_seq_length}-{mode}")),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn packs(&self) -> Vec<PathBuf> {
        let mut packs: Vec<PathBuf> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pack"))
            .collect();
        packs.sort();
        packs
    }

    /// Where every stored vector of length `dim` is, and how many damaged packs were removed.
    /// Only keys and places are held: vectors are read from their pack when asked for, so a
    /// cache of millions of vectors costs tens of megabytes here, not gigabytes.
    fn load(&self, dim: usize) -> (Stored, usize) {
        let mut stored = Stored::new(dim);
        let mut dropped = 0;
        for pack in self.packs() {
            match stored.add_pack(&pack) {
                Ok(true) => {}
                // Removed by a concurrent compaction after we listed it.
                Ok(false) => {}
                Err(()) => {
                    dropped += 1;
                    let _ = fs::remove_file(&pack);
                }
            }
        }
        (stored, dropped)
    }

    /// Writes entries as one new pack, through a temporary file renamed into place; `entries`
    /// is walked once, so a merge of every stored vector holds one at a time.
    fn store<'e>(
        &self,
        dim: usize,
        count: usize,
        entries: impl Iterator<Item = std::io::Result<(TextKey, std::borrow::Cow<'e, [f32]>)>>,
    ) -> Result<PathBuf, CacheError> {
        let error = |source| CacheError {
            path: self.dir.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(error)?;
        let mut file = tempfile::Builder::new()
            .prefix(".pack-")
            .tempfile_in(&self.dir)
            .map_err(error)?;
        let mut hasher = Sha256::new();
        {
            let mut out = std::io::BufWriter::new(file.as_file_mut());
            let mut put = |bytes: &[u8]| -> std::io::Result<()> {
                hasher.update(bytes);
                out.write_all(bytes)
            };
            put(PACK_MAGIC).map_err(error)?;
            put(&(dim as u32).to_le_bytes()).map_err(error)?;
            put(&(count as u64).to_le_bytes()).map_err(error)?;
            let mut written = 0;
            let mut record = Vec::with_capacity(32 + dim * 4);
            for entry in entries {
                let (key, vector) = entry.map_err(error)?;
                record.clear();
                record.extend_from_slice(&key);
                for x in vector.iter() {
                    record.extend_from_slice(&x.to_le_bytes());
                }
                put(&record).map_err(error)?;
                written += 1;
            }
            debug_assert_eq!(written, count, "a pack's header counts its entries");
            out.flush().map_err(error)?;
        }
        let checksum = hasher.finalize();
        file.write_all(&checksum).map_err(error)?;
        let name = format!("{}.pack", crate::model::hex(&checksum[..12]));
        let path = self.dir.join(name);
        file.persist(&path).map_err(|e| error(e.error))?;
        Ok(path)
    }

    /// Merges packs into one when there are many, so loading stays one read per run. Only the
    /// packs whose entries are in `stored` are removed: a pack another process wrote meanwhile
    /// stays.
    fn compact(&self, stored: &Stored) -> Result<(), CacheError> {
        let merged = self.store(stored.dim, stored.slots.len(), stored.entries())?;
        for pack in stored.packs.iter().filter(|p| **p != merged) {
            let _ = fs::remove_file(pack);
        }
        Ok(())
    }
}

/// Where a stored vector is: its pack (by position in [`Stored::packs`]) and the byte offset of
/// its floats there.
#[derive(Debug, Clone, Copy)]
struct Slot {
    pack: u32,
    offset: u64,
}

/// The cache's keys and where their vectors lie.
struct Stored {
    dim: usize,
    packs: Vec<PathBuf>,
    slots: HashMap<TextKey, Slot>,
}

/// Entries read at a time when a pack is checked.
const CHECK_RECORDS: usize = 1024;
const HEADER: usize = 20;

impl Stored {
    fn new(dim: usize) -> Self {
        Self {
            dim,
            packs: Vec::new(),
            slots: HashMap::new(),
        }
    }

    fn contains(&self, key: &TextKey) -> bool {
        self.slots.contains_key(key)
    }

    /// Checks a pack (its checksum, its length) and takes its keys. Ok(false): the pack
    /// vanished; Err: it is damaged (or of another width).
    fn add_pack(&mut self, path: &Path) -> Result<bool, ()> {
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(_) => return Err(()),
        };
        let len = file.metadata().map_err(|_| ())?.len() as usize;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut header = [0u8; HEADER];
        reader.read_exact(&mut header).map_err(|_| ())?;
        if &header[..8] != PACK_MAGIC {
            return Err(());
        }
        let dim = u32::from_le_bytes(header[8..12].try_into().map_err(|_| ())?) as usize;
        let count = u64::from_le_bytes(header[12..20].try_into().map_err(|_| ())?) as usize;
        let record = 32 + dim * 4;
        if dim != self.dim || count.checked_mul(record).map(|b| b + HEADER + 32) != Some(len) {
            return Err(());
        }
        let mut hasher = Sha256::new();
        hasher.update(header);
        let pack = self.packs.len() as u32;
        let mut keys = Vec::with_capacity(count);
        let mut buf = vec![0u8; record * CHECK_RECORDS];
        let mut done = 0;
        while done < count {
            let n = (count - done).min(CHECK_RECORDS);
            let chunk = &mut buf[..n * record];
            reader.read_exact(chunk).map_err(|_| ())?;
            hasher.update(&*chunk);
            for (i, entry) in chunk.chunks_exact(record).enumerate() {
                let mut key = [0u8; 32];
                key.copy_from_slice(&entry[..32]);
                let offset = (HEADER + (done + i) * record + 32) as u64;
                keys.push((key, Slot { pack, offset }));
            }
            done += n;
        }
        let mut checksum = [0u8; 32];
        reader.read_exact(&mut checksum).map_err(|_| ())?;
        if hasher.finalize().as_slice() != checksum {
            return Err(());
        }
        self.packs.push(path.to_path_buf());
        self.slots.extend(keys);
        Ok(true)
    }

    /// Takes the keys of a pack just written, in its order.
    fn add_written(&mut self, path: PathBuf, keys: impl Iterator<Item = TextKey>) {
        let pack = self.packs.len() as u32;
        let record = 32 + self.dim * 4;
        for (i, key) in keys.enumerate() {
            let offset = (HEADER + i * record + 32) as u64;
            self.slots.insert(key, Slot { pack, offset });
        }
        self.packs.push(path);
    }

    /// The vectors of `keys` (every one stored), each read from its pack: one open file a pack.
    fn read(&self, keys: &[TextKey]) -> std::io::Result<Vec<Vec<f32>>> {
        let mut order: Vec<(Slot, usize)> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| (self.slots[key], i))
            .collect();
        order.sort_by_key(|(slot, _)| (slot.pack, slot.offset));
        let mut out = vec![Vec::new(); keys.len()];
        let mut bytes = vec![0u8; self.dim * 4];
        let mut open: Option<(u32, fs::File)> = None;
        for (slot, i) in order {
            if open.as_ref().is_none_or(|(pack, _)| *pack != slot.pack) {
                open = Some((slot.pack, fs::File::open(&self.packs[slot.pack as usize])?));
            }
            let (_, file) = open.as_ref().expect("opened above");
            crate::fsutil::read_exact_at(file, &mut bytes, slot.offset)?;
            out[i] = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
        }
        Ok(out)
    }

    /// Every stored entry, pack by pack in file order, [`MERGE_READ`] at a time (a key stored
    /// twice is taken where its slot points).
    fn entries(
        &self,
    ) -> impl Iterator<Item = std::io::Result<(TextKey, std::borrow::Cow<'static, [f32]>)>> + '_
    {
        let mut order: Vec<(u32, u64, TextKey)> = self
            .slots
            .iter()
            .map(|(key, slot)| (slot.pack, slot.offset, *key))
            .collect();
        order.sort_unstable();
        let keys: Vec<TextKey> = order.into_iter().map(|(_, _, key)| key).collect();
        let chunks: Vec<Vec<TextKey>> = keys.chunks(MERGE_READ).map(<[_]>::to_vec).collect();
        chunks.into_iter().flat_map(move |keys| {
            let read: Vec<std::io::Result<_>> = match self.read(&keys) {
                Ok(vectors) => keys
                    .into_iter()
                    .zip(vectors)
                    .map(|(key, vector)| Ok((key, std::borrow::Cow::Owned(vector))))
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            read
        })
    }
}

/// Entries read at a time while packs are merged.
const MERGE_READ: usize = 4096;

fn text_key(text: &str) -> TextKey {
    Sha256::digest(text.as_bytes()).into()
}

/// Texts embedded between two cache writes: an interrupted run keeps what it finished, and a
/// huge corpus is tokenized a slice at a time.
const TEXTS_PER_PACK: usize = 2048;

/// Embeds texts, taking what it can from the cache and adding what it computed. A cache that
/// cannot be written does not fail the run (see [`CacheStats::write_error`]).
pub fn embed_cached<S: AsRef<str> + Sync>(
    embedder: &Embedder,
    cache: Option<&EmbeddingCache>,
    texts: &[S],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Array2<f32>, EmbedStats, CacheStats), EmbedError> {
    let mut session = CachedEmbedder::open(embedder, cache);
    let (vectors, stats) = session.embed(texts, progress)?;
    Ok((vectors, stats, session.finish()))
}

/// An embedder in front of the cache, for a run that embeds in many calls (a stream, a slice at
/// a time): the stored vectors are read once, new ones added as they are made, and the packs
/// merged at the end.
pub struct CachedEmbedder<'a> {
    embedder: &'a Embedder,
    cache: Option<&'a EmbeddingCache>,
    stored: Stored,
    stats: CacheStats,
}

impl<'a> CachedEmbedder<'a> {
    pub fn open(embedder: &'a Embedder, cache: Option<&'a EmbeddingCache>) -> Self {
        let (stored, dropped) = match cache {
            Some(cache) => cache.load(embedder.dim()),
            None => (Stored::new(embedder.dim()), 0),
        };
        Self {
            embedder,
            cache,
            stored,
            stats: CacheStats {
                dropped,
                ..CacheStats::default()
            },
        }
    }

    /// Unit vectors for `texts`, one row each in input order; `progress` gets (texts embedded,
    /// texts to embed) of this call.
    pub fn embed<S: AsRef<str> + Sync>(
        &mut self,
        texts: &[S],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(Array2<f32>, EmbedStats), EmbedError> {
        let dim = self.embedder.dim();
        let Some(cache) = self.cache else {
            let embedded = self.embedder.embed_with_progress(texts, progress)?;
            self.stats.misses += texts.len();
            return Ok((embedded.vectors, embedded.stats));
        };
        let keys: Vec<TextKey> = texts.iter().map(|t| text_key(t.as_ref())).collect();
        // Each distinct key once: from the packs if stored, else embedded.
        let mut vectors_of: HashMap<TextKey, Vec<f32>> = HashMap::new();
        let mut hits: Vec<TextKey> = Vec::new();
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, key) in keys.iter().enumerate() {
            if seen.insert(*key) {
                if self.stored.contains(key) {
                    hits.push(*key);
                } else {
                    missing.push(i);
                }
            }
        }
        match self.stored.read(&hits) {
            Ok(vectors) => vectors_of.extend(hits.iter().copied().zip(vectors)),
            // A pack removed meanwhile (another run merged it): embed those texts again.
            Err(_) => {
                let first: HashMap<TextKey, usize> = keys
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, k)| (*k, i))
                    .collect();
                missing.extend(hits.iter().map(|k| first[k]));
                missing.sort_unstable();
            }
        }
        let mut embed_stats = EmbedStats::default();
        let mut done = 0;
        for slice in missing.chunks(TEXTS_PER_PACK) {
            let to_embed: Vec<&str> = slice.iter().map(|&i| texts[i].as_ref()).collect();
            let embedded = self
                .embedder
                .embed_with_progress(&to_embed, &mut |d, total| {
                    progress(done + d * slice.len() / total.max(1), missing.len())
                })?;
            done += slice.len();
            embed_stats += embedded.stats;
            let new: Vec<(TextKey, &[f32])> = slice
                .iter()
                .zip(embedded.vectors.rows())
                .map(|(&i, row)| {
                    (
                        keys[i],
                        row.to_slice()
                            .expect("rows of a standard array are contiguous"),
                    )
                })
                .collect();
            if self.stats.write_error.is_none() {
                let entries = new
                    .iter()
                    .map(|(key, v)| Ok((*key, std::borrow::Cow::Borrowed(*v))));
                match cache.store(dim, new.len(), entries) {
                    Ok(pack) => self
                        .stored
                        .add_written(pack, new.iter().map(|(key, _)| *key)),
                    Err(e) => self.stats.write_error = Some(e.to_string()),
                }
            }
            vectors_of.extend(new.into_iter().map(|(key, v)| (key, v.to_vec())));
        }
        let mut vectors = Array2::<f32>::zeros((texts.len(), dim));
        for (mut row, key) in vectors.rows_mut().into_iter().zip(&keys) {
            let vector = &vectors_of[key];
            row.iter_mut().zip(vector).for_each(|(r, v)| *r = *v);
        }
        self.stats.hits += texts.len() - missing.len();
        self.stats.misses += missing.len();
        Ok((vectors, embed_stats))
    }

    /// Merges the packs when there are many, and says what the cache contributed.
    pub fn finish(mut self) -> CacheStats {
        if let Some(cache) = self.cache {
            if self.stats.write_error.is_none() && self.stored.packs.len() > PACKS_BEFORE_COMPACTION
            {
                if let Err(e) = cache.compact(&self.stored) {
                    self.stats.write_error = Some(e.to_string());
                }
            }
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(
        key: &str,
        vector: &[f32],
    ) -> std::io::Result<(TextKey, std::borrow::Cow<'static, [f32]>)> {
        Ok((text_key(key), std::borrow::Cow::Owned(vector.to_vec())))
    }

    #[test]
    fn pack_round_trip_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path(), "m@1", 8, LongText::Truncate);
        let a = [0.5f32, -1.0, 2.0];
        let path = cache.store(3, 1, [one("a", &a)].into_iter()).unwrap();
        let (stored, dropped) = cache.load(3);
        assert_eq!((stored.packs.len(), dropped), (1, 0));
        assert_eq!(stored.read(&[text_key("a")]).unwrap(), vec![a.to_vec()]);

        let mut bytes = fs::read(&path).unwrap();
        bytes[25] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let (stored, dropped) = cache.load(3);
        assert!(stored.slots.is_empty());
        assert_eq!(dropped, 1);
        assert!(!path.exists(), "a damaged pack is removed");
    }

    #[test]
    fn packs_merge_into_one_that_reads_back_every_vector() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path(), "m@1", 8, LongText::Truncate);
        let vector = |i: usize| [i as f32, -(i as f32), 0.25];
        for p in 0..5 {
            let entries = (0..3).map(|j| one(&format!("t{}", p * 3 + j), &vector(p * 3 + j)));
            cache.store(3, 3, entries).unwrap();
        }
        // A key stored twice is read where its (later) slot points.
        cache
            .store(3, 1, [one("t0", &[9.0, 9.0, 9.0])].into_iter())
            .unwrap();
        let (stored, _) = cache.load(3);
        assert_eq!(stored.packs.len(), 6);
        let t0 = stored.read(&[text_key("t0")]).unwrap().remove(0);
        cache.compact(&stored).unwrap();
        assert!(
            stored.read(&[text_key("t0")]).is_err(),
            "the merged packs are gone"
        );
        let (merged, dropped) = cache.load(3);
        assert_eq!(
            (merged.packs.len(), dropped, merged.slots.len()),
            (1, 0, 15)
        );
        let keys: Vec<TextKey> = (0..15).map(|i| text_key(&format!("t{i}"))).collect();
        let read = merged.read(&keys).unwrap();
        assert_eq!(read[0], t0);
        for (i, got) in read.iter().enumerate().skip(1) {
            assert_eq!(*got, vector(i).to_vec(), "t{i}");
        }
    }
}
