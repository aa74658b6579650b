//! Loading, pooling and scheduling on a tiny model the test builds: no network, milliseconds.

mod common;

use common::tiny::{tiny_model_dir, Tiny};
use themescope::embed::{cosine, EmbedOptions, Embedder, LongText, Pooling, Precision};
use themescope::model::{ModelDir, ModelError};

fn embedder(tiny: &Tiny, options: EmbedOptions) -> (tempfile::TempDir, Embedder) {
    let dir = tiny_model_dir(tiny);
    let model = ModelDir::open(dir.path()).unwrap();
    let embedder = Embedder::from_model(&model, options).unwrap();
    (dir, embedder)
}

const TEXTS: [&str; 5] = [
    "nato talks",
    "security guarantees for ukraine and europe",
    "the alliance",
    "a seat at the table in the peace talks of russia and ukraine",
    "war",
];

#[test]
fn reads_pooling_normalisation_and_length_from_the_model_files() {
    for (name, pooling) in [
        ("mean", Pooling::Mean),
        ("cls", Pooling::Cls),
        ("max", Pooling::Max),
    ] {
        let dir = tiny_model_dir(&Tiny {
            pooling: name,
            normalize: false,
            max_seq_length: 20,
            ..Tiny::default()
        });
        let model = ModelDir::open(dir.path()).unwrap();
        assert_eq!(model.spec.pooling, pooling);
        assert!(!model.spec.normalize);
        assert_eq!(model.spec.max_seq_length, 20);
    }
    let dir = tiny_model_dir(&Tiny::default());
    assert!(ModelDir::open(dir.path()).unwrap().spec.normalize);
}

#[test]
fn pooling_modes_give_different_vectors_and_normalisation_gives_unit_length() {
    let options = EmbedOptions::default();
    let vector = |pooling, normalize| {
        let (_dir, e) = embedder(
            &Tiny {
                pooling,
                normalize,
                ..Tiny::default()
            },
            options,
        );
        e.embed_one(TEXTS[1]).unwrap()
    };
    let mean = vector("mean", false);
    let cls = vector("cls", false);
    let max = vector("max", false);
    assert!(cosine(&mean, &cls) < 0.999 && cosine(&mean, &max) < 0.999);
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm(&vector("mean", true)) - 1.0).abs() < 1e-5);
    assert!(
        (norm(&mean) - 1.0).abs() > 1e-3,
        "without a Normalize module vectors keep their length"
    );
}

#[test]
fn batch_result_equals_single_result_in_input_order() {
    let (_dir, e) = embedder(
        &Tiny::default(),
        EmbedOptions {
            batch_size: 3,
            ..EmbedOptions::default()
        },
    );
    let batch = e.embed(&TEXTS).unwrap();
    assert_eq!(batch.vectors.nrows(), TEXTS.len());
    for (i, text) in TEXTS.iter().enumerate() {
        let alone = e.embed_one(text).unwrap();
        let c = cosine(batch.vectors.row(i).as_slice().unwrap(), &alone);
        assert!(c > 0.99999, "text {i}: batch vs alone cosine {c}");
    }
    let reversed: Vec<&str> = TEXTS.iter().rev().copied().collect();
    let back = e.embed(&reversed).unwrap();
    for i in 0..TEXTS.len() {
        let c = cosine(
            batch.vectors.row(i).as_slice().unwrap(),
            back.vectors.row(TEXTS.len() - 1 - i).as_slice().unwrap(),
        );
        assert!(c > 0.99999);
    }
}

