//! The on-disk index end to end on the real model: build, query, resume after `kill -9`,
//! readers during a build, one writer at a time, import, add with theme placement, and the
//! errors a user meets.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

fn info(home: &Path, dir: &Path) -> serde_json::Value {
    Outcome::of(themescope(home).args(["index", "info", "--json"]).arg(dir))
        .ok()
        .json()
}

fn nearest_json(cmd: &mut std::process::Command) -> Vec<(String, f64)> {
    let out = Outcome::of(cmd).ok();
    let hits: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap().to_string(),
                h["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// A corpus of `copies` × the sample corpus' longer lines, each copy made distinct, as one
/// JSONL file: enough paragraphs for a build of many small commits.
fn many_paragraphs(dir: &Path, copies: usize) -> (PathBuf, usize) {
    let mut lines = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(project_dir().join("data/nato-ukraine"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            if line.split_whitespace().count() >= 12 {
                lines.push(line.to_string());
            }
        }
    }
    let path = dir.join("many.jsonl");
    let mut out = String::new();
    let mut n = 0;
    for copy in 0..copies {
        for (i, line) in lines.iter().enumerate() {
            let record = serde_json::json!({"id": format!("c{copy}-{i}"), "text": format!("{line} (copy {copy})")});
            out.push_str(&record.to_string());
            out.push('\n');
            n += 1;
        }
    }
    std::fs::write(&path, out).unwrap();
    (path, n)
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn a_built_index_answers_as_the_in_memory_search_does_and_a_rebuild_embeds_nothing() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("ix");
    let built = Outcome::of(
        themescope_with_real_model(home.path())
            .args(["index", "build", "data/nato-ukraine", "--index"])
            .arg(&dir),
    )
    .ok();
    assert!(
        built.stderr.contains("66 paragraphs added"),
        "{}",
        built.stderr
    );
    assert_eq!(info(home.path(), &dir)["rows"], 66);

    let query = "Ukraine wants security guarantees";
    let from_index = nearest_json(
        themescope_with_real_model(home.path())
            .args(["nearest", query, "--json", "-k", "5", "--index"])
            .arg(&dir),
    );
    let in_memory = nearest_json(themescope_with_real_model(home.path()).args([
        "--no-cache",
        "nearest",
        query,
        "--json",
        "-k",
        "5",
        "data/nato-ukraine",
    ]));
    let ids = |hits: &[(String, f64)]| hits.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&from_index), ids(&in_memory));
    for (a, b) in from_index.iter().zip(&in_memory) {
        assert!((a.1 - b.1).abs() < 2e-4, "{a:?} vs {b:?}");
    }
    assert!(from_index[0].0.contains("001_"), "{from_index:?}");

    let again = Outcome::of(
        themescope_with_real_model(home.path())
            .args(["index", "build", "data/nato-ukraine", "--index"])
            .arg(&dir),
    )
    .ok();
    assert!(
        again
            .stderr
            .contains("0 paragraphs added, 66 already stored"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_build_killed_mid_way_resumes_to_the_same_index_as_one_run() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (corpus, total) = many_paragraphs(work.path(), 8);
    let total = total - 8; // the copies of one line are fragments
    let whole = work.path().join("whole");
    let pieces = work.path().join("pieces");
    let build = |dir: &Path| {
        let mut cmd = themescope_with_real_model(home.path());
        cmd.args(["-q", "index", "build"])
            .arg(&corpus)
            .args(["--commit-every", "16", "--index"])
            .arg(dir);
        cmd
    };

    let mut child = build(&pieces).spawn().unwrap();
    let started = Instant::now();
    let mut seen_rows = Vec::new();
    let mut busy_checked = false;
    loop {
        if let Ok(text) = std::fs::read_to_string(pieces.join("index.json")) {
            let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
            let rows = manifest["rows"].as_u64().unwrap();
            if rows > 0 {
                // A reader meanwhile: sees whole commits and searches them.
                let hits = nearest_json(
                    themescope_with_real_model(home.path())
                        .args(["nearest", "peace talks", "--json", "--index"])
                        .arg(&pieces),
                );
                assert!(!hits.is_empty());
                let rows_now = info(home.path(), &pieces)["rows"].as_u64().unwrap();
                assert_eq!(rows_now % 16, 0, "only whole commits are visible");
                seen_rows.push(rows_now);
                if !busy_checked {
                    Outcome::of(&mut build(&pieces))
                        .fails(1, &["being written by another themescope process"]);
                    busy_checked = true;
                }
            }
            if rows >= 96 {
                break;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(20));
    }
    // kill -9: no handler runs.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen_rows.windows(2).all(|w| w[0] <= w[1]), "{seen_rows:?}");
    let kept = info(home.path(), &pieces)["rows"].as_u64().unwrap() as usize;
    assert!(kept >= 96 && kept < total, "{kept} of {total}");

    let resumed = Outcome::of(
        themescope_with_real_model(home.path())
            .args(["index", "build"])
            .arg(&corpus)
            .args(["--commit-every", "16", "--index"])
            .arg(&pieces),
    )
    .ok();
    let expected = format!("paragraphs added, {kept} already stored");
    assert!(resumed.stderr.contains(&expected), "{}", resumed.stderr);

    Outcome::of(&mut build(&whole)).ok();
    for name in ["vectors.f32", "paragraphs.jsonl", "offsets.u64", "keys.u64"] {
        assert!(
            read(&whole, name) == read(&pieces, name),
            "{name} differs between one run and interrupted pieces"
        );
    }
    let themes = |dir: &Path| {
        Outcome::of(
            themescope_with_real_model(home.path())
                .args([
                    "-q", "themes", "--format", "json", "--depth", "1", "--index",
                ])
                .arg(dir),
        )
        .ok()
        .stdout
    };
    assert_eq!(themes(&whole), themes(&pieces));
}

#[test]
fn imported_vectors_are_searched_like_built_ones_and_an_import_resumes() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let npy = work.path().join("corpus.npy");
    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["-q", "embed", "data/nato-ukraine", "-o"])
            .arg(&npy),
    )
    .ok();
    let imported = work.path().join("imported");
    let first = Outcome::of(
        themescope(home.path())
            .args(["index", "import"])
            .arg(&npy)
            .arg("--index")
            .arg(&imported),
    )
    .ok();
    assert!(first.stderr.contains("66 added"), "{}", first.stderr);
    let second = Outcome::of(
        themescope(home.path())
            .args(["index", "import"])
            .arg(&npy)
            .arg("--index")
            .arg(&imported),
    )
    .ok();
    assert!(
        second.stderr.contains("0 added, 66 already stored"),
        "{}",
        second.stderr
    );
    let summary = info(home.path(), &imported);
    assert_eq!(summary["rows"], 66);
    assert_eq!(summary["model"], serde_json::Value::Null);

    let hits = nearest_json(
        themescope_with_real_model(home.path())
            .args([
                "nearest",
                "Europe is left out of the talks",
                "--json",
                "-k",
                "3",
                "--index",
            ])
            .arg(&imported),
    );
    let in_memory = nearest_json(themescope_with_real_model(home.path()).args([
        "nearest",
        "Europe is left out of the talks",
        "--json",
        "-k",
        "3",
        "data/nato-ukraine",
    ]));
    assert_eq!(
        hits.iter().map(|h| &h.0).collect::<Vec<_>>(),
        in_memory.iter().map(|h| &h.0).collect::<Vec<_>>()
    );

    // Ids that do not match the rows: refused before anything is added.
    let short = work.path().join("short.ids.jsonl");
    let sidecar = std::fs::read_to_string(work.path().join("corpus.ids.jsonl")).unwrap();
    std::fs::write(
        &short,
        sidecar.lines().take(10).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    Outcome::of(
        themescope(home.path())
            .args(["index", "import"])
            .arg(&npy)
            .arg("--ids")
            .arg(&short)
            .arg("--index")
            .arg(work.path().join("other")),
    )
    .fails(1, &["10 records for the 66 rows"]);
    let not_npy = work.path().join("notes.npy");
    std::fs::write(&not_npy, "just text").unwrap();
    Outcome::of(
        themescope(home.path())
            .args(["index", "import"])
            .arg(&not_npy)
            .arg("--index")
            .arg(work.path().join("third")),
    )
    .fails(1, &["not a 2-D little-endian float32 .npy"]);
}

#[test]
fn add_embeds_only_new_paragraphs_and_places_them_in_the_fitted_themes() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("ix");
    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["-q", "index", "build", "data/nato-ukraine", "--index"])
            .arg(&dir),
    )
    .ok();
    let no_themes = Outcome::of(
        themescope_with_real_model(home.path())
            .args(["index", "add"])
            .arg(&dir)
            .arg("data/nato-ukraine"),
    )
    .ok();
    assert!(no_themes
        .stderr
        .contains("0 paragraphs added, 66 already stored"));
    assert!(
        no_themes.stderr.contains("no themes fitted yet"),
        "{}",
        no_themes.stderr
    );

    let report: serde_json::Value = serde_json::from_str(
        &Outcome::of(
            themescope_with_real_model(home.path())
                .args(["-q", "themes", "--format", "json", "--index"])
                .arg(&dir),
        )
        .ok()
        .stdout,
    )
    .unwrap();
    assert_eq!(report["summary"]["paragraphs"], 66);
    assert_eq!(report["summary"]["sample"], 66);
    for theme in report["themes"].as_array().unwrap() {
        let subs = theme["subthemes"].as_array().unwrap();
        let within: u64 = subs.iter().map(|s| s["size"].as_u64().unwrap()).sum();
        assert!(
            within <= theme["size"].as_u64().unwrap() + subs.len() as u64,
            "sub-themes outgrow their theme: {theme}"
        );
    }
    let security = report["themes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| {
            t["paragraphs"].as_array().unwrap().iter().any(|p| {
                let id = p["id"].as_str().unwrap();
                id.contains("/001_") && id.ends_with(":9")
            })
        })
        .expect("001:9 is in a theme");

    // The HTML report's map: a mark per row, each in its nearest theme, as the theme sizes
    // count rows, so every theme has as many marks as it has rows.
    let html = Outcome::of(
        themescope_with_real_model(home.path())
            .args(["-q", "themes", "--format", "html", "--index"])
            .arg(&dir),
    )
    .ok()
    .stdout;
    let marks: Vec<&str> = html
        .split("<circle ")
        .skip(1)
        .map(|mark| {
            let at = mark.find("data-theme=\"").unwrap() + "data-theme=\"".len();
            &mark[at..at + mark[at..].find('"').unwrap()]
        })
        .collect();
    assert_eq!(marks.len(), 66, "one map mark per row");
    for (t, theme) in report["themes"].as_array().unwrap().iter().enumerate() {
        let id = (t + 1).to_string();
        assert_eq!(
            marks.iter().filter(|&&m| m == id).count() as u64,
            theme["size"].as_u64().unwrap(),
            "marks of theme {id}"
        );
    }

    let new = work.path().join("new");
    std::fs::create_dir(&new).unwrap();
    std::fs::write(
        new.join("later.txt"),
        // 001:9 reworded: it joins the theme 001:9 is in.
        "If Ukraine does not join NATO, it must receive security guarantees.\n\n\
         The recipe calls for two cups of flour, a pinch of salt and fresh basil from the garden.\n",
    )
    .unwrap();
    let added = Outcome::of(
        themescope_with_real_model(home.path())
            .args(["index", "add"])
            .arg(&dir)
            .arg("data/nato-ukraine")
            .arg(&new),
    )
    .ok();
    assert!(
        added
            .stderr
            .contains("2 paragraphs added, 66 already stored"),
        "{}",
        added.stderr
    );
    let placed: Vec<&str> = added.stdout.lines().collect();
    assert!(
        placed[0].starts_with("2 new paragraphs"),
        "{}",
        added.stdout
    );
    assert!(
        placed.iter().any(|l| l
            .trim_start()
            .starts_with(&format!("1  {:>2}. ", security + 1))),
        "the reworded 001:9 joins its theme, {}: {}",
        security + 1,
        added.stdout
    );
    assert!(
        placed
            .iter()
            .any(|l| l.trim_start().starts_with("1  fit no theme")),
        "the recipe fits none: {}",
        added.stdout
    );
    assert_eq!(info(home.path(), &dir)["rows"], 68);
}

#[test]
fn index_errors_are_one_line_and_leave_what_the_user_has() {
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let busy = work.path().join("notes");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("mine.txt"), "keep me").unwrap();
    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["index", "build", "data/nato-ukraine", "--index"])
            .arg(&busy),
    )
    .fails(1, &["exists and is not a themescope index"]);
    assert_eq!(
        std::fs::read_to_string(busy.join("mine.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["nearest", "x", "--index"])
            .arg(work.path().join("missing")),
    )
    .fails(1, &["is not a themescope index", "index build"]);
    Outcome::of(
        themescope(home.path())
            .args(["index", "add"])
            .arg(work.path().join("missing"))
            .arg("data/nato-ukraine"),
    )
    .fails(1, &["is not a themescope index"]);
    Outcome::of(themescope(home.path()).args(["nearest", "x"])).fails(2, &["no INPUT given"]);
    Outcome::of(
        themescope(home.path())
            .args(["nearest", "x", "data/nato-ukraine", "--index"])
            .arg(work.path()),
    )
    .fails(2, &["cannot be used with"]);
}
