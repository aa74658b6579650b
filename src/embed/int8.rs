//! Int8 dense layers: weights quantized once per output channel, activations per token as they
//! arrive, exact i32 products on the widest integer kernel the CPU has (AVX-512 VNNI, AVX2 or
//! portable, chosen at run time), then dequantization, bias and GELU in one pass over the tile.
//!
//! Activations are quantized asymmetrically to u8 (a scale and a zero point per token) because
//! they are lopsided — GELU outputs are ≥ -0.17 — and because VNNI multiplies u8 by i8. Weights
//! are symmetric i8 (−127…127). All paths compute the same integers and share the float epilogue,
//! so their outputs agree to the bit.

use std::mem::MaybeUninit;

use rayon::prelude::*;

pub use super::pointwise::Epilogue;

/// Names a kernel path to use instead of the best the CPU has: `avx512vnni`, `avx2`, `portable`.
pub const KERNEL_ENV: &str = "THEMESCOPE_INT8_KERNEL";

/// The integer matmul kernels, widest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    /// `vpdpbusd` on 512-bit registers: 64 u8·i8 products per instruction.
    Avx512Vnni,
    /// `vpmaddwd` on 256-bit registers over widened operands: 16 products per instruction.
    Avx2,
    /// Plain Rust loops, for any CPU.
    Portable,
}

impl KernelPath {
    pub const ALL: [KernelPath; 3] = [
        KernelPath::Avx512Vnni,
        KernelPath::Avx2,
        KernelPath::Portable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx512Vnni => "avx512vnni",
            KernelPath::Avx2 => "avx2",
            KernelPath::Portable => "portable",
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512Vnni => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => is_x86_feature_detected!("avx2"),
            KernelPath::Portable => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest path this CPU runs.
    pub fn best() -> Self {
        Self::ALL
            .into_iter()
            .find(|path| path.is_available())
            .unwrap_or(KernelPath::Portable)
    }

    /// The path [`KERNEL_ENV`] names, else the best; an unknown name or a path this CPU cannot
    /// run is an error, so a forced test never silently measures another path.
    pub fn choose() -> std::result::Result<Self, String> {
        Self::named(std::env::var(KERNEL_ENV).ok().as_deref())
    }

    fn named(name: Option<&str>) -> std::result::Result<Self, String> {
        let Some(name) = name else {
            return Ok(Self::best());
        };
        let path = Self::ALL
            .into_iter()
            .find(|path| path.name() == name)
            .ok_or_else(|| {
                format!("{KERNEL_ENV}={name} is not a kernel path (avx512vnni, avx2, portable)")
            })?;
        if path.is_available() {
            Ok(path)
        } else {
            Err(format!(
                "{KERNEL_ENV}={name}: this CPU cannot run that path"
            ))
        }
    }

    /// Rows one microkernel call covers: as many as leave registers for the panel and a
    /// broadcast (AVX-512: 12 × 2 accumulators of 32 registers; AVX2: 6 × 2 of 16).
    fn tile_rows(self) -> usize {
        match self {
            KernelPath::Avx512Vnni => 12,
            KernelPath::Avx2 | KernelPath::Portable => 6,
        }
    }

    /// Output columns one microkernel call covers.
    fn panel(self) -> usize {
        match self {
            KernelPath::Avx512Vnni => 32,
            KernelPath::Avx2 => 16,
            KernelPath::Portable => 16,
        }
    }
}

/// Rows of the left-hand side per microkernel call, at most (see [`KernelPath::tile_rows`]).
const TILE_ROWS: usize = 12;
/// The reduction length is padded to a multiple of this (VNNI takes 4 bytes per lane).
const K_STEP: usize = 4;
/// The widest panel of any path, for the tile buffer.
const MAX_PANEL: usize = 32;
/// Rows per parallel task: a few tiles of every path.
const TASK_ROWS: usize = 48;

/// The weights in the layout their kernel reads.
enum Packed {
    /// Panels of 32 columns; in each, per group of 4 reduction steps, 32 × 4 bytes.
    Vnni(Vec<i8>),
    /// Panels of 16 columns; in each, per pair of reduction steps, 16 × 2 values widened to i16.
    Avx2(Vec<i16>),
    /// Row-major out × in.
    Portable(Vec<i8>),
}

/// A dense layer `x W^T + b` with int8 weights.
pub struct QuantizedLinear {
    in_dim: usize,
    out_dim: usize,
    padded_in: usize,
    path: KernelPath,
    weights: Packed,
    /// Per output channel: the weight scale and the sum of its quantized weights (which undoes
    /// the activations' zero point).
    scales: Vec<f32>,
    column_sums: Vec<i32>,
    bias: Vec<f32>,
}

/// Symmetric int8 of one row: the values and the scale that brings them back.
fn quantize_symmetric(row: &[f32]) -> (Vec<i8>, f32) {
    let max = row.iter().fold(0f32, |m, &x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let values = row
        .iter()
        .map(|&x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (values, scale)
}

/// The smallest and largest of `row` and 0, in lanes the compiler keeps in vector registers
/// (a fold over `f32::min` does not vectorise).
#[inline(always)]
fn min_max_with_zero(row: &[f32]) -> (f32, f32) {
    // Four AVX-512 registers (eight AVX2) of lanes each way: one register's chain of min or max
    // waited on its own latency at every step.
    const LANES: usize = 64;
    let (mut lo, mut hi) = ([0f32; LANES], [0f32; LANES]);
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            let x = chunk[i];
            lo[i] = if x < lo[i] { x } else { lo[i] };
            hi[i] = if x > hi[i] { x } else { hi[i] };
        }
    }
    // The lanes folded in halves, in the same select form, so that this too stays in vector
    // registers (a scalar fold over sixteen lanes cost as much as the vector loop over a row).
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            lo[i] = if lo[i + width] < lo[i] {
                lo[i + width]
            } else {
                lo[i]
            };
            hi[i] = if hi[i + width] > hi[i] {
                hi[i + width]
            } else {
                hi[i]
            };
        }
    }
    let (mut min, mut max) = (lo[0], hi[0]);
    for &x in rest {
        min = if x < min { x } else { min };
        max = if x > max { x } else { max };
    }
    (min, max)
}