#[test]
fn a_batch_of_many_tokens_gives_each_text_the_bits_it_gets_alone() {
    // Past 48 tokens a batch runs each layer's dense tail fused per task of rows, one text alone
    // runs it layer by layer: the two must agree to the bit, in f32 and in int8.
    let texts: Vec<String> = (0..12)
        .map(|i| {
            format!(
                "{} {}",
                TEXTS[i % TEXTS.len()],
                TEXTS[(i * 3 + 1) % TEXTS.len()]
            )
        })
        .collect();
    for precision in [Precision::F32, Precision::Int8] {
        let (_dir, e) = embedder(
            &Tiny::default(),
            EmbedOptions {
                batch_size: 12,
                precision,
                ..EmbedOptions::default()
            },
        );
        let batch = e.embed(&texts).unwrap();
        assert!(batch.stats.tokens > 2 * 48, "{} tokens", batch.stats.tokens);
        for (i, text) in texts.iter().enumerate() {
            let alone = e.embed_one(text).unwrap();
            assert_eq!(
                batch.vectors.row(i).as_slice().unwrap(),
                &alone[..],
                "{precision:?}, text {i}"
            );
        }
    }
}

#[test]
fn long_texts_are_windowed_by_default_and_cut_with_truncate() {
    let tiny = Tiny {
        max_seq_length: 8,
        ..Tiny::default()
    };
    let long = "nato talks in europe and the war of russia and ukraine and security guarantees for the alliance";
    let (_d1, windowed) = embedder(
        &tiny,
        EmbedOptions {
            batch_size: 4,
            long_text: LongText::Window { overlap: 2 },
            ..EmbedOptions::default()
        },
    );
    let (_d2, truncating) = embedder(
        &tiny,
        EmbedOptions {
            batch_size: 4,
            long_text: LongText::Truncate,
            ..EmbedOptions::default()
        },
    );
    let w = windowed.embed(&[long, "war"]).unwrap();
    assert_eq!(w.stats.long_texts, 1);
    // 17 word pieces, windows of 6 overlapping by 2: 0..6, 4..10, 8..14, 12..17; plus "war".
    assert_eq!(w.stats.sequences, 5, "{:?}", w.stats);
    let t = truncating.embed(&[long, "war"]).unwrap();
    assert_eq!((t.stats.long_texts, t.stats.sequences), (1, 2));
    // Truncation keeps the first 6 word pieces: the same as embedding them alone.
    let head = truncating
        .embed_one("nato talks in europe and the")
        .unwrap();
    let c = cosine(t.vectors.row(0).as_slice().unwrap(), &head);
    assert!(c > 0.99999, "truncated vs head: {c}");
    assert!(cosine(w.vectors.row(0).as_slice().unwrap(), &head) < 0.9999);
}

#[test]
fn progress_counts_every_sequence() {
    let (_dir, e) = embedder(
        &Tiny::default(),
        EmbedOptions {
            batch_size: 2,
            ..EmbedOptions::default()
        },
    );
    let mut calls = Vec::new();
    e.embed_with_progress(&TEXTS, &mut |done, total| calls.push((done, total)))
        .unwrap();
    assert_eq!(calls.last(), Some(&(5, 5)));
    // Batches run side by side, one per thread: a call per round of them.
    let rounds = 3usize.div_ceil(rayon::current_num_threads());
    assert_eq!(calls.len(), rounds, "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
}

#[test]
fn missing_and_broken_files_are_named() {
    let dir = tiny_model_dir(&Tiny::default());
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = ModelDir::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, ModelError::MissingFile { path, .. } if path.ends_with("tokenizer.json")),
        "{err}"
    );

    let dir = tiny_model_dir(&Tiny::default());
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let err = ModelDir::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, ModelError::Parse { path, .. } if path.ends_with("config.json")),
        "{err}"
    );

    let err = ModelDir::open(std::path::Path::new("/no/such/model")).unwrap_err();
    assert!(matches!(err, ModelError::MissingDir(_)));
}

#[test]
fn tokenizer_of_another_vocabulary_is_refused() {
    let dir = tiny_model_dir(&Tiny::default());
    let model = ModelDir::open(dir.path()).unwrap();
    assert!(model.check_vocabulary(common::tiny::WORDS.len()).is_ok());
    let err = model.check_vocabulary(30522).unwrap_err();
    assert!(
        matches!(&err, ModelError::Invalid { path, .. } if path.ends_with("tokenizer.json")),
        "{err}"
    );
}
