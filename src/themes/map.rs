//! The theme map: a 2-D layout of paragraph vectors in the manner of PaCMAP (Wang et al., JMLR
//! 2021): near neighbours pulled together, mid-near pairs holding the global shape early on,
//! random far pairs pushed apart, from a PCA start, optimised with Adam; seeded, so the same
//! vectors and seed give the same map. Near neighbours are exact up to 10,000 points and come
//! from the index's HNSW graph above that, so a map holds up to 50,000.

use ndarray::{Array2, ArrayView2, Axis};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;
use rayon::prelude::*;

use crate::index::{Ann, IndexError};
use crate::pca::{principal_axes, PcaError};

/// Near neighbours per point.
const NEIGHBOURS: usize = 10;
/// Far pairs per point, drawn at random.
const FAR_PAIRS: usize = 5;
/// Of six random points, the second closest makes a mid-near pair.
const MID_NEAR_DRAW: usize = 6;
/// Optimisation steps in the three phases (global shape, then local).
const PHASES: [usize; 3] = [100, 100, 250];
const LEARNING_RATE: f32 = 1.0;

/// At most this many paragraphs are laid out; a larger corpus is mapped through a seeded
/// sample of this size. More dots than this stop telling a reader more on one screen, and the
/// browser slows.
pub const MAP_MAX_POINTS: usize = 50_000;
/// Up to this many points the near neighbours are exact (a blocked similarity matrix: its cost
/// grows with the square, about a second at 10,000); above it they come from an HNSW graph.
const EXACT_NEIGHBOURS_UP_TO: usize = 10_000;
/// Candidates taken from the graph per point and re-ranked by exact cosine.
const CANDIDATES: usize = 3 * NEIGHBOURS;

