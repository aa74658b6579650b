//! Element-wise kernels of the CPU forward pass — exact GELU, layer norm, and the exp the
//! attention's softmax uses — compiled for the widest SIMD the CPU has (AVX-512 or AVX2, picked
//! at run time).
//!
//! candle's own GELU runs a scalar libm `erff` on one thread (17% of the forward pass in our
//! first profile) and its softmax a scalar libm `expf` (with the GELU's exp, 11% later on).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// e^x for finite x, within 2 ulp of libm: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6
/// polynomial (Cephes' coefficients), 2^n written into the exponent bits. Branch-free, so a loop
/// of it vectorises; inputs below -87 give 0 (as e^-87 ≈ 1.6e-38 is at the edge of normal f32).
///
/// Written in fused multiply-adds: one instruction each where the CPU has FMA (every path this
/// crate compiles wide), and the same bits everywhere, since `mul_add` rounds once on any CPU.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x.mul_add(LOG2_E, ROUND);
    let n = shifted - ROUND;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let poly = 1.987_569_1e-4f32
        .mul_add(r, 1.398_199_9e-3)
        .mul_add(r, 8.333_452e-3)
        .mul_add(r, 4.166_579_6e-2)
        .mul_add(r, 1.666_666_5e-1)
        .mul_add(r, 0.5);
    let e_r = poly.mul_add(r * r, r) + 1.0;
    // n sits in the low mantissa bits of `shifted` (both share ROUND's exponent), so the
    // difference of the bit patterns is n itself, negative for x < 0: signed arithmetic, which
    // cannot overflow for n in [-126, 127] (debug builds check this).
    let n_int = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let two_n = f32::from_bits(((n_int + 127) << 23) as u32);
    e_r * two_n
}

/// erf as a polynomial of degree 15 in z = |x| mapped onto [−1, 1] over [0, 3.9] (a Chebyshev
/// least-squares fit; beyond 3.9, erf is 1 to within 4e-8): |error| ≤ 2.3e-7 with the rounding of
/// its multiply-adds, below f32 noise in the hidden states, so vectors keep their parity with
/// PyTorch's exact GELU. No division and no exp: the formula with both (Abramowitz and Stegun
/// 7.1.26) cost 6% of an int8 forward pass in GELU alone.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const REACH: f32 = 3.9;
    /// Coefficients of u⁰ … u¹⁵, u = z · 2/3.9 − 1.
    const C: [f32; 16] = [
        0.994_179_4,
        0.049_101_718,
        -0.186_713_65,
        0.410_996_05,
        -0.544_658_2,
        0.360_755_77,
        0.094_337_42,
        -0.436_288_86,
        0.340_517_76,
        0.058_247_48,
        -0.280_002_47,
        0.113_960_445,
        0.095_501_006,
        -0.071_070_015,
        -0.013_161_279,
        0.014_297_479,
    ];
    let z = x.abs().min(REACH);
    let u = z.mul_add(2.0 / REACH, -1.0);
    let mut p = C[15];
    for &c in C[..15].iter().rev() {
        p = p.mul_add(u, c);
    }
    p.min(1.0).copysign(x)
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// What a dense layer applies to its products in the same pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    Bias,
    /// Bias, then exact (erf) GELU.
    BiasGelu,
}

/// The f32 multiply-add kernels (dense layers, attention), widest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmaPath {
    /// 512-bit registers, 16 lanes.
    Avx512,
    /// 256-bit registers, 8 lanes.
    Avx2,
    /// Plain Rust, for any CPU.
    Portable,
}

impl FmaPath {
    pub const ALL: [FmaPath; 3] = [FmaPath::Avx512, FmaPath::Avx2, FmaPath::Portable];

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx512 => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            FmaPath::Portable => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest path this CPU runs, found once per process.
    pub fn best() -> Self {
        static BEST: std::sync::OnceLock<FmaPath> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            Self::ALL
                .into_iter()
                .find(|path| path.is_available())
                .unwrap_or(FmaPath::Portable)
        })
    }
}

