//! Fitted static models on a tiny model the tests build: the fit lowers the loss it reports,
//! brings the static model's similarities closer to the teacher's than plain distillation,
//! is byte-identical for a seed, and refuses what it cannot fit.

mod common;

use std::path::Path;

use common::tiny::{tiny_model_dir, Tiny, HIDDEN, WORDS};
use ndarray::Array2;
use themescope::corpus::{Corpus, CorpusOptions};
use themescope::distill::fit::{fit, FitInput, FitOptions, FitSource, Fitted};
use themescope::distill::{distill, DistillError, DistillOptions};
use themescope::embed::{EmbedOptions, Embedder};
use themescope::index::build::FitOverlap;
use themescope::model::files::paragraph_fingerprint;
use themescope::model::ModelDir;
use themescope::{ModelChoice, Options, StaticFitRequest, Themescope};

/// Sentences of the tiny vocabulary's words, a seeded mix of lengths 2 to 9.
fn tiny_texts(count: usize) -> Vec<String> {
    let words: Vec<&str> = WORDS
        .iter()
        .copied()
        .filter(|w| !w.starts_with('[') && !w.starts_with("##"))
        .collect();
    let mut state = 11u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    (0..count)
        .map(|_| {
            let len = 2 + next() % 8;
            (0..len)
                .map(|_| words[next() % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn embed(model: &Path, texts: &[String]) -> Array2<f32> {
    let model = ModelDir::open(model).unwrap();
    Embedder::from_model(&model, EmbedOptions::default())
        .unwrap()
        .embed(texts)
        .unwrap()
        .vectors
}

fn fit_tiny(source: &Path, output: &Path, texts: &[String], seed: u64) -> Fitted {
    let teacher = embed(source, texts);
    fit(
        &ModelDir::open(source).unwrap(),
        output,
        FitInput {
            texts,
            teacher: teacher.view(),
            source: Some(FitSource {
                teacher: "tiny",
                teacher_precision: "f32",
                inputs: &["texts.jsonl".to_string()],
                paragraphs: texts,
                available: texts.len(),
                sentences_only: false,
            }),
        },
        FitOptions {
            dims: HIDDEN,
            seed,
            ..FitOptions::default()
        },
        &mut |_| {},
        None,
    )
    .unwrap()
}

fn write_jsonl(path: &Path, texts: &[String]) {
    let lines: Vec<String> = texts
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string())
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Mean absolute difference between two sets of vectors' pairwise cosines (the vectors may
/// live in rotated spaces: pairwise cosines do not see the rotation).
fn similarity_gap(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    let (sa, sb) = (a.dot(&a.t()), b.dot(&b.t()));
    (&sa - &sb).mapv(f32::abs).mean().unwrap()
}

#[test]
fn a_fit_lowers_its_loss_and_brings_similarities_closer_to_the_teacher() {
    let source = tiny_model_dir(&Tiny::default());
    let work = tempfile::tempdir().unwrap();
    let texts = tiny_texts(300);
    let fitted = fit_tiny(source.path(), &work.path().join("fitted"), &texts, 1);
    assert_eq!((fitted.texts, fitted.held_out), (270, 30), "{fitted:?}");
    assert!(fitted.train.fitted < fitted.train.mapped, "{fitted:?}");
    assert!(
        fitted.held_out_loss.fitted <= fitted.held_out_loss.mapped,
        "{fitted:?}"
    );
    assert!(
        fitted.held_out_loss.fitted < fitted.target_norm,
        "{fitted:?}"
    );
    assert!(fitted.best_round > 0, "{fitted:?}");

    distill(
        &ModelDir::open(source.path()).unwrap(),
        &work.path().join("plain"),
        DistillOptions {
            dims: HIDDEN,
            ..DistillOptions::default()
        },
        false,
        &mut |_, _| {},
        None,
    )
    .unwrap();
    let teacher = embed(source.path(), &texts);
    let fitted_gap = similarity_gap(&embed(&work.path().join("fitted"), &texts), &teacher);
    let plain_gap = similarity_gap(&embed(&work.path().join("plain"), &texts), &teacher);
    assert!(
        fitted_gap < plain_gap * 0.8,
        "pairwise cosine gap to the teacher: fitted {fitted_gap}, plain {plain_gap}"
    );
}

#[test]
fn a_fit_is_byte_identical_for_a_seed_and_refuses_too_few_texts() {
    let source = tiny_model_dir(&Tiny::default());
    let work = tempfile::tempdir().unwrap();
    let texts = tiny_texts(120);
    let weights =
        |name: &str| std::fs::read(work.path().join(name).join("model.safetensors")).unwrap();
    fit_tiny(source.path(), &work.path().join("a"), &texts, 7);
    fit_tiny(source.path(), &work.path().join("b"), &texts, 7);
    fit_tiny(source.path(), &work.path().join("c"), &texts, 8);
    assert_eq!(weights("a"), weights("b"));
    assert_ne!(
        weights("a"),
        weights("c"),
        "another seed holds out other texts"
    );

    let few = tiny_texts(10);
    let teacher = embed(source.path(), &few);
    let refused = fit(
        &ModelDir::open(source.path()).unwrap(),
        &work.path().join("few"),
        FitInput {
            texts: &few,
            teacher: teacher.view(),
            source: None,
        },
        FitOptions {
            dims: HIDDEN,
            ..FitOptions::default()
        },
        &mut |_| {},
        None,
    );
    assert!(
        matches!(refused, Err(DistillError::TooFewTexts { got: 10, .. })),
        "{refused:?}"
    );
    assert!(!work.path().join("few").exists());
}

/// A fitted model records what it was fitted on, and an index built with it says whether the
/// corpus it reads is that one: all of the sampled fitting paragraphs found in the same
/// corpus (those the index leaves out too), none in another.
#[test]
fn an_index_built_with_a_fitted_model_says_whether_it_was_fitted_on_this_corpus() {
    let source = tiny_model_dir(&Tiny::default());
    let work = tempfile::tempdir().unwrap();
    let (own, other) = (
        work.path().join("own.jsonl"),
        work.path().join("other.jsonl"),
    );
    let texts = tiny_texts(200);
    write_jsonl(&own, &texts);
    let doubled: Vec<String> = texts.iter().map(|t| format!("{t} {t} again")).collect();
    write_jsonl(&other, &doubled);
    // Through the front door, as `model distill --fit` runs it: a seeded sample of 150 of the
    // 200 records, and the sentences of those of several.
    let teacher = Themescope::try_new(Options {
        model: ModelChoice::Given(source.path().display().to_string()),
        cache: false,
        ..Options::default()
    })
    .unwrap();
    let fitted = work.path().join("fitted");
    let report = teacher
        .fit_static_model(
            &fitted,
            StaticFitRequest {
                inputs: std::slice::from_ref(&own),
                rows: 150,
                units: themescope::FitUnits::Both,
                options: FitOptions {
                    dims: HIDDEN,
                    seed: 3,
                    ..FitOptions::default()
                },
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!((report.paragraphs, report.available), (150, 200));
    let paragraphs: Vec<String> = Corpus::load(&[&own], CorpusOptions::default())
        .unwrap()
        .paragraphs
        .into_iter()
        .map(|p| p.text)
        .collect();
    let model = ModelDir::open(&fitted).unwrap();
    let record = model.fit_record().expect("fit.json is read").clone();
    assert_eq!((record.paragraphs, record.available), (150, 200));
    assert_eq!(record.teacher, teacher.model().name);
    assert_eq!(record.teacher_precision, "f32");
    assert!(!record.sample.is_empty() && record.sample.len() <= 150);
    let corpus: Vec<String> = paragraphs
        .iter()
        .map(|p| paragraph_fingerprint(p))
        .collect();
    assert!(record.sample.iter().all(|f| corpus.contains(f)));

    let scope = Themescope::try_new(Options {
        model: ModelChoice::Given(fitted.display().to_string()),
        cache: false,
        ..Options::default()
    })
    .unwrap();
    // The index leaves out records of under five words, which the fit kept: the overlap
    // counts every paragraph read.
    let overlap = |corpus: &Path, index: &str| {
        let report = scope
            .build_index(
                &work.path().join(index),
                &[corpus],
                CorpusOptions {
                    keep_records: false,
                    ..CorpusOptions::default()
                },
                64,
                &mut |_, _| {},
            )
            .unwrap();
        (report.fit_overlap, report.boilerplate)
    };
    let sampled = record.sample.len();
    let (own_overlap, left_out) = overlap(&own, "own");
    assert!(left_out > 0, "some records are fragments to the index");
    assert_eq!(
        own_overlap,
        Some(FitOverlap {
            sampled,
            found: sampled
        })
    );
    assert_eq!(
        overlap(&other, "other").0,
        Some(FitOverlap { sampled, found: 0 })
    );
}
