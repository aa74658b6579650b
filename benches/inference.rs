//! The inference hot path on the real model (from the store; fetched on first use):
//! tokenization, the forward pass by batch size and sequence length, pooling, and end to end.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use themescope::corpus::{Corpus, CorpusOptions};
use themescope::embed::backend::pool_packed;
use themescope::embed::dense_f32::PackedLinear;
use themescope::embed::int8::{KernelPath, QuantizedLinear};
use themescope::embed::{
    Backend, CandleBert, EmbedOptions, Embedder, Epilogue, FmaPath, LongText, PackedBatch, Pooling,
    Precision,
};
use themescope::model::{resolve, ModelChoice, Store};

/// Texts for the end-to-end case: a slice of ../shared/bench/texts-2000.jsonl when it is there,
/// else the bundled corpus.
fn texts() -> Vec<String> {
    let shared =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/texts-2000.jsonl");
    let input = if shared.is_file() {
        shared
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/nato-ukraine")
    };
    let options = CorpusOptions {
        min_words: 0,
        keep_all: true,
        ..CorpusOptions::default()
    };
    let corpus = Corpus::load(&[input], options).expect("bench texts load");
    corpus
        .paragraphs
        .into_iter()
        .take(256)
        .map(|p| p.text)
        .collect()
}

