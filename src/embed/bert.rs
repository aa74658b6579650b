//! BERT encoder on candle over packed sequences: the tokens of a batch sit end to end, so no
//! compute is spent on padding and no attention mask is needed.
//!
//! One struct per layer with `load(vb, cfg)` and `forward`, in the manner of
//! candle-transformers' `models/bert.rs`; the weights and their names are the same.

use std::mem::MaybeUninit;
use std::path::Path;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Result, Shape, Tensor};
use candle_nn::{Embedding, VarBuilder};
use rayon::prelude::*;

use super::attention::{self, Heads};
use super::backend::{pool_packed, Backend, PackedBatch};
use super::dense_f32::PackedLinear;
use super::int8::{KernelPath, QuantizedLinear};
use super::pointwise::{Epilogue, LayerNorm};
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

/// How the dense layers compute: f32 or int8 (on a kernel path), both on our own kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    F32,
    Int8(KernelPath),
}

/// A dense projection `x W^T + b`, its weights packed once at load for its kernel.
enum Dense {
    F32(PackedLinear),
    Int8(QuantizedLinear),
}

impl Dense {
    fn new(weight: Tensor, bias: Tensor, compute: Compute) -> Result<Self> {
        let (out_dim, in_dim) = weight.dims2()?;
        let weight: Vec<f32> = weight.flatten_all()?.to_vec1()?;
        let bias: Vec<f32> = bias.to_vec1()?;
        Ok(match compute {
            Compute::F32 => Dense::F32(PackedLinear::new(&weight, &bias, out_dim, in_dim)),
            Compute::Int8(path) => {
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

    fn in_dim(&self) -> usize {
        match self {
            Dense::F32(linear) => linear.in_dim(),
            Dense::Int8(linear) => linear.in_dim(),
        }
    }

    fn out_dim(&self) -> usize {
        match self {
            Dense::F32(linear) => linear.out_dim(),
            Dense::Int8(linear) => linear.out_dim(),
        }
    }

    /// The projection of the rows of `x` on this thread, into `out`; returns `out`, now written.
    fn rows_into<'o>(
        &self,
        x: &[f32],
        out: &'o mut [MaybeUninit<f32>],
        epilogue: Epilogue,
    ) -> &'o mut [f32] {
        match self {
            Dense::F32(linear) => linear.rows_into(x, out, epilogue),
            Dense::Int8(linear) => linear.rows_into(x, out, epilogue),
        }
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.contiguous()?.apply_op1_no_bwd(&DenseOp {
            dense: self,
            epilogue: Epilogue::Bias,
        })
    }

    /// The projection, then the activation; an exact GELU is applied in the kernels' epilogue.
    fn forward_activated(&self, xs: &Tensor, act: HiddenAct) -> Result<Tensor> {
        match act {
            HiddenAct::Gelu => xs.contiguous()?.apply_op1_no_bwd(&DenseOp {
                dense: self,
                epilogue: Epilogue::BiasGelu,
            }),
            _ => activation(act, &self.forward(xs)?),
        }
    }
}

/// A [`Dense`] layer as a candle op on a contiguous f32 tensor `[tokens, in]`.
struct DenseOp<'a> {
    dense: &'a Dense,
    epilogue: Epilogue,
}

impl CustomOp1 for DenseOp<'_> {
    fn name(&self) -> &'static str {
        "themescope-dense"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let input = super::pointwise::contiguous_f32(self.name(), storage, layout)?;
        let dims = layout.shape().dims();
        let Some((&in_dim, outer)) = dims.split_last() else {
            candle_core::bail!("{} expects a matrix", self.name());
        };
        if in_dim != self.dense.in_dim() {
            candle_core::bail!(
                "{}: input width {in_dim}, layer takes {}",
                self.name(),
                self.dense.in_dim()
            );
        }
        let out = match self.dense {
            Dense::F32(linear) => linear.forward(input, self.epilogue),
            Dense::Int8(linear) => linear.forward(input, self.epilogue),
        };
        let mut shape = outer.to_vec();
        shape.push(self.dense.out_dim());
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

struct BertSelfAttention {
    qkv: Dense,
    heads: Heads,
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
            heads: Heads {
                count: cfg.num_attention_heads,
                dim: head_dim,
            },
        })
    }

    fn forward(&self, xs: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        self.qkv
            .forward(xs)?
            .contiguous()?
            .apply_op1_no_bwd(&AttentionOp {
                lengths,
                heads: self.heads,
            })
    }
}

/// [`attention::attention`] as a candle op on the fused projection's output `[tokens, 3·hidden]`.
struct AttentionOp<'a> {
    lengths: &'a [usize],
    heads: Heads,
}

impl CustomOp1 for AttentionOp<'_> {
    fn name(&self) -> &'static str {
        "themescope-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = super::pointwise::contiguous_f32(self.name(), storage, layout)?;
        let hidden = self.heads.count * self.heads.dim;
        let tokens: usize = self.lengths.iter().sum();
        if layout.shape().dims() != [tokens, 3 * hidden] {
            candle_core::bail!(
                "{}: {:?}, expected [{tokens}, {}]",
                self.name(),
                layout.shape(),
                3 * hidden
            );
        }
        let out = attention::attention(qkv, self.lengths, self.heads);
        Ok((CpuStorage::F32(out), Shape::from((tokens, hidden))))
    }
}

/// Rows per task of a fused layer: a few kernel tiles high, and few enough that a task's
/// feed-forward activations (48 × 1,536 floats for MiniLM) stay in L2 between its two layers.
const TASK_ROWS: usize = 48;

