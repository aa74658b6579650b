//! Themes: cluster paragraph vectors into themes, name each theme with phrases from its own
//! text, and place new paragraphs into fitted themes.

mod cluster;
mod label;
mod params;

use ndarray::{Array2, ArrayView2, Axis};

use crate::embed::{EmbedError, Embedder};
pub use params::{
    Method, ParamError, ThemeCount, ThemeParams, ValidThemeParams, DEFAULT_KEYWORDS,
    DEFAULT_MIN_POINTS, DEFAULT_SEED, MAX_KEYWORDS,
};

/// Errors in fitting themes.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("invalid theme parameters: {0}")]
    Params(#[from] ParamError),
    #[error("there are no paragraphs to group")]
    NoParagraphs,
    #[error("{k} themes asked for, but there are only {paragraphs} paragraphs")]
    TooManyThemes { k: usize, paragraphs: usize },
    #[error("{texts} texts for {vectors} vectors: one text per vector is needed")]
    TextsAndVectors { texts: usize, vectors: usize },
    #[error("k-means failed: {0}")]
    KMeans(#[from] linfa_clustering::KMeansError),
    #[error("density clustering failed: {0}")]
    Density(#[from] linfa_clustering::DbscanParamsError),
    #[error("no dense groups found: every paragraph is an outlier")]
    NoDenseGroups,
    #[error("embedding the label candidates failed: {0}")]
    Embed(#[from] EmbedError),
}

impl ValidThemeParams {
    /// Whether these parameters can group `paragraphs` paragraphs (checked again by
    /// [`ThemeModel::fit`]; callers check early, before embedding).
    pub fn fits(&self, paragraphs: usize) -> Result<(), ThemeError> {
        if paragraphs == 0 {
            return Err(ThemeError::NoParagraphs);
        }
        match self.count() {
            ThemeCount::Fixed(k) if k > paragraphs => {
                Err(ThemeError::TooManyThemes { k, paragraphs })
            }
            _ => Ok(()),
        }
    }
}

/// The k that `--k auto` compares: 2 to round(1.5·√n), at most 30 and n/3; and the fine range
/// from round(√n) used when the corpus shows no strong grouping (see [`STRUCTURE`]).
pub fn auto_k_range(paragraphs: usize) -> (std::ops::RangeInclusive<usize>, usize) {
    let root = (paragraphs as f64).sqrt();
    let cap = (paragraphs / 3).clamp(2, 30);
    let upper = ((root * 1.5).round() as usize).clamp(2, cap);
    let fine_from = (root.round() as usize).clamp(2, upper);
    (2..=upper, fine_from)
}

/// A mean silhouette this high shows real groups (Kaufman and Rousseeuw's "substantial
/// structure" starts at 0.25); below it, the number of themes is a matter of granularity.
pub const STRUCTURE: f32 = 0.25;

/// With `--k auto`, groups smaller than this join their nearest theme.
pub const MIN_AUTO_THEME: usize = 3;

/// Silhouette is computed on at most this many rows (an even spread) to bound its n² cost.
const SILHOUETTE_SAMPLE: usize = 2000;

/// `--k auto`: for each k of [`auto_k_range`], k-means from the Ward tree, then groups of fewer
/// than [`MIN_AUTO_THEME`] paragraphs folded into their nearest theme (too small to be a theme),
/// scored by mean silhouette (cosine). If the best score reaches [`STRUCTURE`], it wins; if not
/// (articles on one subject rarely fall into clear groups), the best score among k ≥ √n wins, so
/// the report has about √n themes. Ties go to the smaller k.
fn choose_k(
    vectors: ArrayView2<f32>,
    tree: &cluster::WardTree,
) -> Result<(cluster::Labels, Option<KSelection>), ThemeError> {
    let n = vectors.nrows();
    if n < 2 * MIN_AUTO_THEME {
        return Ok((vec![Some(0); n], None));
    }
    let step = n.div_ceil(SILHOUETTE_SAMPLE);
    let sample: Vec<usize> = (0..n).step_by(step).collect();
    let sampled = vectors.select(Axis(0), &sample);
    let similarity = sampled.dot(&sampled.t());
    let (range, fine_from) = auto_k_range(n);
    let mut tried = Vec::new();
    for k in range {
        let labels = fold_small_groups(vectors, cluster::kmeans(vectors, k, tree)?, MIN_AUTO_THEME);
        let themes = labels.iter().flatten().max().map_or(0, |m| m + 1);
        let sampled_labels: cluster::Labels = sample.iter().map(|&r| labels[r]).collect();
        let score = cluster::silhouette(&similarity, &sampled_labels);
        tried.push((k, themes, score, labels));
    }
    let best_of = |from: usize| {
        tried.iter().filter(|t| t.0 >= from).fold(
            None::<&(usize, usize, f32, cluster::Labels)>,
            |best, t| match best {
                Some(b) if b.2 >= t.2 => Some(b),
                _ => Some(t),
            },
        )
    };
    let overall = best_of(2).expect("the range is never empty");
    let chosen = if overall.2 >= STRUCTURE {
        overall
    } else {
        best_of(fine_from).unwrap_or(overall)
    };
    let selection = KSelection {
        scores: tried.iter().map(|t| (t.0, t.1, t.2)).collect(),
        chosen: chosen.1,
        strong_structure: overall.2 >= STRUCTURE,
        fine_from,
    };
    Ok((chosen.3.clone(), Some(selection)))
}

/// Moves the members of groups smaller than `min_size` to the nearest remaining group's
/// centroid, and renumbers the groups in order of first appearance.
fn fold_small_groups(
    vectors: ArrayView2<f32>,
    labels: cluster::Labels,
    min_size: usize,
) -> cluster::Labels {
    let k = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let mut sizes = vec![0usize; k];
    labels.iter().flatten().for_each(|&c| sizes[c] += 1);
    let kept: Vec<usize> = (0..k).filter(|&c| sizes[c] >= min_size).collect();
    if kept.is_empty() || kept.len() == k {
        return labels;
    }
    let centroids = centroids_of(vectors, &labels, k);
    let folded: cluster::Labels = labels
        .iter()
        .enumerate()
        .map(|(row, label)| {
            label.map(|c| {
                if sizes[c] >= min_size {
                    return c;
                }
                *kept
                    .iter()
                    .max_by(|&&a, &&b| {
                        let (sa, sb) = (
                            vectors.row(row).dot(&centroids.row(a)),
                            vectors.row(row).dot(&centroids.row(b)),
                        );
                        sa.total_cmp(&sb).then(b.cmp(&a))
                    })
                    .expect("kept is not empty")
            })
        })
        .collect();
    cluster::relabel(folded)
}

/// One paragraph's place in a theme: its row and its cosine to the theme's centroid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Member {
    pub row: usize,
    pub score: f32,
}

/// A theme: its name, keywords and members (most central first).
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub label: String,
    pub keywords: Vec<String>,
    pub members: Vec<Member>,
}

/// How k was chosen, for `--verbose` and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct KSelection {
    /// For every k compared: (k, themes after folding small groups, mean silhouette).
    pub scores: Vec<(usize, usize, f32)>,
    /// The number of themes chosen.
    pub chosen: usize,
    /// Whether the best silhouette reached [`STRUCTURE`] (else k came from the fine range).
    pub strong_structure: bool,
    /// Where the fine range starts: round(√n).
    pub fine_from: usize,
}