/// Asymmetric u8 of one token's activations into `out` (padded with zeros): returns the scale
/// and the zero point, so that x ≈ scale · (q − zero_point).
#[inline(always)]
fn quantize_activations(row: &[f32], out: &mut [u8]) -> (f32, i32) {
    let (min, max) = min_max_with_zero(row);
    let scale = if max > min { (max - min) / 255.0 } else { 1.0 };
    let zero_point = (-min / scale).round().clamp(0.0, 255.0);
    // Half up by adding 0.5 and truncating: one vector instruction, where `round` (half away
    // from zero) has none before AVX-512 and becomes a call per value.
    let inverse = 1.0 / scale;
    let offset = zero_point + 0.5;
    for (q, &x) in out.iter_mut().zip(row) {
        // `max` first: it returns 0 for NaN (`clamp` keeps NaN), so v is always in 0..=255.
        #[allow(clippy::manual_clamp)]
        let v = (x * inverse + offset).max(0.0).min(255.0);
        // SAFETY: v is finite and in 0..=255 (the saturating `as u8` does not vectorise).
        *q = unsafe { v.to_int_unchecked::<i32>() } as u8;
    }
    for q in &mut out[row.len()..] {
        *q = 0;
    }
    (scale, zero_point as i32)
}

impl QuantizedLinear {
    /// Quantizes `weight` (out × in, row-major, as PyTorch stores it) for `path`.
    pub fn new(
        weight: &[f32],
        bias: &[f32],
        out_dim: usize,
        in_dim: usize,
        path: KernelPath,
    ) -> Self {
        assert_eq!(weight.len(), out_dim * in_dim, "weight is out × in");
        assert_eq!(bias.len(), out_dim, "one bias per output");
        assert!(in_dim > 0, "a layer takes at least one input");
        let padded_in = in_dim.div_ceil(K_STEP) * K_STEP;
        let mut rows = vec![0i8; out_dim * padded_in];
        let mut scales = Vec::with_capacity(out_dim);
        let mut column_sums = Vec::with_capacity(out_dim);
        for (j, source) in weight.chunks_exact(in_dim).enumerate() {
            let (values, scale) = quantize_symmetric(source);
            column_sums.push(values.iter().map(|&v| i32::from(v)).sum());
            rows[j * padded_in..j * padded_in + in_dim].copy_from_slice(&values);
            scales.push(scale);
        }
        let weights = pack(&rows, out_dim, padded_in, path);
        Self {
            in_dim,
            out_dim,
            padded_in,
            path,
            weights,
            scales,
            column_sums,
            bias: bias.to_vec(),
        }
    }

