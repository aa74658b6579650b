//! The theme map: a 2-D layout of paragraph vectors in the manner of PaCMAP (Wang et al., JMLR
//! 2021): near neighbours pulled together, mid-near pairs holding the global shape early on,
//! random far pairs pushed apart, from a PCA start, optimised with Adam; seeded, so the same
//! vectors and seed give the same map.

use ndarray::{Array2, ArrayView2, Axis};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;

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
/// sample of this size (the exact neighbour search is quadratic).
pub const MAP_MAX_POINTS: usize = 10_000;

/// Rows of `vectors` (unit rows) placed in the plane, one (x, y) per row, in [0, 1]².
/// Fewer than 3 rows sit on a line.
pub fn layout(vectors: ArrayView2<f32>, seed: u64) -> Array2<f32> {
    let n = vectors.nrows();
    if n < 3 {
        let mut out = Array2::from_elem((n, 2), 0.5f32);
        for i in 0..n {
            out[[i, 0]] = i as f32;
        }
        return out;
    }
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let neighbours = nearest_neighbours(vectors, NEIGHBOURS.min(n - 1));
    let mid_near = mid_near_pairs(vectors, &mut rng);
    let mut y = pca_start(vectors);
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
    normalise(y)
}

/// The rows to map (all of them, or a seeded sample of [`MAP_MAX_POINTS`], in row order) and
/// their layout.
pub fn sampled_layout(vectors: ArrayView2<f32>, seed: u64) -> (Vec<usize>, Array2<f32>) {
    let n = vectors.nrows();
    let mut rows: Vec<usize> = (0..n).collect();
    if n > MAP_MAX_POINTS {
        let mut rng = Xoshiro256Plus::seed_from_u64(seed);
        for i in (1..n).rev() {
            rows.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        rows.truncate(MAP_MAX_POINTS);
        rows.sort_unstable();
    }
    let y = layout(vectors.select(Axis(0), &rows).view(), seed);
    (rows, y)
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
    for start in (0..n).step_by(BLOCK) {
        let end = (start + BLOCK).min(n);
        let scores = vectors.slice(ndarray::s![start..end, ..]).dot(&vectors.t());
        for (offset, row) in scores.axis_iter(Axis(0)).enumerate() {
            let me = start + offset;
            let mut order: Vec<usize> = (0..n).filter(|&j| j != me).collect();
            order.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            order.truncate(k);
            order.sort_unstable_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            out.push(order);
        }
    }
    out
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

/// The first two principal components of the centred rows (power iteration from a fixed
/// start), scaled to a standard deviation of 10 on the first axis, as PaCMAP starts.
fn pca_start(vectors: ArrayView2<f32>) -> Array2<f32> {
    let mean = vectors.mean_axis(Axis(0)).expect("n ≥ 3");
    let centred = &vectors - &mean;
    let covariance = centred.t().dot(&centred);
    let dim = covariance.nrows();
    let mut components: Vec<ndarray::Array1<f32>> = Vec::new();
    for c in 0..2 {
        let mut v = ndarray::Array1::from_shape_fn(dim, |i| 1.0 + ((i * 7 + c * 3) % 11) as f32);
        for _ in 0..100 {
            let mut next = covariance.dot(&v);
            for previous in &components {
                let along = next.dot(previous);
                next.scaled_add(-along, previous);
            }
            let norm = next.dot(&next).sqrt().max(1e-12);
            v = next / norm;
        }
        components.push(v);
    }
    let mut y = Array2::<f32>::zeros((vectors.nrows(), 2));
    for (c, component) in components.iter().enumerate() {
        y.column_mut(c).assign(&centred.dot(component));
    }
    let spread = y.column(0).std(0.0).max(1e-12);
    y * (10.0 / spread)
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

    #[test]
    fn groups_stay_apart_on_the_map_and_the_seed_fixes_it() {
        let v = groups();
        let y = layout(v.view(), 7);
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
        assert_eq!(y, layout(v.view(), 7), "same seed, same map");
    }

    #[test]
    fn tiny_inputs_get_a_layout() {
        let v = Array2::from_shape_vec((2, 2), vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        assert_eq!(layout(v.view(), 1).nrows(), 2);
        assert_eq!(layout(Array2::<f32>::zeros((0, 4)).view(), 1).nrows(), 0);
    }
}
