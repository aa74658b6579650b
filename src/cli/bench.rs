//! `themescope bench`: embedding speed on this CPU, in the form `../shared/bench/compare` reads.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::corpus::{Corpus, CorpusOptions};
use anyhow::Result;
use serde_json::json;

use super::args::GlobalArgs;
use super::session::Session;

/// Timed passes over the texts after the warm-up.
const PASSES: usize = 2;
/// Single-query latency samples.
const QUERIES: usize = 50;

pub struct BenchArgs {
    pub texts: Option<PathBuf>,
    pub json: bool,
}

/// Peak resident memory of this process so far, from /proc (Linux); None elsewhere.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub fn run(global: &GlobalArgs, args: BenchArgs) -> Result<()> {
    let inputs = vec![args
        .texts
        .clone()
        .unwrap_or_else(|| PathBuf::from("data/nato-ukraine"))];
    let corpus = Corpus::load(
        &inputs,
        CorpusOptions {
            min_words: 0,
            keep_all: true,
            keep_records: true,
            ..CorpusOptions::default()
        },
    )?;
    let texts = corpus.texts();
    if texts.is_empty() {
        anyhow::bail!("no texts to embed in {}", inputs[0].display());
    }

    let load_started = Instant::now();
    let session = Session::open(global)?;
    let model_load_s = load_started.elapsed().as_secs_f64();
    let embedder = session.scope.embedder();

    // Warm-up: page in the weights, grow the allocator's pools, start the thread pool.
    let warm = embedder.embed(&texts)?;
    let real_tokens = warm.stats.tokens;
    let mut seconds = Vec::new();
    for _ in 0..PASSES {
        let started = Instant::now();
        embedder.embed(&texts)?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    let best = seconds.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = seconds.iter().sum::<f64>() / seconds.len() as f64;

    let query = "security guarantees for Ukraine";
    let mut latencies = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let started = Instant::now();
        embedder.embed_one(query)?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);

    let threads = candle_core::utils::get_num_threads();
    let texts_per_s = texts.len() as f64 / mean;
    let tokens_per_s = real_tokens as f64 / mean;
    let summary = json!({
        "texts": texts.len(),
        "tokens": real_tokens,
        "long_texts": warm.stats.long_texts,
        "batch": embedder.options().batch_size,
        "threads": threads,
        "precision": global.precision.name(),
        "kernel": embedder.kernel(),
        "texts_per_s": (texts_per_s * 10.0).round() / 10.0,
        "tokens_per_s": tokens_per_s.round(),
        "best_texts_per_s": (texts.len() as f64 / best * 10.0).round() / 10.0,
        "padding_overhead": 0.0,
        "model_load_s": (model_load_s * 1000.0).round() / 1000.0,
        "latency_p50_ms": (percentile(&latencies, 0.5) * 100.0).round() / 100.0,
        "latency_p95_ms": (percentile(&latencies, 0.95) * 100.0).round() / 100.0,
        "peak_rss_mib": peak_rss_mib().map(|m| m.round()),
        "truncate": global.truncate,
    });
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} texts, {} tokens ({} longer than {}{}), batch {}, {} threads, {} (kernels: {})",
        texts.len(),
        real_tokens,
        warm.stats.long_texts,
        session.scope.model().spec.max_seq_length,
        if global.truncate {
            ", truncated"
        } else {
            ", windowed"
        },
        embedder.options().batch_size,
        threads,
        global.precision.name(),
        embedder.kernel()
    )?;
    writeln!(
        out,
        "throughput: {texts_per_s:.1} texts/s, {tokens_per_s:.0} tokens/s (mean of {PASSES} passes after a warm-up; padding computed: none, sequences are packed)"
    )?;
    writeln!(
        out,
        "model load: {model_load_s:.3} s; one short query: p50 {:.2} ms, p95 {:.2} ms; peak RSS {}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        peak_rss_mib().map_or("unknown".to_string(), |m| format!("{m:.0} MiB"))
    )?;
    if args.json {
        writeln!(out, "{summary}")?;
    }
    out.flush()?;
    Ok(())
}

/// The CPU class speed figures are given with (as `../shared/bench/compare` names them):
/// avx512 (AVX-512 F with VNNI), avx2, or baseline.
pub fn cpu_class() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni") {
            return "avx512";
        }
        if is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "baseline"
}