/// Where a new paragraph falls: the nearest theme centroid and its cosine to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    pub theme: usize,
    pub score: f32,
}

/// Embeds label candidates so they can be compared with theme centroids.
pub trait PhraseEmbedder {
    fn embed_phrases(&self, phrases: &[String]) -> Result<Array2<f32>, EmbedError>;
}

impl PhraseEmbedder for Embedder {
    fn embed_phrases(&self, phrases: &[String]) -> Result<Array2<f32>, EmbedError> {
        Ok(self.embed(phrases)?.vectors)
    }
}

/// Fitted themes: usable on any unit vectors of the same model, whatever produced them.
#[derive(Debug, Clone)]
pub struct ThemeModel {
    /// Largest first.
    pub themes: Vec<Theme>,
    /// Unit centroids, one row per theme.
    pub centroids: Array2<f32>,
    /// Rows in no theme (the density method only).
    pub outliers: Vec<usize>,
    pub selection: Option<KSelection>,
    /// For the density method: the neighbourhood radius (Euclidean, on unit vectors) used.
    pub radius: Option<f32>,
}

const CANDIDATES_PER_THEME: usize = 40;
/// Phrases of a theme's most central paragraphs are label candidates even if they occur once.
const CENTRAL_PARAGRAPHS: usize = 3;
const DIVERSITY: f32 = 0.4;

