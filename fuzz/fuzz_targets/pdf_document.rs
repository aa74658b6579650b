//! Any bytes as a `.pdf` file: the loader reads them, or skips them with one warning, without
//! a panic, a hang or a stack overflow; every paragraph it gives is trimmed text placed on a
//! page that exists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use themescope::corpus::{Corpus, CorpusOptions, DocFormat};

fuzz_target!(|bytes: &[u8]| {
    let options = CorpusOptions {
        keep_all: true,
        ..CorpusOptions::default()
    };
    let mut corpus = Corpus::default();
    corpus
        .add_document("report.pdf", bytes, DocFormat::Pdf, options)
        .expect("a PDF never fails to load: it is read or skipped with a warning");
    let skipped = corpus.warnings.iter().filter(|w| w.skips_file()).count();
    assert!(skipped <= 1 && (skipped == 0 || corpus.paragraphs.is_empty()));
    for p in &corpus.paragraphs {
        assert!(!p.text.is_empty() && p.text.trim() == p.text, "{:?}", p.text);
        assert!(p.page.is_some_and(|page| page >= 1) && p.line >= 1, "{p:?}");
    }
});
