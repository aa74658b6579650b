//! A real browser for the HTML reports: Debian's `chromium`, headless, and the DOM it renders.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's chromium, or `None` (a failure under CI=true, where .ci/run installs it).
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is missing, and CI=true: .ci/run installs it"
        );
        eprintln!("skipped: no chromium here");
    }
    found
}

/// The page's DOM after its scripts ran.
pub fn rendered_dom(browser: &Path, page: &Path, fragment: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every `<tag ...>` opening tag of the DOM, as its attribute text.
pub fn tags<'a>(dom: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    dom.match_indices(&open)
        .map(|(at, _)| {
            let rest = &dom[at + open.len()..];
            &rest[..rest.find('>').unwrap()]
        })
        .collect()
}

pub fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    tag.find(&key).map(|at| {
        let rest = &tag[at + key.len()..];
        &rest[..rest.find('"').unwrap()]
    })
}
