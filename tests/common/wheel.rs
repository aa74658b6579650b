//! The Python package as a user gets it: its wheel built from this checkout by `pip wheel`
//! (maturin, from PyPI) and installed into a fresh venv outside the project.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::project_dir;

/// A fresh venv named `name` in the temporary directory with the wheel of this checkout and
/// `extra` (pip requirements) installed; `None`, with a message, when Python, venv or pip are
/// not to be had here (a failure under `CI`).
pub fn venv_with_wheel(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let root = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let (build, user) = (root.join("build"), root.join("venv"));
    let wheels = root.join("wheels");
    let venv = |dir: &Path| {
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !venv(&build) || !venv(&user) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to make a venv"
        );
        eprintln!("skipped: no Python venv here");
        return None;
    }
    // Its own target directory: the `cargo test` that runs this holds the project's.
    let built = Command::new(build.join("bin/python"))
        .args(["-m", "pip", "wheel", "--quiet", "--no-deps", "-w"])
        .arg(&wheels)
        .arg(project_dir().join("bindings/python"))
        .env("CARGO_TARGET_DIR", project_dir().join("target/python"))
        .status()
        .unwrap();
    assert!(built.success(), "pip wheel ./bindings/python failed");
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel was built");
    let installed = Command::new(user.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet"])
        .arg(&wheel)
        .args(extra)
        .status()
        .unwrap();
    assert!(
        installed.success(),
        "pip install {} {extra:?}",
        wheel.display()
    );
    Some(user.join("bin/python"))
}
