//! The front door: one value that finds the model, opens the embedding cache, and then embeds
//! texts, finds the paragraphs nearest a query and fits themes.

use crate::cancel::{Cancel, Interrupted};
use std::sync::Arc;

use ndarray::Array2;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::corpus::{Corpus, CorpusError, CorpusOptions, Paragraph};
use crate::distill::fit::{FitInput, FitOptions, FitSource, FitStage, Fitted};
use crate::embed::{
    EmbedError, EmbedOptions, EmbedStats, Embedder, LongText, Precision, DEFAULT_BATCH_SIZE,
};
use crate::index::build::{self, BuildProgress, BuildReport};
use crate::index::export::RowSink;
use crate::index::measure::{measure_search, SearchMeasure};
use crate::index::store::disk_bytes;
use crate::index::{
    embed_cached, CacheStats, CachedEmbedder, DiskIndex, EmbeddingCache, Hit, Index, IndexError,
    IndexSpec, IndexWriter, Manifest, SavedThemes,
};
use crate::model::{self, ModelChoice, ModelDir, Store};
use crate::themes::scale::{fit_index, map_sample, IndexThemes, MapSample};
use crate::themes::{PhraseEmbedder, ThemeModel, ValidThemeParams};
use crate::Error;

/// Called as embedding goes on with (sequences done, sequences in all).
pub type ProgressFn = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Called as a theme fit moves from stage to stage.
pub type StageFn = Arc<dyn Fn(crate::themes::Stage) + Send + Sync>;

/// How [`Themescope::try_new`] sets up; `Options::default()` is all-MiniLM-L6-v2 (or
/// `THEMESCOPE_MODEL`), long texts as windows, batches of 32, the cache on.
#[derive(Clone)]
pub struct Options {
    pub model: ModelChoice,
    pub long_text: LongText,
    pub batch_size: usize,
    /// Number format of the model's dense layers; int8 vectors are cached apart from f32 ones.
    pub precision: Precision,
    /// Read and write the embedding cache under [`crate::fsutil::home_dir`]`/cache`.
    pub cache: bool,
    /// Progress bars on stderr while a model is fetched.
    pub fetch_progress: bool,
    /// Embedding progress, reported after every wave of batches.
    pub progress: Option<ProgressFn>,
    /// Theme-fitting progress, reported at every stage (see [`crate::themes::Stage`]).
    pub themes_progress: Option<StageFn>,
    /// Once cancelled, embedding stops at the next batch with [`crate::Interrupted`].
    pub cancel: Option<Cancel>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            model: ModelChoice::from_env(),
            long_text: LongText::default(),
            batch_size: DEFAULT_BATCH_SIZE,
            precision: Precision::F32,
            cache: true,
            fetch_progress: false,
            progress: None,
            themes_progress: None,
            cancel: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("model", &self.model)
            .field("long_text", &self.long_text)
            .field("batch_size", &self.batch_size)
            .field("precision", &self.precision)
            .field("cache", &self.cache)
            .field("fetch_progress", &self.fetch_progress)
            .field("progress", &self.progress.is_some())
            .field("themes_progress", &self.themes_progress.is_some())
            .field("cancel", &self.cancel.is_some())
            .finish()
    }
}

/// Vectors with what it took to make them.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// One unit row per text, in input order.
    pub vectors: Array2<f32>,
    pub stats: EmbedStats,
    pub cache: CacheStats,
}

/// Paragraphs embedded at a time by [`Themescope::embed_stream`]: a multiple of the cache's
/// pack size, so a stream embeds the same batches as one call over the same texts.
pub const STREAM_SLICE: usize = 4096;

/// What [`Themescope::embed_stream`] did.
#[derive(Debug, Clone, Default)]
pub struct Streamed {
    /// Rows handed to the sink.
    pub rows: usize,
    pub stats: EmbedStats,
    pub cache: CacheStats,
}

/// The fewest words of a sentence fitted on its own (shorter ones join a neighbour): three
/// words make a query ("security guarantees Ukraine"), and a static model is asked short ones.
pub const FIT_SENTENCE_WORDS: usize = 3;

/// Which texts of a corpus a static model is fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum FitUnits {
    /// Every paragraph, and each sentence of a paragraph of several.
    #[default]
    Both,
    /// Sentences only (a paragraph of one sentence is one): a static vector is a mean of its
    /// tokens', and short texts tie each token's row to its own meaning more tightly.
    Sentences,
}

