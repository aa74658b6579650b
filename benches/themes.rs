//! Clustering and labelling of generated paragraphs (vectors and texts made here).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use themescope::themes::{ThemeCount, ThemeModel, ThemeParams};
use themescope::ParamGuard;

const WORDS: [&str; 24] = [
    "alliance",
    "talks",
    "security",
    "guarantees",
    "membership",
    "europe",
    "kyiv",
    "peace",
    "plan",
    "ministers",
    "summit",
    "defence",
    "budget",
    "troops",
    "border",
    "ceasefire",
    "sanctions",
    "energy",
    "grain",
    "exports",
    "elections",
    "reform",
    "court",
    "treaty",
];

/// n paragraphs in 20 groups: vectors around 20 random directions, texts from each group's words.
fn generated(n: usize) -> (Array2<f32>, Vec<String>) {
    let dim = 384;
    let mut seed = 42u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres = Array2::from_shape_simple_fn((20, dim), &mut next);
    let mut vectors = Array2::<f32>::zeros((n, dim));
    let mut texts = Vec::with_capacity(n);
    for (i, mut row) in vectors.rows_mut().into_iter().enumerate() {
        let g = i % 20;
        for (x, c) in row.iter_mut().zip(centres.row(g)) {
            *x = c + 0.6 * next();
        }
        let norm = row.dot(&row).sqrt();
        row /= norm;
        let words: Vec<&str> = (0..12)
            .map(|j| WORDS[(g * 5 + j * (1 + i % 3)) % WORDS.len()])
            .collect();
        texts.push(words.join(" "));
    }
    (vectors, texts)
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("themes (k = 20, c-TF-IDF labels)");
    group.sample_size(10);
    for &n in &[1_000usize, 10_000] {
        let (vectors, texts) = generated(n);
        let params = ThemeParams::new()
            .count(ThemeCount::Fixed(20))
            .check()
            .expect("valid parameters");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(n),
            &(vectors, texts),
            |b, (v, t)| b.iter(|| ThemeModel::fit(v.view(), t, &params, None).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(themes, benches);
criterion_main!(themes);
