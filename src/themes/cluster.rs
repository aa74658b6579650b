//! Grouping unit vectors: k-means (linfa) with k fixed or chosen by silhouette, or DBSCAN
//! (linfa) for a density grouping that leaves outliers out.

use linfa::prelude::*;
use linfa_clustering::{Dbscan, KMeans, KMeansInit};
use ndarray::{Array2, ArrayView2, Axis};
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;

use super::ThemeError;

/// A cluster index per row; `None` for an outlier.
pub type Labels = Vec<Option<usize>>;

/// At most this many paragraphs go into the Ward tree (its memory grows with the square).
pub const WARD_SAMPLE: usize = 3000;

/// A Ward dendrogram over (a sample of) the rows: cut at k, it seeds k-means.
pub struct WardTree {
    /// Rows of the full matrix that are leaves of the tree.
    rows: Vec<usize>,
    steps: Vec<kodama::Step<f64>>,
}

impl WardTree {
    /// Builds the tree on every row, or on a seeded sample of [`WARD_SAMPLE`] rows.
    pub fn new(vectors: ArrayView2<f32>, seed: u64) -> Self {
        Self::on_sample(vectors, seed, WARD_SAMPLE)
    }

    /// Builds the tree on every row, or on a seeded sample of `sample` rows.
    pub fn on_sample(vectors: ArrayView2<f32>, seed: u64, sample: usize) -> Self {
        let rows = super::sample_rows(vectors.nrows(), sample, seed);
        let m = rows.len();
        // Squared distances from one matrix product: |a|² + |b|² − 2a·b (clamped at 0, as
        // rounding can leave a hair below it for near-duplicates).
        let leaves = vectors.select(Axis(0), &rows);
        let gram = leaves.dot(&leaves.t());
        let mut condensed = Vec::with_capacity(m * m.saturating_sub(1) / 2);
        for i in 0..m {
            for j in i + 1..m {
                let d2 = gram[[i, i]] + gram[[j, j]] - 2.0 * gram[[i, j]];
                condensed.push(f64::from(d2.max(0.0)).sqrt());
            }
        }
        let steps = if m > 1 {
            kodama::linkage(&mut condensed, m, kodama::Method::Ward)
                .steps()
                .to_vec()
        } else {
            Vec::new()
        };
        Self { rows, steps }
    }

    /// The tree's leaves grouped into `k` clusters: (row, cluster) pairs.
    fn cut(&self, k: usize) -> Vec<(usize, usize)> {
        let m = self.rows.len();
        let mut parent: Vec<usize> = (0..2 * m).collect();
        for (i, step) in self.steps.iter().take(m.saturating_sub(k)).enumerate() {
            parent[step.cluster1] = m + i;
            parent[step.cluster2] = m + i;
        }
        let root = |mut c: usize| {
            while parent[c] != c {
                c = parent[c];
            }
            c
        };
        self.rows
            .iter()
            .enumerate()
            .map(|(leaf, &row)| (row, root(leaf)))
            .collect()
    }

    /// Centroids of the k clusters of the cut, for k-means to start from.
    fn centroids(&self, vectors: ArrayView2<f32>, k: usize) -> Array2<f32> {
        let cut = self.cut(k);
        let labels = relabel(cut.iter().map(|&(_, c)| Some(c)).collect());
        let mut sums = Array2::<f32>::zeros((k, vectors.ncols()));
        let mut counts = vec![0f32; k];
        for (&(row, _), label) in cut.iter().zip(&labels) {
            let c = label.expect("every leaf has a cluster");
            let mut sum = sums.row_mut(c);
            sum += &vectors.row(row);
            counts[c] += 1.0;
        }
        for (mut sum, count) in sums.rows_mut().into_iter().zip(counts) {
            sum /= count.max(1.0);
        }
        sums
    }
}