/// Why a map could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("theme map: {0}")]
    Neighbours(#[from] IndexError),
    #[error("theme map: {0}")]
    Start(#[from] PcaError),
}

/// Rows of `vectors` (unit rows) placed in the plane, one (x, y) per row, in [0, 1]².
/// Fewer than 3 rows sit on a line.
pub fn layout(vectors: ArrayView2<f32>, seed: u64) -> Result<Array2<f32>, MapError> {
    layout_with(vectors, seed, EXACT_NEIGHBOURS_UP_TO)
}

/// [`layout`], with exact neighbours up to `exact_up_to` points (tests take the graph path on
/// small inputs with 0).
fn layout_with(
    vectors: ArrayView2<f32>,
    seed: u64,
    exact_up_to: usize,
) -> Result<Array2<f32>, MapError> {
    let n = vectors.nrows();
    if n < 3 {
        let mut out = Array2::from_elem((n, 2), 0.5f32);
        for i in 0..n {
            out[[i, 0]] = i as f32;
        }
        return Ok(out);
    }
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let k = NEIGHBOURS.min(n - 1);
    let neighbours = if n <= exact_up_to {
        nearest_neighbours(vectors, k)
    } else {
        graph_neighbours(vectors, k)?
    };
    let mid_near = mid_near_pairs(vectors, &mut rng);
    let mut y = pca_start(vectors)?;
    let mut adam = Adam::new(n);
    let mut step = 0usize;
    for (phase, &steps) in PHASES.iter().enumerate() {
        for i in 0..steps {
            // Weights of the near, mid-near and far terms in each phase, as the paper sets them.
            let (w_near, w_mid, w_far) = match phase {
                0 => {
                    let t = i as f32 / steps as f32;
                    (2.0, 1000.0 * (1.0 - t) + 3.0 * t, 1.0)
                }
                1 => (3.0, 3.0, 1.0),
                _ => (1.0, 0.0, 1.0),
            };
            let mut grad = Array2::<f32>::zeros((n, 2));
            for (a, list) in neighbours.iter().enumerate() {
                for &b in list {
                    pull(&y, &mut grad, a, b, w_near, 10.0);
                }
            }
            if w_mid > 0.0 {
                for &(a, b) in &mid_near {
                    pull(&y, &mut grad, a, b, w_mid, 10_000.0);
                }
            }
            for a in 0..n {
                for _ in 0..FAR_PAIRS {
                    let b = (rng.next_u64() % n as u64) as usize;
                    if b != a {
                        push(&y, &mut grad, a, b, w_far);
                    }
                }
            }
            step += 1;
            adam.step(&mut y, &grad, step);
        }
    }
    Ok(normalise(y))
}

/// The rows to map (all of them, or a seeded sample of [`MAP_MAX_POINTS`], in row order) and
/// their layout.
pub fn sampled_layout(
    vectors: ArrayView2<f32>,
    seed: u64,
) -> Result<(Vec<usize>, Array2<f32>), MapError> {
    let rows = super::sample_rows(vectors.nrows(), MAP_MAX_POINTS, seed);
    let y = if rows.len() == vectors.nrows() {
        layout(vectors, seed)?
    } else {
        layout(vectors.select(Axis(0), &rows).view(), seed)?
    };
    Ok((rows, y))
}

/// The loss d/(c + d) of a pair at d = 1 + |ya − yb|², pulling them together.
fn pull(y: &Array2<f32>, grad: &mut Array2<f32>, a: usize, b: usize, weight: f32, c: f32) {
    let (dx, dy) = (y[[a, 0]] - y[[b, 0]], y[[a, 1]] - y[[b, 1]]);
    let d = 1.0 + dx * dx + dy * dy;
    let g = weight * 2.0 * c / ((c + d) * (c + d));
    grad[[a, 0]] += g * dx;
    grad[[a, 1]] += g * dy;
    grad[[b, 0]] -= g * dx;
    grad[[b, 1]] -= g * dy;
}

/// The loss 1/(1 + d) of a far pair, pushing them apart.
fn push(y: &Array2<f32>, grad: &mut Array2<f32>, a: usize, b: usize, weight: f32) {
    let (dx, dy) = (y[[a, 0]] - y[[b, 0]], y[[a, 1]] - y[[b, 1]]);
    let d = 1.0 + dx * dx + dy * dy;
    let g = -weight * 2.0 / ((1.0 + d) * (1.0 + d));
    grad[[a, 0]] += g * dx;
    grad[[a, 1]] += g * dy;
    grad[[b, 0]] -= g * dx;
    grad[[b, 1]] -= g * dy;
}

struct Adam {
    m: Array2<f32>,
    v: Array2<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Self {
            m: Array2::zeros((n, 2)),
            v: Array2::zeros((n, 2)),
        }
    }

    fn step(&mut self, y: &mut Array2<f32>, grad: &Array2<f32>, t: usize) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        let correction = (1.0 - B2.powi(t as i32)).sqrt() / (1.0 - B1.powi(t as i32));
        ndarray::Zip::from(y)
            .and(&mut self.m)
            .and(&mut self.v)
            .and(grad)
            .for_each(|y, m, v, &g| {
                *m = B1 * *m + (1.0 - B1) * g;
                *v = B2 * *v + (1.0 - B2) * g * g;
                *y -= LEARNING_RATE * correction * *m / (v.sqrt() + 1e-7);
            });
    }
}

/// Each row's `k` most similar other rows (cosine), by blocks of the similarity matrix.
fn nearest_neighbours(vectors: ArrayView2<f32>, k: usize) -> Vec<Vec<usize>> {
    const BLOCK: usize = 512;
    let n = vectors.nrows();
    let mut out = Vec::with_capacity(n);
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for start in (0..n).step_by(BLOCK) {
        let end = (start + BLOCK).min(n);
        let scores = vectors.slice(ndarray::s![start..end, ..]).dot(&vectors.t());
        for (offset, row) in scores.axis_iter(Axis(0)).enumerate() {
            let me = start + offset;
            // One buffer of every row for all rows: a fresh one kept per row would hold n
            // entries' capacity each, n² in all.
            order.clear();
            order.extend((0..n).filter(|&j| j != me));
            let closer = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
            order.select_nth_unstable_by(k - 1, closer);
            let mut nearest = order[..k].to_vec();
            nearest.sort_unstable_by(closer);
            out.push(nearest);
        }
    }
    out
}

