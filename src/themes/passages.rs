//! Passages: the sentences of a paragraph and the clauses of its long sentences, each of a few
//! words at least, so that a paragraph can be scored by the part of it that says a thing.

use std::ops::Range;

use ndarray::{Array2, ArrayView2};

use crate::corpus::sentences::{merge_short, sentences};

/// Fewer words than this make no passage of their own (see
/// [`crate::corpus::sentences::MIN_PIECE_WORDS`]).
pub use crate::corpus::sentences::MIN_PIECE_WORDS as MIN_PASSAGE_WORDS;

/// The passages of `text`, in order: each sentence (UAX #29 boundaries), then the clauses of
/// that sentence when it has more than one (split after `,` `;` `:` and around dashes), short
/// pieces merged with their neighbours. A text that is a single passage gives none: the
/// paragraph speaks for itself.
pub fn passages(text: &str) -> Vec<String> {
    let sentences = sentences(text);
    let mut out = Vec::new();
    for sentence in &sentences {
        let clauses = merge_short(clause_pieces(sentence));
        if sentences.len() > 1 {
            out.push(sentence.clone());
        }
        if clauses.len() > 1 {
            out.extend(clauses);
        }
    }
    out.dedup();
    out
}

/// The pieces of a sentence between clause marks, each ending with its mark.
fn clause_pieces(sentence: &str) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in sentence.char_indices() {
        let end = i + c.len_utf8();
        let cut = match c {
            ',' | ';' | ':' => Some(end),
            '–' | '—' => Some(i),
            _ => None,
        };
        if let Some(cut) = cut {
            pieces.push(&sentence[start..cut]);
            start = if cut == i { i } else { end };
        }
    }
    pieces.push(&sentence[start..]);
    pieces.into_iter().map(str::trim)
}

/// The passages of every paragraph, embedded: unit rows in paragraph order, and per paragraph
/// the range of its rows (empty for a paragraph that is one passage).
#[derive(Debug, Clone)]
pub struct Passages {
    pub vectors: Array2<f32>,
    pub of_row: Vec<Range<usize>>,
}

impl Passages {
    /// No passages for `rows` paragraphs: each is scored as a whole.
    pub fn none(rows: usize, dims: usize) -> Self {
        Self {
            vectors: Array2::zeros((0, dims)),
            of_row: vec![0..0; rows],
        }
    }

    /// The passages of `texts`, embedded by `embed` (all at once, so that the embedder batches
    /// them).
    pub fn of<S: AsRef<str>, E>(
        texts: &[S],
        dims: usize,
        embed: impl FnOnce(&[String]) -> Result<Array2<f32>, E>,
    ) -> Result<Self, E> {
        let mut all = Vec::new();
        let mut of_row = Vec::with_capacity(texts.len());
        for text in texts {
            let start = all.len();
            all.extend(passages(text.as_ref()));
            of_row.push(start..all.len());
        }
        if all.is_empty() {
            return Ok(Self::none(texts.len(), dims));
        }
        Ok(Self {
            vectors: embed(&all)?,
            of_row,
        })
    }

    /// The best score of each paragraph against each column of `targets` (unit rows): its own
    /// cosine or its best passage's, whichever is higher. `vectors` are the paragraphs of
    /// `rows` (all paragraphs when `None`), row for row.
    pub fn best_scores(
        &self,
        vectors: ArrayView2<f32>,
        rows: Option<&[usize]>,
        targets: ArrayView2<f32>,
    ) -> Array2<f32> {
        let mut scores = vectors.dot(&targets.t());
        if self.vectors.nrows() == 0 {
            return scores;
        }
        let passage_scores = self.vectors.dot(&targets.t());
        for (i, mut row) in scores.rows_mut().into_iter().enumerate() {
            let paragraph = rows.map_or(i, |rows| rows[i]);
            for p in self.of_row[paragraph].clone() {
                row.zip_mut_with(&passage_scores.row(p), |s, &q| *s = s.max(q));
            }
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sentences_and_the_clauses_of_long_ones() {
        let text = "If it does not join NATO, Ukraine must receive security guarantees. \
                    He stressed that there is no consensus within the alliance for Ukraine to \
                    join, noting that the peace agreement must include some kind of guarantees.";
        assert_eq!(
            passages(text),
            vec![
                "If it does not join NATO, Ukraine must receive security guarantees.",
                "He stressed that there is no consensus within the alliance for Ukraine to join, \
                 noting that the peace agreement must include some kind of guarantees.",
                "He stressed that there is no consensus within the alliance for Ukraine to join,",
                "noting that the peace agreement must include some kind of guarantees.",
            ]
        );
    }

    #[test]
    fn one_passage_gives_none_and_short_pieces_merge() {
        assert!(passages("NATO pushes to secure a seat at the table").is_empty());
        // "Brussels, December 3 –" is too short to stand alone: it joins what follows.
        assert_eq!(
            passages("Brussels, December 3 – NATO countries are now demanding a say in the talks."),
            Vec::<String>::new()
        );
        assert_eq!(
            passages("Yes. It was the European Union that drove sanctions against Russia."),
            Vec::<String>::new()
        );
    }

    #[test]
    fn best_scores_take_the_better_of_paragraph_and_passages() {
        let paragraphs = array![[1.0f32, 0.0], [0.0, 1.0]];
        let passages = Passages {
            vectors: array![[0.6f32, 0.8], [0.0, 1.0]],
            of_row: vec![0..2, 2..2],
        };
        let targets = array![[0.0f32, 1.0]];
        let scores = passages.best_scores(paragraphs.view(), None, targets.view());
        assert_eq!(scores, array![[1.0], [1.0]]);
        // Rows of a draw index the paragraphs they came from.
        let drawn = array![[0.0f32, 1.0], [1.0, 0.0]];
        let scores = passages.best_scores(drawn.view(), Some(&[1, 0]), targets.view());
        assert_eq!(scores, array![[1.0], [1.0]]);
    }
}