    pub fn path(&self) -> KernelPath {
        self.path
    }

    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// `x W^T + b` (then GELU with [`Epilogue::BiasGelu`]) for `x`: rows × in, row-major.
    pub fn forward(&self, x: &[f32], epilogue: Epilogue) -> Vec<f32> {
        assert_eq!(x.len() % self.in_dim, 0, "x is rows × in");
        let rows = x.len() / self.in_dim;
        let len = rows * self.out_dim;
        // Not zeroed first: every element is written below (a memset of the output cost 5%).
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let task = |(chunk, out): (usize, &mut [MaybeUninit<f32>])| {
            let first = chunk * TASK_ROWS;
            let count = out.len() / self.out_dim;
            self.rows_into(
                &x[first * self.in_dim..][..count * self.in_dim],
                out,
                epilogue,
            );
        };
        let target = &mut out.spare_capacity_mut()[..len];
        if rows <= TASK_ROWS {
            // One query's worth: waking the thread pool costs more than the work.
            target
                .chunks_mut(TASK_ROWS * self.out_dim)
                .enumerate()
                .for_each(task);
        } else {
            target
                .par_chunks_mut(TASK_ROWS * self.out_dim)
                .enumerate()
                .for_each(task);
        }
        // SAFETY: `rows_into` wrote every element of every chunk, and the chunks cover `len`.
        unsafe { out.set_len(len) };
        out
    }