/// Defines each function three times — for AVX-512, for AVX2 and for baseline x86-64 — and picks
/// one at run time: the crate is built for baseline x86-64, so loops only vectorise wide inside a
/// function compiled for the wider instruction set. Rust never fuses a multiply and an add on its
/// own and `mul_add` rounds once everywhere, so the three compute the same floats.
macro_rules! widest_simd {
    ($(
        $(#[$doc:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $body:block
    )*) => {$(
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,fma")]
            unsafe fn avx512($($arg: $ty),*) {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                body($($arg),*)
            }
            match FmaPath::best() {
                // SAFETY: `FmaPath::best` found these instructions on this CPU.
                #[cfg(target_arch = "x86_64")]
                FmaPath::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                FmaPath::Avx2 => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    )*};
}

widest_simd! {
    fn gelu_slice(input: &[f32], output: &mut [f32]) {
        for (o, &x) in output.iter_mut().zip(input) {
            *o = gelu(x);
        }
    }

    /// GELU over `values`, in place (the int8 layers' epilogue).
    pub(super) fn gelu_in_place(values: &mut [f32]) {
        for x in values.iter_mut() {
            *x = gelu(*x);
        }
    }

    /// Layer norm of each `gamma.len()`-wide row of `input` into `output`.
    fn layer_norm_rows(input: &[f32], output: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        output.copy_from_slice(input);
        normalize_rows(output, gamma, beta, eps);
    }

    /// Layer norm of each row of `input + residual` into `output`, in one pass over both.
    fn residual_layer_norm_rows(
        input: &[f32],
        residual: &[f32],
        output: &mut [f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32
    ) {
        for ((y, &x), &r) in output.iter_mut().zip(input).zip(residual) {
            *y = x + r;
        }
        normalize_rows(output, gamma, beta, eps);
    }

    /// Layer norm of each row of `rows + residual`, in place.
    fn residual_layer_norm_in_place(
        rows: &mut [f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32
    ) {
        for (y, &r) in rows.iter_mut().zip(residual) {
            *y += r;
        }
        normalize_rows(rows, gamma, beta, eps);
    }
}

/// Layer norm of each `gamma.len()`-wide row of `rows`, in place.
#[inline(always)]
fn normalize_rows(rows: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let width = gamma.len();
    for y in rows.chunks_exact_mut(width) {
        let mean = lane_fold(y, 0.0, |a, b| a + b) / width as f32;
        for y in y.iter_mut() {
            *y -= mean;
        }
        let variance = lane_fold_map(y, |d| d * d) / width as f32;
        let inverse = 1.0 / (variance + eps).sqrt();
        for ((y, &g), &b) in y.iter_mut().zip(gamma).zip(beta) {
            *y = *y * inverse * g + b;
        }
    }
}

/// Folds `values` with `op` in 16 independent lanes, then the lanes together: the compiler keeps
/// the lanes in one vector register, where a plain fold over floats runs one value at a time
/// (it may not reorder float operations).
#[inline(always)]
pub(super) fn lane_fold(values: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = op(*lane, x);
        }
    }
    lanes.iter().chain(rest).fold(init, |a, &b| op(a, b))
}

/// The sum of `f` over `values`, in lanes as [`lane_fold`].
#[inline(always)]
fn lane_fold_map(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += f(x);
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().map(|&x| f(x)).sum::<f32>()
}

/// Elements per parallel task: large enough that scheduling costs nothing next to the work.
const CHUNK: usize = 16 * 1024;

pub(super) fn contiguous_f32<'a>(
    name: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<&'a [f32]> {
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

/// Layer norm over the last dimension, with its learned scale and shift.
pub struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    pub fn load(vb: candle_nn::VarBuilder, width: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            gamma: vb.get(width, "weight")?.to_vec1()?,
            beta: vb.get(width, "bias")?.to_vec1()?,
            eps: eps as f32,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        xs.contiguous()?.apply_op1_no_bwd(self)
    }

    /// The layer norm of `xs + residual`, in one pass (no tensor for the sum).
    pub fn forward_residual(&self, xs: &Tensor, residual: &Tensor) -> Result<Tensor> {
        xs.contiguous()?
            .apply_op2_no_bwd(&residual.contiguous()?, &ResidualLayerNorm(self))
    }

    /// Layer norm of each row of `rows + residual` (as many rows in each), in place: the
    /// residual layer norm of one task's rows inside a fused layer.
    pub fn add_and_normalize(&self, rows: &mut [f32], residual: &[f32]) {
        assert_eq!(rows.len(), residual.len(), "a residual row per row");
        assert_eq!(rows.len() % self.gamma.len(), 0, "whole rows");
        residual_layer_norm_in_place(rows, residual, &self.gamma, &self.beta, self.eps);
    }

    /// Checks `shape` has rows of this norm's width.
    fn check_width(&self, name: &str, shape: &Shape) -> Result<()> {
        let width = self.gamma.len();
        if shape.dims().last() != Some(&width) {
            candle_core::bail!("{name}: rows of {shape:?}, weights of {width}");
        }
        Ok(())
    }

    /// Runs `rows` (a task's rows × width of output, and its index) over the output in tasks of
    /// about [`CHUNK`] values, on the pool when there is more than one task's worth.
    fn by_tasks(&self, len: usize, rows: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
        let width = self.gamma.len();
        let mut output = vec![0f32; len];
        let rows_per_task = (CHUNK / width).max(1);
        if len <= CHUNK {
            rows(0, &mut output);
        } else {
            output
                .par_chunks_mut(rows_per_task * width)
                .enumerate()
                .for_each(|(task, out)| rows(task * rows_per_task * width, out));
        }
        output
    }
}

/// [`LayerNorm::forward_residual`]'s op: the norm of the sum of its two inputs.
struct ResidualLayerNorm<'a>(&'a LayerNorm);