/// k-means (linfa) on unit vectors, started from the Ward tree's cut at k: deterministic, and in
/// our measurements a lower k-means objective than k-means++ with many restarts. Euclidean
/// distance on the sphere orders pairs as cosine does.
pub fn kmeans(vectors: ArrayView2<f32>, k: usize, tree: &WardTree) -> Result<Labels, ThemeError> {
    let data = DatasetBase::from(vectors.to_owned());
    let start = tree.centroids(vectors, k);
    let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(0))
        .init_method(KMeansInit::Precomputed(start))
        .n_runs(1)
        .max_n_iterations(300)
        .tolerance(1e-6)
        .fit(&data)?;
    let labels = model.predict(&data);
    Ok(relabel(labels.iter().map(|&l| Some(l)).collect()))
}

/// k-means (linfa) from a k-means++ start: one run, seeded.
pub fn kmeans_plus_plus(
    vectors: ArrayView2<f32>,
    k: usize,
    seed: u64,
) -> Result<Labels, ThemeError> {
    kmeans_plus_plus_runs(vectors, k, seed, 1)
}

/// k-means (linfa) from `runs` seeded k-means++ starts, the lowest objective kept.
pub fn kmeans_plus_plus_runs(
    vectors: ArrayView2<f32>,
    k: usize,
    seed: u64,
    runs: usize,
) -> Result<Labels, ThemeError> {
    let data = DatasetBase::from(vectors.to_owned());
    let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
        .init_method(KMeansInit::KMeansPlusPlus)
        .n_runs(runs)
        .max_n_iterations(300)
        .tolerance(1e-6)
        .fit(&data)?;
    Ok(relabel(
        model.predict(&data).iter().map(|&l| Some(l)).collect(),
    ))
}

/// The k-means objective of `labels`: the sum over grouped rows of the squared distance to their
/// group's mean.
pub fn inertia(vectors: ArrayView2<f32>, labels: &[Option<usize>]) -> f64 {
    let k = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let mut sums = Array2::<f64>::zeros((k, vectors.ncols()));
    let mut counts = vec![0f64; k];
    for (row, label) in vectors.rows().into_iter().zip(labels) {
        if let Some(c) = *label {
            let mut sum = sums.row_mut(c);
            sum.zip_mut_with(&row, |s, &v| *s += f64::from(v));
            counts[c] += 1.0;
        }
    }
    let mut total = 0.0;
    for (row, label) in vectors.rows().into_iter().zip(labels) {
        if let Some(c) = *label {
            let n = counts[c];
            total += row
                .iter()
                .zip(sums.row(c))
                .map(|(&v, &s)| (f64::from(v) - s / n).powi(2))
                .sum::<f64>();
        }
    }
    total
}

/// DBSCAN (linfa) with at least `min_points` neighbours within a radius read off the data: of
/// the deciles of the distances from each point to its `min_points`-th nearest neighbour, the
/// one whose grouping scores best as mean silhouette of the grouped points times the share of
/// points grouped (ties: the smaller radius). With an outlier budget, only radii that leave at
/// most that share out compete, and the (1 − budget) quantile of those distances joins them:
/// at that radius at least 1 − budget of the points are core points, so it always keeps to it.
pub fn density(
    vectors: ArrayView2<f32>,
    min_points: usize,
    max_outliers: Option<f32>,
) -> Result<(Labels, f32), ThemeError> {
    let n = vectors.nrows();
    let similarity = vectors.dot(&vectors.t());
    let mut kth: Vec<f32> = similarity
        .axis_iter(Axis(0))
        .map(|row| {
            let mut distances: Vec<f32> = row
                .iter()
                .map(|&s| (2.0 - 2.0 * s).max(0.0).sqrt())
                .collect();
            distances.sort_by(f32::total_cmp);
            distances[min_points.min(n - 1)]
        })
        .collect();
    kth.sort_by(f32::total_cmp);
    let mut radii: Vec<f32> = (1..=9)
        .map(|decile| kth[(decile * n / 10).min(n - 1)])
        .collect();
    if let Some(budget) = max_outliers {
        let core = ((1.0 - f64::from(budget)) * n as f64).ceil() as usize;
        // A hair wider, so a neighbour at exactly that distance counts however DBSCAN compares.
        radii.push(kth[core.saturating_sub(1).min(n - 1)] * 1.000_001 + 1e-7);
    }
    let mut best: Option<(f32, Labels, f32)> = None;
    for radius in radii {
        let radius = radius.max(1e-6);
        let labels = dbscan(vectors, min_points, radius)?;
        let grouped = labels.iter().flatten().count() as f32 / n as f32;
        if max_outliers.is_some_and(|budget| 1.0 - grouped > budget + 1e-6) {
            continue;
        }
        let score = silhouette(&similarity, &labels) * grouped;
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, labels, radius));
        }
    }
    let (_, labels, radius) = best.expect("one radius always keeps to the budget");
    Ok((labels, radius))
}

