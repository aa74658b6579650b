//! Any bytes as an `.html` file: the loader reads them as a page without a panic, a hang or
//! a stack overflow, and every paragraph it gives is text with no folding white space at its
//! ends (a no-break space is text).
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
        .add_document("page.html", bytes, DocFormat::Html, options)
        .expect("an HTML page never fails to load");
    let folds = |c: char| c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}');
    for p in &corpus.paragraphs {
        assert!(
            !p.text.is_empty() && p.text.trim_matches(folds) == p.text,
            "{:?}",
            p.text
        );
    }
});
