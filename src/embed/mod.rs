//! Embed: tokenize → forward → pool → normalise, scheduling texts into length-sorted batches
//! and long texts into overlapping windows.
//!
//! Scheduling (here) and compute (a [`Backend`]) meet in one small trait, so the batching
//! logic is tested on a tiny model and the compute can change without touching it.

mod attention;
pub mod backend;
pub mod bert;
pub mod dense_f32;
pub mod int8;
mod pointwise;
mod static_model;

/// What the kernels' unit tests share.
#[cfg(test)]
mod testing {
    use rand_xoshiro::rand_core::{RngCore, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// `len` values in [-1, 1], the same for a seed.
    pub fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..len)
            .map(|_| (rng.next_u32() as f32 / u32::MAX as f32) * 2.0 - 1.0)
            .collect()
    }
}

use ndarray::Array2;
use rayon::prelude::*;
use tokenizers::{PostProcessor, Tokenizer, TruncationDirection};

pub use crate::model::files::{Pooling, SentenceSpec, TokenStyle};
use crate::model::{Architecture, ModelDir};
pub use backend::{Backend, PackedBatch};
pub use bert::{BertModel, CandleBert};
pub use pointwise::{Epilogue, FmaPath};
pub use static_model::StaticModel;

/// Errors of tokenization and the forward pass.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("cannot read tokenizer {path}: {message}")]
    Tokenizer { path: String, message: String },
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    #[error("cannot read model weights {path} (damaged or incomplete: copy or fetch it again): {source}")]
    Weights {
        path: String,
        #[source]
        source: candle_core::Error,
    },
    #[error("model weights {path} do not fit its config.json: {source}")]
    WeightsMismatch {
        path: String,
        #[source]
        source: candle_core::Error,
    },
    #[error("forward pass failed: {0}")]
    Forward(#[from] candle_core::Error),
    #[error("interrupted")]
    Interrupted(#[from] crate::cancel::Interrupted),
    #[error("{0}")]
    Kernel(String),
}

/// What to do with a text longer than the model's max_seq_length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongText {
    /// Embed overlapping windows of max_seq_length tokens and average them (the default:
    /// nothing of the text is ignored).
    Window { overlap: usize },
    /// Cut at max_seq_length, as sentence-transformers does.
    Truncate,
}

impl Default for LongText {
    fn default() -> Self {
        LongText::Window { overlap: 64 }
    }
}

/// Number format of the dense layers in the forward pass (README "Precision").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Precision {
    /// As the checkpoint stores it: vectors match sentence-transformers to cosine ≥ 0.9999.
    #[default]
    F32,
    /// Weights int8 per output channel, activations u8 per token, exact i32 products.
    Int8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

/// Scheduling choices for [`Embedder::embed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Sequences per forward pass.
    pub batch_size: usize,
    pub long_text: LongText,
    pub precision: Precision,
}

/// Sequences per forward pass unless told otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 32;

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            batch_size: DEFAULT_BATCH_SIZE,
            long_text: LongText::default(),
            precision: Precision::F32,
        }
    }
}

/// Counts from one [`Embedder::embed`] call, for run summaries and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedStats {
    pub texts: usize,
    /// Texts longer than max_seq_length (windowed, or truncated with `LongText::Truncate`).
    pub long_texts: usize,
    /// Sequences run through the model (one per text, more for windowed texts).
    pub sequences: usize,
    /// Real tokens run through the model, special tokens included.
    pub tokens: usize,
}

impl std::ops::AddAssign for EmbedStats {
    fn add_assign(&mut self, other: Self) {
        self.texts += other.texts;
        self.long_texts += other.long_texts;
        self.sequences += other.sequences;
        self.tokens += other.tokens;
    }
}

/// Vectors in input order, one row per text.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub vectors: Array2<f32>,
    pub stats: EmbedStats,
}

/// Turns texts into vectors the way sentence-transformers does for the same model.
pub struct Embedder {
    tokenizer: Tokenizer,
    /// The tokenizer's unknown token, dropped from plain (static-model) sequences.
    unknown: Option<u32>,
    backend: Box<dyn Backend>,
    spec: SentenceSpec,
    options: EmbedOptions,
    cancel: Option<crate::cancel::Cancel>,
}

/// Tokens in one forward pass at most (one sequence may be longer): a batch is split so that
/// its hidden states (768 × 384 floats, 1.1 MiB for MiniLM) stay in a core's L2 from one layer
/// to the next. Against 2,048, int8 measured 5% faster and f32 level (avx512 Intel, 2 MiB of L2
/// a core); 512 was as fast for int8 but 3% slower for f32.
pub const MAX_BATCH_TOKENS: usize = 768;

