//! themescope: find the themes in a pile of articles, and the paragraph that says a given thing,
//! with a local sentence-embedding model on the CPU.
//!
//! Data flows one way: [`corpus`] → [`embed`] → [`index`] → [`themes`] → [`report`].

pub mod corpus;
pub mod embed;
pub mod eval;
pub mod index;
pub mod model;
pub mod progress;
pub mod report;
pub mod themes;

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
