//! Everything the CLI writes: stdout, output files checked before any work and written whole or
//! not at all, search hits, and rendered reports.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::corpus::Paragraph;
use anyhow::Result;
use serde::Serialize;

pub fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// Refuses to overwrite what the user has, unless told to, and finds out before any work is
/// done whether the output can be written at all.
pub fn check_writable(path: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "cannot write {}: it is a directory (give a file name)",
            path.display()
        );
    }
    if path.exists() && !force {
        anyhow::bail!(
            "{} already exists (use --force to overwrite it)",
            path.display()
        );
    }
    let dir = crate::fsutil::parent_dir(path);
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist (create it first)",
            path.display(),
            dir.display()
        );
    }
    if let Err(e) = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir) {
        anyhow::bail!(
            "cannot write {}: cannot create files in {}: {}",
            path.display(),
            dir.display(),
            io_reason(&e)
        );
    }
    Ok(())
}

/// Writes an output file whole or not at all, with the reason in the message if it fails.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    super::check_interrupt()?;
    crate::fsutil::atomic_write(path, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), io_reason(&e)))
}

pub use crate::fsutil::io_reason;

/// `out.npy` → `out.ids.jsonl`.
pub fn sidecar_path(npy: &Path) -> PathBuf {
    npy.with_extension("ids.jsonl")
}

/// Scores in JSON to four places: more is noise between machines.
pub fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

#[derive(Serialize)]
struct HitRecord<'a> {
    id: &'a str,
    doc: &'a str,
    line: usize,
    /// A PDF paragraph's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<u32>,
    /// The article's date, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<chrono::NaiveDate>,
    score: f32,
    text: &'a str,
}

/// Search hits, best first: a JSON array, or ranked and wrapped for reading.
pub fn print_hits(hits: &[(f32, &Paragraph)], json: bool) -> Result<()> {
    let mut out = stdout();
    if json {
        let records: Vec<HitRecord> = hits
            .iter()
            .map(|&(score, p)| HitRecord {
                id: &p.id,
                doc: &p.doc,
                line: p.line,
                page: p.page,
                date: p.date,
                score: round4(score),
                text: &p.text,
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &records)?;
        writeln!(out)?;
    } else {
        for (rank, &(score, p)) in hits.iter().enumerate() {
            writeln!(out, "{:>2}. {score:.3}  {}:{}", rank + 1, p.doc, p.place())?;
            for line in textwrap::wrap(&p.text, 92) {
                writeln!(out, "      {line}")?;
            }
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The rendered report to `output` (whole or not at all) or stdout.
pub fn emit(output: Option<&Path>, rendered: &str, quiet: bool) -> Result<()> {
    match output {
        Some(path) => {
            write_output(path, rendered.as_bytes())?;
            if !quiet {
                eprintln!("wrote {}", path.display());
            }
        }
        None => {
            let mut out = stdout();
            out.write_all(rendered.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}
