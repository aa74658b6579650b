//! The themes saved in an index (`themes.json`): what `index add` places new paragraphs by.
//! The themes stage fits them; the index owns the file.

use std::path::Path;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::store::{IndexError, THEMES};

/// One theme as saved in the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedTheme {
    pub label: String,
    pub keywords: Vec<String>,
    /// Rows of the index in the theme when it was fitted.
    pub size: usize,
    /// Cosine to the centroid under which a new paragraph fits no theme.
    pub threshold: f32,
    pub centroid: Vec<f32>,
}

/// `themes.json` in the index directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedThemes {
    pub seed: u64,
    pub sample: usize,
    /// Index rows when the themes were fitted.
    pub rows: usize,
    pub themes: Vec<SavedTheme>,
}

impl SavedThemes {
    pub fn read(dir: &Path) -> Result<Self, IndexError> {
        let path = dir.join(THEMES);
        let bytes = std::fs::read(&path).map_err(|source| IndexError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| IndexError::Damaged {
            path: dir.to_path_buf(),
            reason: format!("themes.json: {e}"),
        })
    }

    pub fn write(&self, dir: &Path) -> Result<(), IndexError> {
        let path = dir.join(THEMES);
        let bytes = serde_json::to_vec(self).expect("themes serialize");
        crate::fsutil::atomic_write(&path, &bytes).map_err(|source| IndexError::Io { path, source })
    }

    /// Places unit vectors: the nearest theme, or `None` when the cosine to it is under that
    /// theme's threshold.
    pub fn place(&self, vectors: ndarray::ArrayView2<f32>) -> Vec<Option<usize>> {
        self.nearest(vectors)
            .into_iter()
            .map(|(theme, score)| (score >= self.themes[theme].threshold).then_some(theme))
            .collect()
    }

    /// Each unit vector's nearest theme and its cosine to it, as the fitted model assigns rows
    /// (the lower theme on a tie).
    pub fn nearest(&self, vectors: ndarray::ArrayView2<f32>) -> Vec<(usize, f32)> {
        let dim = vectors.ncols();
        let centroids = Array2::from_shape_fn((self.themes.len(), dim), |(t, j)| {
            self.themes[t].centroid[j]
        });
        let scores = vectors.dot(&centroids.t());
        scores
            .rows()
            .into_iter()
            .map(|row| {
                let (theme, &score) = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                    .expect("saved themes hold at least one theme");
                (theme, score)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_takes_the_nearest_theme_or_none_under_the_bar() {
        let saved = SavedThemes {
            seed: 1,
            sample: 2,
            rows: 2,
            themes: vec![
                SavedTheme {
                    label: "x".into(),
                    keywords: vec![],
                    size: 1,
                    threshold: 0.5,
                    centroid: vec![1.0, 0.0],
                },
                SavedTheme {
                    label: "y".into(),
                    keywords: vec![],
                    size: 1,
                    threshold: 0.5,
                    centroid: vec![0.0, 1.0],
                },
            ],
        };
        let v = ndarray::arr2(&[[0.9, 0.1], [0.2, 0.98], [0.6, -0.8]]);
        assert_eq!(saved.place(v.view()), vec![Some(0), Some(1), Some(0)]);
        let far = ndarray::arr2(&[[0.3, 0.3]]);
        assert_eq!(saved.place(far.view()), vec![None]);
    }
}
