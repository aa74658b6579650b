//! A static model (model2vec's layout): one vector per token, read from a table; a text's
//! vector is the mean of its tokens' vectors. No encoder runs, so it is hundreds of times
//! faster than a transformer, at a cost in quality.

use std::path::Path;

use candle_core::{DType, Device};
use ndarray::{Array1, Array2};

use super::backend::{Backend, PackedBatch};
use super::EmbedError;
use crate::model::files::Pooling;
use crate::model::STATIC_TABLE;

/// The token table of a static model, with model2vec's optional per-token weights and
/// token-to-row mapping (vocabulary quantization).
pub struct StaticModel {
    table: Array2<f32>,
    weights: Option<Array1<f32>>,
    mapping: Option<Vec<usize>>,
}

impl StaticModel {
    pub fn new(table: Array2<f32>) -> Self {
        Self {
            table,
            weights: None,
            mapping: None,
        }
    }

    /// Reads `embeddings` (any float type, as f32), and `weights` and `mapping` when present.
    pub fn load(weights_path: &Path) -> Result<Self, EmbedError> {
        let error = |source| EmbedError::Weights {
            path: weights_path.display().to_string(),
            source,
        };
        let tensors = candle_core::safetensors::load(weights_path, &Device::Cpu).map_err(error)?;
        let table = tensors
            .get(STATIC_TABLE)
            .ok_or_else(|| {
                error(candle_core::Error::Msg(format!(
                    "no \"{STATIC_TABLE}\" tensor"
                )))
            })?
            .to_dtype(DType::F32)
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(error)?;
        let rows = table.len();
        let dim = table.first().map_or(0, Vec::len);
        let table =
            Array2::from_shape_vec((rows, dim), table.concat()).expect("rows of equal length");
        let weights = match tensors.get("weights") {
            Some(t) => Some(Array1::from(
                t.to_dtype(DType::F32)
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(error)?,
            )),
            None => None,
        };
        let mapping = match tensors.get("mapping") {
            Some(t) => {
                let mapping: Vec<usize> = t
                    .to_dtype(DType::I64)
                    .and_then(|t| t.to_vec1::<i64>())
                    .map_err(error)?
                    .into_iter()
                    .map(|r| r.max(0) as usize)
                    .collect();
                if mapping.iter().any(|&r| r >= rows) {
                    return Err(error(candle_core::Error::Msg(
                        "\"mapping\" points past the table".into(),
                    )));
                }
                Some(mapping)
            }
            None => None,
        };
        Ok(Self {
            table,
            weights,
            mapping,
        })
    }

    /// Token ids the table has a vector for.
    pub fn vocab_size(&self) -> usize {
        self.mapping.as_ref().map_or(self.table.nrows(), Vec::len)
    }

    /// Mean of the (weighted) vectors of `ids`; zeros for no ids, as model2vec gives.
    fn mean(&self, ids: &[u32]) -> Vec<f32> {
        let mut sum = vec![0f32; self.table.ncols()];
        let mut count = 0usize;
        for &id in ids {
            let id = id as usize;
            let row = match &self.mapping {
                Some(mapping) => mapping.get(id).copied(),
                None => Some(id),
            };
            let Some(row) = row.filter(|&r| r < self.table.nrows()) else {
                continue;
            };
            let weight = self
                .weights
                .as_ref()
                .and_then(|w| w.get(id).copied())
                .unwrap_or(1.0);
            for (s, &x) in sum.iter_mut().zip(self.table.row(row)) {
                *s += weight * x;
            }
            count += 1;
        }
        if count > 0 {
            sum.iter_mut().for_each(|s| *s /= count as f32);
        }
        sum
    }
}

impl Backend for StaticModel {
    fn dim(&self) -> usize {
        self.table.ncols()
    }

    /// Static models always average their tokens; `pooling` is the mean by construction.
    fn embed(&self, batch: &PackedBatch, _pooling: Pooling) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut offset = 0;
        Ok(batch
            .lengths
            .iter()
            .map(|&len| {
                let vector = self.mean(&batch.ids[offset..offset + len]);
                offset += len;
                vector
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_is_the_mean_of_its_rows_and_empty_is_zero() {
        let table = Array2::from_shape_vec((3, 2), vec![1.0, 0.0, 0.0, 1.0, 3.0, 3.0]).unwrap();
        let model = StaticModel::new(table);
        let mut batch = PackedBatch::default();
        batch.push(&[0, 1], &[0, 0]);
        batch.push(&[], &[]);
        batch.push(&[2, 2, 0], &[0, 0, 0]);
        let out = model.embed(&batch, Pooling::Mean).unwrap();
        assert_eq!(
            out,
            vec![vec![0.5, 0.5], vec![0.0, 0.0], vec![7.0 / 3.0, 2.0]]
        );

        let weighted = StaticModel {
            weights: Some(Array1::from(vec![2.0, 1.0, 1.0])),
            mapping: Some(vec![2, 1, 0]),
            ..model
        };
        let out = weighted.embed(&batch, Pooling::Mean).unwrap();
        assert_eq!(out[0], vec![3.0, 3.5], "row 2 × 2 for id 0, row 1 for id 1");
        assert_eq!(weighted.vocab_size(), 3);
    }
}