/// What [`Themescope::fit_static_model`] fits on.
#[derive(Debug, Clone)]
pub struct StaticFitRequest<'a> {
    /// Files and folders of articles, JSONL records: read as [`Corpus::load`] reads them.
    pub inputs: &'a [PathBuf],
    /// Paragraphs at most: a sample drawn with `options.seed` when the inputs hold more.
    pub rows: usize,
    pub units: FitUnits,
    pub options: FitOptions,
}

/// What [`Themescope::fit_static_model`] did.
#[derive(Debug, Clone)]
pub struct StaticFitReport {
    pub fitted: Fitted,
    /// Paragraphs fitted on (with their sentences), of those the inputs held.
    pub paragraphs: usize,
    pub available: usize,
    /// The teacher's share of the time, and what the cache held of its vectors.
    pub teacher_time: Duration,
    pub cache: CacheStats,
}

/// A loaded model with its cache: embed, search, fit themes.
pub struct Themescope {
    model: ModelDir,
    embedder: Embedder,
    cache: Option<EmbeddingCache>,
    progress: Option<ProgressFn>,
    themes_progress: Option<StageFn>,
    vectors_key: String,
}

impl Themescope {
    /// Finds the model (a directory, or a known model from the store, fetched on first use),
    /// loads it and opens its cache.
    pub fn try_new(options: Options) -> Result<Self, Error> {
        let store = Store::from_env();
        let model = model::resolve(&options.model, &store, options.fetch_progress)?;
        let embed_options = EmbedOptions {
            batch_size: options.batch_size,
            long_text: options.long_text,
            precision: options.precision,
        };
        let mut embedder = Embedder::from_model(&model, embed_options)?;
        if let Some(flag) = options.cancel {
            embedder.set_cancel(flag);
        }
        model.check_vocabulary(embedder.tokenizer().get_vocab_size(true))?;
        let cache_key = match options.precision {
            Precision::F32 => model.cache_key.clone(),
            other => format!("{}-{}", model.cache_key, other.name()),
        };
        let vectors_key = format!(
            "{cache_key} len{} {}",
            model.spec.max_seq_length,
            match options.long_text {
                LongText::Truncate => "truncate".to_string(),
                LongText::Window { overlap } => format!("window{overlap}"),
            }
        );
        let cache = options.cache.then(|| {
            EmbeddingCache::new(
                &crate::fsutil::home_dir().join("cache"),
                &cache_key,
                model.spec.max_seq_length,
                options.long_text,
            )
        });
        Ok(Self {
            model,
            embedder,
            cache,
            progress: options.progress,
            themes_progress: options.themes_progress,
            vectors_key,
        })
    }

