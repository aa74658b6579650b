//! Themes: cluster paragraph vectors into themes, name each theme with phrases from its own
//! text, and place new paragraphs into fitted themes.

mod cluster;
mod label;
pub mod map;
mod params;
pub mod scale;

use ndarray::{Array2, ArrayView2, Axis};

use crate::embed::{EmbedError, Embedder};
pub use label::words_of;
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

/// The k that `--k auto` compares for a top level over `paragraphs` rows: 2 to
/// round(1.5·√n), at most 30 and n/3.
pub fn auto_k_range(paragraphs: usize) -> std::ops::RangeInclusive<usize> {
    let root = (paragraphs as f64).sqrt();
    let cap = (paragraphs / 3).clamp(2, 30);
    2..=((root * 1.5).round() as usize).clamp(2, cap)
}

/// Of the k compared, those whose mean silhouette is at least this share of the best are as
/// well separated as the best (see [`choose_k`]).
pub const NEAR_BEST: f32 = 0.95;

/// With `--k auto`, groups smaller than this join their nearest theme.
pub const MIN_AUTO_THEME: usize = 3;

/// Silhouette is computed on at most this many rows (an even spread) to bound its n² cost.
const SILHOUETTE_SAMPLE: usize = 2000;

/// The scores of k-means at every k of `range`, each after groups of fewer than
/// [`MIN_AUTO_THEME`] paragraphs joined their nearest theme: (k, themes left, mean silhouette
/// (cosine), labels).
fn score_ks(
    vectors: ArrayView2<f32>,
    tree: &cluster::WardTree,
    range: std::ops::RangeInclusive<usize>,
) -> Result<Vec<(usize, usize, f32, cluster::Labels)>, ThemeError> {
    let n = vectors.nrows();
    let step = n.div_ceil(SILHOUETTE_SAMPLE);
    let sample: Vec<usize> = (0..n).step_by(step).collect();
    let sampled = vectors.select(Axis(0), &sample);
    let similarity = sampled.dot(&sampled.t());
    let mut tried = Vec::new();
    for k in range {
        let labels = fold_small_groups(vectors, cluster::kmeans(vectors, k, tree)?, MIN_AUTO_THEME);
        let themes = labels.iter().flatten().max().map_or(0, |m| m + 1);
        let sampled_labels: cluster::Labels = sample.iter().map(|&r| labels[r]).collect();
        let score = cluster::silhouette(&similarity, &sampled_labels);
        tried.push((k, themes, score, labels));
    }
    Ok(tried)
}

/// `--k auto` for the top level: k-means from the Ward tree at every k of [`auto_k_range`],
/// scored by mean silhouette. Every k within [`NEAR_BEST`] of the best score is taken as equally
/// well separated (on real text the curve is flat: AG News 0.074 at k = 3, 0.067 at k = 4), and
/// of those the largest wins: a coarser cut would merge subjects the data keeps apart, and no
/// minimum forces more themes than the data shows.
fn choose_k(
    vectors: ArrayView2<f32>,
    tree: &cluster::WardTree,
) -> Result<(cluster::Labels, Option<KSelection>), ThemeError> {
    let n = vectors.nrows();
    if n < 2 * MIN_AUTO_THEME {
        return Ok((vec![Some(0); n], None));
    }
    let tried = score_ks(vectors, tree, auto_k_range(n))?;
    let best = tried.iter().map(|t| t.2).fold(f32::NEG_INFINITY, f32::max);
    let chosen = tried
        .iter()
        .filter(|t| {
            if best > 0.0 {
                t.2 >= NEAR_BEST * best
            } else {
                t.2 >= best
            }
        })
        .max_by_key(|t| t.0)
        .expect("the range is never empty");
    let best_k = tried.iter().find(|t| t.2 == best).map_or(chosen.0, |t| t.0);
    let selection = KSelection {
        scores: tried.iter().map(|t| (t.0, t.1, t.2)).collect(),
        chosen: chosen.1,
        best_k,
    };
    Ok((chosen.3.clone(), Some(selection)))
}

/// Bootstrap samples each level is re-fitted on to measure its themes' stability.
pub const STABILITY_SAMPLES: u64 = 10;

/// The Ward tree that starts each bootstrap re-fit's k-means is built on at most this many rows
/// (the fit itself on up to 3,000): ten re-fits per level would otherwise cost ten times the fit.
const STABILITY_WARD_SAMPLE: usize = 1000;

/// A theme whose stability is under this is marked unstable: Hennig (2007) reads a mean
/// bootstrap Jaccard under 0.6 as a group that does not come back, 0.6–0.75 as a pattern, and
/// above 0.85 as a stable group.
pub const UNSTABLE_BELOW: f32 = 0.6;

