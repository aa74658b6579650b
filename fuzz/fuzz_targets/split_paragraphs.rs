//! The paragraph splitter and the boilerplate rule on arbitrary text: no panic, and every
//! paragraph is non-empty, trimmed, and starts on a real line, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use themescope::corpus::{classify, split_paragraphs, word_count};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let markdown = flags & 1 == 1;
    let lines = text.lines().count();
    let mut previous = 0;
    for paragraph in split_paragraphs(&text, markdown) {
        assert!(!paragraph.text.is_empty());
        assert_eq!(paragraph.text.trim(), paragraph.text);
        assert!(paragraph.line > previous && paragraph.line <= lines);
        previous = paragraph.line;
        let _ = word_count(&paragraph.text);
        let _ = classify(&paragraph.text, paragraph.heading, flags & 2 == 2, usize::from(flags >> 4));
    }
});
