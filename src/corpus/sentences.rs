//! Sentences: a paragraph cut at its UAX #29 sentence boundaries, each piece a few words at
//! least, for the parts of a text that say one thing (guided themes' passages, static fits).

use unicode_segmentation::UnicodeSegmentation;

/// Fewer words than this make no piece of their own: they join the piece before (or, at the
/// start, the one after). Six words hold a claim ("Ukraine must receive security
/// guarantees"); fewer are mostly datelines, attributions and abbreviations' tails ("U.S.").
pub const MIN_PIECE_WORDS: usize = 6;

/// The sentences of `text` in order, short ones merged with their neighbours.
pub fn sentences(text: &str) -> Vec<String> {
    sentences_of_at_least(text, MIN_PIECE_WORDS)
}

/// The sentences of `text` in order, those of fewer than `min_words` words merged with their
/// neighbours.
pub fn sentences_of_at_least(text: &str, min_words: usize) -> Vec<String> {
    merge_pieces(text.split_sentence_bounds().map(str::trim), min_words)
}

/// Joins pieces of fewer than [`MIN_PIECE_WORDS`] words to the piece before them (the first
/// ones to the one after), dropping empty pieces.
pub fn merge_short<'a>(pieces: impl Iterator<Item = &'a str>) -> Vec<String> {
    merge_pieces(pieces, MIN_PIECE_WORDS)
}

/// [`merge_short`] with another least number of words.
fn merge_pieces<'a>(pieces: impl Iterator<Item = &'a str>, min_words: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for piece in pieces.filter(|p| !p.is_empty()) {
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(piece);
        if pending.unicode_words().count() >= min_words {
            out.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        match out.last_mut() {
            Some(last) => {
                last.push(' ');
                last.push_str(&pending);
            }
            None => out.push(pending),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_pieces_join_a_neighbour_at_the_least_number_of_words() {
        let text = "Hi. Security guarantees matter most. Kyiv was left out. Talks go on.";
        assert_eq!(
            sentences_of_at_least(text, 3),
            [
                "Hi. Security guarantees matter most.",
                "Kyiv was left out.",
                "Talks go on."
            ]
        );
        assert_eq!(
            sentences(text),
            ["Hi. Security guarantees matter most. Kyiv was left out. Talks go on."]
        );
    }
}
