//! Sentences: a paragraph cut at its UAX #29 sentence boundaries, each piece a few words at
//! least, for the parts of a text that say one thing (guided themes' passages, static fits).

use unicode_segmentation::UnicodeSegmentation;

/// Fewer words than this make no piece of their own: they join the piece before (or, at the
/// start, the one after). Six words hold a claim ("Ukraine must receive security
/// guarantees"); fewer are mostly datelines, attributions and abbreviations' tails ("U.S.").
pub const MIN_PIECE_WORDS: usize = 6;

/// The sentences of `text` in order, short ones merged with their neighbours.
pub fn sentences(text: &str) -> Vec<String> {
    merge_short(text.split_sentence_bounds().map(str::trim))
}

/// Joins pieces of fewer than [`MIN_PIECE_WORDS`] words to the piece before them (the first
/// ones to the one after), dropping empty pieces.
pub fn merge_short<'a>(pieces: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for piece in pieces.filter(|p| !p.is_empty()) {
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(piece);
        if pending.unicode_words().count() >= MIN_PIECE_WORDS {
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
