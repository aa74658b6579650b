//! The `themescope` command end to end on the real model and the bundled corpus.

mod common;

use std::process::{Command, Output};

use common::*;

struct Run {
    home: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = themescope_with_real_model(self.home.path());
        cmd.args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "themescope {args:?} failed: {stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    }
}

fn ids(json: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn nearest_finds_the_security_guarantee_lines() {
    let run = Run::new();
    let (out, _) = run.ok(&[
        "nearest",
        "security guarantees for Ukraine",
        "data/nato-ukraine",
        "-k",
        "3",
        "--json",
    ]);
    let got = ids(&out);
    assert_eq!(got.len(), 3);
    for expected in ["001_f3dada96465da5af.txt:9", "001_f3dada96465da5af.txt:12"] {
        assert!(
            got.iter().any(|id| id.ends_with(expected)),
            "{expected} not in {got:?}"
        );
    }
    let records: serde_json::Value = serde_json::from_str(&out).unwrap();
    for r in records.as_array().unwrap() {
        assert!(r["text"].as_str().unwrap().contains("Ukraine"));
        assert!(r["score"].as_f64().unwrap() > 0.5);
        assert!(r["doc"].as_str().unwrap().starts_with("data/nato-ukraine/"));
        assert!(r["line"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn nearest_finds_the_lines_about_being_sidelined() {
    let run = Run::new();
    let (out, _) = run.ok(&[
        "nearest",
        "NATO was left out of the negotiations",
        "data/nato-ukraine",
        "-k",
        "4",
        "--json",
    ]);
    let got = ids(&out);
    assert!(got[0].ends_with("003_d305286b2117babc.txt:4"), "{got:?}");
    assert!(
        got.iter()
            .any(|id| id.ends_with("004_82e8b515326dff73.txt:5")),
        "{got:?}"
    );
}

#[test]
fn second_run_takes_the_corpus_from_the_cache() {
    let run = Run::new();
    let args = ["nearest", "peace plan", "data/nato-ukraine", "-k", "2"];
    let (first_out, first_err) = run.ok(&args);
    assert!(!first_err.contains("from cache"), "{first_err}");
    let (second_out, second_err) = run.ok(&args);
    assert!(second_err.contains("66 from cache"), "{second_err}");
    assert_eq!(first_out, second_out);
}

#[test]
fn boilerplate_is_left_out_unless_kept() {
    let run = Run::new();
    let (out, err) = run.ok(&["embed", "data/nato-ukraine", "--format", "jsonl"]);
    assert!(err.contains("17 skipped as boilerplate"), "{err}");
    let texts: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(texts.len(), 66);
    for bad in [
        "Report spelling error:",
        "Editor Dmitry Sudakov",
        "Explore more",
        "British News Agency",
    ] {
        assert!(texts.iter().all(|r| r["text"] != bad), "{bad} was kept");
    }
    let (out, err) = run.ok(&[
        "embed",
        "data/nato-ukraine",
        "--format",
        "jsonl",
        "--keep-all",
    ]);
    assert!(err.contains("0 skipped"), "{err}");
    assert_eq!(out.lines().count(), 83);
}

#[test]
fn embed_writes_npy_and_sidecar_and_never_clobbers() {
    let run = Run::new();
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("vectors.npy");
    let npy_arg = npy.to_str().unwrap();
    run.ok(&["embed", "data/nato-ukraine", "--output", npy_arg]);
    let matrix: ndarray::Array2<f32> =
        ndarray_npy::ReadNpyExt::read_npy(std::fs::File::open(&npy).unwrap()).unwrap();
    assert_eq!(matrix.dim(), (66, 384));
    let sidecar = std::fs::read_to_string(dir.path().join("vectors.ids.jsonl")).unwrap();
    assert_eq!(sidecar.lines().count(), 66);
    let first: serde_json::Value = serde_json::from_str(sidecar.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "data/nato-ukraine/000_7c95b485b20482af.txt:1");
    assert_eq!(first["kind"], "title");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&npy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "an ordinary file, not a private temporary one");
    }
    let before = std::fs::read(&npy).unwrap();
    let out = run.run(&["embed", "data/nato-ukraine", "--output", npy_arg]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1);
    assert_eq!(std::fs::read(&npy).unwrap(), before);
    run.ok(&["embed", "data/nato-ukraine", "--output", npy_arg, "--force"]);
}

#[test]
fn jsonl_vectors_are_unit_length_and_match_the_library() {
    let run = Run::new();
    let (out, _) = run.ok(&[
        "embed",
        "data/nato-ukraine/000_7c95b485b20482af.txt",
        "--format",
        "jsonl",
    ]);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let vector: Vec<f32> = first["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(vector.len(), 384);
    let expected = real_embedder(themescope::embed::LongText::default())
        .embed_one(first["text"].as_str().unwrap())
        .unwrap();
    assert!(themescope::embed::cosine(&vector, &expected) > 0.99999);
}

#[test]
fn similarity_of_two_texts_and_of_documents() {
    let run = Run::new();
    let score =
        |a: &str, b: &str| -> f32 { run.ok(&["similarity", a, b]).0.trim().parse().unwrap() };
    let close = score(
        "NATO wants a seat at the table",
        "The alliance demands a say in the peace talks",
    );
    let far = score(
        "NATO wants a seat at the table",
        "The recipe needs two cups of flour",
    );
    assert!(close > far + 0.2, "close {close}, far {far}");

    let (out, _) = run.ok(&["similarity", "--matrix", "data/nato-ukraine", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let matrix = report["matrix"].as_array().unwrap();
    assert_eq!(report["documents"].as_array().unwrap().len(), 5);
    for (i, row) in matrix.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 5);
        assert!((row[i].as_f64().unwrap() - 1.0).abs() < 1e-3);
        assert!(
            row.iter().all(|x| x.as_f64().unwrap() > 0.3),
            "documents on one subject are alike"
        );
    }
}

#[test]
fn embed_writes_one_row_per_jsonl_record_in_order() {
    let run = Run::new();
    let dir = tempfile::tempdir().unwrap();
    let records = [
        "READ MORE: NATO allies met in Brussels on Wednesday to agree how Europe would back Ukraine after a ceasefire.",
        "Advertisement",
        "Too short.",
        "Rutte said the alliance would handle any NATO issue separately.",
    ];
    let input = dir.path().join("passages.jsonl");
    let lines: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, text)| serde_json::json!({ "id": format!("r{i}"), "text": text }).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let npy = dir.path().join("v.npy");
    run.ok(&[
        "embed",
        input.to_str().unwrap(),
        "-o",
        npy.to_str().unwrap(),
    ]);
    let matrix: ndarray::Array2<f32> =
        ndarray_npy::ReadNpyExt::read_npy(std::fs::File::open(&npy).unwrap()).unwrap();
    assert_eq!(matrix.nrows(), records.len(), "one row per record");
    let sidecar = std::fs::read_to_string(dir.path().join("v.ids.jsonl")).unwrap();
    assert_eq!(
        ids(&format!(
            "[{}]",
            sidecar.lines().collect::<Vec<_>>().join(",")
        )),
        ["r0", "r1", "r2", "r3"]
    );
    // Each row is its record's text as given, marker and all.
    let embedder = real_embedder(themescope::embed::LongText::default());
    for (row, text) in records.iter().enumerate() {
        let expected = embedder.embed_one(text).unwrap();
        let got = matrix.row(row).to_vec();
        assert!(
            themescope::embed::cosine(&got, &expected) > 0.99999,
            "row {row}"
        );
    }

    // Search filters records like text paragraphs, strips the marker, and says so.
    let (out, err) = run.ok(&[
        "nearest",
        "Europe backs Ukraine",
        input.to_str().unwrap(),
        "-k",
        "1",
    ]);
    assert!(
        err.contains("2 paragraphs") && err.contains("2 skipped"),
        "{err}"
    );
    assert!(
        out.contains("NATO allies met in Brussels") && !out.contains("READ MORE"),
        "{out}"
    );
}