/// The stability of each group of `labels` (Hennig's cluster-wise bootstrap): `regroup` re-fits
/// the level on [`STABILITY_SAMPLES`] seeded bootstrap samples of the rows of `space` (drawn with
/// replacement, each row once); a group scores the mean over samples of its best Jaccard with
/// any group of the re-fit, both restricted to the sample's rows.
pub fn stability(
    space: ArrayView2<f32>,
    labels: &[Option<usize>],
    seed: u64,
    regroup: &dyn Fn(ArrayView2<f32>) -> Result<cluster::Labels, ThemeError>,
) -> Result<Vec<f32>, ThemeError> {
    use rand_xoshiro::rand_core::{RngCore, SeedableRng};
    let n = space.nrows();
    let k = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let mut sums = vec![0.0f64; k];
    let mut counted = vec![0usize; k];
    for sample in 0..STABILITY_SAMPLES {
        let mut rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(seed ^ (0x5eed + sample));
        let mut drawn = vec![false; n];
        for _ in 0..n {
            drawn[(rng.next_u64() % n as u64) as usize] = true;
        }
        let rows: Vec<usize> = (0..n).filter(|&r| drawn[r]).collect();
        let refit = regroup(space.select(Axis(0), &rows).view())?;
        let refit_k = refit.iter().flatten().max().map_or(0, |m| m + 1);
        let mut both = vec![vec![0usize; refit_k]; k];
        let mut own = vec![0usize; k];
        let mut other = vec![0usize; refit_k];
        for (i, &row) in rows.iter().enumerate() {
            if let Some(g) = labels[row] {
                own[g] += 1;
                if let Some(c) = refit[i] {
                    both[g][c] += 1;
                }
            }
            if let Some(c) = refit[i] {
                other[c] += 1;
            }
        }
        for g in 0..k {
            if own[g] == 0 {
                continue;
            }
            let best = (0..refit_k)
                .map(|c| both[g][c] as f64 / (own[g] + other[c] - both[g][c]) as f64)
                .fold(0.0, f64::max);
            sums[g] += best;
            counted[g] += 1;
        }
    }
    Ok(sums
        .iter()
        .zip(&counted)
        .map(|(&s, &c)| if c == 0 { 0.0 } else { (s / c as f64) as f32 })
        .collect())
}

/// About this many themes at most make up the fine level of the whole corpus.
pub const MAX_FINE_THEMES: usize = 30;

/// The sub-themes of one theme: its rows split by k-means from their own Ward tree into about
/// its share of √n groups, at most [`MAX_FINE_THEMES`] over the corpus (the corpus' fine grain), the k of best silhouette from that target to
/// 1.5 times it. `None` when the theme is too small to split or no split holds two groups.
fn split_theme(
    vectors: ArrayView2<f32>,
    rows: &[usize],
    corpus_size: usize,
    seed: u64,
) -> Result<Option<(cluster::Labels, Vec<f32>)>, ThemeError> {
    let m = rows.len();
    let share = m as f64 / corpus_size.max(1) as f64;
    let fine_themes = (corpus_size as f64).sqrt().min(MAX_FINE_THEMES as f64);
    let target = (fine_themes * share).round() as usize;
    let cap = m / MIN_AUTO_THEME;
    if target < 2 || cap < 2 {
        return Ok(None);
    }
    let upper = ((target as f64 * 1.5).round() as usize).min(cap);
    let target = target.min(upper);
    let members = vectors.select(Axis(0), rows);
    let mean = members.mean_axis(Axis(0)).expect("m ≥ 2");
    let members = centre(members.view(), mean.view());
    let tree = cluster::WardTree::new(members.view(), seed);
    let tried = score_ks(members.view(), &tree, target..=upper)?;
    let best = tried.into_iter().filter(|t| t.1 >= 2).fold(
        None::<(usize, usize, f32, cluster::Labels)>,
        |best, t| match best {
            Some(b) if b.2 >= t.2 => Some(b),
            _ => Some(t),
        },
    );
    let Some((_, parts, _, labels)) = best else {
        return Ok(None);
    };
    let stable = stability(members.view(), &labels, seed, &|sample| {
        let tree = cluster::WardTree::on_sample(sample, seed, STABILITY_WARD_SAMPLE);
        cluster::kmeans(sample, parts.min(sample.nrows()), &tree)
    })?;
    Ok(Some((labels, stable)))
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

/// A theme: its name, keywords and members (most central first), and its sub-themes.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub label: String,
    pub keywords: Vec<String>,
    /// Its [`TOP_WORDS`] most distinctive single words (c-TF-IDF, stop words out): what topic
    /// coherence and diversity are measured on.
    pub words: Vec<String>,
    pub members: Vec<Member>,
    /// How often the theme comes back when its level is re-fitted on seeded bootstrap samples:
    /// the mean best Jaccard (see [`stability`]); under [`UNSTABLE_BELOW`] it is unstable.
    pub stability: f32,
    /// The theme split at the corpus' fine grain, largest first; empty when it is not split.
    pub subthemes: Vec<Theme>,
}

