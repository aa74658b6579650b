//! BERT encoder on candle over packed sequences: the tokens of a batch sit end to end, so no
//! compute is spent on padding and no attention mask is needed.
//!
//! One struct per layer with `load(vb, cfg)` and `forward`, in the manner of
//! candle-transformers' `models/bert.rs`; the weights and their names are the same.

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::backend::{pool_packed, Backend, PackedBatch};
use super::int8::{Epilogue, Int8Op, KernelPath, QuantizedLinear};
use super::pointwise::LayerNorm;
use super::{EmbedError, Precision};
use crate::model::files::{BertConfig, HiddenAct, Pooling};

/// The activation named by config.json's `hidden_act`.
fn activation(act: HiddenAct, xs: &Tensor) -> Result<Tensor> {
    match act {
        HiddenAct::Gelu => super::pointwise::gelu_erf(xs),
        HiddenAct::GeluNew => xs.gelu(),
        HiddenAct::Relu => xs.relu(),
    }
}

struct BertEmbeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    layer_norm: LayerNorm,
}

impl BertEmbeddings {
    fn load(vb: VarBuilder, cfg: &BertConfig) -> Result<Self> {
        Ok(Self {
            word: candle_nn::embedding(cfg.vocab_size, cfg.hidden_size, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                cfg.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                cfg.type_vocab_size,
                cfg.hidden_size,
                vb.pp("token_type_embeddings"),
            )?,
            layer_norm: LayerNorm::load(vb.pp("LayerNorm"), cfg.hidden_size, cfg.layer_norm_eps)?,
        })
    }

    fn forward(&self, batch: &PackedBatch, device: &Device) -> Result<Tensor> {
        let n = batch.total_tokens();
        let ids = Tensor::from_slice(&batch.ids, n, device)?;
        let type_ids = Tensor::from_slice(&batch.type_ids, n, device)?;
        let positions = Tensor::from_slice(&batch.positions, n, device)?;
        let xs = (self.word.forward(&ids)? + self.token_type.forward(&type_ids)?)?;
        let xs = (xs + self.position.forward(&positions)?)?;
        self.layer_norm.forward(&xs)
    }
}

/// How the dense layers compute: f32 (candle's gemm), or int8 on a kernel path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    F32,
    Int8(KernelPath),
}

/// A dense projection `x W^T + b`.
enum Dense {
    /// W stored transposed (in × out, row-major). Why: gemm repacks a transposed
    /// (column-major) right-hand side on every call; given the row-major in × out layout it
    /// reads it directly. Measured on 384/1536-wide layers: 2–10× faster for a few tokens (one
    /// query), 1.1–1.5× for batches of hundreds, never slower.
    F32 {
        weight_t: Tensor,
        bias: Tensor,
    },
    Int8(QuantizedLinear),
}

impl Dense {
    fn new(weight: Tensor, bias: Tensor, compute: Compute) -> Result<Self> {
        Ok(match compute {
            Compute::F32 => Dense::F32 {
                weight_t: weight.t()?.contiguous()?,
                bias,
            },
            Compute::Int8(path) => {
                let (out_dim, in_dim) = weight.dims2()?;
                let weight: Vec<f32> = weight.flatten_all()?.to_vec1()?;
                let bias: Vec<f32> = bias.to_vec1()?;
                Dense::Int8(QuantizedLinear::new(&weight, &bias, out_dim, in_dim, path))
            }
        })
    }

    fn load(vb: VarBuilder, in_dim: usize, out_dim: usize, compute: Compute) -> Result<Self> {
        Self::new(
            vb.get((out_dim, in_dim), "weight")?,
            vb.get(out_dim, "bias")?,
            compute,
        )
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Dense::F32 { weight_t, bias } => xs.matmul(weight_t)?.broadcast_add(bias),
            Dense::Int8(linear) => xs.contiguous()?.apply_op1_no_bwd(&Int8Op {
                linear,
                epilogue: Epilogue::Bias,
            }),
        }
    }

    /// The projection, then the activation; int8 layers apply an exact GELU in their epilogue.
    fn forward_activated(&self, xs: &Tensor, act: HiddenAct) -> Result<Tensor> {
        match (self, act) {
            (Dense::Int8(linear), HiddenAct::Gelu) => xs.contiguous()?.apply_op1_no_bwd(&Int8Op {
                linear,
                epilogue: Epilogue::BiasGelu,
            }),
            _ => activation(act, &self.forward(xs)?),
        }
    }
}

