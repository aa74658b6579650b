//! Scheduling through a fake [`Backend`] that records what it is given: batch sizes and token
//! budgets, windows of long texts, and results back in input order. No model, no weights.

mod common;

use std::sync::{Arc, Mutex};

use common::tiny::tiny_tokenizer;
use themescope::embed::{
    Backend, EmbedError, EmbedOptions, Embedder, LongText, PackedBatch, Pooling, SentenceSpec,
    TokenStyle, MAX_BATCH_TOKENS,
};

/// Returns, for each sequence, [its first word's id, its length, the sum of its ids]: enough to
/// tell which text and which window a vector came from.
#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<Vec<u32>>>>,
}

impl Backend for Recorder {
    fn dim(&self) -> usize {
        3
    }

    fn embed(&self, batch: &PackedBatch, _pooling: Pooling) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut sequences = Vec::new();
        let mut offset = 0;
        for &len in &batch.lengths {
            let ids = batch.ids[offset..offset + len].to_vec();
            assert_eq!(
                batch.positions[offset..offset + len],
                (0..len as u32).collect::<Vec<_>>()[..],
                "positions restart at 0 for every sequence"
            );
            offset += len;
            sequences.push(ids);
        }
        let out = sequences
            .iter()
            .map(|ids| {
                vec![
                    ids[1] as f32,
                    ids.len() as f32,
                    ids.iter().map(|&i| i as f32).sum(),
                ]
            })
            .collect();
        self.batches.lock().unwrap().push(sequences);
        Ok(out)
    }
}

const SPEC: SentenceSpec = SentenceSpec {
    max_seq_length: 8,
    pooling: Pooling::Mean,
    normalize: false,
    tokens: TokenStyle::Special,
};

impl Backend for Shared {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, b: &PackedBatch, p: Pooling) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.0.embed(b, p)
    }
}

/// The recorder is shared between the embedder (which owns its backend) and the test.
struct Shared(Arc<Recorder>);

fn embedder(batch_size: usize, long_text: LongText) -> (Embedder, Arc<Recorder>) {
    embedder_with(SPEC, batch_size, long_text)
}

fn embedder_with(
    spec: SentenceSpec,
    batch_size: usize,
    long_text: LongText,
) -> (Embedder, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let options = EmbedOptions {
        batch_size,
        long_text,
        ..EmbedOptions::default()
    };
    let embedder = Embedder::new(
        tiny_tokenizer(),
        Box::new(Shared(recorder.clone())),
        spec,
        options,
    )
    .unwrap();
    (embedder, recorder)
}

fn first_word_id(word: &str) -> f32 {
    common::tiny::WORDS.iter().position(|w| *w == word).unwrap() as f32
}

#[test]
fn rows_come_back_in_input_order_whatever_the_batches() {
    // Lengths differ, so the length-sorted schedule runs them in another order.
    let texts = [
        "security guarantees for ukraine and europe",
        "war",
        "nato talks",
        "the alliance",
        "peace",
    ];
    let (scheduler, recorder) = embedder(2, LongText::Truncate);
    let out = scheduler.embed(&texts).unwrap();
    for (row, text) in texts.iter().enumerate() {
        let first = text.split_whitespace().next().unwrap();
        assert_eq!(
            out.vectors[[row, 0]],
            first_word_id(first),
            "row {row}: {text}"
        );
    }
    let batches = recorder.batches.lock().unwrap();
    assert!(batches.iter().all(|b| b.len() <= 2), "batch size 2 is kept");
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), texts.len());
    // Batches of a wave run side by side, so their record order varies; in length order, they
    // must hold consecutive runs of the length-sorted sequences.
    let mut by_length: Vec<Vec<usize>> = batches
        .iter()
        .map(|b| b.iter().map(Vec::len).collect())
        .collect();
    by_length.sort();
    let lengths: Vec<usize> = by_length.concat();
    let mut sorted = lengths.clone();
    sorted.sort();
    assert_eq!(lengths, sorted, "batches hold neighbours in length order");
    assert_eq!(out.stats.sequences, 5);
}

