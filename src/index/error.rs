//! Why an on-disk index could not be opened, written or read: the one error of the index's
//! files, shared by the store and its ANN graph.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a themescope index (no index.json): build one with `themescope index build INPUT... --index {0}`")]
    NotAnIndex(PathBuf),
    #[error("{0} exists and is not a themescope index: give an empty or new directory")]
    NotEmpty(PathBuf),
    #[error("index {path}: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("index {0} is being written by another themescope process; wait for it to finish")]
    Busy(PathBuf),
    #[error("index {path} holds {have}; {want}")]
    Mismatch {
        path: PathBuf,
        have: String,
        want: String,
    },
    #[error("ANN graph {path}: {reason}")]
    Ann { path: PathBuf, reason: String },
    #[error("index {0} is empty: add paragraphs with `themescope index add`")]
    Empty(PathBuf),
}