/// Runs `task(first_row, out)` on the pool for each [`TASK_ROWS`] rows of a `rows` × `width`
/// output, `out` being those rows, not yet written; `task` must write all of them.
fn by_row_tasks(
    rows: usize,
    width: usize,
    task: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let len = rows * width;
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(TASK_ROWS * width)
        .enumerate()
        .for_each(|(chunk, rows)| task(chunk * TASK_ROWS, rows));
    // SAFETY: the chunks cover the first `len` elements, and each task writes all of its chunk.
    unsafe { out.set_len(len) };
    out
}

/// The rows of a contiguous f32 `[rows, width]` tensor, checked.
fn matrix<'a>(
    name: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
    width: usize,
) -> Result<&'a [f32]> {
    let values = super::pointwise::contiguous_f32(name, storage, layout)?;
    if layout.shape().dims().last() != Some(&width) {
        candle_core::bail!("{name}: {:?}, expected rows of {width}", layout.shape());
    }
    Ok(values)
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
        if xs.dim(0)? <= TASK_ROWS {
            // A query's rows: the f32 layer shares its columns out among the cores instead.
            return self
                .layer_norm
                .forward_residual(&self.dense.forward(xs)?, residual);
        }
        xs.contiguous()?
            .apply_op2_no_bwd(&residual.contiguous()?, &DenseResidualNormOp(self))
    }

    /// The layer for the rows of `x` on this thread, `residual` holding as many, into `out`.
    /// Adding the residual in the int8 epilogue was measured 5–10% slower; added in the layer
    /// norm's pass over the task's rows, still in cache, it costs no pass of its own.
    fn rows_into(&self, x: &[f32], residual: &[f32], out: &mut [MaybeUninit<f32>]) {
        let written = self.dense.rows_into(x, out, Epilogue::Bias);
        self.layer_norm.add_and_normalize(written, residual);
    }
}

/// [`DenseResidualNorm`] as one candle op on `[tokens, in]` and the residual `[tokens, hidden]`,
/// each task of rows through the projection and the norm while they are in cache.
struct DenseResidualNormOp<'a>(&'a DenseResidualNorm);

impl candle_core::CustomOp2 for DenseResidualNormOp<'_> {
    fn name(&self) -> &'static str {
        "themescope-dense-residual-norm"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        residual_storage: &CpuStorage,
        residual_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let layer = self.0;
        let (in_dim, hidden) = (layer.dense.in_dim(), layer.dense.out_dim());
        let input = matrix(self.name(), storage, layout, in_dim)?;
        let residual = matrix(self.name(), residual_storage, residual_layout, hidden)?;
        let rows = input.len() / in_dim;
        if residual.len() != rows * hidden {
            candle_core::bail!(
                "{}: {:?} with a residual of {:?}",
                self.name(),
                layout.shape(),
                residual_layout.shape()
            );
        }
        let out = by_row_tasks(rows, hidden, |first, out| {
            let count = out.len() / hidden;
            layer.rows_into(
                &input[first * in_dim..][..count * in_dim],
                &residual[first * hidden..][..count * hidden],
                out,
            );
        });
        Ok((CpuStorage::F32(out), residual_layout.shape().clone()))
    }
}

/// The feed-forward half of a layer: the wide projection and its activation, then the narrow one
/// with residual and layer norm.
struct FeedForward {
    intermediate: Dense,
    act: HiddenAct,
    output: DenseResidualNorm,
}

impl FeedForward {
    fn load(vb: VarBuilder, cfg: &BertConfig, compute: Compute) -> Result<Self> {
        Ok(Self {
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

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if self.act != HiddenAct::Gelu || xs.dim(0)? <= TASK_ROWS {
            let inner = self.intermediate.forward_activated(xs, self.act)?;
            return self.output.forward(&inner, xs);
        }
        xs.contiguous()?.apply_op1_no_bwd(&FeedForwardOp(self))
    }
}

/// [`FeedForward`] (exact GELU) as one candle op on `[tokens, hidden]`: each task takes its rows
/// through both projections, so their wide activations never leave its core's cache (written
/// out and read back by the next op, they missed it: 9% of an int8 pass in quantizing alone).
struct FeedForwardOp<'a>(&'a FeedForward);

impl CustomOp1 for FeedForwardOp<'_> {
    fn name(&self) -> &'static str {
        "themescope-feed-forward"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let block = self.0;
        let (hidden, inner_dim) = (block.intermediate.in_dim(), block.intermediate.out_dim());
        let input = matrix(self.name(), storage, layout, hidden)?;
        let out = by_row_tasks(input.len() / hidden, hidden, |first, out| {
            let count = out.len() / hidden;
            let x = &input[first * hidden..][..count * hidden];
            let mut inner = Vec::with_capacity(count * inner_dim);
            let inner = block.intermediate.rows_into(
                x,
                &mut inner.spare_capacity_mut()[..count * inner_dim],
                Epilogue::BiasGelu,
            );
            block.output.rows_into(inner, x, out);
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

struct BertLayer {
    attention: BertSelfAttention,
    attention_output: DenseResidualNorm,
    feed_forward: FeedForward,
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
            feed_forward: FeedForward::load(vb, cfg, compute)?,
        })
    }

    fn forward(&self, xs: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let context = self.attention.forward(xs, lengths)?;
        let xs = self.attention_output.forward(&context, xs)?;
        self.feed_forward.forward(&xs)
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
