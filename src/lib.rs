//! themescope: find the themes in a pile of articles, and the paragraph that says a given thing,
//! with a local sentence-embedding model on the CPU.
//!
//! Data flows one way: [`corpus`] → [`embed`] → [`index`] → [`themes`] → [`report`], with the
//! model's files read by [`model`]. [`Themescope`] is the front door over all of it.
//!
//! Embed texts (all-MiniLM-L6-v2 is fetched into the store on first use):
//!
//! ```
//! use themescope::{Options, Themescope};
//!
//! let scope = Themescope::try_new(Options::default())?;
//! let vectors = scope.embed(&["NATO wants a seat at the table.", "Kyiv asks for security guarantees."])?;
//! assert_eq!(vectors.dim(), (2, 384));
//! # Ok::<(), themescope::Error>(())
//! ```
//!
//! The paragraphs of a folder of articles nearest a query:
//!
//! ```
//! use themescope::{Corpus, CorpusOptions, Options, Themescope};
//!
//! let scope = Themescope::try_new(Options::default())?;
//! let corpus = Corpus::load(&["data/nato-ukraine"], CorpusOptions::default())?;
//! let (index, _) = scope.index(corpus.paragraphs)?;
//! for hit in scope.nearest(&index, "Europe is left out of the peace talks", 3)? {
//!     let p = &index.paragraphs[hit.row];
//!     println!("{:.3} {}:{} {}", hit.score, p.doc, p.line, p.text);
//! }
//! # Ok::<(), themescope::Error>(())
//! ```
//!
//! Themes, named from the text, rendered as a report:
//!
//! ```
//! use themescope::{Corpus, CorpusOptions, Format, Options, ParamGuard, Report, ThemeParams, Themescope};
//!
//! let scope = Themescope::try_new(Options::default())?;
//! let corpus = Corpus::load(&["data/nato-ukraine"], CorpusOptions::default())?;
//! let skipped = corpus.skipped.len();
//! let (index, _) = scope.index(corpus.paragraphs)?;
//! let params = ThemeParams::new().check()?;
//! let themes = scope.themes(&index, &params)?;
//! print!("{}", Report::new(&themes, &index.paragraphs, skipped, &params).render(Format::Markdown));
//! # Ok::<(), themescope::Error>(())
//! ```

pub mod corpus;
pub mod distill;
pub mod embed;
pub mod eval;
pub mod index;
pub mod model;
#[cfg(feature = "fetch")]
pub mod progress;
pub mod report;
mod scope;
pub mod themes;

pub use corpus::{Corpus, CorpusOptions, Paragraph};
pub use embed::{EmbedOptions, Embedder, LongText};
pub use index::{Hit, Index};
pub use linfa::ParamGuard;
pub use model::{ModelChoice, ModelDir};
pub use report::{Format, Report};
pub use scope::{Embedding, Options, ProgressFn, StageFn, Themescope};
pub use themes::{Method, ThemeCount, ThemeModel, ThemeParams, ValidThemeParams};

/// Any error of the library, for callers that handle them alike; each module's own error type
/// stays available to those that tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Corpus(#[from] corpus::CorpusError),
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Embed(#[from] embed::EmbedError),
    #[error(transparent)]
    Themes(#[from] themes::ThemeError),
    #[error(transparent)]
    Params(#[from] themes::ParamError),
    #[error(transparent)]
    Eval(#[from] eval::EvalError),
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Build(#[from] index::BuildError),
}

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where themescope keeps fetched models and the embedding cache: `THEMESCOPE_HOME`, else the
/// user's cache directory (`~/.cache/themescope` on Linux).
pub fn home_dir() -> PathBuf {
    match std::env::var_os("THEMESCOPE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("themescope"),
    }
}

/// Writes a file whole or not at all: a temporary file beside it, synced, then renamed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    atomic_write_all(&[(path, bytes)])
}

/// Writes files that belong together (vectors and their ids): every one is written and synced
/// beside its target before any is renamed into place, so a failure (disk full, interrupt)
/// leaves the user's files as they were.
pub fn atomic_write_all(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        staged.push((stage(path, bytes)?, *path));
    }
    for (file, path) in staged {
        file.persist(path).map_err(|e| e.error)?;
    }
    Ok(())
}

fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    // A temporary file is private (0600); what the user asked for is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    Ok(file)
}
