//! A tiny BERT model directory in the sentence-transformers layout, built by the test itself:
//! a 24-word WordPiece vocabulary and seeded random weights. No network, milliseconds.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::Tokenizer;

pub const WORDS: [&str; 24] = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "the",
    "nato",
    "alliance",
    "ukraine",
    "peace",
    "talks",
    "security",
    "guarantees",
    "a",
    "of",
    "and",
    "to",
    "in",
    "war",
    "russia",
    "europe",
    "seat",
    "table",
    "at",
    "##s",
];
pub const HIDDEN: usize = 16;
const LAYERS: usize = 2;
const HEADS: usize = 2;
const INTERMEDIATE: usize = 32;
const POSITIONS: usize = 64;

/// Options for [`write_tiny_model`].
pub struct Tiny<'a> {
    pub pooling: &'a str,
    pub normalize: bool,
    pub max_seq_length: usize,
    pub seed: u64,
}

impl Default for Tiny<'_> {
    fn default() -> Self {
        Self {
            pooling: "mean",
            normalize: true,
            max_seq_length: 32,
            seed: 7,
        }
    }
}

/// Deterministic pseudo-random numbers in [-0.5, 0.5) (splitmix64).
fn numbers(seed: &mut u64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

pub fn tiny_tokenizer() -> Tokenizer {
    let vocab = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(vocab.path(), WORDS.join("\n")).unwrap();
    let model = WordPiece::from_file(&vocab.path().display().to_string())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
        .unwrap();
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    tokenizer
}

pub fn tiny_config() -> serde_json::Value {
    serde_json::json!({
        "architectures": ["BertModel"],
        "hidden_act": "gelu",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": POSITIONS,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": WORDS.len()
    })
}

/// Writes the model files into `dir` (which must exist).
pub fn write_tiny_model(dir: &Path, options: &Tiny) {
    let mut seed = options.seed;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut put = |name: String, shape: &[usize], scale: f32, offset: f32| {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = numbers(&mut seed, n)
            .into_iter()
            .map(|x| x * scale + offset)
            .collect();
        tensors.insert(name, Tensor::from_vec(data, shape, &Device::Cpu).unwrap());
    };
    let v = WORDS.len();
    put(
        "embeddings.word_embeddings.weight".into(),
        &[v, HIDDEN],
        1.0,
        0.0,
    );
    put(
        "embeddings.position_embeddings.weight".into(),
        &[POSITIONS, HIDDEN],
        0.2,
        0.0,
    );
    put(
        "embeddings.token_type_embeddings.weight".into(),
        &[2, HIDDEN],
        0.2,
        0.0,
    );
    put("embeddings.LayerNorm.weight".into(), &[HIDDEN], 0.1, 1.0);
    put("embeddings.LayerNorm.bias".into(), &[HIDDEN], 0.1, 0.0);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for m in ["query", "key", "value"] {
            put(
                format!("{p}.attention.self.{m}.weight"),
                &[HIDDEN, HIDDEN],
                0.5,
                0.0,
            );
            put(format!("{p}.attention.self.{m}.bias"), &[HIDDEN], 0.1, 0.0);
        }
        put(
            format!("{p}.attention.output.dense.weight"),
            &[HIDDEN, HIDDEN],
            0.5,
            0.0,
        );
        put(
            format!("{p}.attention.output.dense.bias"),
            &[HIDDEN],
            0.1,
            0.0,
        );
        put(
            format!("{p}.attention.output.LayerNorm.weight"),
            &[HIDDEN],
            0.1,
            1.0,
        );
        put(
            format!("{p}.attention.output.LayerNorm.bias"),
            &[HIDDEN],
            0.1,
            0.0,
        );
        put(
            format!("{p}.intermediate.dense.weight"),
            &[INTERMEDIATE, HIDDEN],
            0.5,
            0.0,
        );
        put(
            format!("{p}.intermediate.dense.bias"),
            &[INTERMEDIATE],
            0.1,
            0.0,
        );
        put(
            format!("{p}.output.dense.weight"),
            &[HIDDEN, INTERMEDIATE],
            0.5,
            0.0,
        );
        put(format!("{p}.output.dense.bias"), &[HIDDEN], 0.1, 0.0);
        put(format!("{p}.output.LayerNorm.weight"), &[HIDDEN], 0.1, 1.0);
        put(format!("{p}.output.LayerNorm.bias"), &[HIDDEN], 0.1, 0.0);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
    tiny_tokenizer()
        .save(dir.join("tokenizer.json"), false)
        .unwrap();
    let write = |name: &str, value: serde_json::Value| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    };
    write("config.json", tiny_config());
    write(
        "sentence_bert_config.json",
        serde_json::json!({"max_seq_length": options.max_seq_length, "do_lower_case": false}),
    );
    let mut modules = vec![
        serde_json::json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        serde_json::json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if options.normalize {
        modules.push(serde_json::json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}));
    }
    write("modules.json", serde_json::Value::Array(modules));
    write(
        "1_Pooling/config.json",
        serde_json::json!({
            "word_embedding_dimension": HIDDEN,
            "pooling_mode_cls_token": options.pooling == "cls",
            "pooling_mode_mean_tokens": options.pooling == "mean",
            "pooling_mode_max_tokens": options.pooling == "max",
            "pooling_mode_mean_sqrt_len_tokens": false
        }),
    );
}

/// A fresh temporary directory holding a tiny model.
pub fn tiny_model_dir(options: &Tiny) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), options);
    dir
}