/// Consecutive slices of `order` with at most `batch_size` sequences and, beyond the first
/// sequence, at most MAX_BATCH_TOKENS tokens.
fn token_budget_batches<'a>(
    order: &'a [usize],
    sequences: &'a [Sequence],
    batch_size: usize,
) -> impl Iterator<Item = &'a [usize]> + 'a {
    let mut rest = order;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut tokens = 0;
        let mut take = 0;
        for &i in rest.iter().take(batch_size) {
            let len = sequences[i].ids.len();
            if take > 0 && tokens + len > MAX_BATCH_TOKENS {
                break;
            }
            tokens += len;
            take += 1;
        }
        let (batch, tail) = rest.split_at(take);
        rest = tail;
        Some(batch)
    })
}

struct Sequence {
    text: usize,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
}

impl Embedder {
    /// Loads the tokenizer and weights of a verified model directory.
    pub fn from_model(model: &ModelDir, options: EmbedOptions) -> Result<Self, EmbedError> {
        let tokenizer_path = model.path.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| EmbedError::Tokenizer {
                path: tokenizer_path.display().to_string(),
                message: e.to_string(),
            })?;
        let weights = model.path.join("model.safetensors");
        let backend: Box<dyn Backend> = match &model.architecture {
            Architecture::Bert(config) => {
                Box::new(CandleBert::load_as(&weights, config, options.precision)?)
            }
            Architecture::Static { .. } if options.precision != Precision::F32 => {
                return Err(EmbedError::Kernel(format!(
                    "--precision {} is for transformer models; {} is a static model (a lookup table)",
                    options.precision.name(),
                    model.path.display()
                )))
            }
            Architecture::Static { .. } => Box::new(StaticModel::load(&weights)?),
        };
        Self::new(tokenizer, backend, model.spec, options)
    }

    /// Puts together a tokenizer and a backend; the tokenizer's own truncation and padding
    /// settings are replaced (all-MiniLM-L6-v2 ships fixed padding to 128, which is wrong here).
    pub fn new(
        mut tokenizer: Tokenizer,
        backend: Box<dyn Backend>,
        spec: SentenceSpec,
        options: EmbedOptions,
    ) -> Result<Self, EmbedError> {
        // Windows are cut below, on the whole encoding: this tokenizers version stops tokenizing
        // at max_length when truncation is on, which loses the overflow windows.
        tokenizer
            .with_truncation(None)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        tokenizer.with_padding(None);
        let unknown = unknown_token(&tokenizer);
        Ok(Self {
            unknown,
            tokenizer,
            backend,
            spec,
            options: EmbedOptions {
                batch_size: options.batch_size.max(1),
                ..options
            },
            cancel: None,
        })
    }

    /// A flag that, once set (by a Ctrl-C handler, say), makes [`Embedder::embed`] stop at the
    /// next batch with [`EmbedError::Interrupted`].
    pub fn set_cancel(&mut self, cancel: impl Into<crate::cancel::Cancel>) {
        self.cancel = Some(cancel.into());
    }

    /// The cancel flag, when one is set.
    pub fn cancel(&self) -> Option<&crate::cancel::Cancel> {
        self.cancel.as_ref()
    }

    /// Whether the cancel flag is set.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(crate::cancel::Cancel::is_cancelled)
    }

    pub fn dim(&self) -> usize {
        self.backend.dim()
    }

    pub fn spec(&self) -> SentenceSpec {
        self.spec
    }

    /// The kernels the forward pass runs on: "f32", or the int8 kernel path.
    pub fn kernel(&self) -> &'static str {
        self.backend.kernel()
    }

    pub fn options(&self) -> EmbedOptions {
        self.options
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Embeds one text.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let embedded = self.embed(&[text])?;
        Ok(embedded.vectors.row(0).to_vec())
    }

    /// Embeds texts: one row per text, in input order.
    pub fn embed<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Embedded, EmbedError> {
        self.embed_with_progress(texts, &mut |_, _| {})
    }

    /// Embeds texts; `progress(done, total)` counts sequences as batches finish.
    pub fn embed_with_progress<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Embedded, EmbedError> {
        let (sequences, long_texts) = self.tokenize(texts)?;
        let dim = self.dim();
        let mut stats = EmbedStats {
            texts: texts.len(),
            long_texts,
            sequences: sequences.len(),
            tokens: sequences.iter().map(|s| s.ids.len()).sum(),
        };

        // Length-sorted batches carry almost no padding; results go back to input order below.
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| sequences[i].ids.len());

        let mut sums = Array2::<f32>::zeros((texts.len(), dim));
        let mut windows = vec![0usize; texts.len()];
        let mut done = 0;
        let batches: Vec<&[usize]> =
            token_budget_batches(&order, &sequences, self.options.batch_size).collect();
        // One batch per thread at a time: most of candle's CPU ops (layer norm, softmax, adds)
        // are not spread over threads, so running batches side by side keeps every core busy;
        // the matmuls' own parallelism nests in the same pool and costs nothing when all
        // threads are taken. A lone batch (one query) still gets every thread.
        let wave = rayon::current_num_threads().max(1);
        for batches in batches.chunks(wave) {
            if self.cancelled() {
                return Err(crate::cancel::Interrupted.into());
            }
            let pooled: Vec<Vec<Vec<f32>>> = batches
                .par_iter()
                .map(|chunk| {
                    let mut batch = PackedBatch::default();
                    for &i in *chunk {
                        batch.push(&sequences[i].ids, &sequences[i].type_ids);
                    }
                    self.backend.embed(&batch, self.spec.pooling)
                })
                .collect::<Result<_, _>>()?;
            for (chunk, pooled) in batches.iter().zip(pooled) {
                for (&i, mut vector) in chunk.iter().zip(pooled) {
                    let text = sequences[i].text;
                    if self.spec.normalize {
                        normalize(&mut vector);
                    }
                    let mut row = sums.row_mut(text);
                    row.iter_mut().zip(&vector).for_each(|(s, v)| *s += v);
                    windows[text] += 1;
                }
                done += chunk.len();
            }
            progress(done, sequences.len());
        }

        for (mut row, &count) in sums.rows_mut().into_iter().zip(&windows) {
            if count > 1 {
                row.mapv_inplace(|x| x / count as f32);
            }
            if self.spec.normalize {
                let norm = row.dot(&row).sqrt().max(1e-12);
                row.mapv_inplace(|x| x / norm);
            }
        }
        stats.texts = texts.len();
        Ok(Embedded {
            vectors: sums,
            stats,
        })
    }

    fn tokenize<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
    ) -> Result<(Vec<Sequence>, usize), EmbedError> {
        let tokenize_error = |e: tokenizers::Error| EmbedError::Tokenize(e.to_string());
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, false)
            .map_err(tokenize_error)?;
        if self.spec.tokens == TokenStyle::Plain {
            return Ok(self.plain_sequences(encodings));
        }
        let special = self
            .tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        let room = self.spec.max_seq_length.saturating_sub(special).max(1);
        let stride = match self.options.long_text {
            LongText::Window { overlap } => overlap.min(room / 2),
            LongText::Truncate => 0,
        };
        let mut sequences = Vec::with_capacity(encodings.len());
        let mut long_texts = 0;
        for (text, mut encoding) in encodings.into_iter().enumerate() {
            if encoding.len() > room {
                long_texts += 1;
                encoding.truncate(room, stride, TruncationDirection::Right);
                if self.options.long_text == LongText::Truncate {
                    encoding.take_overflowing();
                }
            }
            let encoding = self
                .tokenizer
                .post_process(encoding, None, true)
                .map_err(tokenize_error)?;
            for window in std::iter::once(&encoding).chain(encoding.get_overflowing()) {
                sequences.push(Sequence {
                    text,
                    ids: window.get_ids().to_vec(),
                    type_ids: window.get_type_ids().to_vec(),
                });
            }
        }
        Ok((sequences, long_texts))
    }
}

