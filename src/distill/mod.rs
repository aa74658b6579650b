//! Distill: make a static model from a transformer on this machine. Every vocabulary token goes
//! through the encoder once (`[CLS] token [SEP]`, mean-pooled), the vectors are reduced by PCA
//! and weighted by an estimate of each token's frequency (Zipf's law over the vocabulary order,
//! then SIF), and the table is written in model2vec's layout so that model2vec (Python) and
//! model2vec-rs load it unchanged. The method is model2vec's (Tulkens and van Dongen, 2024);
//! [`fit`] goes on from the same token vectors to a table fitted to the transformer's output.

use crate::cancel::Cancel;

pub mod fit;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;
use tokenizers::Tokenizer;

use crate::embed::{Backend, CandleBert, EmbedError, PackedBatch, Pooling};
use crate::model::files::{StaticConfig, STATIC_MODEL_TYPE};
use crate::model::{Architecture, ModelDir, STATIC_TABLE};

/// Dimensions of a distilled model unless told otherwise (model2vec's default).
pub const DEFAULT_DIMS: usize = 256;
/// model2vec's default SIF coefficient.
pub const DEFAULT_SIF: f64 = 1e-4;

/// Choices for [`distill`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistillOptions {
    /// Principal components kept (at most the encoder's hidden size).
    pub dims: usize,
    /// SIF coefficient a: a token of estimated probability p is weighted a / (a + p).
    pub sif_coefficient: f64,
}

impl Default for DistillOptions {
    fn default() -> Self {
        Self {
            dims: DEFAULT_DIMS,
            sif_coefficient: DEFAULT_SIF,
        }
    }
}