impl ThemeModel {
    /// Groups `vectors` (unit rows) and names the groups from `texts` (one per row). Without a
    /// phrase embedder, keywords are ranked by c-TF-IDF alone.
    pub fn fit<S: AsRef<str>>(
        vectors: ArrayView2<f32>,
        texts: &[S],
        params: &ValidThemeParams,
        phrases: Option<&dyn PhraseEmbedder>,
    ) -> Result<Self, ThemeError> {
        let n = vectors.nrows();
        if texts.len() != n {
            return Err(ThemeError::TextsAndVectors {
                texts: texts.len(),
                vectors: n,
            });
        }
        params.fits(n)?;
        let (labels, selection, radius) = group(vectors, params)?;
        let k = labels.iter().flatten().max().map_or(0, |m| m + 1);
        if k == 0 {
            return Err(ThemeError::NoDenseGroups);
        }
        let centroids = centroids_of(vectors, &labels, k);
        let members = members_of(vectors, &labels, &centroids);

        // Labels are scored in a space centred on the corpus mean: what every paragraph shares
        // (the corpus's subject) then pulls no phrase towards any theme.
        let mean = vectors.mean_axis(Axis(0)).expect("n > 0, checked");
        let centred_centroids = centroids_of(centre(vectors, mean.view()).view(), &labels, k);
        let text_refs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let central: Vec<Vec<usize>> = members
            .iter()
            .map(|m| m.iter().take(CENTRAL_PARAGRAPHS).map(|m| m.row).collect())
            .collect();
        let candidates = label::candidates(&text_refs, &labels, &central, k, CANDIDATES_PER_THEME);
        let phrase_vectors = match phrases {
            Some(embedder) => embed_candidates(embedder, &candidates, mean.view())?,
            None => vec![None; k],
        };
        let themes: Vec<Theme> = members
            .into_iter()
            .enumerate()
            .map(|(c, members)| {
                let naming = label::select(
                    &candidates.per_class[c],
                    phrase_vectors[c].as_ref(),
                    c,
                    &centred_centroids,
                    params.keywords(),
                    DIVERSITY,
                );
                Theme {
                    label: if naming.label.is_empty() {
                        format!("theme {}", c + 1)
                    } else {
                        naming.label
                    },
                    keywords: naming.keywords,
                    members,
                }
            })
            .collect();
        let (themes, centroids) = largest_first(themes, centroids);
        let outliers = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_none())
            .map(|(row, _)| row)
            .collect();
        Ok(Self {
            themes,
            centroids,
            outliers,
            selection,
            radius,
        })
    }

    /// Places unit vectors into the fitted themes (nearest centroid), without refitting.
    pub fn assign(&self, vectors: ArrayView2<f32>) -> Vec<Assignment> {
        let scores = vectors.dot(&self.centroids.t());
        scores
            .axis_iter(Axis(0))
            .map(|row| {
                let (theme, &score) = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                    .expect("a fitted model has at least one theme");
                Assignment { theme, score }
            })
            .collect()
    }
}

/// The groups (a label per row, `None` for outliers), with how k or the radius was chosen.
type Grouping = (cluster::Labels, Option<KSelection>, Option<f32>);

fn group(vectors: ArrayView2<f32>, params: &ValidThemeParams) -> Result<Grouping, ThemeError> {
    Ok(match (params.method(), params.count()) {
        (Method::KMeans, ThemeCount::Fixed(k)) => {
            let tree = cluster::WardTree::new(vectors, params.seed());
            (cluster::kmeans(vectors, k, &tree)?, None, None)
        }
        (Method::KMeans, ThemeCount::Auto) => {
            let tree = cluster::WardTree::new(vectors, params.seed());
            let (labels, selection) = choose_k(vectors, &tree)?;
            (labels, selection, None)
        }
        (Method::Density, _) => {
            let (labels, radius) = cluster::density(vectors, params.min_points())?;
            (labels, None, Some(radius))
        }
    })
}

