//! Themes of an on-disk index of any size: fitted on a seeded sample of rows (memory bounded by
//! the sample), then every row placed into the nearest theme a block at a time; the fitted
//! themes are saved in the index so that `index add` can place new paragraphs.

use ndarray::Array2;

use super::map::MAP_MAX_POINTS;
use super::{sample_rows, PhraseEmbedder, ThemeError, ThemeModel, ValidThemeParams};
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

/// Rows of an index drawn for its theme map, with the saved theme each falls in.
pub struct MapSample {
    /// In row order.
    pub paragraphs: Vec<Paragraph>,
    pub vectors: Array2<f32>,
    /// Each row's nearest top-level theme (0-based), as the theme sizes count rows.
    pub themes: Vec<usize>,
}

/// A seeded sample of up to [`MAP_MAX_POINTS`] rows of `index` for its theme map, each in its
/// nearest `saved` theme.
pub fn map_sample(
    index: &DiskIndex,
    saved: &SavedThemes,
    seed: u64,
) -> Result<MapSample, IndexError> {
    let rows = sample_rows(index.len(), MAP_MAX_POINTS, seed);
    let (vectors, paragraphs) = read_sample(index, &rows)?;
    let themes = saved
        .nearest(vectors.view())
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    Ok(MapSample {
        paragraphs,
        vectors,
        themes,
    })
}

/// The vectors and paragraphs of `rows`, read one row at a time: through the memory map, the
/// read-ahead around thousands of scattered rows would make most of a million-row file resident.
fn read_sample(
    index: &DiskIndex,
    rows: &[usize],
) -> Result<(Array2<f32>, Vec<Paragraph>), IndexError> {
    let mut vectors = Array2::<f32>::zeros((rows.len(), index.dim()));
    for (mut to, &row) in vectors.rows_mut().into_iter().zip(rows) {
        to.assign(&index.read_rows(row, 1)?.row(0));
    }
    let paragraphs = rows
        .iter()
        .map(|&row| index.paragraph(row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((vectors, paragraphs))
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

/// Fits themes on a seeded sample of the index and assigns every row; the result carries what
/// the index saves of them ([`IndexThemes::saved`]).
pub fn fit_index(
    index: &DiskIndex,
    params: &ValidThemeParams,
    phrases: Option<&dyn PhraseEmbedder>,
) -> Result<IndexThemes, ScaleError> {
    let rows = sample_rows(index.len(), SAMPLE, params.seed());
    let (vectors, paragraphs) = read_sample(index, &rows)?;
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
