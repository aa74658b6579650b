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

    /// Every stored vector of length `dim`, the packs they came from, and how many damaged
    /// packs were removed.
    fn load(&self, dim: usize) -> (HashMap<TextKey, Vec<f32>>, Vec<PathBuf>, usize) {
        let mut map = HashMap::new();
        let mut dropped = 0;
        let mut read = Vec::new();
        for pack in self.packs() {
            match read_pack(&pack, dim) {
                Ok(Some(entries)) => {
                    map.extend(entries);
                    read.push(pack);
                }
                // Removed by a concurrent compaction after we listed it.
                Ok(None) => {}
                Err(()) => {
                    dropped += 1;
                    let _ = fs::remove_file(&pack);
                }
            }
        }
        (map, read, dropped)
    }

    fn store(&self, dim: usize, entries: &[(TextKey, &[f32])]) -> Result<PathBuf, CacheError> {
        let error = |source| CacheError {
            path: self.dir.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(error)?;
        let mut bytes = Vec::with_capacity(20 + entries.len() * (32 + dim * 4) + 32);
        bytes.extend_from_slice(PACK_MAGIC);
        bytes.extend_from_slice(&(dim as u32).to_le_bytes());
        bytes.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (key, vector) in entries {
            bytes.extend_from_slice(key);
            for x in vector.iter() {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        let checksum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&checksum);
        let mut file = tempfile::Builder::new()
            .prefix(".pack-")
            .tempfile_in(&self.dir)
            .map_err(error)?;
        file.write_all(&bytes).map_err(error)?;
        let name = format!("{}.pack", crate::model::hex(&checksum[..12]));
        let path = self.dir.join(name);
        file.persist(&path).map_err(|e| error(e.error))?;
        Ok(path)
    }

    /// Merges packs into one when there are many, so loading stays one read per run. Only the
    /// packs whose entries are in `all` are removed: a pack another process wrote meanwhile
    /// stays.
    fn compact(
        &self,
        dim: usize,
        all: &HashMap<TextKey, Vec<f32>>,
        merged_packs: &[PathBuf],
    ) -> Result<(), CacheError> {
        let entries: Vec<(TextKey, &[f32])> = all.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let merged = self.store(dim, &entries)?;
        for pack in merged_packs.iter().filter(|p| **p != merged) {
            let _ = fs::remove_file(pack);
        }
        Ok(())
    }
}

type Entries = Vec<(TextKey, Vec<f32>)>;

/// Ok(None): the pack vanished; Err: it is damaged.
fn read_pack(path: &Path, dim: usize) -> Result<Option<Entries>, ()> {
    let mut bytes = Vec::new();
    match fs::File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes).map_err(|_| ())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(()),
    };
    if bytes.len() < 52 || &bytes[..8] != PACK_MAGIC {
        return Err(());
    }
    let (body, checksum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(());
    }
    let stored_dim = u32::from_le_bytes(body[8..12].try_into().map_err(|_| ())?) as usize;
    let count = u64::from_le_bytes(body[12..20].try_into().map_err(|_| ())?) as usize;
    let record = 32 + stored_dim * 4;
    if stored_dim != dim || body.len() != 20 + count * record {
        return Err(());
    }
    let entries = body[20..]
        .chunks_exact(record)
        .map(|chunk| {
            let mut key = [0u8; 32];
            key.copy_from_slice(&chunk[..32]);
            let vector = chunk[32..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (key, vector)
        })
        .collect();
    Ok(Some(entries))
}

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
    stored: HashMap<TextKey, Vec<f32>>,
    packs: Vec<PathBuf>,
    stats: CacheStats,
}

impl<'a> CachedEmbedder<'a> {
    pub fn open(embedder: &'a Embedder, cache: Option<&'a EmbeddingCache>) -> Self {
        let (stored, packs, dropped) = match cache {
            Some(cache) => cache.load(embedder.dim()),
            None => Default::default(),
        };
        Self {
            embedder,
            cache,
            stored,
            packs,
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
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, key) in keys.iter().enumerate() {
            if !self.stored.contains_key(key) && seen.insert(*key) {
                missing.push(i);
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
                match cache.store(dim, &new) {
                    Ok(pack) => self.packs.push(pack),
                    Err(e) => self.stats.write_error = Some(e.to_string()),
                }
            }
            for (key, vector) in new {
                self.stored.insert(key, vector.to_vec());
            }
        }
        let mut vectors = Array2::<f32>::zeros((texts.len(), dim));
        for (mut row, key) in vectors.rows_mut().into_iter().zip(&keys) {
            let vector = &self.stored[key];
            row.iter_mut().zip(vector).for_each(|(r, v)| *r = *v);
        }
        self.stats.hits += texts.len() - missing.len();
        self.stats.misses += missing.len();
        Ok((vectors, embed_stats))
    }

    /// Merges the packs when there are many, and says what the cache contributed.
    pub fn finish(mut self) -> CacheStats {
        if let Some(cache) = self.cache {
            if self.stats.write_error.is_none() && self.packs.len() > PACKS_BEFORE_COMPACTION {
                if let Err(e) = cache.compact(self.embedder.dim(), &self.stored, &self.packs) {
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

    #[test]
    fn pack_round_trip_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path(), "m@1", 8, LongText::Truncate);
        let a = [0.5f32, -1.0, 2.0];
        let path = cache.store(3, &[(text_key("a"), &a)]).unwrap();
        let (map, packs, dropped) = cache.load(3);
        assert_eq!((packs.len(), dropped), (1, 0));
        assert_eq!(map[&text_key("a")], a.to_vec());

        let mut bytes = fs::read(&path).unwrap();
        bytes[25] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let (map, _, dropped) = cache.load(3);
        assert!(map.is_empty());
        assert_eq!(dropped, 1);
        assert!(!path.exists(), "a damaged pack is removed");
    }
}
