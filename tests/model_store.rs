//! The model store: fetch sources, verification, and the errors a user sees.

mod common;

use common::*;
use themescope::model::{known_models, ModelError, Store};

#[test]
fn bundled_manifests_are_valid_and_pin_the_known_checksums() {
    let models = known_models();
    let mini = models
        .iter()
        .find(|m| m.name == "all-MiniLM-L6-v2")
        .unwrap();
    assert_eq!(mini.repo_id, "sentence-transformers/all-MiniLM-L6-v2");
    let sha = |f: &str| {
        mini.files
            .iter()
            .find(|x| x.path == f)
            .unwrap()
            .sha256
            .clone()
    };
    assert_eq!(
        sha("model.safetensors"),
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    );
    assert_eq!(
        sha("tokenizer.json"),
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
    );
    assert_eq!(mini.files.len(), 6);
}

/// A store that holds a copy of the real model, as a fetch would leave it.
fn copied_store() -> (tempfile::TempDir, Store) {
    let home = tempfile::tempdir().unwrap();
    let hf_home = tempfile::tempdir().unwrap();
    let manifest = &known_models()[0];
    let snapshot = hf_home
        .path()
        .join("hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots")
        .join(&manifest.revision);
    for file in &manifest.files {
        let target = snapshot.join(&file.path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(real_model().path.join(&file.path), target).unwrap();
    }
    let out = themescope(home.path())
        .env("HF_HOME", hf_home.path())
        .env("HF_HUB_OFFLINE", "1")
        .args(["model", "fetch"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Hugging Face hub"), "{stdout}");
    let store = Store::new(home.path().to_path_buf());
    (home, store)
}

#[test]
fn offline_fetch_uses_a_prefilled_hub_cache_and_verifies() {
    let (_home, store) = copied_store();
    let manifest = &known_models()[0];
    assert!(store.is_installed(manifest));
    let model = store.open(manifest).unwrap();
    assert_eq!(model.spec.max_seq_length, 256);
    assert!(model.cache_key.starts_with("all-MiniLM-L6-v2@"));
    assert!(!store.root().join("models").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".fetch-")));
}

#[test]
fn a_bit_flip_in_the_weights_is_named() {
    let (_home, store) = copied_store();
    let manifest = &known_models()[0];
    let weights = store.model_path(&manifest.name).join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[1_000_000] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let err = store.open(manifest).unwrap_err();
    assert!(matches!(err, ModelError::Checksum { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("model.safetensors") && message.contains("53aa5117"),
        "{message}"
    );
    assert!(
        !message.contains("--"),
        "library messages name no command-line flags: {message}"
    );
}

#[test]
fn no_hub_and_no_pip_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let hf_home = tempfile::tempdir().unwrap();
    let out = themescope(home.path())
        .env("HF_HOME", hf_home.path())
        .env("HF_HUB_OFFLINE", "1")
        .env("THEMESCOPE_PYTHON", "/no/such/python3")
        .args(["model", "fetch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    for part in ["HF_HUB_OFFLINE", "pip", "--model DIR"] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }
    let store = Store::new(home.path().to_path_buf());
    assert!(!store.is_installed(&known_models()[0]));
    assert!(
        !store.model_path("all-MiniLM-L6-v2").exists(),
        "nothing half-made is left"
    );
}
