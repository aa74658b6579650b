//! Guided themes: names a user gives gather the paragraphs that say what they name, on the
//! sample corpus with the real model; a name the corpus never speaks of gathers nothing and is
//! reported; bad names are one-line errors.

mod common;

use common::cli::*;
use serde_json::Value;

const GIVEN: [&str; 3] = [
    "security guarantees",
    "exclusion from the talks",
    "recipes for apple pie",
];

fn guided_report(home: &std::path::Path, format: &str) -> Outcome {
    let mut cmd = themescope_with_real_model(home);
    cmd.args(["themes", "data/nato-ukraine", "--format", format]);
    for name in GIVEN {
        cmd.args(["--theme", name]);
    }
    Outcome::of(&mut cmd).ok()
}

/// "NNN:LINE" for each paragraph of a theme: the document's number and the line.
fn places(theme: &Value) -> Vec<String> {
    theme["paragraphs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let doc = p["doc"].as_str().unwrap();
            let file = doc.rsplit(['/', '\\']).next().unwrap();
            format!("{}:{}", &file[..3], p["line"])
        })
        .collect()
}

#[test]
fn named_themes_gather_what_they_name_and_a_foreign_name_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = guided_report(home.path(), "json");
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let themes = report["themes"].as_array().unwrap();
    let paragraphs = report["summary"]["paragraphs"].as_u64().unwrap() as usize;

    // 001:11 ("no consensus … for Ukraine to join") says it in its last clause alone: its best
    // passage brings it in (docs/themes.md, "Guided themes").
    let expected: [(&str, &[&str]); 2] = [
        ("security guarantees", &["001:9", "001:11", "001:12"]),
        ("exclusion from the talks", &["004:5", "004:7", "003:4"]),
    ];
    for (theme, (name, must)) in themes.iter().zip(expected) {
        assert_eq!(theme["label"], name, "named themes come first, in order");
        assert_eq!(theme["given"], true);
        let members = places(theme);
        assert!(
            members.len() * 2 < paragraphs,
            "{name}: {} of {paragraphs} paragraphs is not a theme but the corpus",
            members.len()
        );
        for place in must {
            assert!(
                members.iter().any(|m| m == place),
                "{name} lacks {place}: {members:?}"
            );
        }
    }
    let unmatched = report["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["name"], "recipes for apple pie");
    assert!(unmatched[0]["nearest"].as_f64().unwrap() < unmatched[0]["bar"].as_f64().unwrap());

    // The rest of the corpus is themed as without names; every paragraph is in one theme or
    // an outlier, once.
    assert!(themes.len() > 2);
    assert!(themes[2..].iter().all(|t| t.get("given").is_none()));
    let mut seen: Vec<String> = themes
        .iter()
        .flat_map(|t| t["paragraphs"].as_array().unwrap().clone())
        .chain(report["outliers"].as_array().unwrap().clone())
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let all = seen.len();
    seen.dedup();
    assert_eq!((seen.len(), all), (paragraphs, paragraphs));
}

#[test]
fn the_text_report_marks_given_themes_and_says_which_name_gathered_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = guided_report(home.path(), "text");
    let text = out.stdout;
    assert!(text.contains("2 themes by name, the rest:"), "{text}");
    assert!(text.contains("1. Security guarantees — "), "{text}");
    assert!(text.contains("2. Exclusion from the talks — "), "{text}");
    assert!(text.contains("given, stability"), "{text}");
    assert!(
        text.contains("The name \"recipes for apple pie\" gathered nothing"),
        "{text}"
    );
}

#[test]
fn bad_theme_names_are_one_line_errors_before_any_work() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("names.txt");
    std::fs::write(&empty, "# nothing but a comment\n\n").unwrap();
    let missing = dir.path().join("missing.txt");
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["--theme", "  "], "a theme name is empty"),
        (vec!["--theme", "talks", "--theme", "Talks"], "given twice"),
        (
            vec!["--themes", missing.to_str().unwrap()],
            "cannot read theme names",
        ),
        (vec!["--themes", empty.to_str().unwrap()], "names no themes"),
    ];
    for (args, needle) in cases {
        // No model is given or fetched: the names are checked first.
        Outcome::of(
            themescope(home.path())
                .args(["themes", "data/nato-ukraine"])
                .args(&args),
        )
        .fails(2, &[needle]);
    }
    Outcome::of(
        themescope(home.path())
            .args(["themes", "--index", dir.path().to_str().unwrap()])
            .args(["--theme", "talks"]),
    )
    .fails(2, &["not yet on an --index"]);
}