    pub fn model(&self) -> &ModelDir {
        &self.model
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// What makes this run's vectors comparable with stored ones: the model's weights, its
    /// max_seq_length, the long-text mode and the precision (an on-disk index records it).
    pub fn vectors_key(&self) -> &str {
        &self.vectors_key
    }

    /// Unit vectors for `texts`, one row each in input order, through the cache.
    pub fn embed<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Array2<f32>, Error> {
        Ok(self.embed_counted(texts)?.vectors)
    }

    /// As [`Themescope::embed`], with counts of tokens, windows and cache hits.
    pub fn embed_counted<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Embedding, Error> {
        let progress = self.progress.clone();
        let (vectors, stats, cache) = embed_cached(
            &self.embedder,
            self.cache.as_ref(),
            texts,
            &mut |done, total| {
                if let Some(report) = &progress {
                    report(done, total);
                }
            },
        )?;
        Ok(Embedding {
            vectors,
            stats,
            cache,
        })
    }

    /// Fits a static model at `output` to this transformer's own vectors (see
    /// [`crate::distill::fit`]): the inputs' paragraphs (a seeded sample of `request.rows`) and
    /// the sentences of those of several are embedded through the cache (progress as for
    /// [`Themescope::embed`]), then the table is fitted (`progress` says where). The model's
    /// fit.json records what it was fitted on. Nothing is written if the fit is cancelled.
    pub fn fit_static_model(
        &self,
        output: &Path,
        request: StaticFitRequest,
        progress: &mut dyn FnMut(FitStage),
    ) -> Result<StaticFitReport, Error> {
        use rand::SeedableRng;
        crate::distill::check_dims(&self.model, request.options.dims)?;
        let started = Instant::now();
        let corpus = Corpus::load(request.inputs, CorpusOptions::default())?;
        let mut paragraphs: Vec<String> = corpus.paragraphs.into_iter().map(|p| p.text).collect();
        let available = paragraphs.len();
        if paragraphs.len() > request.rows {
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(request.options.seed);
            let mut chosen =
                rand::seq::index::sample(&mut rng, paragraphs.len(), request.rows).into_vec();
            chosen.sort_unstable();
            paragraphs = chosen
                .into_iter()
                .map(|i| std::mem::take(&mut paragraphs[i]))
                .collect();
        }
        // A static model embeds queries of a few words as well as paragraphs: a paragraph of
        // several sentences is fitted sentence by sentence, and whole unless `Sentences`.
        let texts: Vec<String> = paragraphs
            .iter()
            .flat_map(|text| {
                // A line break inside a record (hard-wrapped mail, say) is no sentence end.
                let flowing = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let sentences =
                    crate::corpus::sentences::sentences_of_at_least(&flowing, FIT_SENTENCE_WORDS);
                if sentences.len() <= 1 {
                    vec![text.clone()]
                } else if request.units == FitUnits::Sentences {
                    sentences
                } else {
                    std::iter::once(text.clone()).chain(sentences).collect()
                }
            })
            .collect();
        let teacher = self.embed_counted(&texts)?;
        let teacher_time = started.elapsed();
        let inputs: Vec<String> = request
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let fitted = crate::distill::fit::fit(
            &self.model,
            output,
            FitInput {
                texts: &texts,
                teacher: teacher.vectors.view(),
                source: Some(FitSource {
                    teacher: &self.model.name,
                    teacher_precision: self.embedder.options().precision.name(),
                    inputs: &inputs,
                    paragraphs: &paragraphs,
                    available,
                    sentences_only: request.units == FitUnits::Sentences,
                }),
            },
            request.options,
            progress,
            self.embedder.cancel(),
        )?;
        Ok(StaticFitReport {
            fitted,
            paragraphs: paragraphs.len(),
            available,
            teacher_time,
            cache: teacher.cache,
        })
    }

    /// One text's unit vector, without the cache (a query is embedded once).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, Error> {
        Ok(self.embedder.embed_one(text)?)
    }

    /// Embeds paragraphs as they come (from a [`crate::corpus::Reader`], say), [`STREAM_SLICE`]
    /// at a time through the cache, and hands each slice with its vectors to `sink`: memory
    /// holds one slice whatever the number of paragraphs, and the rows are those
    /// [`Themescope::index`] makes of the same paragraphs.
    pub fn embed_stream<I>(&self, paragraphs: I, sink: &mut dyn RowSink) -> Result<Streamed, Error>
    where
        I: IntoIterator<Item = Result<Paragraph, CorpusError>>,
    {
        let mut cached = CachedEmbedder::open(&self.embedder, self.cache.as_ref());
        let mut streamed = Streamed::default();
        let mut slice = Vec::with_capacity(STREAM_SLICE);
        let mut paragraphs = paragraphs.into_iter().peekable();
        while paragraphs.peek().is_some() {
            slice.clear();
            for paragraph in paragraphs.by_ref().take(STREAM_SLICE) {
                slice.push(paragraph?);
            }
            if self.embedder.cancelled() {
                return Err(EmbedError::from(Interrupted).into());
            }
            let texts: Vec<&str> = slice.iter().map(|p| p.text.as_str()).collect();
            let done = streamed.rows;
            let read = done + slice.len();
            let (vectors, stats) = cached.embed(&texts, &mut |d, total| {
                if let Some(report) = &self.progress {
                    report(done + d * texts.len() / total.max(1), read);
                }
            })?;
            sink.write(&slice, vectors.view())?;
            streamed.rows = read;
            streamed.stats += stats;
            if let Some(report) = &self.progress {
                report(read, read);
            }
        }
        streamed.cache = cached.finish();
        Ok(streamed)
    }

    /// Embeds paragraphs into an [`Index`] that keeps each vector with its paragraph.
    pub fn index(&self, paragraphs: Vec<Paragraph>) -> Result<(Index, Embedding), Error> {
        let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
        let embedding = self.embed_counted(&texts)?;
        let index = Index::new(paragraphs, embedding.vectors.clone());
        Ok((index, embedding))
    }

    /// The `k` paragraphs of `index` closest in meaning to `query`, best first.
    pub fn nearest(&self, index: &Index, query: &str, k: usize) -> Result<Vec<Hit>, Error> {
        Ok(index.nearest(&self.embed_query(query)?, k))
    }

