//! Static models: distillation on a tiny model the test builds (files, determinism, what a
//! vector is), and on the real model end to end — the CLI, model2vec (Python) loading the
//! result and agreeing with themescope, and the sample corpus' themes still apart.

mod common;

use std::path::Path;

use common::tiny::{tiny_model_dir, Tiny, WORDS};
use common::*;
use themescope::distill::{distill, DistillError, DistillOptions};
use themescope::embed::{cosine, EmbedOptions, Embedder, TokenStyle};
use themescope::model::{Architecture, ModelDir};

fn tiny_distilled(dims: usize) -> (tempfile::TempDir, tempfile::TempDir) {
    let source = tiny_model_dir(&Tiny::default());
    let out = distilled_from(source.path(), dims);
    (source, out)
}

fn distilled_from(source: &Path, dims: usize) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let model = ModelDir::open(source).unwrap();
    let options = DistillOptions {
        dims,
        ..DistillOptions::default()
    };
    distill(
        &model,
        &out.path().join("static"),
        options,
        false,
        &mut |_, _| {},
        None,
    )
    .unwrap();
    out
}

fn table(dir: &Path) -> Vec<Vec<f32>> {
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    tensors["embeddings"].to_vec2::<f32>().unwrap()
}

#[test]
fn a_distilled_tiny_model_loads_as_static_and_averages_its_tokens() {
    let (_source, out) = tiny_distilled(4);
    let dir = out.path().join("static");
    let model = ModelDir::open(&dir).unwrap();
    assert!(matches!(
        model.architecture,
        Architecture::Static {
            tokens: 24,
            dim: 4,
            ..
        }
    ));
    assert_eq!(model.spec.tokens, TokenStyle::Plain);
    assert!(model.spec.normalize);

    let rows = table(&dir);
    assert_eq!((rows.len(), rows[0].len()), (24, 4));
    let id = |w: &str| WORDS.iter().position(|x| *x == w).unwrap();
    for special in ["[UNK]", "[CLS]", "[SEP]"] {
        assert!(rows[id(special)].iter().all(|&x| x == 0.0), "{special}");
    }
    let embedder = Embedder::from_model(&model, EmbedOptions::default()).unwrap();
    let got = embedder.embed_one("nato talks").unwrap();
    let mut expected: Vec<f32> = rows[id("nato")]
        .iter()
        .zip(&rows[id("talks")])
        .map(|(a, b)| (a + b) / 2.0)
        .collect();
    themescope::embed::normalize(&mut expected);
    assert!(cosine(&got, &expected) > 0.99999, "{got:?} vs {expected:?}");
    // Unknown pieces are dropped, as model2vec does; no special tokens are added.
    assert_eq!(embedder.embed_one("zebra nato talks").unwrap(), got);
    // Nothing known: a zero vector.
    assert!(embedder
        .embed_one("zebra")
        .unwrap()
        .iter()
        .all(|&x| x == 0.0));
}

#[test]
fn distillation_is_deterministic_and_refuses_what_it_cannot_do() {
    let (source, first) = tiny_distilled(4);
    let second = distilled_from(source.path(), 4);
    for file in ["model.safetensors", "config.json", "tokenizer.json"] {
        assert_eq!(
            std::fs::read(first.path().join("static").join(file)).unwrap(),
            std::fs::read(second.path().join("static").join(file)).unwrap(),
            "{file} is byte-identical"
        );
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.path().join("static/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], "model2vec");
    assert_eq!(config["hidden_dim"], 4);
    let tokenizer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.path().join("static/tokenizer.json")).unwrap())
            .unwrap();
    assert!(tokenizer["padding"].is_null() && tokenizer["truncation"].is_null());

    let model = ModelDir::open(source.path()).unwrap();
    let target = first.path().join("static");
    let options = DistillOptions::default();
    let again = distill(
        &model,
        &target,
        DistillOptions { dims: 4, ..options },
        false,
        &mut |_, _| {},
        None,
    );
    assert!(matches!(again, Err(DistillError::Exists { .. })));
    let too_wide = distill(
        &model,
        &first.path().join("wide"),
        DistillOptions {
            dims: 17,
            ..options
        },
        false,
        &mut |_, _| {},
        None,
    );
    assert!(matches!(
        too_wide,
        Err(DistillError::TooManyDims {
            dims: 17,
            hidden: 16
        })
    ));
    assert!(
        !first.path().join("wide").exists(),
        "nothing written on refusal"
    );
    let static_model = ModelDir::open(&target).unwrap();
    let twice = distill(
        &static_model,
        &first.path().join("x"),
        options,
        false,
        &mut |_, _| {},
        None,
    );
    assert!(matches!(twice, Err(DistillError::NotATransformer(_))));
}

