//! The line between scheduling and compute: a packed batch of token sequences goes into a
//! [`Backend`], pooled vectors come out. Pooling lives here too, so every backend pools alike.

use super::EmbedError;
use crate::model::files::Pooling;

/// Token ids of several sequences laid end to end, with where each one starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedBatch {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub positions: Vec<u32>,
    pub lengths: Vec<usize>,
}

impl PackedBatch {
    pub fn push(&mut self, ids: &[u32], type_ids: &[u32]) {
        self.ids.extend_from_slice(ids);
        self.type_ids.extend_from_slice(type_ids);
        self.positions.extend(0..ids.len() as u32);
        self.lengths.push(ids.len());
    }

    pub fn total_tokens(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

/// Compute: pooled vectors for a packed batch of token sequences.
pub trait Backend: Send + Sync {
    /// Length of the vectors it returns.
    fn dim(&self) -> usize;
    /// The compute kernels it runs on, for benchmarks: "f32", or an int8 kernel path.
    fn kernel(&self) -> &'static str {
        "f32"
    }
    /// One pooled (not normalised) vector per sequence of `batch`, in batch order.
    fn embed(&self, batch: &PackedBatch, pooling: Pooling) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Pools the token rows of one sequence (every row is a real token: batches are packed).
pub fn pool(mode: Pooling, rows: &[&[f32]]) -> Vec<f32> {
    let dim = rows.first().map_or(0, |r| r.len());
    match mode {
        Pooling::Cls => rows.first().map(|r| r.to_vec()).unwrap_or_default(),
        Pooling::Max => {
            let mut out = vec![f32::NEG_INFINITY; dim];
            for row in rows {
                for (o, &x) in out.iter_mut().zip(*row) {
                    *o = o.max(x);
                }
            }
            out
        }
        Pooling::Mean | Pooling::MeanSqrtLen => {
            let mut out = vec![0f32; dim];
            for row in rows {
                for (o, &x) in out.iter_mut().zip(*row) {
                    *o += x;
                }
            }
            let divisor = match mode {
                Pooling::Mean => rows.len() as f32,
                _ => (rows.len() as f32).sqrt(),
            };
            out.iter_mut().for_each(|o| *o /= divisor.max(1e-9));
            out
        }
    }
}

/// Pools each sequence of packed hidden states: `hidden` holds `lengths.iter().sum()` rows of
/// `dim` values, end to end.
pub fn pool_packed(hidden: &[f32], dim: usize, lengths: &[usize], mode: Pooling) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(lengths.len());
    let mut offset = 0;
    for &len in lengths {
        let rows: Vec<&[f32]> = hidden[offset * dim..(offset + len) * dim]
            .chunks_exact(dim.max(1))
            .collect();
        out.push(pool(mode, &rows));
        offset += len;
    }
    out
}