impl candle_core::CustomOp2 for ResidualLayerNorm<'_> {
    fn name(&self) -> &'static str {
        "themescope-residual-layer-norm"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
        residual_storage: &CpuStorage,
        residual_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(self.name(), storage, layout)?;
        let residual = contiguous_f32(self.name(), residual_storage, residual_layout)?;
        if layout.shape() != residual_layout.shape() {
            candle_core::bail!(
                "{}: {:?} plus {:?}",
                self.name(),
                layout.shape(),
                residual_layout.shape()
            );
        }
        let norm = self.0;
        norm.check_width(self.name(), layout.shape())?;
        let output = norm.by_tasks(input.len(), |first, out| {
            let (input, residual) = (
                &input[first..][..out.len()],
                &residual[first..][..out.len()],
            );
            residual_layer_norm_rows(input, residual, out, &norm.gamma, &norm.beta, norm.eps);
        });
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

impl CustomOp1 for LayerNorm {
    fn name(&self) -> &'static str {
        "themescope-layer-norm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(self.name(), storage, layout)?;
        self.check_width(self.name(), layout.shape())?;
        let output = self.by_tasks(input.len(), |first, out| {
            let input = &input[first..][..out.len()];
            layer_norm_rows(input, out, &self.gamma, &self.beta, self.eps);
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
    fn layer_norm_matches_candles() {
        let device = candle_core::Device::Cpu;
        let width = 37;
        let xs: Vec<f32> = (0..width * 5)
            .map(|i| ((i * 31) % 17) as f32 - 6.5)
            .collect();
        let gamma: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 / 10.0).collect();
        let beta: Vec<f32> = (0..width).map(|i| i as f32 / 100.0 - 0.2).collect();
        let tensor = Tensor::from_slice(&xs, (5, width), &device).unwrap();
        let reference = candle_nn::LayerNorm::new(
            Tensor::new(gamma.as_slice(), &device).unwrap(),
            Tensor::new(beta.as_slice(), &device).unwrap(),
            1e-12,
        );
        let expected: Vec<f32> = candle_core::Module::forward(&reference, &tensor)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let ours = LayerNorm {
            gamma,
            beta,
            eps: 1e-12,
        };
        let got: Vec<f32> = ours
            .forward(&tensor)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "max |difference| {worst}");
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
        // |x|/2 · 2.3e-7 at |x| ≤ 8, plus rounding.
        assert!(worst < 1e-6, "max |GELU difference| {worst}");
        assert_eq!(gelu(0.0), 0.0);
        // The fit's 2.3e-7 with its rounding (an ulp is 6e-8 here).
        assert!((erf(0.5) - 0.520_499_9).abs() < 3e-7);
        assert!((erf(-2.0) + 0.995_322_3).abs() < 3e-7);
    }
}
