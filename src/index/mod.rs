//! Index: paragraph vectors with their ids, exact nearest-neighbour search by cosine, and
//! (in [`cache`]) the on-disk embedding cache that lets a corpus be embedded once, and (in
//! [`store`]) the on-disk index that holds a million paragraphs in bounded memory.

mod ann;
pub mod build;
mod cache;
mod error;
pub mod export;
pub mod measure;
#[cfg(feature = "parquet")]
pub mod parquet;
mod saved;
pub mod store;

use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::corpus::Paragraph;
pub(crate) use ann::Ann;
pub use build::{BuildError, BuildReport};
pub use cache::{embed_cached, CacheError, CacheStats, CachedEmbedder, EmbeddingCache};
pub use saved::{SavedTheme, SavedThemes};
pub use store::{DiskIndex, IndexError, IndexSpec, IndexWriter, Manifest, Presence};

/// One search result: a row of the index and its cosine to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub row: usize,
    pub score: f32,
}

/// Unit vectors, one row per paragraph.
#[derive(Debug, Clone)]
pub struct Index {
    pub paragraphs: Vec<Paragraph>,
    pub vectors: Array2<f32>,
}

impl Index {
    pub fn new(paragraphs: Vec<Paragraph>, vectors: Array2<f32>) -> Self {
        assert_eq!(
            paragraphs.len(),
            vectors.nrows(),
            "one vector per paragraph"
        );
        Self {
            paragraphs,
            vectors,
        }
    }

    /// The `k` rows closest to `query` (a unit vector), best first.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<Hit> {
        top_k(&self.vectors, query, k)
    }

    /// Each document's mean paragraph vector, normalised, with the documents in first-seen
    /// order: what `similarity --matrix` compares.
    pub fn document_means(&self) -> (Vec<&str>, Array2<f32>) {
        let mut documents: Vec<&str> = Vec::new();
        let mut row_of_doc = std::collections::HashMap::new();
        let rows: Vec<usize> = self
            .paragraphs
            .iter()
            .map(|p| {
                *row_of_doc.entry(p.doc.as_str()).or_insert_with(|| {
                    documents.push(&p.doc);
                    documents.len() - 1
                })
            })
            .collect();
        let mut means = Array2::<f32>::zeros((documents.len(), self.vectors.ncols()));
        for (&d, v) in rows.iter().zip(self.vectors.rows()) {
            let mut row = means.row_mut(d);
            row += &v;
        }
        for mut row in means.rows_mut() {
            let norm = row.dot(&row).sqrt().max(1e-12);
            row /= norm;
        }
        (documents, means)
    }
}

/// Exact top-k by dot product (the cosine for unit vectors); ties go to the lower row so the
/// order is the same run after run.
pub fn top_k<'a>(vectors: impl Into<ArrayView2<'a, f32>>, query: &[f32], k: usize) -> Vec<Hit> {
    let query = ArrayView1::from(query);
    let scores = vectors.into().dot(&query);
    let mut hits: Vec<Hit> = scores
        .iter()
        .enumerate()
        .map(|(row, &score)| Hit { row, score })
        .collect();
    let better = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
    let k = k.min(hits.len());
    if k == 0 {
        return Vec::new();
    }
    if k < hits.len() {
        hits.select_nth_unstable_by(k - 1, better);
        hits.truncate(k);
    }
    hits.sort_by(better);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_score_then_row() {
        let v =
            Array2::from_shape_vec((4, 2), vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8, 1.0, 0.0]).unwrap();
        let hits = top_k(&v, &[1.0, 0.0], 3);
        let rows: Vec<usize> = hits.iter().map(|h| h.row).collect();
        assert_eq!(rows, vec![0, 3, 2]);
        assert!(top_k(&v, &[1.0, 0.0], 0).is_empty());
        assert_eq!(top_k(&v, &[1.0, 0.0], 10).len(), 4);
    }
}