    /// Groups the paragraphs of `index` into themes named from their text; label candidates
    /// are embedded through the cache.
    pub fn themes(&self, index: &Index, params: &ValidThemeParams) -> Result<ThemeModel, Error> {
        let texts: Vec<&str> = index.paragraphs.iter().map(|p| p.text.as_str()).collect();
        let progress = |stage| {
            if let Some(report) = &self.themes_progress {
                report(stage);
            }
        };
        Ok(ThemeModel::fit_with(
            index.vectors.view(),
            &texts,
            params,
            Some(self),
            &progress,
        )?)
    }
}

/// Theme label candidates go through the embedding cache too, so a second report is fast.
impl PhraseEmbedder for Themescope {
    fn embed_phrases(&self, phrases: &[String]) -> Result<Array2<f32>, crate::embed::EmbedError> {
        embed_cached(&self.embedder, self.cache.as_ref(), phrases, &mut |_, _| {})
            .map(|(vectors, _, _)| vectors)
    }
}

/// The on-disk index through the front door: built, extended, searched and themed by this
/// model, with one compatibility check (the same width, and the same model and embedding mode
/// unless the vectors were imported).
impl Themescope {
    /// What this run's vectors are, as an index records them.
    pub fn index_spec(&self) -> IndexSpec {
        IndexSpec {
            dim: self.embedder.dim(),
            model: Some(self.vectors_key.clone()),
        }
    }

    /// Opens the index in `dir` for this model: [`IndexError::Mismatch`] when it holds
    /// vectors of another width, or of another model.
    pub fn open_index(&self, dir: &Path) -> Result<DiskIndex, Error> {
        let index = DiskIndex::open(dir)?;
        index.manifest().spec.check(dir, &self.index_spec())?;
        Ok(index)
    }

    /// Streams `inputs` into the index in `dir` (made if new, extended if not; what is stored
    /// is skipped), `slice` paragraphs embedded and committed at a time; an interrupted build
    /// keeps its commits and resumes. Returns what was read and added.
    pub fn build_index<P: AsRef<Path>>(
        &self,
        dir: &Path,
        inputs: &[P],
        options: CorpusOptions,
        slice: usize,
        progress: BuildProgress,
    ) -> Result<BuildReport, Error> {
        let mut writer = IndexWriter::open(dir, &self.index_spec())?;
        let report = build::build(
            &mut writer,
            &self.embedder,
            inputs,
            options,
            slice,
            self.model.fit_record(),
            progress,
        )?;
        writer.finish()?;
        Ok(report)
    }

    /// Adds `paragraphs` held in memory to the index in `dir` (made if new), as
    /// [`Themescope::build_index`] adds files: what is stored is skipped, the rest embedded
    /// and committed `slice` at a time. Every paragraph given is kept (no boilerplate filter).
    pub fn add_to_index(
        &self,
        dir: &Path,
        paragraphs: Vec<Paragraph>,
        slice: usize,
        progress: BuildProgress,
    ) -> Result<BuildReport, Error> {
        let mut writer = IndexWriter::open(dir, &self.index_spec())?;
        let report = build::add(&mut writer, &self.embedder, paragraphs, slice, progress)?;
        writer.finish()?;
        Ok(report)
    }

    /// The `k` stored paragraphs nearest `query`, best first, with their scores.
    pub fn nearest_in(
        &self,
        index: &DiskIndex,
        query: &str,
        k: usize,
    ) -> Result<Vec<(Hit, Paragraph)>, Error> {
        if index.is_empty() {
            return Err(IndexError::Empty(index.dir().to_path_buf()).into());
        }
        let hits = index.nearest(&self.embed_query(query)?, k)?;
        let mut out = Vec::with_capacity(hits.len());
        for hit in hits {
            let paragraph = index.paragraph(hit.row)?;
            out.push((hit, paragraph));
        }
        Ok(out)
    }

    /// Themes of the whole index, fitted on a seeded sample and every row assigned; saved in
    /// the index so that new rows can be placed ([`Themescope::place_rows`]).
    pub fn themes_in(
        &self,
        index: &DiskIndex,
        params: &ValidThemeParams,
    ) -> Result<IndexThemes, Error> {
        if index.is_empty() {
            return Err(IndexError::Empty(index.dir().to_path_buf()).into());
        }
        let fitted = fit_index(index, params, Some(self))?;
        fitted.saved.write(index.dir())?;
        Ok(fitted)
    }