fn benches(c: &mut Criterion) {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // As the CLI does: the embedder runs one batch per core, so candle's own pool stays at 1.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    let model =
        resolve(&ModelChoice::Default, &Store::from_env(), false).expect("model in the store");
    let options = EmbedOptions {
        batch_size: 32,
        long_text: LongText::Truncate,
        precision: Precision::F32,
    };
    let embedder = Embedder::from_model(&model, options).expect("model loads");
    let themescope::model::Architecture::Bert(config) = &model.architecture else {
        panic!("the default model is a transformer");
    };
    let weights = model.path.join("model.safetensors");
    let backends = [
        (
            "f32",
            CandleBert::load_as(&weights, config, Precision::F32).expect("weights load"),
        ),
        (
            "int8",
            CandleBert::load_as(&weights, config, Precision::Int8).expect("weights load"),
        ),
    ];
    let texts = texts();
    let batch: Vec<&str> = texts.iter().take(32).map(String::as_str).collect();

    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("batch of 32 texts", |b| {
        b.iter(|| {
            embedder
                .tokenizer()
                .encode_batch(black_box(batch.clone()), true)
                .unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("forward");
    group.sample_size(10);
    for (precision, backend) in &backends {
        for &len in &[16usize, 64, 256] {
            for &size in &[1usize, 8, 32] {
                let mut packed = PackedBatch::default();
                let ids: Vec<u32> = (0..len as u32)
                    .map(|i| if i == 0 { 101 } else { 1000 + (i * 37) % 20000 })
                    .collect();
                for _ in 0..size {
                    packed.push(&ids, &vec![0; len]);
                }
                group.throughput(Throughput::Elements((size * len) as u64));
                group.bench_with_input(
                    BenchmarkId::new(format!("{precision} tokens, seq {len}"), size),
                    &packed,
                    |b, packed| b.iter(|| backend.embed(black_box(packed), Pooling::Mean).unwrap()),
                );
            }
        }
    }
    group.finish();

    peak(c);
    dense_layers(c);

    let hidden = vec![1f32; 32 * 64 * 384];
    let lengths = vec![64usize; 32];
    let mut group = c.benchmark_group("pool");
    group.throughput(Throughput::Elements(32));
    group.bench_function("mean pool + normalise, 32 × 64 tokens", |b| {
        b.iter(|| {
            let mut vectors = pool_packed(black_box(&hidden), 384, &lengths, Pooling::Mean);
            vectors
                .iter_mut()
                .for_each(|v| themescope::embed::normalize(v));
            vectors
        })
    });
    group.finish();

    let mut group = c.benchmark_group("embed");
    group.sample_size(10);
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function(format!("{} texts end to end, batch 32", texts.len()), |b| {
        b.iter(|| embedder.embed(black_box(&texts)).unwrap())
    });
    group.finish();
}

/// One dense layer at the model's shapes (tokens × in → out): candle's f32 matmul, our packed f32
/// layer and the int8 layer, on every kernel path this CPU runs. Throughput in multiply-adds × 2 (op/s).
fn dense_layers(c: &mut Criterion) {
    use candle_core::{Device, Tensor};
    let mut group = c.benchmark_group("dense");
    group.sample_size(20);
    for &(tokens, in_dim, out_dim) in &[
        (1024usize, 384usize, 1152usize),
        (1024, 384, 1536),
        (1024, 1536, 384),
        (12, 384, 1152),
    ] {
        let shape = format!("{tokens}x{in_dim}->{out_dim}");
        let weight: Vec<f32> = (0..in_dim * out_dim)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let bias = vec![0.1f32; out_dim];
        let x: Vec<f32> = (0..tokens * in_dim)
            .map(|i| ((i * 104_729) % 997) as f32 / 997.0 - 0.5)
            .collect();
        group.throughput(Throughput::Elements((2 * tokens * in_dim * out_dim) as u64));
        let xs = Tensor::from_slice(&x, (tokens, in_dim), &Device::Cpu).unwrap();
        let weight_t = Tensor::from_slice(&weight, (out_dim, in_dim), &Device::Cpu)
            .unwrap()
            .t()
            .unwrap()
            .contiguous()
            .unwrap();
        let bias_t = Tensor::from_slice(&bias, out_dim, &Device::Cpu).unwrap();
        group.bench_function(BenchmarkId::new("f32 candle", &shape), |b| {
            b.iter(|| {
                black_box(&xs)
                    .matmul(&weight_t)
                    .unwrap()
                    .broadcast_add(&bias_t)
                    .unwrap()
            })
        });
        // The portable path's multiply-adds are library calls off the vector units: not measured.
        let vector_paths = [FmaPath::Avx512, FmaPath::Avx2];
        for path in vector_paths.into_iter().filter(|p| p.is_available()) {
            let layer = PackedLinear::for_path(&weight, &bias, out_dim, in_dim, path);
            group.bench_function(
                BenchmarkId::new(format!("f32 packed {path:?}"), &shape),
                |b| b.iter(|| layer.forward(black_box(&x), Epilogue::Bias)),
            );
        }
        for path in KernelPath::ALL.into_iter().filter(|p| p.is_available()) {
            let layer = QuantizedLinear::new(&weight, &bias, out_dim, in_dim, path);
            group.bench_function(
                BenchmarkId::new(format!("int8 {}", path.name()), &shape),
                |b| b.iter(|| layer.forward(black_box(&x), Epilogue::Bias)),
            );
        }
    }
    group.finish();
}

/// The machine's peak for the instructions our kernels are built on, measured on one core:
/// twelve independent chains of `vpdpbusd` (int8, 128 op each) or of 512- / 256-bit fused
/// multiply-adds (f32, 32 / 16 op each), so that nothing but the execution units limits them.
/// The dense layers run on every core: their share of peak is their op/s over this figure times
/// the cores.
fn peak(c: &mut Criterion) {
    const ROUNDS: usize = 100_000;
    const CHAINS: usize = 12;
    let mut group = c.benchmark_group("peak, one core");
    group.sample_size(20);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512vnni") {
            group.throughput(Throughput::Elements((CHAINS * ROUNDS * 128) as u64));
            // SAFETY: the CPU has AVX-512 F and VNNI (checked above).
            group.bench_function("vpdpbusd zmm", |b| {
                b.iter(|| unsafe { peak::vnni(ROUNDS, black_box(1)) })
            });
        }
        if FmaPath::Avx512.is_available() {
            group.throughput(Throughput::Elements((CHAINS * ROUNDS * 32) as u64));
            // SAFETY: the CPU has AVX-512 F and FMA (checked above).
            group.bench_function("vfmadd zmm", |b| {
                b.iter(|| unsafe { peak::fma512(ROUNDS, black_box(1.0)) })
            });
        }
        if FmaPath::Avx2.is_available() {
            group.throughput(Throughput::Elements((CHAINS * ROUNDS * 16) as u64));
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            group.bench_function("vfmadd ymm", |b| {
                b.iter(|| unsafe { peak::fma256(ROUNDS, black_box(1.0)) })
            });
        }
    }
    group.finish();
}

#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU has AVX-512 F and VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn vnni(rounds: usize, seed: i32) -> i32 {
        let (u, w) = (_mm512_set1_epi8(3), _mm512_set1_epi8(5));
        let mut acc: [__m512i; 12] = std::array::from_fn(|i| _mm512_set1_epi32(seed + i as i32));
        for _ in 0..rounds {
            for a in acc.iter_mut() {
                *a = _mm512_dpbusd_epi32(*a, u, w);
            }
        }
        acc.iter()
            .map(|&a| _mm512_reduce_add_epi32(a))
            .fold(0, i32::wrapping_add)
    }

    /// # Safety
    /// The CPU has AVX-512 F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn fma512(rounds: usize, seed: f32) -> f32 {
        let (m, a) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc: [__m512; 12] = std::array::from_fn(|i| _mm512_set1_ps(seed + i as f32));
        for _ in 0..rounds {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, m, a);
            }
        }
        acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma256(rounds: usize, seed: f32) -> f32 {
        let (m, a) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc: [__m256; 12] = std::array::from_fn(|i| _mm256_set1_ps(seed + i as f32));
        for _ in 0..rounds {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, m, a);
            }
        }
        let mut lanes = [0f32; 8];
        acc.iter()
            .map(|&x| {
                // SAFETY: eight floats into eight.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
                lanes.iter().sum::<f32>()
            })
            .sum()
    }
}

criterion_group!(inference, benches);
criterion_main!(inference);