#[test]
fn a_tokenizer_that_pads_distils_to_the_same_model() {
    // all-MiniLM-L6-v2's tokenizer.json pads every encoding to 128 tokens: distillation must
    // frame each token as `[CLS] token [SEP]`, not as 128 tokens of padding.
    let (_plain_source, plain) = tiny_distilled(4);
    let padded_source = tiny_model_dir(&Tiny::default());
    let path = padded_source.path().join("tokenizer.json");
    let mut tokenizer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    tokenizer["padding"] = serde_json::json!({
        "strategy": {"Fixed": 16}, "direction": "Right", "pad_to_multiple_of": null,
        "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"
    });
    std::fs::write(&path, tokenizer.to_string()).unwrap();
    let out = distilled_from(padded_source.path(), 4);
    for file in ["model.safetensors", "tokenizer.json"] {
        assert_eq!(
            std::fs::read(plain.path().join("static").join(file)).unwrap(),
            std::fs::read(out.path().join("static").join(file)).unwrap(),
            "{file}"
        );
    }
}

/// The real model distilled into the store of a private THEMESCOPE_HOME, through the
/// command line as a user would (the source given by path: this home's store is empty).
fn real_static(home: &Path) -> std::path::PathBuf {
    Outcome::of(themescope(home).args([
        "model",
        "distill",
        real_model().path.to_str().unwrap(),
        "--output",
        "minilm-static",
        "-q",
    ]))
    .ok();
    home.join("models/minilm-static")
}

#[test]
fn the_real_distilled_model_agrees_with_model2vec_and_search_tells_subjects_apart() {
    let home = tempfile::tempdir().unwrap();
    let dir = real_static(home.path());
    let listed = Outcome::of(themescope(home.path()).args(["model", "list"])).ok();
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("minilm-static") && l.contains("static")),
        "{}",
        listed.stdout
    );

    // themescope's vectors for every corpus line, by store name.
    let texts: Vec<String> = themescope::Corpus::load(
        &[project_dir().join("data/nato-ukraine")],
        themescope::CorpusOptions {
            keep_all: true,
            min_words: 0,
            ..Default::default()
        },
    )
    .unwrap()
    .paragraphs
    .into_iter()
    .map(|p| p.text)
    .collect();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("texts.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let ours = work.path().join("ours.npy");
    Outcome::of(themescope(home.path()).args([
        "--model",
        "minilm-static",
        "--truncate",
        "-q",
        "embed",
        input.to_str().unwrap(),
        "-o",
        ours.to_str().unwrap(),
    ]))
    .ok();
    let ours: ndarray::Array2<f32> = ndarray_npy::read_npy(&ours).unwrap();
    assert_eq!(ours.dim(), (texts.len(), 256));

    if let Some(python) = model2vec_python() {
        let theirs = work.path().join("theirs.npy");
        let status = std::process::Command::new(python)
            .arg("-c")
            .arg(MODEL2VEC_SCRIPT)
            .args([&dir, &input, &theirs])
            .status()
            .unwrap();
        assert!(status.success(), "model2vec loads the distilled model");
        let theirs: ndarray::Array2<f32> = ndarray_npy::read_npy(&theirs).unwrap();
        let (worst, row) = min_row_cosine(&ours, &theirs);
        eprintln!(
            "model2vec vs themescope: min cosine {worst:.7} over {} texts",
            texts.len()
        );
        assert!(worst >= 0.9999, "row {row}: cosine {worst}: {}", texts[row]);
    }

    // Search with the static model still tells security guarantees from exclusion. (Its
    // themes do not keep them apart: README "Static models".)
    let nearest = |query: &str| -> String {
        let out = Outcome::of(themescope(home.path()).args([
            "--model",
            "minilm-static",
            "-q",
            "nearest",
            query,
            "data/nato-ukraine",
            "-k",
            "1",
            "--json",
        ]))
        .ok();
        let hits: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        hits[0]["id"].as_str().unwrap().to_string()
    };
    assert!(nearest("security guarantees for Ukraine").ends_with("001_f3dada96465da5af.txt:9"));
    assert!(
        nearest("Europe is left out of the peace talks").ends_with("004_82e8b515326dff73.txt:5")
    );
}

