//! A whole document through the corpus loader (binary check, UTF-8 repair, BOM, JSONL records,
//! paragraph cut, ids): no panic; a JSONL error names the document and a real line; ids unique.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use themescope::corpus::{Corpus, CorpusOptions, DocFormat};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let format = match flags % 3 {
        0 => DocFormat::Text,
        1 => DocFormat::Markdown,
        _ => DocFormat::Jsonl,
    };
    let options = CorpusOptions {
        min_words: usize::from(flags >> 6),
        keep_all: flags & 4 == 4,
        max_chars: if flags & 8 == 8 { 40 } else { 100_000 },
    };
    let mut corpus = Corpus::default();
    // Twice, as two files of one corpus, so that ids given in one collide with the other's.
    for name in ["fuzz.jsonl", "other.jsonl"] {
        match corpus.add_document(name, bytes, format, options) {
            Ok(()) => {}
            Err(e) => {
                let message = e.to_string();
                assert!(message.starts_with(&format!("{name}:")), "{message}");
                return;
            }
        }
    }
    let mut ids = HashSet::new();
    for p in corpus.paragraphs.iter().chain(&corpus.skipped) {
        assert!(ids.insert(p.id.as_str()), "id {} twice", p.id);
        assert!(p.text.chars().count() <= options.max_chars);
    }
});
