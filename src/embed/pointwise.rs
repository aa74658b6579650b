//! Element-wise kernels of the CPU forward pass — exact GELU and softmax — on an exp that
//! vectorises, compiled for the widest SIMD the CPU has (pulp picks AVX-512 or AVX2 at run time).
//!
//! candle's own GELU runs a scalar libm `erff` on one thread (17% of the forward pass in our
//! first profile) and its softmax a scalar libm `expf` (with the GELU's exp, 11% later on).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// e^x for finite x, within 2 ulp of libm: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6
/// polynomial (Cephes' coefficients), 2^n written into the exponent bits. Branch-free, so a loop
/// of it vectorises; inputs below -87 give 0 (as e^-87 ≈ 1.6e-38 is at the edge of normal f32).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let poly = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = poly * (r * r) + r + 1.0;
    // n sits in the low mantissa bits of `shifted` (both share ROUND's exponent), so the
    // difference of the bit patterns is n itself, negative for x < 0: signed arithmetic, which
    // cannot overflow for n in [-126, 127] (debug builds check this).
    let n_int = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let two_n = f32::from_bits(((n_int + 127) << 23) as u32);
    e_r * two_n
}

/// erf by Abramowitz and Stegun, formula 7.1.26: |error| ≤ 1.5e-7, below f32 noise in the
/// hidden states, so vectors keep their parity with PyTorch's exact GELU.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let y = 1.0 - poly * exp(-z * z);
    y.copysign(x)
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

fn gelu_slice(input: &[f32], output: &mut [f32]) {
    pulp::Arch::new().dispatch(|| {
        for (o, &x) in output.iter_mut().zip(input) {
            *o = gelu(x);
        }
    })
}

/// Softmax of one row, in place of `output`.
fn softmax_row(input: &[f32], output: &mut [f32]) {
    pulp::Arch::new().dispatch(|| {
        let max = input.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (o, &x) in output.iter_mut().zip(input) {
            *o = exp(x - max);
        }
        let sum: f32 = output.iter().sum();
        for o in output.iter_mut() {
            *o /= sum;
        }
    })
}

/// Elements per parallel task: large enough that scheduling costs nothing next to the work.
const CHUNK: usize = 16 * 1024;

fn contiguous_f32<'a>(name: &str, storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{name} expects f32");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{name} expects a contiguous tensor");
    };
    Ok(&data[start..end])
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "themescope-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(self.name(), storage, layout)?;
        let mut output = vec![0f32; input.len()];
        if input.len() <= CHUNK {
            // One query's worth: waking the thread pool costs more than the work.
            gelu_slice(input, &mut output);
        } else {
            output
                .par_chunks_mut(CHUNK)
                .zip(input.par_chunks(CHUNK))
                .for_each(|(out, inp)| gelu_slice(inp, out));
        }
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

struct SoftmaxLastDim;

impl CustomOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "themescope-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(self.name(), storage, layout)?;
        let row = layout.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut output = vec![0f32; input.len()];
        // Whole rows per task, about CHUNK elements each.
        let rows_per_task = (CHUNK / row).max(1);
        output
            .par_chunks_mut(rows_per_task * row)
            .zip(input.par_chunks(rows_per_task * row))
            .for_each(|(out, inp)| {
                for (o, i) in out.chunks_exact_mut(row).zip(inp.chunks_exact(row)) {
                    softmax_row(i, o);
                }
            });
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

fn is_cpu_f32_contiguous(xs: &Tensor) -> bool {
    xs.dtype() == candle_core::DType::F32 && xs.is_contiguous() && xs.device().is_cpu()
}

/// GELU with erf, as PyTorch's default, on a contiguous f32 tensor (else candle's own).
pub fn gelu_erf(xs: &Tensor) -> Result<Tensor> {
    if is_cpu_f32_contiguous(xs) {
        xs.apply_op1_no_bwd(&GeluErf)
    } else {
        xs.gelu_erf()
    }
}

/// Softmax over the last dimension on a contiguous f32 tensor (else candle's own).
pub fn softmax_last_dim(xs: &Tensor) -> Result<Tensor> {
    if is_cpu_f32_contiguous(xs) && xs.rank() > 0 {
        xs.apply_op1_no_bwd(&SoftmaxLastDim)
    } else {
        candle_nn::ops::softmax_last_dim(xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0f32;
        for i in -870_000..=880_000 {
            let x = i as f32 / 10_000.0;
            let (ours, libm) = (exp(x), x.exp());
            let ulp = f32::EPSILON * libm.max(f32::MIN_POSITIVE);
            worst = worst.max((ours - libm).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(-1000.0) < 1e-37);
    }

    #[test]
    fn matches_candles_libm_gelu() {
        let xs: Vec<f32> = (-8000..=8000).map(|i| i as f32 / 1000.0).collect();
        let tensor = Tensor::new(xs.as_slice(), &candle_core::Device::Cpu).unwrap();
        let reference = tensor.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        let ours = gelu_erf(&tensor).unwrap().to_vec1::<f32>().unwrap();
        let worst = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // |x|/2 · 1.5e-7 at |x| ≤ 8, plus rounding.
        assert!(worst < 1e-6, "max |GELU difference| {worst}");
        assert_eq!(gelu(0.0), 0.0);
        assert!((erf(0.5) - 0.520_499_9).abs() < 2e-7);
        assert!((erf(-2.0) + 0.995_322_3).abs() < 2e-7);
    }

    #[test]
    fn softmax_matches_candles_on_rows_of_any_length() {
        for (rows, len) in [(1, 1), (3, 7), (40, 97), (300, 256)] {
            let xs: Vec<f32> = (0..rows * len)
                .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0)
                .collect();
            let tensor = Tensor::from_vec(xs, (rows, len), &candle_core::Device::Cpu).unwrap();
            let reference = candle_nn::ops::softmax_last_dim(&tensor).unwrap();
            let ours = softmax_last_dim(&tensor).unwrap();
            let worst = (&ours - &reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(worst < 1e-6, "{rows}×{len}: max difference {worst}");
            let sums = ours.sum(1).unwrap().to_vec1::<f32>().unwrap();
            assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
        }
    }
}