const MODEL2VEC_SCRIPT: &str = r#"
import json, sys
import numpy as np
from model2vec import StaticModel
model = StaticModel.from_pretrained(sys.argv[1])
texts = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8") if line.strip()]
np.save(sys.argv[3], model.encode(texts).astype(np.float32))
"#;

/// A Python with model2vec (see [`python_with`]).
fn model2vec_python() -> Option<std::path::PathBuf> {
    python_with(
        "themescope-test-model2vec-0.10.0",
        "model2vec==0.10.0",
        "model2vec",
    )
}

#[test]
fn an_interrupted_distillation_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let child = themescope(home.path())
        .args([
            "model",
            "distill",
            real_model().path.to_str().unwrap(),
            "--output",
            "half",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Loading takes a fraction of a second; encoding the vocabulary takes seconds.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let models = home.path().join("models");
    let left: Vec<_> = std::fs::read_dir(&models)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left in the store: {left:?}");
}

/// STS-B Spearman of a model through `eval sts --json`.
fn sts_spearman(home: &Path, model: &str, pairs: &Path) -> f64 {
    let out = Outcome::of(themescope(home).args([
        "--model",
        model,
        "-q",
        "eval",
        "sts",
        pairs.to_str().unwrap(),
        "--json",
    ]))
    .ok();
    out.json()["spearman"].as_f64().unwrap()
}

#[test]
fn a_model_fitted_on_public_text_beats_plain_distillation_and_model2vec_loads_it() {
    let (Some(fit_on), Some(stsb)) = (
        shared_or_skip("eval/mini_newsgroups/docs.jsonl"),
        shared_or_skip("eval/stsb/test.jsonl"),
    ) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    real_static(home.path());
    let fitted = Outcome::of(themescope(home.path()).args([
        "model",
        "distill",
        real_model().path.to_str().unwrap(),
        "--output",
        "minilm-fitted",
        "--fit",
        fit_on.to_str().unwrap(),
        "--fit-rows",
        "400",
        "-q",
    ]))
    .ok();
    assert!(
        fitted.stdout.contains("from 400 of 2000 paragraphs"),
        "{}",
        fitted.stdout
    );
    // An index of the corpus it was fitted on says so.
    let index = home.path().join("newsgroups-index");
    let built = Outcome::of(themescope(home.path()).args([
        "--model",
        "minilm-fitted",
        "index",
        "build",
        fit_on.to_str().unwrap(),
        "--index",
        index.to_str().unwrap(),
    ]))
    .ok();
    assert!(
        built.stderr.contains(
            "minilm-fitted was fitted on a sample of this corpus (400 of 2000 paragraphs"
        ),
        "{}",
        built.stderr
    );
    let plain = sts_spearman(home.path(), "minilm-static", &stsb);
    let fitted = sts_spearman(home.path(), "minilm-fitted", &stsb);
    eprintln!("STS-B Spearman: plain {plain:.4}, fitted on 400 newsgroup posts {fitted:.4}");
    assert!(fitted > plain + 0.02, "plain {plain}, fitted {fitted}");

    if let Some(python) = model2vec_python() {
        let work = tempfile::tempdir().unwrap();
        let input = work.path().join("texts.jsonl");
        let texts = [
            "security guarantees for Ukraine",
            "the alliance meets in Brussels",
        ];
        let lines: Vec<String> = texts
            .iter()
            .map(|t| serde_json::json!({ "text": t }).to_string())
            .collect();
        std::fs::write(&input, lines.join("\n")).unwrap();
        let (ours, theirs) = (work.path().join("ours.npy"), work.path().join("theirs.npy"));
        Outcome::of(themescope(home.path()).args([
            "--model",
            "minilm-fitted",
            "-q",
            "embed",
            input.to_str().unwrap(),
            "-o",
            ours.to_str().unwrap(),
        ]))
        .ok();
        let status = std::process::Command::new(python)
            .arg("-c")
            .arg(MODEL2VEC_SCRIPT)
            .args([&home.path().join("models/minilm-fitted"), &input, &theirs])
            .status()
            .unwrap();
        assert!(status.success(), "model2vec loads the fitted model");
        let ours: ndarray::Array2<f32> = ndarray_npy::read_npy(&ours).unwrap();
        let theirs: ndarray::Array2<f32> = ndarray_npy::read_npy(&theirs).unwrap();
        let (worst, row) = min_row_cosine(&ours, &theirs);
        assert!(worst >= 0.9999, "row {row}: cosine {worst}");
    }
}