    /// What the index in `dir` holds: its manifest, its size on disk, whether search uses
    /// its ANN graph, and its saved themes. No model is needed.
    pub fn index_info(dir: &Path) -> Result<IndexInfo, Error> {
        let index = DiskIndex::open(dir)?;
        Ok(IndexInfo {
            manifest: index.manifest().clone(),
            bytes: disk_bytes(dir),
            ann_in_use: index.uses_ann(),
            themes: SavedThemes::read(dir).ok(),
        })
    }

    /// Writes every row of the index in `dir` to `output` as one Parquet table (whole or not
    /// at all); returns the rows written. No model is needed.
    #[cfg(feature = "parquet")]
    pub fn export_index(dir: &Path, output: &Path) -> Result<usize, Error> {
        let index = DiskIndex::open(dir)?;
        crate::index::parquet::write_index(&index, output).map_err(|source| {
            Error::Export(crate::index::export::ExportError::Parquet {
                path: output.to_path_buf(),
                source,
            })
        })
    }

    /// Recall@10 of the index's search against exact search over `queries` queries near
    /// stored rows (cosine `query_cosine` to them), and its latency; `candidates` re-ranked
    /// per query. No model is needed.
    pub fn measure_search(
        dir: &Path,
        queries: usize,
        candidates: usize,
        query_cosine: f32,
    ) -> Result<SearchMeasure, Error> {
        Ok(measure_search(dir, queries, candidates, query_cosine)?)
    }

    /// A seeded sample of the index for its theme map (up to
    /// [`MAP_MAX_POINTS`](crate::themes::map::MAP_MAX_POINTS) rows), each row in its nearest
    /// `saved` theme; [`Report::with_index_map`](crate::Report::with_index_map) draws it.
    pub fn map_sample(
        index: &DiskIndex,
        saved: &SavedThemes,
        seed: u64,
    ) -> Result<MapSample, Error> {
        Ok(map_sample(index, saved, seed)?)
    }

    /// Where `rows` of the index fall among its saved themes: per theme how many, and how many
    /// fit none; `None` when no themes are saved yet.
    pub fn place_rows(
        index: &DiskIndex,
        rows: std::ops::Range<usize>,
    ) -> Result<Option<Placed>, Error> {
        let Ok(saved) = SavedThemes::read(index.dir()) else {
            return Ok(None);
        };
        let mut placed = Placed {
            by_theme: vec![0; saved.themes.len()],
            none: 0,
            saved,
        };
        let mut start = rows.start;
        while start < rows.end {
            let n = (rows.end - start).min(PLACE_BLOCK);
            let block = index.read_rows(start, n)?;
            for place in placed.saved.place(block.view()) {
                match place {
                    Some(t) => placed.by_theme[t] += 1,
                    None => placed.none += 1,
                }
            }
            start += n;
        }
        Ok(Some(placed))
    }

    /// Imports vectors made elsewhere (`.npy`, with the `embed` sidecar of ids and texts) into
    /// the index in `dir`; rows already stored are skipped. No model is needed.
    pub fn import_index(
        dir: &Path,
        npy: &Path,
        ids: Option<&Path>,
        cancel: &Cancel,
        progress: BuildProgress,
    ) -> Result<(BuildReport, Manifest), Error> {
        let (_, dim) = build::npy_shape(npy)?;
        let mut writer = IndexWriter::open(dir, &IndexSpec { dim, model: None })?;
        let report = build::import(&mut writer, npy, ids, cancel, progress)?;
        let manifest = writer.finish()?;
        Ok((report, manifest))
    }
}

/// What [`Themescope::index_info`] found.
#[derive(Debug, Clone)]
pub struct IndexInfo {
    pub manifest: Manifest,
    /// Bytes of the index's files.
    pub bytes: u64,
    /// Whether search goes through the ANN graph (else every row is compared).
    pub ann_in_use: bool,
    /// Themes saved by `themes --index`, if any.
    pub themes: Option<SavedThemes>,
}

/// Rows read at a time when placing rows among saved themes.
const PLACE_BLOCK: usize = 65_536;

/// What [`Themescope::place_rows`] found.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Rows per saved theme, in the saved order.
    pub by_theme: Vec<usize>,
    /// Rows further from every theme than its bar.
    pub none: usize,
    pub saved: SavedThemes,
}