/// What a distillation made.
#[derive(Debug, Clone, PartialEq)]
pub struct Distilled {
    pub dir: PathBuf,
    /// Tokens given a vector (special and `[unusedN]` tokens get zeros).
    pub tokens: usize,
    pub vocabulary: usize,
    pub dims: usize,
    /// Share of the token vectors' variance the kept components hold.
    pub explained_variance: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    #[error("{0} is a static model already: distil a transformer")]
    NotATransformer(String),
    #[error("cannot keep {dims} dimensions: the model has {hidden} (ask for at most {hidden})")]
    TooManyDims { dims: usize, hidden: usize },
    #[error("the SIF coefficient must be between 0 and 1 (got {0})")]
    Sif(f64),
    #[error("the tokenizer gives no vocabulary tokens to distil")]
    NoTokens,
    #[error("cannot read tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Pca(#[from] crate::pca::PcaError),
    #[error("fitting needs at least {need} texts with words the tokenizer knows (got {got})")]
    TooFewTexts { got: usize, need: usize },
    #[error("teacher vectors: {0}")]
    Teacher(String),
    #[error("the linear map of the fit: {0}")]
    Solve(String),
    #[error("interrupted")]
    Interrupted(#[from] crate::cancel::Interrupted),
    #[error("{path} already exists")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Sequences of `[CLS] token [SEP]` per forward pass: about the 2,048 tokens the embedder
/// itself puts in one pass.
const TOKENS_PER_PASS: usize = 680;

/// Distils `source` into a static model at `output`, which must not exist unless `replace`.
/// `progress(done, total)` counts vocabulary tokens through the encoder; once `cancel` is set
/// the work stops between passes with [`DistillError::Interrupted`] and nothing is written.
pub fn distill(
    source: &ModelDir,
    output: &Path,
    options: DistillOptions,
    replace: bool,
    progress: &mut dyn FnMut(usize, usize),
    cancel: Option<&Cancel>,
) -> Result<Distilled, DistillError> {
    check_dims(source, options.dims)?;
    if !(options.sif_coefficient > 0.0 && options.sif_coefficient < 1.0) {
        return Err(DistillError::Sif(options.sif_coefficient));
    }
    if output.exists() && !replace {
        return Err(DistillError::Exists {
            path: output.to_path_buf(),
        });
    }
    let vectors = token_vectors(source, options.dims, progress, cancel)?;
    let weights = sif_weights(vectors.kept.len(), options.sif_coefficient);
    let mut table = Array2::<f32>::zeros((vectors.vocabulary, options.dims));
    for ((&id, row), weight) in vectors
        .kept
        .iter()
        .zip(vectors.projected.rows())
        .zip(&weights)
    {
        table
            .row_mut(id as usize)
            .iter_mut()
            .zip(row)
            .for_each(|(t, &x)| *t = (x * weight) as f32);
    }

    let static_config = StaticConfig {
        model_type: STATIC_MODEL_TYPE.into(),
        architectures: vec!["StaticModel".into()],
        tokenizer_name: Some(source.name.clone()),
        apply_pca: Some(options.dims.into()),
        sif_coefficient: Some(options.sif_coefficient),
        hidden_dim: Some(options.dims),
        seq_length: Some(1_000_000),
        normalize: true,
        pooling: Some("mean".into()),
        embedding_dtype: Some("float32".into()),
    };
    write_model(
        output,
        &table,
        &static_config,
        &vectors.tokenizer,
        None,
        replace,
    )?;
    Ok(Distilled {
        dir: output.to_path_buf(),
        tokens: vectors.kept.len(),
        vocabulary: vectors.vocabulary,
        dims: options.dims,
        explained_variance: vectors.explained_variance,
    })
}

/// A transformer with at least `dims` dimensions.
pub(crate) fn check_dims(source: &ModelDir, dims: usize) -> Result<(), DistillError> {
    let Architecture::Bert(config) = &source.architecture else {
        return Err(DistillError::NotATransformer(source.name.clone()));
    };
    if dims == 0 || dims > config.hidden_size {
        return Err(DistillError::TooManyDims {
            dims,
            hidden: config.hidden_size,
        });
    }
    Ok(())
}

/// Every vocabulary token through the encoder, reduced by PCA: what plain distillation and a
/// fit both start from.
pub(crate) struct TokenVectors {
    /// The source's tokenizer with padding and truncation off.
    pub tokenizer: Tokenizer,
    pub vocabulary: usize,
    /// The ids given a vector, in id order.
    pub kept: Vec<u32>,
    /// One row per kept id: its encoder vector projected on the principal components.
    pub projected: Array2<f64>,
    pub explained_variance: f64,
}

/// The source's tokens through its encoder and PCA to `dims` (checked by the caller).
pub(crate) fn token_vectors(
    source: &ModelDir,
    dims: usize,
    progress: &mut dyn FnMut(usize, usize),
    cancel: Option<&Cancel>,
) -> Result<TokenVectors, DistillError> {
    let Architecture::Bert(config) = &source.architecture else {
        return Err(DistillError::NotATransformer(source.name.clone()));
    };
    let tokenizer = plain_tokenizer(source)?;
    let vocabulary = tokenizer.get_vocab_size(true);
    let (prefix, suffix) = special_frame(&tokenizer)?;
    let kept = vocabulary_tokens(&tokenizer, vocabulary, &[&prefix[..], &suffix[..]].concat());
    if kept.len() <= dims {
        return Err(DistillError::NoTokens);
    }
    let encoder = CandleBert::load(&source.path.join("model.safetensors"), config)?;
    let vectors = encode_tokens(&encoder, &kept, &prefix, &suffix, progress, cancel)?;
    let (projected, explained_variance) = principal_components(vectors, dims)?;
    Ok(TokenVectors {
        tokenizer,
        vocabulary,
        kept,
        projected,
        explained_variance,
    })
}

/// The source's tokenizer.json with padding and truncation off.
pub(crate) fn plain_tokenizer(source: &ModelDir) -> Result<Tokenizer, DistillError> {
    let tokenizer_path = source.path.join("tokenizer.json");
    let mut tokenizer =
        Tokenizer::from_file(&tokenizer_path).map_err(|e| DistillError::Tokenizer {
            path: tokenizer_path.clone(),
            message: e.to_string(),
        })?;
    // A tokenizer.json may pad (all-MiniLM-L6-v2's pads to 128) or truncate: off, both for
    // framing each token here and in the written model, since model2vec averages every piece
    // of a text and a padded one would average the padding too.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| DistillError::Tokenizer {
            path: tokenizer_path.clone(),
            message: e.to_string(),
        })?;
    Ok(tokenizer)
}

