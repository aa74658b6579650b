//! `diff`: what changed between two corpora, on AG News split by label with the real model —
//! the theme only the new side has is new, the one only the old side has is gone, the one
//! both hold alike is steady; the same records dealt to the sides at random change nothing;
//! bad sides are one-line errors.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::cli::*;
use common::shared_or_skip;
use serde_json::Value;

/// Records per label per side: 400 World + 400 Business against 400 other Business + 400
/// Sports, as the split, small enough for CI.
const PER_LABEL: usize = 400;

struct Split {
    dir: tempfile::TempDir,
    labels: HashMap<String, String>,
}

fn ag_news_split() -> Option<Split> {
    let path = shared_or_skip("eval/ag_news/test.jsonl")?;
    let mut by_label: HashMap<String, Vec<Value>> = HashMap::new();
    let mut labels = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let label = record["label_name"].as_str().unwrap().to_string();
        labels.insert(record["id"].to_string(), label.clone());
        by_label.entry(label).or_default().push(record);
    }
    let take = |label: &str, skip: usize| by_label[label][skip..skip + PER_LABEL].to_vec();
    let old: Vec<Value> = [take("World", 0), take("Business", 0)].concat();
    let new: Vec<Value> = [take("Business", PER_LABEL), take("Sports", 0)].concat();
    // The same records, dealt to the sides by a fixed shuffle.
    let mut pool: Vec<Value> = old.iter().chain(&new).cloned().collect();
    let mut state = 7u64;
    for i in (1..pool.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        pool.swap(i, (state >> 33) as usize % (i + 1));
    }
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, records: &[Value]| {
        let lines: Vec<String> = records
            .iter()
            .map(|r| serde_json::json!({"id": r["id"], "text": r["text"]}).to_string())
            .collect();
        std::fs::write(dir.path().join(name), lines.join("\n") + "\n").unwrap();
    };
    write("old.jsonl", &old);
    write("new.jsonl", &new);
    write("shuffled-old.jsonl", &pool[..old.len()]);
    write("shuffled-new.jsonl", &pool[old.len()..]);
    Some(Split { dir, labels })
}

fn diff(home: &Path, dir: &Path, old: &str, new: &str, extra: &[&str]) -> Value {
    let out = Outcome::of(
        themescope_with_real_model(home)
            .current_dir(dir)
            .args(["--precision", "int8", "diff", old, "--against", new])
            .args(["--format", "json"])
            .args(extra),
    )
    .ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The labels of a theme's most telling paragraphs.
fn telling_labels<'a>(theme: &Value, labels: &'a HashMap<String, String>) -> Vec<&'a str> {
    theme["telling"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| labels[&p["id"].as_str().unwrap().to_string()].as_str())
        .collect()
}

#[test]
fn a_label_split_is_new_gone_and_steady_and_a_shuffle_all_steady() {
    let Some(split) = ag_news_split() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let dir = split.dir.path();

    // Three labels are in play, so three themes.
    let report = diff(home.path(), dir, "old.jsonl", "new.jsonl", &["-k", "3"]);
    let themes = report["themes"].as_array().unwrap();
    assert_eq!(themes.len(), 3, "{report:#}");
    assert_eq!(report["summary"]["old"]["articles"], 2 * PER_LABEL);
    let by_verdict = |verdict: &str| -> &Value {
        let found: Vec<&Value> = themes.iter().filter(|t| t["verdict"] == verdict).collect();
        assert_eq!(found.len(), 1, "one {verdict} theme: {report:#}");
        found[0]
    };
    let new = by_verdict("new");
    assert!(telling_labels(new, &split.labels)
        .iter()
        .all(|l| *l == "Sports"));
    assert!(new["low"].as_f64().unwrap() > 0.0);
    let gone = by_verdict("gone");
    assert!(telling_labels(gone, &split.labels)
        .iter()
        .all(|l| *l == "World"));
    assert!(gone["high"].as_f64().unwrap() < 0.0);
    let steady = by_verdict("steady");
    assert!(steady["low"].as_f64().unwrap() <= 0.0 && steady["high"].as_f64().unwrap() >= 0.0);
    assert!(steady["telling"].as_array().unwrap().is_empty());
    for side in ["old_paragraphs", "new_paragraphs"] {
        let n = steady[side].as_u64().unwrap() as usize;
        assert!(n > PER_LABEL * 3 / 4, "business on both sides: {steady:#}");
    }
    for t in themes {
        let (old, new) = (
            t["old_share"].as_f64().unwrap(),
            t["new_share"].as_f64().unwrap(),
        );
        assert!((t["change"].as_f64().unwrap() - (new - old)).abs() < 2e-4);
    }

    // Dealt at random, nothing changed, whatever the number of themes.
    let shuffled = diff(
        home.path(),
        dir,
        "shuffled-old.jsonl",
        "shuffled-new.jsonl",
        &[],
    );
    let themes = shuffled["themes"].as_array().unwrap();
    assert!(themes.len() >= 2, "{shuffled:#}");
    for t in themes {
        assert_eq!(t["verdict"], "steady", "{shuffled:#}");
    }
    // The same seed, the same report.
    assert_eq!(
        shuffled,
        diff(
            home.path(),
            dir,
            "shuffled-old.jsonl",
            "shuffled-new.jsonl",
            &[]
        )
    );
}

#[test]
fn bad_sides_are_one_line_errors_with_exit_2_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let body = "NATO allies met in Brussels to talk about the peace plan for Ukraine today.\n";
    std::fs::write(dir.path().join("a.txt"), body).unwrap();
    std::fs::write(dir.path().join("b.txt"), body).unwrap();
    std::fs::write(dir.path().join("fragments.txt"), "Read more\n\nShare\n").unwrap();
    let report = dir.path().join("report.html");
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["a.txt", "--against", "fragments.txt"],
            &["the new (--against) side (fragments.txt) has no paragraphs"],
        ),
        (
            &["fragments.txt", "--against", "a.txt"],
            &["the old side (fragments.txt) has no paragraphs"],
        ),
        (
            &["a.txt", "--against", "b.txt", "a.txt"],
            &["a.txt is on both sides"],
        ),
        (&["a.txt"], &["--against"]),
    ];
    for (args, needles) in cases {
        Outcome::of(
            themescope_with_real_model(home.path())
                .current_dir(dir.path())
                .arg("diff")
                .args(args)
                .arg("--output")
                .arg(&report),
        )
        .fails(2, needles);
        assert!(!report.exists(), "{args:?}: nothing is written");
    }
}
