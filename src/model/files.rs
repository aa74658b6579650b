//! The model-file types: what a sentence-transformers model directory's small files say
//! (config.json, sentence_bert_config.json, modules.json, the pooling config), and their
//! readers. A leaf: `model` reads the files with these, `embed` builds the encoder from them.

use std::path::{Component, Path};

use serde::Deserialize;

/// Why one of the small files cannot be used; [`super::ModelError`] adds the file's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Not the JSON the file should hold.
    #[error("{0}")]
    Parse(String),
    /// Well-formed, but describes something themescope cannot run.
    #[error("{0}")]
    Invalid(String),
}

/// The fields of a Hugging Face `config.json` that a BERT-family encoder needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: HiddenAct,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_type_vocab_size() -> usize {
    2
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Checks what serde cannot: shapes that fit together and features this encoder has.
    pub fn validate(&self) -> Result<(), String> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if let Some(kind) = &self.position_embedding_type {
            if kind != "absolute" {
                return Err(format!(
                    "position_embedding_type \"{kind}\" is not supported (only \"absolute\")"
                ));
            }
        }
        // Far beyond any BERT-family encoder; a config past these is damaged, and would
        // otherwise ask for absurd allocations.
        let limits = [
            ("vocab_size", self.vocab_size, 1, 10_000_000),
            ("hidden_size", self.hidden_size, 1, 65_536),
            ("num_hidden_layers", self.num_hidden_layers, 1, 1_000),
            ("num_attention_heads", self.num_attention_heads, 1, 1_024),
            ("intermediate_size", self.intermediate_size, 1, 1 << 20),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1,
                1 << 20,
            ),
            ("type_vocab_size", self.type_vocab_size, 1, 1_024),
        ];
        for (name, value, low, high) in limits {
            if !(low..=high).contains(&value) {
                return Err(format!("{name} {value} is outside {low}..={high}"));
            }
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!(
                "layer_norm_eps {} must be a positive number",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }
}

/// The activation named by `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// Exact GELU (erf), what PyTorch's BERT uses for "gelu".
    #[default]
    Gelu,
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    Relu,
}

/// How token vectors become one text vector (sentence-transformers' 1_Pooling/config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
    Max,
    MeanSqrtLen,
}

/// How a text becomes the token ids a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStyle {
    /// The tokenizer's special tokens around every sequence (`[CLS] … [SEP]`), as a
    /// transformer encoder was trained.
    Special,
    /// Word pieces only, unknown ones dropped: what a static (model2vec) model averages.
    Plain,
}

/// What the model's own files say about turning token vectors into a text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentenceSpec {
    pub max_seq_length: usize,
    pub pooling: Pooling,
    pub normalize: bool,
    pub tokens: TokenStyle,
}

/// A static model's config.json in model2vec's layout: a table of token vectors, averaged.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct StaticConfig {
    pub model_type: String,
    #[serde(default = "static_architectures")]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub tokenizer_name: Option<String>,
    #[serde(default)]
    pub apply_pca: Option<serde_json::Value>,
    #[serde(default)]
    pub sif_coefficient: Option<f64>,
    #[serde(default)]
    pub hidden_dim: Option<usize>,
    #[serde(default)]
    pub seq_length: Option<usize>,
    /// model2vec's own default is no normalisation when the config does not say.
    #[serde(default)]
    pub normalize: bool,
    #[serde(default)]
    pub pooling: Option<String>,
    #[serde(default)]
    pub embedding_dtype: Option<String>,
}

fn static_architectures() -> Vec<String> {
    vec!["StaticModel".into()]
}

/// The file beside a fitted static model's config.json that says what it was fitted on.
pub const FIT_RECORD: &str = "fit.json";

/// Fingerprints of at most this many fitted paragraphs are kept in [`FitRecord::sample`]:
/// enough to tell whether a corpus holds the fitting texts, small beside the model.
pub const FIT_SAMPLE: usize = 512;

/// What a fitted static model was fitted on (fit.json; model2vec ignores the file).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct FitRecord {
    /// The transformer whose vectors were fitted, and the precision it ran at.
    pub teacher: String,
    pub teacher_precision: String,
    pub seed: u64,
    /// The `--fit` inputs as given.
    pub inputs: Vec<String>,
    /// Paragraphs fitted on, of those the inputs held.
    pub paragraphs: usize,
    pub available: usize,
    /// Texts fitted on (paragraphs and their sentences, less the held-out ones).
    pub texts: usize,
    /// Fitted on the paragraphs' sentences alone, not on whole paragraphs too.
    #[serde(default)]
    pub sentences_only: bool,
    pub held_out_cosine: f64,
    /// [`paragraph_fingerprint`]s of up to [`FIT_SAMPLE`] of the fitted paragraphs, sorted.
    pub sample: Vec<String>,
}

/// A paragraph's fingerprint in [`FitRecord::sample`]: the first 64 bits of its SHA-256.
pub fn paragraph_fingerprint(text: &str) -> String {
    use sha2::{Digest, Sha256};
    super::hex(&Sha256::digest(text.as_bytes())[..8])
}

/// A fit.json.
pub fn fit_record(text: &str) -> Result<FitRecord, FileError> {
    parse_json(text)
}

