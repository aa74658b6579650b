//! Vectors match sentence-transformers' (the Python reference) to cosine ≥ 0.9999.

mod common;

use common::*;
use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use themescope::embed::LongText;

const MIN_COSINE: f32 = 0.9999;

fn read_npy(path: &std::path::Path) -> Array2<f32> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Array2::<f32>::read_npy(file).expect("float32 2-D .npy")
}

fn check(texts: &[String], reference: &Array2<f32>, what: &str) {
    let embedder = real_embedder(LongText::Truncate);
    let got = embedder.embed(texts).unwrap().vectors;
    let (min, at) = min_row_cosine(&got, reference);
    eprintln!(
        "{what}: {} texts, min cosine {min:.8} (text {at})",
        texts.len()
    );
    assert!(
        min >= MIN_COSINE,
        "{what}: text {at} has cosine {min} < {MIN_COSINE}: {:?}",
        texts[at]
    );
}

/// The committed fixture: a dozen texts and their reference vectors, no ../shared needed.
#[test]
fn parity_with_committed_fixture() {
    let dir = project_dir().join("tests/fixtures");
    let texts: Vec<String> = read_jsonl(&dir.join("parity_texts.jsonl"))
        .iter()
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect();
    check(
        &texts,
        &read_npy(&dir.join("parity_vectors.npy")),
        "fixture",
    );
}

/// Every corpus line and every bench text against ../shared/reference (2,083 texts).
#[test]
fn parity_with_shared_reference() {
    let Some(reference) = shared_or_skip("reference") else {
        return;
    };
    let shared = reference.parent().unwrap();
    let seed: Vec<String> = read_jsonl(&shared.join("reference/seed_paragraphs.jsonl"))
        .iter()
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect();
    check(
        &seed,
        &read_npy(&shared.join("reference/seed_embeddings.npy")),
        "seed paragraphs",
    );
    let bench: Vec<String> = read_jsonl(&shared.join("bench/texts-2000.jsonl"))
        .iter()
        .map(|v| v["text"].as_str().unwrap().to_string())
        .collect();
    check(
        &bench,
        &read_npy(&shared.join("reference/texts-2000_embeddings.npy")),
        "texts-2000",
    );
}
