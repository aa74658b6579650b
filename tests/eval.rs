//! `themescope eval` end to end on small sets the tests write, and STS-B against its
//! published figure when ../shared is present.

mod common;

use std::path::Path;

use common::*;

fn eval(home: &Path, args: &[&str]) -> serde_json::Value {
    Outcome::of(
        themescope_with_real_model(home)
            .arg("eval")
            .args(args)
            .arg("--json"),
    )
    .ok()
    .json()
}

fn write(dir: &Path, name: &str, lines: &[String]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path.display().to_string()
}

#[test]
fn sts_scores_follow_similarity() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pairs = [
        ("A man is playing a guitar.", "A man plays the guitar.", 5.0),
        (
            "A woman is slicing an onion.",
            "A woman is cutting an onion.",
            4.5,
        ),
        ("A dog runs in the park.", "A dog is running on grass.", 3.5),
        (
            "The stock market fell today.",
            "A cat sleeps on the sofa.",
            0.0,
        ),
        ("Kids play football.", "The parliament passed a law.", 0.5),
    ];
    let lines: Vec<String> = pairs
        .iter()
        .map(|(a, b, s)| serde_json::json!({"a": a, "b": b, "score": s}).to_string())
        .collect();
    let file = write(dir.path(), "sts.jsonl", &lines);
    let result = eval(home.path(), &["sts", &file]);
    assert_eq!(result["n"], 5);
    assert!(result["spearman"].as_f64().unwrap() > 0.8, "{result}");
    assert!(result["pearson"].as_f64().unwrap() > 0.8, "{result}");
    assert!(result["seconds"].as_f64().is_some());
}

#[test]
fn retrieval_finds_the_judged_documents() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let docs = [
        (
            "d1",
            "Security guarantees",
            "NATO allies discussed security guarantees for Ukraine.",
        ),
        (
            "d2",
            "Baking",
            "Knead the dough and let it rise for an hour.",
        ),
        ("d3", "Football", "The striker scored twice in the final."),
    ];
    let corpus: Vec<String> = docs
        .iter()
        .map(|(id, title, text)| {
            serde_json::json!({"_id": id, "title": title, "text": text}).to_string()
        })
        .collect();
    write(dir.path(), "corpus.jsonl", &corpus);
    write(
        dir.path(),
        "queries.jsonl",
        &[
            serde_json::json!({"_id": "q1", "text": "guarantees for Kyiv's security"}).to_string(),
            serde_json::json!({"_id": "q2", "text": "how to make bread"}).to_string(),
            serde_json::json!({"_id": "q3", "text": "a query without judgements"}).to_string(),
        ],
    );
    write(
        dir.path(),
        "qrels.tsv",
        &[
            "query-id\tcorpus-id\tscore".into(),
            "q1\td1\t1".into(),
            "q2\td2\t1".into(),
        ],
    );
    let result = eval(home.path(), &["retrieval", dir.path().to_str().unwrap()]);
    assert_eq!(result["n"], 2, "only judged queries count");
    assert_eq!(result["ndcg_at_10"], 1.0);
    assert_eq!(result["recall_at_10"], 1.0);
    assert_eq!(result["mrr_at_10"], 1.0);
}

#[test]
fn clustering_reports_themes_auto_and_baseline() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let topics = [
        (
            "sport",
            [
                "The team won the match",
                "A striker scored a late goal",
                "The coach praised the defence",
                "Fans cheered the champions",
                "The tennis final went to five sets",
                "The runner broke the record",
            ],
        ),
        (
            "food",
            [
                "Knead the dough for ten minutes",
                "Roast the vegetables with olive oil",
                "The soup needs more salt",
                "Bake the cake until golden",
                "Slice the onions thinly",
                "Simmer the sauce for an hour",
            ],
        ),
    ];
    let lines: Vec<String> = topics
        .iter()
        .flat_map(|(label, texts)| {
            texts
                .iter()
                .map(move |t| serde_json::json!({"text": t, "label": label}).to_string())
        })
        .collect();
    let file = write(dir.path(), "labelled.jsonl", &lines);
    let result = eval(home.path(), &["clustering", &file, "--seeds", "3"]);
    assert_eq!(result["n"], 12);
    assert_eq!(result["k"], 2, "k defaults to the number of labels");
    assert!(result["v_measure"].as_f64().unwrap() > 0.7, "{result}");
    assert!(result["ari"].as_f64().is_some());
    assert!(result["auto"]["v_measure"].as_f64().is_some());
    assert_eq!(result["baseline"]["seeds"], 3);
    assert!(
        result["baseline"]["v_measure"].as_f64().unwrap() > 0.3,
        "{result}"
    );
}

#[test]
fn stsb_test_reproduces_the_published_spearman() {
    let Some(file) = shared_or_skip("eval/stsb/test.jsonl") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let result = eval(home.path(), &["sts", file.to_str().unwrap(), "--truncate"]);
    let spearman = result["spearman"].as_f64().unwrap();
    assert!(
        (spearman - 0.82032).abs() <= 0.002,
        "Spearman {spearman}, published 0.82032"
    );
}

#[test]
fn topics_measure_both_levels_and_separate_clear_subjects() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sport = [
        "The team won the match after a late goal",
        "The striker scored a goal in the match",
        "The team lost the match at home",
        "A late goal won the match for the team",
        "The coach said the team played a good match",
        "The match ended with a goal for each team",
    ];
    let food = [
        "Bake the bread in a hot oven",
        "Knead the bread dough before you bake it",
        "The oven must be hot to bake bread",
        "Bake the cake and the bread together",
        "Fresh bread from the oven smells good",
        "Let the bread cool after you bake it",
    ];
    let mut lines: Vec<String> = Vec::new();
    for (label, texts) in [("sport", sport), ("food", food)] {
        for t in texts {
            lines.push(serde_json::json!({"text": t, "label": label}).to_string());
        }
    }
    let file = write(dir.path(), "topics.jsonl", &lines);
    let result = eval(home.path(), &["topics", &file, "-k", "2"]);
    assert_eq!(result["n"], 12);
    let top = &result["top"];
    assert_eq!(top["themes"], 2, "{result}");
    assert_eq!(top["outlier_share"], 0.0);
    assert_eq!(top["v_measure"], 1.0, "two clear subjects: {result}");
    // The subjects share no words: each theme's 25 words are its own (a word said once in
    // 12 texts may repeat, so not exactly 1). NPMI is a mean over pairs of top-10 words,
    // hand-checked in the library's unit tests; here, a valid value.
    assert!(top["diversity"].as_f64().unwrap() > 0.9, "{result}");
    assert!((-1.0..=1.0).contains(&top["npmi"].as_f64().unwrap()));
    // 12 texts: √12 ≈ 3 fine groups over 2 themes, too few to split; the fine level is the top.
    assert_eq!(result["sub"]["themes"], 2, "{result}");
    assert_eq!(result["sub"]["npmi"], top["npmi"]);

    let unlabelled: Vec<String> = sport
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string())
        .collect();
    let file = write(dir.path(), "plain.jsonl", &unlabelled);
    let result = eval(home.path(), &["topics", &file]);
    assert!(
        result["top"]["v_measure"].is_null(),
        "no labels, no V-measure"
    );
}