/// The `model_type` of a model2vec static model.
pub const STATIC_MODEL_TYPE: &str = "model2vec";

/// Whether a config.json describes a static model (its `model_type` is "model2vec").
pub fn is_static(config_text: &str) -> bool {
    #[derive(Deserialize)]
    struct Kind {
        #[serde(default)]
        model_type: Option<String>,
    }
    serde_json::from_str::<Kind>(config_text)
        .ok()
        .and_then(|k| k.model_type)
        .is_some_and(|t| t == STATIC_MODEL_TYPE)
}

/// A static model's config.json.
pub fn static_config(text: &str) -> Result<StaticConfig, FileError> {
    let config: StaticConfig = parse_json(text)?;
    if let Some(pooling) = config.pooling.as_deref().filter(|p| *p != "mean") {
        return Err(FileError::Invalid(format!(
            "pooling \"{pooling}\" is not supported for static models (only \"mean\")"
        )));
    }
    Ok(config)
}

/// The vocabulary (token ids with a vector) and the dimensions of a static model, read from
/// its safetensors file's JSON header (the bytes after its 8-byte length): the rows of
/// `embeddings`, or the length of `mapping` when the vocabulary is quantized.
pub fn static_shape(header: &str) -> Result<(usize, usize), FileError> {
    #[derive(Deserialize)]
    struct Entry {
        shape: Vec<usize>,
    }
    let header: std::collections::BTreeMap<String, serde_json::Value> = parse_json(header)?;
    let shape = |name: &str| -> Result<Option<Vec<usize>>, FileError> {
        header
            .get(name)
            .map(|entry| {
                serde_json::from_value::<Entry>(entry.clone())
                    .map(|e| e.shape)
                    .map_err(|e| FileError::Parse(format!("tensor \"{name}\": {e}")))
            })
            .transpose()
    };
    let (rows, dim) = match shape("embeddings")?.as_deref() {
        Some([rows, dim]) if *rows > 0 && *dim > 0 => (*rows, *dim),
        Some(other) => {
            return Err(FileError::Invalid(format!(
                "tensor \"embeddings\" has shape {other:?}, expected [tokens, dimensions]"
            )))
        }
        None => return Err(FileError::Invalid("no tensor \"embeddings\"".into())),
    };
    match shape("mapping")?.as_deref() {
        None => Ok((rows, dim)),
        Some([tokens]) => Ok((*tokens, dim)),
        Some(other) => Err(FileError::Invalid(format!(
            "tensor \"mapping\" has shape {other:?}, expected [tokens]"
        ))),
    }
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FileError> {
    serde_json::from_str(text).map_err(|e| FileError::Parse(e.to_string()))
}

/// config.json: the encoder's shape, checked to fit together.
pub fn config(text: &str) -> Result<BertConfig, FileError> {
    let config: BertConfig = parse_json(text)?;
    config.validate().map_err(FileError::Invalid)?;
    Ok(config)
}

/// sentence_bert_config.json: the longest sequence the model was trained for.
pub fn max_seq_length(text: &str) -> Result<usize, FileError> {
    #[derive(Deserialize)]
    struct SentenceBertConfig {
        max_seq_length: usize,
    }
    Ok(parse_json::<SentenceBertConfig>(text)?.max_seq_length)
}

/// modules.json: the Pooling module's directory, and whether a Normalize module follows.
pub fn modules(text: &str) -> Result<(String, bool), FileError> {
    let modules: Vec<ModuleEntry> = parse_json(text)?;
    let pooling_dir = modules
        .iter()
        .find(|m| m.kind.ends_with(".Pooling"))
        .map(|m| m.path.clone())
        .ok_or_else(|| FileError::Invalid("no Pooling module listed".into()))?;
    let dir = Path::new(&pooling_dir);
    if dir.is_absolute() || dir.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(FileError::Invalid(format!(
            "the Pooling module's path \"{pooling_dir}\" leaves the model directory"
        )));
    }
    let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
    Ok((pooling_dir, normalize))
}

/// The Pooling module's config.json.
pub fn pooling(text: &str) -> Result<Pooling, FileError> {
    let cfg: PoolingConfig = parse_json(text)?;
    if let Some(mode) = &cfg.pooling_mode {
        return match mode.as_str() {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "max" => Ok(Pooling::Max),
            "mean_sqrt_len_tokens" => Ok(Pooling::MeanSqrtLen),
            other => Err(FileError::Invalid(format!(
                "pooling_mode \"{other}\" is not supported"
            ))),
        };
    }
    let modes = [
        (cfg.pooling_mode_mean_tokens, Pooling::Mean),
        (cfg.pooling_mode_cls_token, Pooling::Cls),
        (cfg.pooling_mode_max_tokens, Pooling::Max),
        (cfg.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
    ];
    let chosen: Vec<Pooling> = modes
        .iter()
        .filter(|(on, _)| *on)
        .map(|&(_, p)| p)
        .collect();
    match chosen.as_slice() {
        [one] => Ok(*one),
        [] => Err(FileError::Invalid("no pooling mode is switched on".into())),
        _ => Err(FileError::Invalid(
            "several pooling modes at once (concatenated) are not supported".into(),
        )),
    }
}