    /// [`QuantizedLinear::forward`] for the rows of `x` on this thread, into `out` (rows × out,
    /// not yet written); returns `out`, now written. The rows are quantized here, so that they
    /// stay in cache for the tiles and the quantization runs on every core.
    pub fn rows_into<'o>(
        &self,
        x: &[f32],
        out: &'o mut [MaybeUninit<f32>],
        epilogue: Epilogue,
    ) -> &'o mut [f32] {
        let rows = out.len() / self.out_dim;
        assert_eq!(x.len(), rows * self.in_dim, "a row of x per output row");
        let quantized = self.quantize(x, rows);
        let written = self.dequantized_into(&quantized, out);
        if epilogue == Epilogue::BiasGelu {
            // A pass of its own over the task's rows, still in cache: done on each tile's row
            // in L1 instead, it measured slower (its constants no longer stay in registers).
            super::pointwise::gelu_in_place(written);
        }
        written
    }

    /// The exact integer products `q(x) · W_q^T` (rows × out), before any scaling: what every
    /// path must agree on to the bit.
    pub fn integer_products(&self, x: &[f32]) -> Vec<i32> {
        let rows = x.len() / self.in_dim.max(1);
        let quantized = self.quantize(x, rows);
        let mut out = vec![0i32; rows * self.out_dim];
        let mut tile = [0i32; TILE_ROWS * MAX_PANEL];
        let panel = self.path.panel();
        for first_col in (0..self.out_dim).step_by(panel) {
            let cols = panel.min(self.out_dim - first_col);
            for first_row in (0..rows).step_by(self.path.tile_rows()) {
                let count = self.path.tile_rows().min(rows - first_row);
                self.tile(&quantized, first_row, count, first_col / panel, &mut tile);
                for r in 0..count {
                    let row = &mut out[(first_row + r) * self.out_dim..][..self.out_dim];
                    row[first_col..first_col + cols].copy_from_slice(&tile[r * panel..][..cols]);
                }
            }
        }
        out
    }

    fn quantize(&self, x: &[f32], rows: usize) -> Activations {
        let mut values = vec![0u8; rows * self.padded_in];
        let mut scales = vec![0f32; rows];
        let mut zero_points = vec![0i32; rows];
        let target = QuantizeTarget {
            values: &mut values,
            scales: &mut scales,
            zero_points: &mut zero_points,
        };
        match self.path {
            // SAFETY: the path was checked available before the weights were packed for it.
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512Vnni => unsafe { x86::quantize_v4(self, x, target) },
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => unsafe { x86::quantize_v3(self, x, target) },
            _ => self.quantize_into(x, target),
        }
        let widened = match self.path {
            KernelPath::Avx2 => values.iter().map(|&v| i16::from(v)).collect(),
            _ => Vec::new(),
        };
        Activations {
            values,
            widened,
            scales,
            zero_points,
        }
    }

    /// Quantizes the rows of `x` into `target`. Inlined into a copy per instruction set (see
    /// `x86`), so that its loops vectorise as wide as the CPU allows.
    #[inline(always)]
    fn quantize_into(&self, x: &[f32], target: QuantizeTarget) {
        let rows = x
            .chunks_exact(self.in_dim)
            .zip(target.values.chunks_exact_mut(self.padded_in))
            .zip(target.scales.iter_mut().zip(target.zero_points.iter_mut()));
        for ((source, out), (scale, zero_point)) in rows {
            (*scale, *zero_point) = quantize_activations(source, out);
        }
    }

    /// The rows of `a` (as many as `out` holds), dequantized with bias, into `out`; returns
    /// `out`, now written.
    fn dequantized_into<'o>(
        &self,
        a: &Activations,
        out: &'o mut [MaybeUninit<f32>],
    ) -> &'o mut [f32] {
        match self.path {
            // SAFETY: the path was checked available before the weights were packed for it.
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512Vnni => unsafe { x86::rows_v4(self, a, out) },
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => unsafe { x86::rows_v3(self, a, out) },
            _ => self.rows_generic(a, out),
        }
        // SAFETY: `rows_generic` wrote every row of `out` in every column (the panels cover
        // 0..out_dim, the tiles 0..rows).
        unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) }
    }

    /// The body of [`QuantizedLinear::dequantized_into`], inlined into a copy per instruction set.
    #[inline(always)]
    fn rows_generic(&self, a: &Activations, out: &mut [MaybeUninit<f32>]) {
        let rows = out.len() / self.out_dim;
        let panel = self.path.panel();
        let mut tile = [0i32; TILE_ROWS * MAX_PANEL];
        for first_col in (0..self.out_dim).step_by(panel) {
            let cols = panel.min(self.out_dim - first_col);
            let scales = &self.scales[first_col..first_col + cols];
            let sums = &self.column_sums[first_col..first_col + cols];
            let bias = &self.bias[first_col..first_col + cols];
            for row in (0..rows).step_by(self.path.tile_rows()) {
                let count = self.path.tile_rows().min(rows - row);
                #[cfg(target_arch = "x86_64")]
                if let (Packed::Vnni(weights), 32) = (&self.weights, cols) {
                    // A whole VNNI panel: dequantized in the kernel, from its accumulators
                    // (through a tile in memory it cost 6% of an int8 forward pass).
                    let k = self.padded_in;
                    let rows_out = x86::TileRows {
                        row_scales: &a.scales[row..row + count],
                        zero_points: &a.zero_points[row..row + count],
                        scales,
                        sums,
                        bias,
                        out: &mut out[row * self.out_dim + first_col..],
                        stride: self.out_dim,
                    };
                    let lhs = &a.values[row * k..(row + count) * k];
                    let panel = &weights[first_col * k..][..32 * k];
                    // SAFETY: the path was checked available when the weights were packed;
                    // the kernel checks the slices hold what it reads and writes.
                    unsafe { x86::vnni_rows(lhs, k, panel, rows_out) };
                    continue;
                }
                self.tile(a, row, count, first_col / panel, &mut tile);
                for r in 0..count {
                    let (row_scale, zero_point) = (a.scales[row + r], a.zero_points[row + r]);
                    let products = &tile[r * panel..][..cols];
                    let target = &mut out[(row + r) * self.out_dim + first_col..][..cols];
                    for ((((y, &p), &s), &sum), &b) in target
                        .iter_mut()
                        .zip(products)
                        .zip(scales)
                        .zip(sums)
                        .zip(bias)
                    {
                        y.write((p - zero_point * sum) as f32 * (row_scale * s) + b);
                    }
                }
            }
        }
    }

    /// Integer products of `count` (≤ TILE_ROWS) rows from `first_row` with weight panel
    /// `panel_index`, into `tile` (row r at r · panel width).
    fn tile(
        &self,
        a: &Activations,
        first_row: usize,
        count: usize,
        panel_index: usize,
        tile: &mut [i32; TILE_ROWS * MAX_PANEL],
    ) {
        let k = self.padded_in;
        match &self.weights {
            #[cfg(target_arch = "x86_64")]
            Packed::Vnni(weights) => {
                let lhs = &a.values[first_row * k..(first_row + count) * k];
                let panel = &weights[panel_index * 32 * k..][..32 * k];
                // SAFETY: the path was checked available when the weights were packed; slices
                // bound every read and write (lhs: count × k, panel: 32 × k, tile ≥ count × 32).
                unsafe { x86::vnni_tile(lhs, count, k, panel, tile) }
            }
            #[cfg(target_arch = "x86_64")]
            Packed::Avx2(weights) => {
                let lhs = &a.widened[first_row * k..(first_row + count) * k];
                let panel = &weights[panel_index * 16 * k..][..16 * k];
                // SAFETY: as above; panel: 16 × k i16, tile ≥ count × 16.
                unsafe { x86::avx2_tile(lhs, count, k, panel, tile) }
            }
            Packed::Portable(weights) => {
                let first_col = panel_index * 16;
                let cols = 16.min(self.out_dim - first_col);
                for r in 0..count {
                    let lhs = &a.values[(first_row + r) * k..][..k];
                    for c in 0..cols {
                        let w = &weights[(first_col + c) * k..][..k];
                        tile[r * 16 + c] = lhs
                            .iter()
                            .zip(w)
                            .map(|(&x, &w)| i32::from(x) * i32::from(w))
                            .sum();
                    }
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only the portable path is packed off x86_64"),
        }
    }
}

/// Where [`QuantizedLinear::quantize_into`] writes.
struct QuantizeTarget<'a> {
    values: &'a mut [u8],
    scales: &'a mut [f32],
    zero_points: &'a mut [i32],
}