/// DBSCAN (linfa) at a given radius: the density method's grouping re-run on other rows.
pub fn dbscan(
    vectors: ArrayView2<f32>,
    min_points: usize,
    radius: f32,
) -> Result<Labels, ThemeError> {
    let labels = Dbscan::params(min_points)
        .tolerance(radius)
        .check()?
        .transform(&vectors);
    Ok(relabel(labels.to_vec()))
}

/// Numbers clusters in order of first appearance, so the same grouping always reads the same.
pub fn relabel(labels: Labels) -> Labels {
    let mut map = std::collections::HashMap::new();
    labels
        .into_iter()
        .map(|l| {
            l.map(|c| {
                let next = map.len();
                *map.entry(c).or_insert(next)
            })
        })
        .collect()
}

/// Mean silhouette with cosine distance, over rows that have a cluster; needs ≥ 2 clusters.
pub fn silhouette(similarity: &Array2<f32>, labels: &Labels) -> f32 {
    let k = labels.iter().flatten().max().map_or(0, |m| m + 1);
    if k < 2 {
        return 0.0;
    }
    let sizes = labels.iter().flatten().fold(vec![0usize; k], |mut s, &c| {
        s[c] += 1;
        s
    });
    let mut total = 0.0f64;
    let mut counted = 0usize;
    for (i, label) in labels.iter().enumerate() {
        let Some(own) = *label else { continue };
        counted += 1;
        if sizes[own] <= 1 {
            continue; // silhouette 0 for a singleton, by convention
        }
        let mut sums = vec![0.0f64; k];
        for (j, other) in labels.iter().enumerate() {
            if let (Some(c), true) = (other, i != j) {
                sums[*c] += f64::from(1.0 - similarity[[i, j]]);
            }
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        total += (b - a) / a.max(b).max(1e-12);
    }
    (total / counted.max(1) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> Array2<f32> {
        // Three tight groups of unit vectors around three axes.
        let mut rows = Vec::new();
        for axis in 0..3 {
            for j in 0..5 {
                let mut v = vec![0.05 * j as f32; 4];
                v[axis] = 1.0;
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                rows.extend(v.into_iter().map(|x| x / norm));
            }
        }
        Array2::from_shape_vec((15, 4), rows).unwrap()
    }

    #[test]
    fn kmeans_finds_the_groups_and_numbers_them_in_order() {
        let v = blobs();
        let labels = kmeans(v.view(), 3, &WardTree::new(v.view(), 1)).unwrap();
        let expected: Labels = (0..15).map(|i| Some(i / 5)).collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn silhouette_prefers_the_true_k() {
        let v = blobs();
        let sim = v.dot(&v.t());
        let tree = WardTree::new(v.view(), 1);
        let s3 = silhouette(&sim, &kmeans(v.view(), 3, &tree).unwrap());
        let s2 = silhouette(&sim, &kmeans(v.view(), 2, &tree).unwrap());
        assert!(s3 > 0.8 && s3 > s2, "s3 {s3}, s2 {s2}");
    }

    #[test]
    fn density_leaves_a_stray_point_out() {
        let mut v = blobs().into_raw_vec_and_offset().0;
        v.extend([0.5, 0.5, 0.5, 0.5]);
        let v = Array2::from_shape_vec((16, 4), v).unwrap();
        let (labels, _) = density(v.view(), 3, None).unwrap();
        assert_eq!(labels[15], None);
        assert_eq!(labels.iter().flatten().max(), Some(&2));
    }
}
