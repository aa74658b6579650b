//! Measuring an index's search (`bench search`): queries near stored rows, answered by the
//! index and by exact search; recall@10 of the one against the other, and latency.

use std::path::Path;
use std::time::Instant;

use super::store::{disk_bytes, DiskIndex, IndexError};

/// Answers compared per query.
const K: usize = 10;
/// Queries answered before timing starts: the first page the graph and the rows in.
const WARM_UP: usize = 20;
/// The query generator's seed: the same index gives the same queries.
const QUERY_SEED: u64 = 42;

/// Why search could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("the query cosine must be between 0 and 1, not {0}")]
    QueryCosine(f32),
    #[error("at least one query is needed")]
    NoQueries,
}

/// What [`measure_search`] found.
#[derive(Debug, Clone)]
pub struct SearchMeasure {
    pub rows: usize,
    pub queries: usize,
    /// Whether the index searched its ANN graph (else every row, exactly).
    pub ann: bool,
    pub candidates: usize,
    pub query_cosine: f32,
    /// Share of exact search's top 10 that the index's search found.
    pub recall_at_10: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Opening the index, graph mapped in.
    pub open_s: f64,
    pub graph_build_s: f64,
    pub index_bytes: u64,
}

/// Opens the index in `dir` with `candidates` re-ranked per query and answers `queries`
/// queries, each a stored row turned away from itself to cosine `query_cosine` (in (0, 1)).
pub fn measure_search(
    dir: &Path,
    queries: usize,
    candidates: usize,
    query_cosine: f32,
) -> Result<SearchMeasure, MeasureError> {
    if !(query_cosine > 0.0 && query_cosine < 1.0) {
        return Err(MeasureError::QueryCosine(query_cosine));
    }
    if queries == 0 {
        return Err(MeasureError::NoQueries);
    }
    let opened = Instant::now();
    let mut index = DiskIndex::open(dir)?;
    index.set_candidates(candidates);
    let open_s = opened.elapsed().as_secs_f64();
    if index.is_empty() {
        return Err(IndexError::Empty(dir.to_path_buf()).into());
    }
    let queries = noisy_queries(&index, queries, query_cosine, QUERY_SEED)?;
    for q in queries.iter().take(WARM_UP) {
        index.nearest(q, K)?;
    }
    let mut latencies = Vec::with_capacity(queries.len());
    let mut found = 0usize;
    for q in &queries {
        let started = Instant::now();
        let hits = index.nearest(q, K)?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let exact = index.nearest_exact(q, K);
        found += hits
            .iter()
            .filter(|h| exact.iter().any(|e| e.row == h.row))
            .count();
    }
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Ok(SearchMeasure {
        rows: index.len(),
        queries: queries.len(),
        ann: index.uses_ann(),
        candidates,
        query_cosine,
        recall_at_10: found as f64 / (queries.len() * K.min(index.len())) as f64,
        latency_p50_ms: percentile(0.5),
        latency_p95_ms: percentile(0.95),
        open_s,
        graph_build_s: index.manifest().graph_seconds,
        index_bytes: disk_bytes(dir),
    })
}

/// `n` query vectors for measuring search: rows drawn by a seeded generator, each turned away
/// from its row in a random direction to cosine `cosine`, so that the row is a likely answer
/// but not a given one.
fn noisy_queries(
    index: &DiskIndex,
    n: usize,
    cosine: f32,
    seed: u64,
) -> Result<Vec<Vec<f32>>, IndexError> {
    use rand_xoshiro::rand_core::{RngCore, SeedableRng};
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    // An off-row direction of length t at right angles gives cosine 1/√(1 + t²).
    let t = ((1.0 / (cosine as f64 * cosine as f64)) - 1.0).sqrt() as f32;
    let dim = index.dim();
    let mut queries = Vec::with_capacity(n);
    for _ in 0..n {
        let row = ((uniform() * index.len() as f64) as usize).min(index.len() - 1);
        let base = index.vector(row);
        // Box–Muller normals: a direction uniform on the sphere.
        let mut noise: Vec<f32> = (0..dim)
            .map(|_| {
                let (u, v) = (uniform().max(1e-12), uniform());
                ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
            })
            .collect();
        let along = super::store::dot(&noise, base);
        noise
            .iter_mut()
            .zip(base)
            .for_each(|(x, b)| *x -= along * b);
        let norm = super::store::dot(&noise, &noise).sqrt().max(1e-12);
        let mut query: Vec<f32> = base
            .iter()
            .zip(&noise)
            .map(|(b, x)| b + t * x / norm)
            .collect();
        crate::embed::normalize(&mut query);
        queries.push(query);
    }
    Ok(queries)
}