struct BertSelfAttention {
    qkv: Dense,
    heads: usize,
    head_dim: usize,
}

impl BertSelfAttention {
    fn load(vb: VarBuilder, cfg: &BertConfig, compute: Compute) -> Result<Self> {
        let h = cfg.hidden_size;
        let head_dim = h / cfg.num_attention_heads;
        // The attention scale folded into the query projection once, instead of a pass over the
        // queries in every forward (exact when head_dim is a power of 4, as 64 is).
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut weights = Vec::with_capacity(3);
        let mut biases = Vec::with_capacity(3);
        for name in ["query", "key", "value"] {
            let (mut weight, mut bias) = (
                vb.pp(name).get((h, h), "weight")?,
                vb.pp(name).get(h, "bias")?,
            );
            if name == "query" {
                weight = (weight * scale)?;
                bias = (bias * scale)?;
            }
            weights.push(weight);
            biases.push(bias);
        }
        let weight = Tensor::cat(&weights, 0)?;
        let bias = Tensor::cat(&biases, 0)?;
        Ok(Self {
            qkv: Dense::new(weight, bias, compute)?,
            heads: cfg.num_attention_heads,
            head_dim,
        })
    }

    fn forward(&self, xs: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let hidden = self.heads * self.head_dim;
        let qkv = self.qkv.forward(xs)?;
        let mut contexts = Vec::new();
        let mut offset = 0;
        // Sequences of equal length (common: batches are sorted by length) share one batched
        // attention call instead of one call each, as many at a time as keep the score matrices
        // under ATTENTION_BYTES (32 sequences of 256 tokens would take 200 MB).
        for run in equal_length_runs(lengths) {
            let len = run[0];
            let per_call = (ATTENTION_BYTES / (self.heads * len * len * 4).max(1)).max(1);
            for chunk in run.chunks(per_call) {
                let count = chunk.len();
                let tokens = count * len;
                let block = qkv.narrow(0, offset, tokens)?.reshape((
                    count,
                    len,
                    3,
                    self.heads,
                    self.head_dim,
                ))?;
                let part = |i: usize| -> Result<Tensor> {
                    block
                        .narrow(2, i, 1)?
                        .squeeze(2)?
                        .transpose(1, 2)?
                        .contiguous()
                };
                let q = part(0)?;
                let k = part(1)?;
                let v = part(2)?;
                let scores = q.matmul(&k.t()?)?;
                let probs = super::pointwise::softmax_last_dim(&scores)?;
                let context = probs
                    .matmul(&v)?
                    .transpose(1, 2)?
                    .reshape((tokens, hidden))?;
                contexts.push(context);
                offset += tokens;
            }
        }
        Tensor::cat(&contexts, 0)
    }
}

/// The most memory one attention call's scores may take.
const ATTENTION_BYTES: usize = 4 << 20;

fn equal_length_runs(lengths: &[usize]) -> impl Iterator<Item = &[usize]> {
    lengths.chunk_by(|a, b| a == b)
}

/// A dense projection, then dropout (a no-op at inference), residual and layer norm.
struct DenseResidualNorm {
    dense: Dense,
    layer_norm: LayerNorm,
}

impl DenseResidualNorm {
    fn load(vb: VarBuilder, in_dim: usize, cfg: &BertConfig, compute: Compute) -> Result<Self> {
        Ok(Self {
            dense: Dense::load(vb.pp("dense"), in_dim, cfg.hidden_size, compute)?,
            layer_norm: LayerNorm::load(vb.pp("LayerNorm"), cfg.hidden_size, cfg.layer_norm_eps)?,
        })
    }

    fn forward(&self, xs: &Tensor, residual: &Tensor) -> Result<Tensor> {
        // Adding the residual in the int8 epilogue instead was measured 5–10% slower.
        let xs = (self.dense.forward(xs)? + residual)?;
        self.layer_norm.forward(&xs)
    }
}

struct BertLayer {
    attention: BertSelfAttention,
    attention_output: DenseResidualNorm,
    intermediate: Dense,
    act: HiddenAct,
    output: DenseResidualNorm,
}

impl BertLayer {
    fn load(vb: VarBuilder, cfg: &BertConfig, compute: Compute) -> Result<Self> {
        Ok(Self {
            attention: BertSelfAttention::load(vb.pp("attention.self"), cfg, compute)?,
            attention_output: DenseResidualNorm::load(
                vb.pp("attention.output"),
                cfg.hidden_size,
                cfg,
                compute,
            )?,
            intermediate: Dense::load(
                vb.pp("intermediate.dense"),
                cfg.hidden_size,
                cfg.intermediate_size,
                compute,
            )?,
            act: cfg.hidden_act,
            output: DenseResidualNorm::load(vb.pp("output"), cfg.intermediate_size, cfg, compute)?,
        })
    }