/// Each row's `k` most similar other rows (cosine) by the HNSW graph, built in row order on
/// one thread so the same rows give the same graph, searched on every core; each row's
/// candidates are re-ranked by exact cosine.
fn graph_neighbours(vectors: ArrayView2<f32>, k: usize) -> Result<Vec<Vec<usize>>, IndexError> {
    let rows = vectors.as_standard_layout();
    let mut graph = Ann::new(rows.ncols())?;
    graph.add_in_order(0, rows.view())?;
    (0..rows.nrows())
        .into_par_iter()
        .map(|a| {
            let me = rows.row(a);
            let query = me.as_slice().expect("a standard-layout row is contiguous");
            let mut scored: Vec<(f32, usize)> = graph
                .search(query, CANDIDATES + 1)?
                .into_iter()
                .filter(|&b| b != a)
                .map(|b| (me.dot(&rows.row(b)), b))
                .collect();
            scored.sort_unstable_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            Ok(scored.into_iter().take(k).map(|(_, b)| b).collect())
        })
        .collect()
}

/// One mid-near pair per row: of [`MID_NEAR_DRAW`] random rows, the second most similar.
fn mid_near_pairs(vectors: ArrayView2<f32>, rng: &mut Xoshiro256Plus) -> Vec<(usize, usize)> {
    let n = vectors.nrows();
    (0..n)
        .map(|a| {
            let mut drawn: Vec<(f32, usize)> = (0..MID_NEAR_DRAW)
                .map(|_| (rng.next_u64() % n as u64) as usize)
                .filter(|&b| b != a)
                .map(|b| (vectors.row(a).dot(&vectors.row(b)), b))
                .collect();
            drawn.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
            (
                a,
                drawn.get(1).or(drawn.first()).map_or((a + 1) % n, |d| d.1),
            )
        })
        .collect()
}

/// The rows projected on their first two principal components, scaled to a standard
/// deviation of 10 on the first axis, as PaCMAP starts.
fn pca_start(vectors: ArrayView2<f32>) -> Result<Array2<f32>, PcaError> {
    let mean = vectors.mean_axis(Axis(0)).expect("n ≥ 3");
    let centred = &vectors - &mean;
    let covariance = centred.t().dot(&centred).mapv(f64::from);
    let (axes, _) = principal_axes(covariance.view(), 2)?;
    let y = centred.dot(&axes.mapv(|x| x as f32));
    let spread = y.column(0).std(0.0).max(1e-12);
    Ok(y * (10.0 / spread))
}

