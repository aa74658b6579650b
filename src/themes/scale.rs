//! Themes of an on-disk index of any size: fitted on a seeded sample of rows (memory bounded by
//! the sample), then every row placed into the nearest theme a block at a time; the fitted
//! themes are saved in the index so that `index add` can place new paragraphs.

use ndarray::Array2;

use super::{PhraseEmbedder, ThemeError, ThemeModel, ValidThemeParams};
use crate::corpus::Paragraph;
use crate::index::{DiskIndex, IndexError, SavedTheme, SavedThemes};

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
    /// What the index keeps of them for placing new rows.
    pub saved: SavedThemes,
}

/// Why the themes of an index could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Themes(#[from] ThemeError),
    #[error(transparent)]
    Params(#[from] super::ParamError),
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

/// Fits themes on a seeded sample of the index and assigns every row; the result carries what
/// the index saves of them ([`IndexThemes::saved`]).
pub fn fit_index(
    index: &DiskIndex,
    params: &ValidThemeParams,
    phrases: Option<&dyn PhraseEmbedder>,
) -> Result<IndexThemes, ScaleError> {
    let rows = sample_rows(index.len(), SAMPLE, params.seed());
    let dim = index.dim();
    // Read, not through the map: the map's read-ahead around 10,000 scattered rows would make
    // most of a million-row file resident.
    let mut vectors = Array2::<f32>::zeros((rows.len(), dim));
    for (mut to, &row) in vectors.rows_mut().into_iter().zip(&rows) {
        let read = index.read_rows(row, 1)?;
        to.assign(&read.row(0));
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
    let saved = SavedThemes {
        seed: params.seed(),
        sample: rows.len(),
        rows: index.len(),
        themes,
    };
    Ok(IndexThemes {
        model,
        paragraphs,
        vectors,
        sizes,
        rows: index.len(),
        saved,
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
}