/// One batch of activations, quantized.
struct Activations {
    /// rows × padded_in.
    values: Vec<u8>,
    /// The same widened to i16, for the AVX2 path only.
    widened: Vec<i16>,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
}

/// Lays the quantized rows (out × padded_in) out for `path`; missing columns of the last panel
/// are zeros.
fn pack(rows: &[i8], out_dim: usize, k: usize, path: KernelPath) -> Packed {
    let at = |col: usize, step: usize| -> i8 {
        if col < out_dim {
            rows[col * k + step]
        } else {
            0
        }
    };
    match path {
        KernelPath::Avx512Vnni => {
            let panels = out_dim.div_ceil(32);
            let mut packed = Vec::with_capacity(panels * 32 * k);
            for panel in 0..panels {
                for group in 0..k / 4 {
                    for c in 0..32 {
                        for t in 0..4 {
                            packed.push(at(panel * 32 + c, group * 4 + t));
                        }
                    }
                }
            }
            Packed::Vnni(packed)
        }
        KernelPath::Avx2 => {
            let panels = out_dim.div_ceil(16);
            let mut packed = Vec::with_capacity(panels * 16 * k);
            for panel in 0..panels {
                for pair in 0..k / 2 {
                    for c in 0..16 {
                        for t in 0..2 {
                            packed.push(i16::from(at(panel * 16 + c, pair * 2 + t)));
                        }
                    }
                }
            }
            Packed::Avx2(packed)
        }
        KernelPath::Portable => Packed::Portable(rows.to_vec()),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use std::mem::MaybeUninit;

    use super::{Activations, QuantizeTarget, QuantizedLinear, MAX_PANEL, TILE_ROWS};

    // The quantization and the epilogue compiled for each instruction set, so that their loops
    // vectorise (the crate itself is built for baseline x86-64). Rust never fuses a multiply and
    // an add on its own, so every copy computes the same floats.

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn quantize_v4(layer: &QuantizedLinear, x: &[f32], target: QuantizeTarget) {
        layer.quantize_into(x, target)
    }

    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn quantize_v3(layer: &QuantizedLinear, x: &[f32], target: QuantizeTarget) {
        layer.quantize_into(x, target)
    }

    /// # Safety
    /// The CPU has AVX-512 F and VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn rows_v4(layer: &QuantizedLinear, a: &Activations, out: &mut [MaybeUninit<f32>]) {
        layer.rows_generic(a, out)
    }

    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn rows_v3(layer: &QuantizedLinear, a: &Activations, out: &mut [MaybeUninit<f32>]) {
        layer.rows_generic(a, out)
    }

    /// Dispatches on the row count so that each tile size gets its accumulators in registers.
    macro_rules! by_rows {
        ($count:expr, $kernel:ident, [$($rows:literal)*], $most:literal, $args:tt) => {
            match $count {
                $($rows => $kernel::<$rows> $args,)*
                _ => $kernel::<$most> $args,
            }
        };
    }

    /// # Safety
    /// The CPU has AVX-512 F and VNNI; `lhs` is count × k, `panel` 32 × k, k a multiple of 4.
    pub unsafe fn vnni_tile(
        lhs: &[u8],
        count: usize,
        k: usize,
        panel: &[i8],
        tile: &mut [i32; TILE_ROWS * MAX_PANEL],
    ) {
        debug_assert!(count <= TILE_ROWS && lhs.len() >= count * k && panel.len() >= 32 * k);
        let finish = Finish::Products(tile.as_mut_ptr());
        unsafe { vnni_for(count, lhs.as_ptr(), k, panel.as_ptr(), finish) }
    }

    /// [`vnni`] for `count` rows: each row count gets its accumulators in registers.
    ///
    /// # Safety
    /// As [`vnni`]: the CPU has AVX-512 F and VNNI, `lhs` holds count × k, `panel` 32 × k.
    unsafe fn vnni_for(count: usize, lhs: *const u8, k: usize, panel: *const i8, finish: Finish) {
        unsafe {
            by_rows!(
                count,
                vnni,
                [1 2 3 4 5 6 7 8 9 10 11],
                12,
                (lhs, k, panel, finish)
            )
        }
    }

    /// Where [`vnni_rows`] writes a tile's rows, and what it dequantizes them with: the rows'
    /// scales and zero points, the panel's 32 weight scales, column sums and biases.
    pub struct TileRows<'a> {
        pub row_scales: &'a [f32],
        pub zero_points: &'a [i32],
        pub scales: &'a [f32],
        pub sums: &'a [i32],
        pub bias: &'a [f32],
        /// Row r of the tile at r · stride, 32 values each.
        pub out: &'a mut [MaybeUninit<f32>],
        pub stride: usize,
    }

    /// The products of `lhs` (count × k, count = the rows in `rows`) with a 32-column `panel`,
    /// dequantized with bias into `rows.out`: `(p − zero_point · sum) · (row_scale · scale) + b`,
    /// the generic epilogue's operations in its order, so the bits are the same.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and VNNI.
    pub unsafe fn vnni_rows(lhs: &[u8], k: usize, panel: &[i8], rows: TileRows) {
        let count = rows.row_scales.len();
        assert!(count > 0 && count <= TILE_ROWS && rows.zero_points.len() == count);
        assert!(lhs.len() >= count * k && panel.len() >= 32 * k && k.is_multiple_of(4));
        assert!(rows.scales.len() == 32 && rows.sums.len() == 32 && rows.bias.len() == 32);
        assert!(rows.out.len() >= (count - 1) * rows.stride + 32);
        let finish = Finish::Dequantize(rows);
        unsafe { vnni_for(count, lhs.as_ptr(), k, panel.as_ptr(), finish) }
    }

    /// What [`vnni`] does with its accumulators.
    enum Finish<'a> {
        /// Stores them as they are, row r at r · 32.
        Products(*mut i32),
        Dequantize(TileRows<'a>),
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn vnni<const R: usize>(lhs: *const u8, k: usize, panel: *const i8, finish: Finish) {
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        for group in 0..k / 4 {
            // SAFETY (all reads): group < k/4, r < R, within the bounds the caller checked.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_si512(panel.add(group * 128).cast()),
                    _mm512_loadu_si512(panel.add(group * 128 + 64).cast()),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let word = unsafe { lhs.add(r * k + group * 4).cast::<i32>().read_unaligned() };
                let a = _mm512_set1_epi32(word);
                acc[0] = _mm512_dpbusd_epi32(acc[0], a, b0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], a, b1);
            }
        }
        match finish {
            Finish::Products(out) => {
                for (r, acc) in acc.iter().enumerate() {
                    // SAFETY: out holds TILE_ROWS × MAX_PANEL (32) values.
                    unsafe {
                        _mm512_storeu_si512(out.add(r * 32).cast(), acc[0]);
                        _mm512_storeu_si512(out.add(r * 32 + 16).cast(), acc[1]);
                    }
                }
            }
            Finish::Dequantize(rows) => {
                // SAFETY (all reads and writes): `vnni_rows` checked the slices' lengths.
                let column = |values: &[f32], half: usize| unsafe {
                    _mm512_loadu_ps(values.as_ptr().add(16 * half))
                };
                let sums = |half: usize| unsafe {
                    _mm512_loadu_si512(rows.sums.as_ptr().add(16 * half).cast())
                };
                let out = rows.out.as_mut_ptr().cast::<f32>();
                for (r, acc) in acc.iter().enumerate() {
                    let zero_point = _mm512_set1_epi32(rows.zero_points[r]);
                    let row_scale = _mm512_set1_ps(rows.row_scales[r]);
                    for (half, &products) in acc.iter().enumerate() {
                        let shifted =
                            _mm512_sub_epi32(products, _mm512_mullo_epi32(zero_point, sums(half)));
                        let scale = _mm512_mul_ps(row_scale, column(rows.scales, half));
                        let value = _mm512_add_ps(
                            _mm512_mul_ps(_mm512_cvtepi32_ps(shifted), scale),
                            column(rows.bias, half),
                        );
                        unsafe { _mm512_storeu_ps(out.add(r * rows.stride + 16 * half), value) };
                    }
                }
            }
        }
    }

    /// # Safety
    /// The CPU has AVX2; `lhs` is count × k, `panel` 16 × k, k a multiple of 2.
    pub unsafe fn avx2_tile(
        lhs: &[i16],
        count: usize,
        k: usize,
        panel: &[i16],
        tile: &mut [i32; TILE_ROWS * MAX_PANEL],
    ) {
        debug_assert!(count <= 6 && lhs.len() >= count * k && panel.len() >= 16 * k);
        unsafe {
            by_rows!(
                count,
                avx2,
                [1 2 3 4 5],
                6,
                (lhs.as_ptr(), k, panel.as_ptr(), tile.as_mut_ptr())
            )
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn avx2<const R: usize>(lhs: *const i16, k: usize, panel: *const i16, out: *mut i32) {
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        for pair in 0..k / 2 {
            // SAFETY (all reads): pair < k/2, r < R, within the bounds the caller checked.
            let (b0, b1) = unsafe {
                (
                    _mm256_loadu_si256(panel.add(pair * 32).cast()),
                    _mm256_loadu_si256(panel.add(pair * 32 + 16).cast()),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let word = unsafe { lhs.add(r * k + pair * 2).cast::<i32>().read_unaligned() };
                let a = _mm256_set1_epi32(word);
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(a, b0));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(a, b1));
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: out holds TILE_ROWS × MAX_PANEL values; rows are 16 apart for this path.
            unsafe {
                _mm256_storeu_si256(out.add(r * 16).cast(), acc[0]);
                _mm256_storeu_si256(out.add(r * 16 + 8).cast(), acc[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testing::random;

    /// The integer products by the definition, from the same quantized operands.
    fn reference(layer: &QuantizedLinear, x: &[f32], weight: &[f32]) -> Vec<i32> {
        let rows = x.len() / layer.in_dim;
        let weights: Vec<Vec<i8>> = weight
            .chunks_exact(layer.in_dim)
            .map(|w| quantize_symmetric(w).0)
            .collect();
        let mut out = Vec::new();
        for row in x.chunks_exact(layer.in_dim) {
            let mut q = vec![0u8; layer.padded_in];
            quantize_activations(row, &mut q);
            for w in &weights {
                out.push(
                    w.iter()
                        .zip(&q)
                        .map(|(&w, &a)| i32::from(w) * i32::from(a))
                        .sum(),
                );
            }
        }
        assert_eq!(out.len(), rows * layer.out_dim);
        out
    }

    const SHAPES: [(usize, usize, usize); 7] = [
        (1, 1, 1),
        (1, 384, 1152),
        (7, 5, 3),
        (13, 67, 33),
        (6, 384, 384),
        (25, 1536, 50),
        (2, 3, 17),
    ];

    #[test]
    fn every_path_this_cpu_runs_computes_the_exact_integer_products() {
        for path in KernelPath::ALL.into_iter().filter(|p| p.is_available()) {
            for (seed, &(rows, k, n)) in SHAPES.iter().enumerate() {
                let weight = random(n * k, seed as u64);
                let x = random(rows * k, 100 + seed as u64);
                let layer = QuantizedLinear::new(&weight, &vec![0.0; n], n, k, path);
                assert_eq!(
                    layer.integer_products(&x),
                    reference(&layer, &x, &weight),
                    "{} at rows {rows}, in {k}, out {n}",
                    path.name()
                );
            }
        }
    }

    #[test]
    fn every_path_gives_the_same_floats_and_they_approximate_the_f32_layer() {
        let (rows, k, n) = (31, 96, 40);
        let weight = random(n * k, 1);
        let bias = random(n, 2);
        let x = random(rows * k, 3);
        let outputs: Vec<Vec<f32>> = KernelPath::ALL
            .into_iter()
            .filter(|p| p.is_available())
            .map(|path| {
                QuantizedLinear::new(&weight, &bias, n, k, path).forward(&x, Epilogue::Bias)
            })
            .collect();
        for other in &outputs[1..] {
            assert_eq!(other, &outputs[0]);
        }
        let (mut error, mut signal) = (0f64, 0f64);
        for (i, row) in x.chunks_exact(k).enumerate() {
            for j in 0..n {
                let exact: f32 = row
                    .iter()
                    .zip(&weight[j * k..(j + 1) * k])
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
                    + bias[j];
                error += f64::from(exact - outputs[0][i * n + j]).powi(2);
                signal += f64::from(exact).powi(2);
            }
        }
        // Steps of 1/127 (weights) and 2/255 (activations) over 96 products: about 1% of the
        // outputs' size.
        let relative = (error / signal).sqrt();
        assert!(relative < 0.02, "relative RMS error {relative}");
    }

    #[test]
    fn the_gelu_epilogue_is_gelu_of_the_biased_product() {
        let (rows, k, n) = (9, 20, 12);
        let layer =
            QuantizedLinear::new(&random(n * k, 4), &random(n, 5), n, k, KernelPath::best());
        let x = random(rows * k, 6);
        let mut plain = layer.forward(&x, Epilogue::Bias);
        super::super::pointwise::gelu_in_place(&mut plain);
        assert_eq!(layer.forward(&x, Epilogue::BiasGelu), plain);
    }

    #[test]
    fn zeros_quantize_to_the_zero_point_and_come_back_as_the_bias() {
        let layer = QuantizedLinear::new(&random(8 * 5, 7), &[0.5; 8], 8, 5, KernelPath::best());
        assert_eq!(layer.forward(&[0.0; 10], Epilogue::Bias), vec![0.5; 16]);
    }

    #[test]
    fn a_forced_path_must_exist_and_run_here() {
        assert!(KernelPath::named(Some("sse9"))
            .unwrap_err()
            .contains("not a kernel path"));
        assert_eq!(
            KernelPath::named(Some("portable")),
            Ok(KernelPath::Portable)
        );
        assert_eq!(KernelPath::named(None), Ok(KernelPath::best()));
        for path in KernelPath::ALL {
            let named = KernelPath::named(Some(path.name()));
            assert_eq!(named.is_ok(), path.is_available(), "{}", path.name());
        }
    }
}