/// Each group's rows with their cosine to its centroid, most central first (ties by row).
fn members_of(
    vectors: ArrayView2<f32>,
    labels: &[Option<usize>],
    centroids: &Array2<f32>,
) -> Vec<Vec<Member>> {
    let mut members = vec![Vec::new(); centroids.nrows()];
    for (row, label) in labels.iter().enumerate() {
        if let Some(c) = *label {
            let score = vectors.row(row).dot(&centroids.row(c));
            members[c].push(Member { row, score });
        }
    }
    for group in &mut members {
        group.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    }
    members
}

/// Every theme's label candidates embedded in one call, centred like the centroids, split back
/// per theme.
fn embed_candidates(
    embedder: &dyn PhraseEmbedder,
    candidates: &label::Candidates,
    mean: ndarray::ArrayView1<f32>,
) -> Result<Vec<Option<Array2<f32>>>, ThemeError> {
    let all: Vec<String> = candidates
        .per_class
        .iter()
        .flat_map(|c| c.iter().map(|c| c.shown.clone()))
        .collect();
    let vectors = centre(embedder.embed_phrases(&all)?.view(), mean);
    let mut offset = 0;
    Ok(candidates
        .per_class
        .iter()
        .map(|class| {
            let rows = vectors.slice(ndarray::s![offset..offset + class.len(), ..]);
            offset += class.len();
            Some(rows.to_owned())
        })
        .collect())
}

/// Largest theme first; equal sizes by their most central paragraph's row. The centroids'
/// rows follow their themes.
fn largest_first(themes: Vec<Theme>, centroids: Array2<f32>) -> (Vec<Theme>, Array2<f32>) {
    let mut order: Vec<usize> = (0..themes.len()).collect();
    order.sort_by_key(|&c| {
        (
            std::cmp::Reverse(themes[c].members.len()),
            themes[c].members[0].row,
        )
    });
    let centroids = centroids.select(Axis(0), &order);
    let mut taken: Vec<Option<Theme>> = themes.into_iter().map(Some).collect();
    let themes = order
        .iter()
        .map(|&c| taken[c].take().expect("each once"))
        .collect();
    (themes, centroids)
}

/// Each row minus `mean`, scaled back to unit length.
fn centre(vectors: ArrayView2<f32>, mean: ndarray::ArrayView1<f32>) -> Array2<f32> {
    let mut centred = &vectors - &mean;
    for mut row in centred.rows_mut() {
        let norm = row.dot(&row).sqrt().max(1e-12);
        row /= norm;
    }
    centred
}

/// Plain k-means (linfa, k-means++ start, one run) seeded with `seed`: the baseline that
/// `themescope eval clustering` compares the themes' grouping with.
pub fn plain_kmeans(
    vectors: ArrayView2<f32>,
    k: usize,
    seed: u64,
) -> Result<Vec<usize>, ThemeError> {
    Ok(cluster::kmeans_plus_plus(vectors, k, seed)?
        .into_iter()
        .map(|l| l.unwrap_or(0))
        .collect())
}

impl ThemeModel {
    /// The theme of every row the model was fitted on (`None` for outliers).
    pub fn row_themes(&self, rows: usize) -> Vec<Option<usize>> {
        let mut out = vec![None; rows];
        for (t, theme) in self.themes.iter().enumerate() {
            for m in &theme.members {
                out[m.row] = Some(t);
            }
        }
        out
    }
}

/// The normalised mean of each cluster's vectors.
fn centroids_of(vectors: ArrayView2<f32>, labels: &[Option<usize>], k: usize) -> Array2<f32> {
    let mut centroids = Array2::<f32>::zeros((k, vectors.ncols()));
    for (row, label) in vectors.rows().into_iter().zip(labels) {
        if let Some(c) = label {
            let mut centroid = centroids.row_mut(*c);
            centroid += &row;
        }
    }
    for mut centroid in centroids.rows_mut() {
        let norm = centroid.dot(&centroid).sqrt().max(1e-12);
        centroid /= norm;
    }
    centroids
}
