//! Themes of an on-disk index of any size: fitted on a seeded sample of rows (memory bounded by
//! the sample), then every row placed into the nearest theme a block at a time; the fitted
//! themes are saved in the index so that `index add` can place new paragraphs.

use std::path::Path;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{PhraseEmbedder, ThemeModel, ValidThemeParams};
use crate::corpus::Paragraph;
use crate::index::store::THEMES;
use crate::index::{DiskIndex, IndexError};
use crate::Error;

/// Rows the themes are fitted on: enough for every theme of a few hundred rows to have its
/// share, few enough that fitting (Ward start, the grain scan's bootstrap re-fits over k,
/// labels, sub-themes) takes about a minute on two cores.
pub const SAMPLE: usize = 10_000;
/// Rows read per block in the assignment pass.
const BLOCK: usize = 65_536;
/// A new paragraph "fits no theme" when its cosine to the nearest centroid is below what this
/// share of the sampled rows reach to theirs. One bar for all themes: a small theme's own few
/// members would set a bar that its typical new paragraph misses.
const FIT_NONE_QUANTILE: f32 = 0.02;

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

    fn write(&self, dir: &Path) -> Result<(), IndexError> {
        let path = dir.join(THEMES);
        let bytes = serde_json::to_vec(self).expect("themes serialize");
        crate::atomic_write(&path, &bytes).map_err(|source| IndexError::Io { path, source })
    }

    /// Places unit vectors: the nearest theme, or `None` when the cosine to it is under that
    /// theme's threshold.
    pub fn place(&self, vectors: ndarray::ArrayView2<f32>) -> Vec<Option<usize>> {
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
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
                (score >= self.themes[theme].threshold).then_some(theme)
            })
            .collect()
    }
}

/// Themes of a whole index.
pub struct IndexThemes {
    /// Fitted on the sample; member rows index [`IndexThemes::paragraphs`].
    pub model: ThemeModel,
    /// The sampled paragraphs, in row order.
    pub paragraphs: Vec<Paragraph>,
    /// Their vectors.
    pub vectors: Array2<f32>,
    /// Rows of the whole index in each top-level theme.
    pub sizes: Vec<usize>,
    pub rows: usize,
}

/// `n` distinct rows of `0..rows` by a seeded draw (all of them when `rows <= n`), sorted.
pub fn sample_rows(rows: usize, n: usize, seed: u64) -> Vec<usize> {
    use rand_xoshiro::rand_core::{RngCore, SeedableRng};
    if rows <= n {
        return (0..rows).collect();
    }
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    // Floyd's method: n draws, no array of all rows.
    let mut chosen = std::collections::BTreeSet::new();
    for j in rows - n..rows {
        let t = ((rng.next_u64() as u128 * (j as u128 + 1)) >> 64) as usize;
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// Fits themes on a seeded sample of the index, assigns every row, and saves the themes in the
/// index directory.
pub fn fit_index(
    index: &DiskIndex,
    params: &ValidThemeParams,
    phrases: Option<&dyn PhraseEmbedder>,
) -> Result<IndexThemes, Error> {
    let rows = sample_rows(index.len(), SAMPLE, params.seed());
    let dim = index.dim();
    let mut vectors = Array2::<f32>::zeros((rows.len(), dim));
    for (mut to, &row) in vectors.rows_mut().into_iter().zip(&rows) {
        to.iter_mut()
            .zip(index.vector(row))
            .for_each(|(t, &v)| *t = v);
    }
    let paragraphs = rows
        .iter()
        .map(|&row| index.paragraph(row))
        .collect::<Result<Vec<_>, _>>()?;
    let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
    params.fits(rows.len())?;
    let model = ThemeModel::fit(vectors.view(), &texts, params, phrases)?;

    let k = model.themes.len();
    let mut sizes = vec![0usize; k];
    let mut start = 0;
    while start < index.len() {
        let n = BLOCK.min(index.len() - start);
        let block = index.read_rows(start, n)?;
        for a in model.assign(block.view()) {
            sizes[a.theme] += 1;
        }
        start += n;
    }

    let mut scores: Vec<f32> = model
        .assign(vectors.view())
        .iter()
        .map(|a| a.score)
        .collect();
    scores.sort_by(f32::total_cmp);
    let at = (scores.len() as f32 * FIT_NONE_QUANTILE) as usize;
    let threshold = scores.get(at).copied().unwrap_or(-1.0);
    let themes = model
        .themes
        .iter()
        .enumerate()
        .map(|(t, theme)| SavedTheme {
            label: theme.label.clone(),
            keywords: theme.keywords.clone(),
            size: sizes[t],
            threshold,
            centroid: model.centroids.row(t).to_vec(),
        })
        .collect();
    SavedThemes {
        seed: params.seed(),
        sample: rows.len(),
        rows: index.len(),
        themes,
    }
    .write(index.dir())?;
    Ok(IndexThemes {
        model,
        paragraphs,
        vectors,
        sizes,
        rows: index.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_distinct_sorted_seeded_and_whole_when_small() {
        let a = sample_rows(1_000_000, 1_000, 7);
        assert_eq!(a.len(), 1_000);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(*a.last().unwrap() < 1_000_000);
        assert_eq!(a, sample_rows(1_000_000, 1_000, 7));
        assert_ne!(a, sample_rows(1_000_000, 1_000, 8));
        assert_eq!(sample_rows(5, 10, 1), vec![0, 1, 2, 3, 4]);
        // Spread over the range, not bunched at one end.
        assert!(a.iter().filter(|&&r| r < 500_000).count().abs_diff(500) < 80);
    }

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