/// The ids to distil, in id order: every token but the special ones (those marked special,
/// the `frame` put around texts, the unknown token) and BERT's `[unusedN]` placeholders, which
/// no text produces.
fn vocabulary_tokens(tokenizer: &Tokenizer, vocabulary: usize, frame: &[u32]) -> Vec<u32> {
    let added = tokenizer.get_added_tokens_decoder();
    let unknown = crate::embed::unknown_token(tokenizer);
    (0..vocabulary as u32)
        .filter(|id| !added.get(id).is_some_and(|t| t.special))
        .filter(|id| !frame.contains(id) && Some(*id) != unknown)
        .filter(|&id| {
            tokenizer
                .id_to_token(id)
                .is_some_and(|token| !(token.starts_with("[unused") && token.ends_with(']')))
        })
        .collect()
}

/// The ids the tokenizer puts before and after a text (`[CLS]` and `[SEP]` for BERT).
fn special_frame(tokenizer: &Tokenizer) -> Result<(Vec<u32>, Vec<u32>), DistillError> {
    let encoding = tokenizer
        .encode("a", true)
        .map_err(|e| DistillError::Embed(EmbedError::Tokenize(e.to_string())))?;
    let ids = encoding.get_ids();
    let mask = encoding.get_special_tokens_mask();
    let first = mask.iter().position(|&m| m == 0).unwrap_or(ids.len());
    let last = mask
        .iter()
        .rposition(|&m| m == 0)
        .map_or(ids.len(), |p| p + 1);
    Ok((ids[..first].to_vec(), ids[last..].to_vec()))
}

/// Each token framed by the special tokens, through the encoder, mean-pooled (f64 for PCA).
fn encode_tokens(
    encoder: &CandleBert,
    ids: &[u32],
    prefix: &[u32],
    suffix: &[u32],
    progress: &mut dyn FnMut(usize, usize),
    cancel: Option<&Cancel>,
) -> Result<Array2<f64>, DistillError> {
    let dim = encoder.dim();
    let mut out = Array2::<f64>::zeros((ids.len(), dim));
    let passes: Vec<&[u32]> = ids.chunks(TOKENS_PER_PASS).collect();
    let wave = rayon::current_num_threads().max(1);
    let mut done = 0;
    for (w, wave_passes) in passes.chunks(wave).enumerate() {
        if let Some(cancel) = cancel {
            cancel.check()?;
        }
        let pooled: Vec<Vec<Vec<f32>>> = wave_passes
            .par_iter()
            .map(|chunk| {
                let mut batch = PackedBatch::default();
                for &id in *chunk {
                    let sequence: Vec<u32> =
                        prefix.iter().chain([&id]).chain(suffix).copied().collect();
                    batch.push(&sequence, &vec![0; sequence.len()]);
                }
                encoder.embed(&batch, Pooling::Mean)
            })
            .collect::<Result<_, _>>()?;
        let start = w * wave * TOKENS_PER_PASS;
        for (offset, vector) in pooled.into_iter().flatten().enumerate() {
            out.row_mut(start + offset)
                .iter_mut()
                .zip(vector)
                .for_each(|(o, v)| *o = f64::from(v));
        }
        done += wave_passes.iter().map(|p| p.len()).sum::<usize>();
        progress(done, ids.len());
    }
    Ok(out)
}

