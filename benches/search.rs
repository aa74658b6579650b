//! Search as `nearest` runs it: exact top-k over random unit vectors (384-d) in memory, and the
//! on-disk index — appending (build, add) and ANN queries at 10k and 100k rows (and at 1M over
//! an index named by THEMESCOPE_BENCH_INDEX, e.g. one made by `examples/synthetic_index.rs`
//! and `index import`, as it takes minutes to build).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use themescope::corpus::{Paragraph, ParagraphKind};
use themescope::index::{top_k, DiskIndex, IndexSpec, IndexWriter};

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

fn paragraphs(first: usize, n: usize) -> Vec<Paragraph> {
    (first..first + n)
        .map(|i| Paragraph {
            id: format!("p{i}"),
            doc: "bench.txt".into(),
            line: i + 1,
            page: None,
            date: None,
            text: format!("paragraph number {i}"),
            kind: ParagraphKind::Body,
        })
        .collect()
}

fn index_of(dir: &std::path::Path, vectors: &Array2<f32>) {
    let spec = IndexSpec {
        dim: vectors.ncols(),
        model: None,
    };
    let mut writer = IndexWriter::open(dir, &spec).unwrap();
    for start in (0..vectors.nrows()).step_by(16_384) {
        let end = (start + 16_384).min(vectors.nrows());
        writer
            .append(
                &paragraphs(start, end - start),
                vectors.slice(ndarray::s![start..end, ..]),
            )
            .unwrap();
    }
    writer.finish().unwrap();
}

fn index_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("index build");
    group.sample_size(10);
    let vectors = unit_vectors(10_000, 384, 3);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("10000 rows", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| index_of(&dir.path().join("ix"), &vectors),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();

    let base = unit_vectors(100_000, 384, 42);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ix");
    index_of(&path, &base);
    let mut group = c.benchmark_group("index add");
    group.sample_size(10);
    let new = unit_vectors(1_000, 384, 5);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("1000 rows to 100000", |b| {
        b.iter_batched(
            || {
                let copy = tempfile::tempdir().unwrap();
                for entry in std::fs::read_dir(&path).unwrap() {
                    let entry = entry.unwrap();
                    std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
                }
                copy
            },
            |copy| {
                let spec = IndexSpec {
                    dim: 384,
                    model: None,
                };
                let mut writer = IndexWriter::open(copy.path(), &spec).unwrap();
                writer
                    .append(&paragraphs(100_000, 1_000), new.view())
                    .unwrap();
                writer.finish().unwrap();
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();

    let small = tempfile::tempdir().unwrap();
    let small_path = small.path().join("ix");
    index_of(
        &small_path,
        &base.slice(ndarray::s![..10_000, ..]).to_owned(),
    );
    let query = unit_vectors(1, 384, 7).row(0).to_vec();
    let mut group = c.benchmark_group("index query top-10");
    let mut targets = vec![
        ("10000 exact".to_string(), small_path),
        ("100000 ann".to_string(), path.clone()),
    ];
    if let Some(big) = std::env::var_os("THEMESCOPE_BENCH_INDEX") {
        targets.push(("given index".to_string(), big.into()));
    }
    for (name, dir) in targets {
        let index = DiskIndex::open(&dir).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| index.nearest(black_box(&query), 10).unwrap())
        });
    }
    group.finish();
}

criterion_group!(search, benches, index_benches);
criterion_main!(search);