/// Scaled into [0, 1]² keeping the aspect ratio, centred.
fn normalise(mut y: Array2<f32>) -> Array2<f32> {
    let min = |c: usize| y.column(c).iter().copied().fold(f32::INFINITY, f32::min);
    let max = |c: usize| {
        y.column(c)
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let (x0, x1, y0, y1) = (min(0), max(0), min(1), max(1));
    let scale = (x1 - x0).max(y1 - y0).max(1e-12);
    let (cx, cy) = ((x1 + x0) / 2.0, (y1 + y0) / 2.0);
    for mut row in y.rows_mut() {
        row[0] = 0.5 + (row[0] - cx) / scale;
        row[1] = 0.5 + (row[1] - cy) / scale;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight groups around three axes of a 6-dimensional space.
    fn groups() -> Array2<f32> {
        let mut rows = Vec::new();
        for g in 0..3 {
            for j in 0..20 {
                let mut v = vec![0.02 * ((j * 5 + g) % 7) as f32; 6];
                v[g * 2] = 1.0;
                v[g * 2 + 1] = 0.03 * (j % 4) as f32;
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                rows.extend(v.into_iter().map(|x| x / norm));
            }
        }
        Array2::from_shape_vec((60, 6), rows).unwrap()
    }

    /// The three groups of [`groups`] apart on `y`, each tighter than the gaps between them.
    fn assert_groups_apart(y: &Array2<f32>) {
        assert_eq!(y.dim(), (60, 2));
        assert!(y.iter().all(|c| (0.0..=1.0).contains(c)));
        let centre = |g: usize| {
            let rows = y.slice(ndarray::s![g * 20..(g + 1) * 20, ..]);
            rows.mean_axis(Axis(0)).unwrap()
        };
        let spread = |g: usize| {
            let c = centre(g);
            let rows = y.slice(ndarray::s![g * 20..(g + 1) * 20, ..]);
            rows.rows()
                .into_iter()
                .map(|r| ((r[0] - c[0]).powi(2) + (r[1] - c[1]).powi(2)).sqrt())
                .fold(0.0f32, f32::max)
        };
        for a in 0..3 {
            for b in a + 1..3 {
                let (ca, cb) = (centre(a), centre(b));
                let apart = ((ca[0] - cb[0]).powi(2) + (ca[1] - cb[1]).powi(2)).sqrt();
                assert!(
                    apart > 2.0 * spread(a).max(spread(b)),
                    "groups {a} and {b}: {apart} apart, spreads {} {}",
                    spread(a),
                    spread(b)
                );
            }
        }
    }

    #[test]
    fn groups_stay_apart_on_the_map_and_the_seed_fixes_it() {
        let v = groups();
        let y = layout(v.view(), 7).unwrap();
        assert_groups_apart(&y);
        assert_eq!(y, layout(v.view(), 7).unwrap(), "same seed, same map");
    }

    #[test]
    fn the_graph_finds_the_exact_neighbours_and_its_map_is_seeded_too() {
        let v = groups();
        let exact = nearest_neighbours(v.view(), NEIGHBOURS);
        let graph = graph_neighbours(v.view(), NEIGHBOURS).unwrap();
        // Ties among near-identical rows may order differently; the sets must agree.
        let found: usize = exact
            .iter()
            .zip(&graph)
            .map(|(e, g)| g.iter().filter(|b| e.contains(b)).count())
            .sum();
        assert!(
            found * 100 >= 95 * 60 * NEIGHBOURS,
            "{found} of {}",
            60 * NEIGHBOURS
        );
        assert!(graph
            .iter()
            .enumerate()
            .all(|(a, list)| list.len() == NEIGHBOURS && !list.contains(&a)));
        let y = layout_with(v.view(), 7, 0).unwrap();
        assert_groups_apart(&y);
        assert_eq!(
            y,
            layout_with(v.view(), 7, 0).unwrap(),
            "same rows and seed, same map"
        );
    }

    #[test]
    fn tiny_inputs_get_a_layout() {
        let v = Array2::from_shape_vec((2, 2), vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        assert_eq!(layout(v.view(), 1).unwrap().nrows(), 2);
        assert_eq!(
            layout(Array2::<f32>::zeros((0, 4)).view(), 1)
                .unwrap()
                .nrows(),
            0
        );
    }
}

/// The graph's neighbours against exact search on real vectors: `MAP_NPY` (an `embed` output)
/// and `MAP_N` rows of it drawn by seed 7; run with `--ignored` (docs/testing.md).
#[cfg(test)]
mod on_real_vectors {
    use super::*;

    #[test]
    #[ignore = "needs MAP_NPY and MAP_N"]
    fn graph_neighbours_are_as_near_as_exact_ones() {
        let path = std::env::var("MAP_NPY").expect("MAP_NPY: an .npy of unit rows");
        let n: usize = std::env::var("MAP_N").expect("MAP_N").parse().unwrap();
        let all: Array2<f32> = ndarray_npy::read_npy(&path).unwrap();
        let rows = super::super::sample_rows(all.nrows(), n, 7);
        let v = all.select(Axis(0), &rows);
        let started = std::time::Instant::now();
        let exact = nearest_neighbours(v.view(), NEIGHBOURS);
        let exact_s = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        let graph = graph_neighbours(v.view(), NEIGHBOURS).unwrap();
        let graph_s = started.elapsed().as_secs_f64();
        // A graph neighbour counts when it is as similar as the exact k-th (duplicates tie).
        let as_near: usize = exact
            .iter()
            .zip(&graph)
            .enumerate()
            .map(|(a, (e, g))| {
                let kth = v.row(a).dot(&v.row(*e.last().unwrap()));
                g.iter()
                    .filter(|&&b| v.row(a).dot(&v.row(b)) >= kth - 1e-6)
                    .count()
            })
            .sum();
        let recall = as_near as f64 / (v.nrows() * NEIGHBOURS) as f64;
        let started = std::time::Instant::now();
        let y = layout_with(v.view(), 7, 0).unwrap();
        let layout_s = started.elapsed().as_secs_f64();
        eprintln!(
            "{} rows: recall@{NEIGHBOURS} {recall:.4}; exact {exact_s:.1}s, graph {graph_s:.1}s, layout on the graph {layout_s:.1}s",
            v.nrows()
        );
        assert!(recall >= 0.98, "recall {recall}");
        assert_eq!(
            y,
            layout_with(v.view(), 7, 0).unwrap(),
            "same rows, same map"
        );
    }
}