/// PCA: the rows centred and projected on the `dims` directions of largest variance (each
/// direction's sign fixed so its largest entry is positive, for a deterministic result);
/// returns the projections and the share of variance they hold.
pub fn principal_components(
    rows: Array2<f64>,
    dims: usize,
) -> Result<(Array2<f64>, f64), DistillError> {
    let n = rows.nrows();
    let mean = rows.mean_axis(Axis(0)).expect("rows are not empty");
    let centred = &rows - &mean;
    let covariance = centred.t().dot(&centred) / (n.max(2) - 1) as f64;
    let (components, share) = crate::pca::principal_axes(covariance.view(), dims)?;
    Ok((centred.dot(&components), share))
}

/// SIF weights over token ranks: Zipf's law gives rank r (0-based, vocabulary order) the
/// probability p ∝ 1/(r + 2); a token weighs a / (a + p), so frequent tokens count less.
pub fn sif_weights(tokens: usize, sif_coefficient: f64) -> Array1<f64> {
    let inverse_rank = Array1::from_iter((0..tokens).map(|r| 1.0 / (r as f64 + 2.0)));
    let total = inverse_rank.sum();
    inverse_rank.mapv(|x| sif_coefficient / (sif_coefficient + x / total))
}

/// Writes the three files into a staging directory beside `output` and renames it into
/// place, so a failure leaves no half-written model (and an old one stays until then).
pub(crate) fn write_model(
    output: &Path,
    table: &Array2<f32>,
    config: &StaticConfig,
    tokenizer: &Tokenizer,
    fit: Option<&crate::model::files::FitRecord>,
    replace: bool,
) -> Result<(), DistillError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DistillError::Write { path, source }
    };
    let staging = crate::fsutil::StagedDir::create(output)
        .map_err(write_error(crate::fsutil::parent_dir(output)))?;
    let dir = staging.path();

    let tensor = Tensor::from_slice(
        table.as_slice().expect("a fresh table is contiguous"),
        table.dim(),
        &Device::Cpu,
    )
    .map_err(EmbedError::Forward)?;
    let weights = dir.join("model.safetensors");
    candle_core::safetensors::save(&HashMap::from([(STATIC_TABLE, tensor)]), &weights).map_err(
        |e| DistillError::Write {
            path: weights.clone(),
            source: std::io::Error::other(e.to_string()),
        },
    )?;
    let config_path = dir.join("config.json");
    let mut json = serde_json::to_string_pretty(config).expect("a config serialises");
    json.push('\n');
    fs::write(&config_path, json).map_err(write_error(&config_path))?;
    let tokenizer_path = dir.join("tokenizer.json");
    tokenizer
        .save(&tokenizer_path, true)
        .map_err(|e| DistillError::Write {
            path: tokenizer_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    if let Some(fit) = fit {
        let fit_path = dir.join(crate::model::files::FIT_RECORD);
        let mut json = serde_json::to_string_pretty(fit).expect("a fit record serialises");
        json.push('\n');
        fs::write(&fit_path, json).map_err(write_error(&fit_path))?;
    }
    staging.commit(replace).map_err(write_error(output))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_direction_of_largest_variance_first() {
        // Points spread along (1, 1) a lot and along (1, -1) a little.
        let rows = Array2::from_shape_vec((4, 2), vec![3.0, 3.0, -3.0, -3.0, 0.5, -0.5, -0.5, 0.5])
            .unwrap();
        let (projected, explained) = principal_components(rows, 1).unwrap();
        let expected = [3.0 * 2f64.sqrt(), -3.0 * 2f64.sqrt(), 0.0, 0.0];
        for (got, want) in projected.column(0).iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{projected}");
        }
        assert!((explained - 36.0 / 37.0).abs() < 1e-9, "{explained}");
    }

    #[test]
    fn sif_weighs_frequent_tokens_less() {
        let w = sif_weights(1000, 1e-3);
        assert!(w.windows(2).into_iter().all(|p| p[0] < p[1]));
        let total: f64 = (0..1000).map(|r| 1.0 / (r as f64 + 2.0)).sum();
        let p0 = 0.5 / total;
        assert!((w[0] - 1e-3 / (1e-3 + p0)).abs() < 1e-12);
    }
}