    fn forward(&self, xs: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let context = self.attention.forward(xs, lengths)?;
        let xs = self.attention_output.forward(&context, xs)?;
        let inner = self.intermediate.forward_activated(&xs, self.act)?;
        self.output.forward(&inner, &xs)
    }
}

/// The BERT encoder: embeddings, then the transformer layers. Output: one hidden state per token.
pub struct BertModel {
    embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
    device: Device,
    hidden_size: usize,
    compute: Compute,
}

impl BertModel {
    /// The encoder in f32, as the checkpoint stores it.
    pub fn load(vb: VarBuilder, cfg: &BertConfig) -> Result<Self> {
        Self::load_as(vb, cfg, Compute::F32)
    }

    /// The encoder with its dense layers computing as `compute` says (embeddings, attention
    /// scores and layer norms stay f32).
    pub fn load_as(vb: VarBuilder, cfg: &BertConfig, compute: Compute) -> Result<Self> {
        // Checkpoints saved from a task model nest the encoder under "bert." (or the model type).
        let vb = match &cfg.model_type {
            _ if vb.contains_tensor("embeddings.word_embeddings.weight") => vb,
            Some(prefix)
                if vb.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight")) =>
            {
                vb.pp(prefix)
            }
            _ if vb.contains_tensor("bert.embeddings.word_embeddings.weight") => vb.pp("bert"),
            _ => vb,
        };
        let embeddings = BertEmbeddings::load(vb.pp("embeddings"), cfg)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| BertLayer::load(vb.pp(format!("encoder.layer.{i}")), cfg, compute))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            embeddings,
            layers,
            device: vb.device().clone(),
            hidden_size: cfg.hidden_size,
            compute,
        })
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn compute(&self) -> Compute {
        self.compute
    }

    /// Hidden states `[total_tokens, hidden_size]` in f32 for a packed batch.
    pub fn forward(&self, batch: &PackedBatch) -> Result<Tensor> {
        let mut xs = self.embeddings.forward(batch, &self.device)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &batch.lengths)?;
        }
        xs.to_dtype(DType::F32)
    }
}

/// The BERT encoder on candle's CPU kernels.
pub struct CandleBert {
    model: BertModel,
}

impl CandleBert {
    pub fn new(model: BertModel) -> Self {
        Self { model }
    }

    /// Memory-maps the safetensors file and builds the encoder in f32.
    pub fn load(weights: &Path, config: &BertConfig) -> std::result::Result<Self, EmbedError> {
        Self::load_as(weights, config, Precision::F32)
    }

    /// As [`CandleBert::load`], with the dense layers in `precision` (int8: quantized here, once,
    /// for the kernel path [`KernelPath::choose`] picks).
    pub fn load_as(
        weights: &Path,
        config: &BertConfig,
        precision: Precision,
    ) -> std::result::Result<Self, EmbedError> {
        let compute = match precision {
            Precision::F32 => Compute::F32,
            Precision::Int8 => Compute::Int8(KernelPath::choose().map_err(EmbedError::Kernel)?),
        };
        let weights_error = |source| EmbedError::Weights {
            path: weights.display().to_string(),
            source,
        };
        // SAFETY: the file is opened read-only and verified; themescope never writes to a model
        // file that is in use.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu) }
                .map_err(weights_error)?;
        let model = BertModel::load_as(vb, config, compute).map_err(|source| {
            EmbedError::WeightsMismatch {
                path: weights.display().to_string(),
                source,
            }
        })?;
        Ok(Self { model })
    }
}

impl Backend for CandleBert {
    fn dim(&self) -> usize {
        self.model.hidden_size()
    }

    fn kernel(&self) -> &'static str {
        match self.model.compute() {
            Compute::F32 => "f32",
            Compute::Int8(path) => path.name(),
        }
    }

    fn embed(
        &self,
        batch: &PackedBatch,
        pooling: Pooling,
    ) -> std::result::Result<Vec<Vec<f32>>, EmbedError> {
        let hidden = self.model.forward(batch)?;
        let flat: Vec<f32> = hidden.flatten_all()?.to_vec1()?;
        Ok(pool_packed(
            &flat,
            self.model.hidden_size(),
            &batch.lengths,
            pooling,
        ))
    }
}
