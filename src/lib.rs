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
//!     println!("{:.3} {}:{} {}", hit.score, p.doc, p.place(), p.text);
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
//!
//! An on-disk index, built by streaming the corpus (resumable; what is stored is skipped), then
//! searched:
//!
//! ```
//! use themescope::{CorpusOptions, Options, Themescope, STREAM_SLICE};
//!
//! let scope = Themescope::try_new(Options::default())?;
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let report = scope.build_index(dir.path(), &["data/nato-ukraine"], CorpusOptions::default(), STREAM_SLICE, &mut |_, _| {})?;
//! assert_eq!(report.added, 66);
//! let index = scope.open_index(dir.path())?;
//! for (hit, p) in scope.nearest_in(&index, "security guarantees for Ukraine", 3)? {
//!     println!("{:.3} {}:{} {}", hit.score, p.doc, p.place(), p.text);
//! }
//! # Ok::<(), themescope::Error>(())
//! ```

pub mod cancel;
#[cfg(feature = "cli")]
pub mod cli;
pub mod corpus;
pub mod distill;
pub mod embed;
pub mod eval;
pub mod fsutil;
pub mod index;
pub mod model;
pub mod pca;
#[cfg(feature = "fetch")]
pub mod progress;
pub mod report;
mod scope;
pub mod themes;

pub use cancel::{Cancel, Interrupted};
pub use corpus::{Corpus, CorpusOptions, FileFilter, Paragraph};
pub use embed::{EmbedOptions, Embedder, LongText};
pub use index::{DiskIndex, Hit, Index};
pub use linfa::ParamGuard;
pub use model::{ModelChoice, ModelDir};
pub use report::{Format, Report};
pub use scope::{
    Embedding, FitUnits, IndexInfo, Options, Placed, ProgressFn, StageFn, StaticFitReport,
    StaticFitRequest, Streamed, Themescope, STREAM_SLICE,
};
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
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Build(#[from] index::BuildError),
    #[error(transparent)]
    Export(#[from] index::export::ExportError),
    #[error(transparent)]
    Scale(#[from] themes::scale::ScaleError),
    #[error(transparent)]
    Map(#[from] themes::map::MapError),
    #[error(transparent)]
    Measure(#[from] index::measure::MeasureError),
    #[error(transparent)]
    Distill(#[from] distill::DistillError),
}

impl Error {
    /// Whether the work stopped because it was asked to ([`Cancel`]), whichever stage it was in.
    pub fn is_interrupted(&self) -> bool {
        std::iter::successors(
            std::error::Error::source(self),
            |e: &&(dyn std::error::Error + 'static)| e.source(),
        )
        .any(|e| e.is::<Interrupted>())
    }
}