/// Words per theme in [`Theme::words`] (topic measures use the top 10 and top 25).
pub const TOP_WORDS: usize = 25;

/// How k was chosen, for `--verbose` and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct KSelection {
    /// For every k compared: (k, themes after folding small groups, mean silhouette).
    pub scores: Vec<(usize, usize, f32)>,
    /// The number of themes chosen.
    pub chosen: usize,
    /// The k of the best silhouette (the chosen k is the largest within [`NEAR_BEST`] of it).
    pub best_k: usize,
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
        let space = grouping_space(vectors, params.method());
        let (labels, selection, radius) = group(space.view(), params)?;
        let k = labels.iter().flatten().max().map_or(0, |m| m + 1);
        if k == 0 {
            return Err(ThemeError::NoDenseGroups);
        }
        let top_stability = match (params.method(), radius) {
            (Method::Density, Some(radius)) => {
                let min_points = params.min_points();
                stability(space.view(), &labels, params.seed(), &|sample| {
                    cluster::dbscan(sample, min_points, radius)
                })?
            }
            _ => stability(space.view(), &labels, params.seed(), &|sample| {
                let tree =
                    cluster::WardTree::on_sample(sample, params.seed(), STABILITY_WARD_SAMPLE);
                cluster::kmeans(sample, k.min(sample.nrows()), &tree)
            })?,
        };
        let centroids = centroids_of(vectors, &labels, k);
        let members = members_of(vectors, &labels, &centroids);

        // Labels are scored in a space centred on the corpus mean: what every paragraph shares
        // (the corpus's subject) then pulls no phrase towards any theme.
        let mean = vectors.mean_axis(Axis(0)).expect("n > 0, checked");
        let centred = centre(vectors, mean.view());
        let text_refs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let naming = Naming {
            texts: &text_refs,
            centred: centred.view(),
            mean: mean.view(),
            keywords: params.keywords(),
            phrases,
        };
        let all_top: Vec<usize> = (0..k).collect();
        let top_names = naming.name(&labels, &members, &[all_top])?;

        // The fine level: each theme split on its own; a theme left whole is one group there.
        let mut fine_labels: cluster::Labels = vec![None; n];
        let mut fine_families: Vec<Vec<usize>> = Vec::new();
        let mut fine_stability: Vec<f32> = Vec::new();
        let mut fine_parent: Vec<usize> = Vec::new();
        for (c, group) in members.iter().enumerate() {
            let rows: Vec<usize> = group.iter().map(|m| m.row).collect();
            let split = match params.depth() {
                2 => split_theme(vectors, &rows, n, params.seed())?,
                _ => None,
            };
            let (parts, part_stability) =
                split.unwrap_or_else(|| (vec![Some(0); rows.len()], vec![1.0]));
            fine_stability.extend(part_stability);
            let offset = fine_parent.len();
            let count = parts.iter().flatten().max().map_or(0, |m| m + 1);
            for (row, part) in rows.iter().zip(&parts) {
                fine_labels[*row] = part.map(|p| offset + p);
            }
            fine_parent.extend(std::iter::repeat_n(c, count));
            fine_families.push((offset..offset + count).collect());
        }
        let fine_k = fine_parent.len();
        let fine_centroids = centroids_of(vectors, &fine_labels, fine_k);
        let fine_members = members_of(vectors, &fine_labels, &fine_centroids);
        let split_families: Vec<Vec<usize>> = fine_families
            .iter()
            .filter(|f| f.len() > 1)
            .cloned()
            .collect();
        let fine_names = if split_families.is_empty() {
            vec![None; fine_k]
        } else {
            naming.name(&fine_labels, &fine_members, &split_families)?
        };
        let words = label::top_words(&text_refs, &labels, k, TOP_WORDS);
        let fine_words = label::top_words(&text_refs, &fine_labels, fine_k, TOP_WORDS);
        let mut fine_members: Vec<Option<Vec<Member>>> =
            fine_members.into_iter().map(Some).collect();
        let themes: Vec<Theme> = members
            .into_iter()
            .zip(top_names)
            .zip(words)
            .enumerate()
            .map(|(c, ((members, name), words))| {
                let family = &fine_families[c];
                let subthemes = if family.len() > 1 {
                    let subs = family
                        .iter()
                        .map(|&f| {
                            let (label, keywords) = fine_names[f].clone().unwrap_or_default();
                            Theme {
                                label,
                                keywords,
                                words: fine_words[f].clone(),
                                members: fine_members[f].take().expect("each once"),
                                stability: fine_stability[f],
                                subthemes: Vec::new(),
                            }
                        })
                        .collect();
                    largest_first_only(subs)
                } else {
                    Vec::new()
                };
                let (label, keywords) = name.unwrap_or_default();
                Theme {
                    label: if label.is_empty() {
                        format!("theme {}", c + 1)
                    } else {
                        label
                    },
                    keywords,
                    words,
                    members,
                    stability: top_stability[c],
                    subthemes,
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

/// The space a method groups in: for k-means, the vectors centred on their mean and scaled back
/// to unit length; for the density method, the vectors as they are.
fn grouping_space(vectors: ArrayView2<f32>, method: Method) -> Array2<f32> {
    match method {
        Method::KMeans => {
            let mean = vectors.mean_axis(Axis(0)).expect("n > 0, checked");
            centre(vectors, mean.view())
        }
        Method::Density => vectors.to_owned(),
    }
}

/// The groups (a label per row, `None` for outliers), with how k or the radius was chosen.
type Grouping = (cluster::Labels, Option<KSelection>, Option<f32>);

///
/// k-means runs on the vectors centred on their mean and scaled back to unit length: what every
/// paragraph shares (the corpus' subject) then pulls no two groups together. On AG News this put
/// k = 4 within reach of the silhouette rule (V-measure at k = 4 unchanged, 0.592).
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
            let (labels, radius) =
                cluster::density(vectors, params.min_points(), params.max_outliers())?;
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

/// A group's label and its keywords (the label first).
type LabelAndKeywords = (String, Vec<String>);

/// What naming the groups of one level needs: the texts, the vectors centred on the corpus
/// mean, and the phrase embedder if any.
struct Naming<'a> {
    texts: &'a [&'a str],
    centred: ArrayView2<'a, f32>,
    mean: ndarray::ArrayView1<'a, f32>,
    keywords: usize,
    phrases: Option<&'a dyn PhraseEmbedder>,
}

impl Naming<'_> {
    /// A (label, keywords) for every group in one of `families`: phrases scored by c-TF-IDF
    /// against all groups of the level, re-ranked by closeness to the group's centroid and
    /// distance from its siblings (the other groups of its family). Groups in no family get
    /// `None`.
    fn name(
        &self,
        labels: &[Option<usize>],
        members: &[Vec<Member>],
        families: &[Vec<usize>],
    ) -> Result<Vec<Option<LabelAndKeywords>>, ThemeError> {
        let k = members.len();
        let centroids = centroids_of(self.centred, labels, k);
        let central: Vec<Vec<usize>> = members
            .iter()
            .map(|m| m.iter().take(CENTRAL_PARAGRAPHS).map(|m| m.row).collect())
            .collect();
        let named: Vec<bool> = (0..k)
            .map(|g| families.iter().any(|f| f.contains(&g)))
            .collect();
        let candidates = label::candidates(self.texts, labels, &central, k, CANDIDATES_PER_THEME);
        let phrase_vectors = match self.phrases {
            Some(embedder) => self.embed_candidates(embedder, &candidates, &named)?,
            None => vec![None; k],
        };
        let mut names = vec![None; k];
        for family in families {
            let siblings = centroids.select(Axis(0), family);
            for (position, &g) in family.iter().enumerate() {
                let naming = label::select(
                    &candidates.per_class[g],
                    phrase_vectors[g].as_ref(),
                    position,
                    &siblings,
                    self.keywords,
                    DIVERSITY,
                    members[g].len(),
                );
                names[g] = Some((naming.label, naming.keywords));
            }
        }
        Ok(names)
    }

    /// The candidates of every group in `named`, embedded in one call, centred like the
    /// centroids, split back per group.
    fn embed_candidates(
        &self,
        embedder: &dyn PhraseEmbedder,
        candidates: &label::Candidates,
        named: &[bool],
    ) -> Result<Vec<Option<Array2<f32>>>, ThemeError> {
        let all: Vec<String> = candidates
            .per_class
            .iter()
            .zip(named)
            .filter(|(_, &named)| named)
            .flat_map(|(c, _)| c.iter().map(|c| c.shown.clone()))
            .collect();
        let vectors = centre(embedder.embed_phrases(&all)?.view(), self.mean);
        let mut offset = 0;
        Ok(candidates
            .per_class
            .iter()
            .zip(named)
            .map(|(class, &named)| {
                if !named {
                    return None;
                }
                let rows = vectors.slice(ndarray::s![offset..offset + class.len(), ..]);
                offset += class.len();
                Some(rows.to_owned())
            })
            .collect())
    }
}

/// Largest sub-theme first; equal sizes by their most central paragraph's row.
fn largest_first_only(mut themes: Vec<Theme>) -> Vec<Theme> {
    themes.sort_by_key(|t| (std::cmp::Reverse(t.members.len()), t.members[0].row));
    themes
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
