//! Property tests of the paragraph splitter and the loader's ids: whatever the text, no word is
//! lost or repeated, every paragraph points at the line it starts on, and ids are unique and
//! stable.

use proptest::prelude::*;
use themescope::corpus::{split_paragraphs, Corpus, CorpusOptions, DocFormat};

/// A line: blank, or words (some ending a sentence), with stray spaces and tabs around.
fn line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-zA-Z]{1,8}",
        "[a-z]{1,6}[.!?:]",
        Just("«Brüssel»".to_string()),
        Just("北约".to_string()),
        Just("🤝".to_string()),
    ];
    prop_oneof![
        1 => Just(String::new()),
        1 => "[ \t]{1,3}",
        6 => (prop::collection::vec(word, 1..8), "[ \t]{0,2}", "[ \t]{0,2}")
            .prop_map(|(words, before, after)| format!("{before}{}{after}", words.join(" "))),
    ]
}

fn text() -> impl Strategy<Value = (String, bool)> {
    (
        prop::collection::vec(line(), 0..40),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lines, crlf, trailing_newline)| {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(newline);
            if trailing_newline {
                text.push_str(newline);
            }
            (text, crlf)
        })
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn no_text_is_lost_or_duplicated((text, _) in text(), markdown in any::<bool>()) {
        let paragraphs = split_paragraphs(&text, markdown);
        let joined: Vec<&str> = paragraphs.iter().flat_map(|p| words(&p.text)).collect();
        prop_assert_eq!(joined, words(&text));
    }

    #[test]
    fn every_paragraph_starts_on_its_line((text, _) in text(), markdown in any::<bool>()) {
        let lines: Vec<&str> = text.lines().collect();
        let mut previous = 0;
        for p in split_paragraphs(&text, markdown) {
            prop_assert!(p.line > previous, "lines in order");
            previous = p.line;
            let first = lines[p.line - 1].trim();
            prop_assert!(!first.is_empty());
            prop_assert!(p.text.starts_with(first), "{:?} does not start with line {} {:?}", p.text, p.line, first);
        }
    }

    #[test]
    fn markdown_headings_are_titles_without_their_marks(level in 1usize..4, title in "[A-Z][a-z]{1,8}( [a-z]{1,8}){0,4}", (body, _) in text()) {
        let text = format!("{} {title}\n{body}", "#".repeat(level));
        let paragraphs = split_paragraphs(&text, true);
        prop_assert!(paragraphs[0].heading);
        prop_assert_eq!(&paragraphs[0].text, &title);
        prop_assert_eq!(paragraphs[0].line, 1);
    }

    #[test]
    fn ids_are_unique_and_stable((a, _) in text(), (b, _) in text(), jsonl_ids in prop::collection::vec(0u8..4, 0..12)) {
        let options = CorpusOptions { keep_all: true, ..CorpusOptions::default() };
        let records: String = jsonl_ids
            .iter()
            .map(|id| format!("{{\"id\": \"r{id}\", \"text\": \"record {id}\"}}\n"))
            .collect();
        let load = |extra: &str| {
            let mut corpus = Corpus::default();
            corpus.add_document("a.txt", a.as_bytes(), DocFormat::Text, options).unwrap();
            corpus.add_document("b.md", b.as_bytes(), DocFormat::Markdown, options).unwrap();
            corpus.add_document("c.jsonl", records.as_bytes(), DocFormat::Jsonl, options).unwrap();
            corpus.add_document("d.txt", extra.as_bytes(), DocFormat::Text, options).unwrap();
            corpus.paragraphs.iter().map(|p| p.id.clone()).collect::<Vec<_>>()
        };
        let ids = load("");
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        prop_assert_eq!(unique.len(), ids.len(), "{:?}", ids);
        prop_assert_eq!(&load(""), &ids, "same input, same ids");
        let more = load("One more paragraph at the end.\n");
        prop_assert_eq!(&more[..ids.len()], &ids[..], "a new file does not renumber the others");
    }
}
