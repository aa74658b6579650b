//! Exact top-k search over random unit vectors (384-d), as `nearest` runs it.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use themescope::index::top_k;

fn unit_vectors(n: usize, dim: usize, mut seed: u64) -> Array2<f32> {
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut m = Array2::from_shape_simple_fn((n, dim), &mut next);
    for mut row in m.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    m
}

fn benches(c: &mut Criterion) {
    let query = unit_vectors(1, 384, 7).row(0).to_vec();
    let mut group = c.benchmark_group("top-10 search");
    group.sample_size(10);
    for &n in &[10_000usize, 100_000, 1_000_000] {
        let vectors = unit_vectors(n, 384, 42);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &vectors, |b, v| {
            b.iter(|| top_k(black_box(v), black_box(&query), 10))
        });
    }
    group.finish();
}

criterion_group!(search, benches);
criterion_main!(search);