#[test]
fn a_long_text_is_cut_into_overlapping_windows_and_averaged() {
    // 14 words: [CLS] + 6 + [SEP] fit a window of 8, so 3 windows with an overlap of 3.
    let long = "nato alliance ukraine peace talks security guarantees a of and to in war russia";
    let (scheduler, recorder) = embedder(32, LongText::Window { overlap: 3 });
    let out = scheduler.embed(&[long, "war"]).unwrap();
    let mut windows: Vec<Vec<u32>> = recorder
        .batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .filter(|s| s.len() > 3)
        .cloned()
        .collect();
    // Run shortest first; the words' ids rise along this text, so this is text order.
    windows.sort_by_key(|w| w[1]);
    assert!(windows.len() >= 3, "{windows:?}");
    assert!(windows.iter().all(|w| w.len() <= SPEC.max_seq_length));
    assert!(
        windows.iter().all(|w| w[0] == 2 && *w.last().unwrap() == 3),
        "[CLS] … [SEP]"
    );
    // Consecutive windows share the overlap.
    for pair in windows.windows(2) {
        let tail = &pair[0][pair[0].len() - 4..pair[0].len() - 1];
        assert_eq!(tail, &pair[1][1..4], "{pair:?}");
    }
    let expected_first = windows.iter().map(|w| w[1] as f32).sum::<f32>() / windows.len() as f32;
    assert!(
        (out.vectors[[0, 0]] - expected_first).abs() < 1e-5,
        "the windows' mean"
    );
    assert_eq!(out.vectors[[1, 0]], first_word_id("war"));
    assert_eq!((out.stats.texts, out.stats.long_texts), (2, 1));
    assert_eq!(out.stats.sequences, windows.len() + 1);

    let (cutting, recorder) = embedder(32, LongText::Truncate);
    let cut = cutting.embed(&[long]).unwrap();
    assert_eq!(recorder.batches.lock().unwrap().iter().flatten().count(), 1);
    assert_eq!(cut.vectors[[0, 1]], SPEC.max_seq_length as f32);
}

#[test]
fn a_batch_stops_at_the_token_budget() {
    // 300 texts of 8 tokens: 2,400 tokens, over what a forward pass may take.
    let texts = vec!["nato alliance ukraine peace talks security"; 300];
    let (scheduler, recorder) = embedder(4096, LongText::Truncate);
    scheduler.embed(&texts).unwrap();
    let batches = recorder.batches.lock().unwrap();
    assert!(batches.len() >= 2);
    for batch in batches.iter() {
        let tokens: usize = batch.iter().map(Vec::len).sum();
        assert!(tokens <= MAX_BATCH_TOKENS, "{tokens} tokens in one batch");
    }
}

#[test]
fn plain_sequences_have_no_special_tokens_and_no_unknown_pieces() {
    let spec = SentenceSpec {
        tokens: TokenStyle::Plain,
        ..SPEC
    };
    let (scheduler, recorder) = embedder_with(spec, 32, LongText::Window { overlap: 2 });
    // 12 known words and one unknown: windows of 8 with an overlap of 2.
    let text = "zebra nato alliance ukraine peace talks security guarantees a of and to in";
    scheduler.embed(&[text]).unwrap();
    let mut windows: Vec<Vec<u32>> = recorder.batches.lock().unwrap().concat();
    windows.sort_by_key(|w| w[0]);
    let unknown = common::tiny::WORDS
        .iter()
        .position(|w| *w == "[UNK]")
        .unwrap() as u32;
    let all: Vec<u32> = windows.concat();
    assert!(
        !all.contains(&unknown) && !all.contains(&2) && !all.contains(&3),
        "{windows:?}"
    );
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert_eq!(windows[0].len(), 8);
    assert_eq!(windows[0][6..], windows[1][..2], "the overlap");
    assert_eq!(
        windows[0].len() + windows[1].len() - 2,
        12,
        "every known word once"
    );
}