impl Embedder {
    /// Word-piece ids without special tokens or unknown pieces, cut into windows of
    /// max_seq_length tokens (or truncated) as for the encoder.
    fn plain_sequences(&self, encodings: Vec<tokenizers::Encoding>) -> (Vec<Sequence>, usize) {
        let room = self.spec.max_seq_length.max(1);
        let overlap = match self.options.long_text {
            LongText::Window { overlap } => overlap.min(room / 2),
            LongText::Truncate => 0,
        };
        let mut sequences = Vec::with_capacity(encodings.len());
        let mut long_texts = 0;
        for (text, encoding) in encodings.iter().enumerate() {
            let ids: Vec<u32> = encoding
                .get_ids()
                .iter()
                .copied()
                .filter(|&id| Some(id) != self.unknown)
                .collect();
            let mut start = 0;
            long_texts += usize::from(ids.len() > room);
            loop {
                let end = (start + room).min(ids.len());
                sequences.push(Sequence {
                    text,
                    ids: ids[start..end].to_vec(),
                    type_ids: vec![0; end - start],
                });
                if end == ids.len() || self.options.long_text == LongText::Truncate {
                    break;
                }
                start = end - overlap;
            }
        }
        (sequences, long_texts)
    }
}

/// The id of the tokenizer's unknown token, for the models that have one.
pub(crate) fn unknown_token(tokenizer: &Tokenizer) -> Option<u32> {
    use tokenizers::models::ModelWrapper;
    let token = match tokenizer.get_model() {
        ModelWrapper::WordPiece(model) => Some(model.unk_token.clone()),
        ModelWrapper::BPE(model) => model.get_unk_token().clone(),
        ModelWrapper::WordLevel(model) => Some(model.unk_token.clone()),
        ModelWrapper::Unigram(_) => None,
    }?;
    tokenizer.token_to_id(&token)
}

/// Scales a vector to unit length (a zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine of two vectors of the same length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}
