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
    if !fresh_venv(&build) || !fresh_venv(&user) {
        return None;
    }
    let built = pip_from_source(&build.join("bin/python"), "wheel")
        .args(["--no-deps", "-w"])
        .arg(&wheels)
        .arg(project_dir().join("bindings/python"))
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

/// Makes a venv in `dir`; false, with a message, when Python or venv are not to be had here
/// (a failure under `CI`).
pub fn fresh_venv(dir: &Path) -> bool {
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to make a venv"
        );
        eprintln!("skipped: no Python venv here");
    }
    made
}

/// `python -m pip ACTION --quiet`, building the package from this checkout in a target
/// directory of its own (the `cargo test` that runs this holds the project's).
pub fn pip_from_source(python: &Path, action: &str) -> Command {
    let mut pip = Command::new(python);
    pip.args(["-m", "pip", action, "--quiet"])
        .env("CARGO_TARGET_DIR", project_dir().join("target/python"));
    pip
}
