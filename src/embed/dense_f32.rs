//! f32 dense layers `x Wᵀ + b` on weights packed once at load into column panels, computed by
//! our own register-tiled kernels (AVX-512, AVX2 or portable, chosen at run time) with the bias
//! and GELU applied in the same pass.
//!
//! Why not candle's gemm: it sizes its blocks from the cache sizes the machine reports, and
//! virtual machines of one CPU class report very different ones, so the same binary ran f32 at
//! half the speed from one machine to the next. The model's shapes are few and fixed (384 or
//! 1,536 deep), so fixed blocks fit every machine: a panel of weights (32 columns × 192 steps,
//! 24 KiB) is read from L2 once per block of rows and stays in L1 with the rows it multiplies.
//!
//! Every output is one chain of fused multiply-adds over the reduction in order, then the bias:
//! the three paths give the same bits (tested on odd shapes).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::pointwise::{gelu_in_place, Epilogue, FmaPath};

/// Reduction steps per block: one panel's block of weights (32 × 192 × 4 bytes, 24 KiB) and a
/// tile's rows of `x` (12 × 192 × 4, 9 KiB) stay in L1 together while every row tile of a task
/// runs over the panel. Measured on the model's shapes (criterion `dense`, avx512): 192 steps
/// 289–293 Gop/s, 256 286–290, 384 272–278, 128 279–282, 96 264–279; 192 divides 384 and 1,536.
const BLOCK_STEPS: usize = 192;
/// Rows per parallel task when the batch is split by rows: a few tiles of every path.
const TASK_ROWS: usize = 48;

impl FmaPath {
    /// Output columns one kernel call covers (two vector registers per row).
    fn panel(self) -> usize {
        match self {
            FmaPath::Avx512 => 32,
            FmaPath::Avx2 | FmaPath::Portable => 16,
        }
    }

    /// Rows one kernel call covers: as many as leave registers for the panel and a broadcast
    /// (AVX-512: 12 × 2 accumulators of 32 registers; AVX2: 6 × 2 of 16).
    fn tile_rows(self) -> usize {
        match self {
            FmaPath::Avx512 => 12,
            FmaPath::Avx2 | FmaPath::Portable => 6,
        }
    }
}

/// A dense layer `x Wᵀ + b` in f32.
pub struct PackedLinear {
    in_dim: usize,
    out_dim: usize,
    path: FmaPath,
    /// Panels of `path.panel()` columns; in each, per reduction step, the panel's weights
    /// side by side (missing columns of the last panel are zeros).
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedLinear {
    /// Packs `weight` (out × in, row-major, as PyTorch stores it) for the widest path this CPU
    /// runs.
    pub fn new(weight: &[f32], bias: &[f32], out_dim: usize, in_dim: usize) -> Self {
        Self::for_path(weight, bias, out_dim, in_dim, FmaPath::best())
    }

    /// As [`PackedLinear::new`], for a given path (which must be available).
    pub fn for_path(
        weight: &[f32],
        bias: &[f32],
        out_dim: usize,
        in_dim: usize,
        path: FmaPath,
    ) -> Self {
        assert!(path.is_available(), "{path:?} cannot run here");
        assert!(in_dim > 0 && out_dim > 0, "a layer has inputs and outputs");
        assert_eq!(weight.len(), out_dim * in_dim, "weight is out × in");
        assert_eq!(bias.len(), out_dim, "one bias per output");
        let width = path.panel();
        let panel_count = out_dim.div_ceil(width);
        let mut panels = vec![0f32; panel_count * width * in_dim];
        for (p, panel) in panels.chunks_exact_mut(width * in_dim).enumerate() {
            for (k, step) in panel.chunks_exact_mut(width).enumerate() {
                for (c, w) in step.iter_mut().enumerate() {
                    let column = p * width + c;
                    if column < out_dim {
                        *w = weight[column * in_dim + k];
                    }
                }
            }
        }
        Self {
            in_dim,
            out_dim,
            path,
            panels,
            bias: bias.to_vec(),
        }
    }

    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    pub fn path(&self) -> FmaPath {
        self.path
    }

    /// `x Wᵀ + b` (then GELU with [`Epilogue::BiasGelu`]) for `x`: rows × in, row-major.
    pub fn forward(&self, x: &[f32], epilogue: Epilogue) -> Vec<f32> {
        assert_eq!(x.len() % self.in_dim, 0, "x is rows × in");
        let rows = x.len() / self.in_dim;
        let len = rows * self.out_dim;
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let target = &mut out.spare_capacity_mut()[..len];
        let panel_count = self.out_dim.div_ceil(self.path.panel());
        let threads = rayon::current_num_threads();
        if rows <= TASK_ROWS && threads > 1 && panel_count > 1 {
            // A query's worth of rows: too few to share out, so the cores share the columns
            // (each streams its part of the weights: a few rows are bound by reading them).
            let groups = threads.min(panel_count);
            let per_group = panel_count.div_ceil(groups);
            let parts: Vec<(usize, Vec<f32>)> = (0..groups)
                .into_par_iter()
                .map(|g| {
                    let panels = g * per_group..((g + 1) * per_group).min(panel_count);
                    let first_col = panels.start * self.path.panel();
                    let cols = (panels.end * self.path.panel()).min(self.out_dim) - first_col;
                    let mut part = Vec::with_capacity(rows * cols);
                    let written = self.block_into(
                        x,
                        panels,
                        cols,
                        &mut part.spare_capacity_mut()[..rows * cols],
                    );
                    if epilogue == Epilogue::BiasGelu {
                        gelu_in_place(written);
                    }
                    // SAFETY: `block_into` wrote all rows × cols values.
                    unsafe { part.set_len(rows * cols) };
                    (first_col, part)
                })
                .collect();
            for (first_col, part) in parts {
                let cols = part.len() / rows.max(1);
                for (r, values) in part.chunks_exact(cols.max(1)).enumerate() {
                    let row = &mut target[r * self.out_dim + first_col..][..cols];
                    for (y, &v) in row.iter_mut().zip(values) {
                        y.write(v);
                    }
                }
            }
        } else {
            let task = |(chunk, out): (usize, &mut [MaybeUninit<f32>])| {
                let first = chunk * TASK_ROWS;
                let count = out.len() / self.out_dim;
                self.rows_into(
                    &x[first * self.in_dim..][..count * self.in_dim],
                    out,
                    epilogue,
                );
            };
            if rows <= TASK_ROWS {
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
        }
        // SAFETY: every element of `target` (the first `len`) was written above: by the column
        // parts (which cover 0..out_dim for every row) or by the row tasks.
        unsafe { out.set_len(len) };
        out
    }

    /// [`PackedLinear::forward`] for the rows of `x` on this thread, into `out` (rows × out, not
    /// yet written); returns `out`, now written.
    pub fn rows_into<'o>(
        &self,
        x: &[f32],
        out: &'o mut [MaybeUninit<f32>],
        epilogue: Epilogue,
    ) -> &'o mut [f32] {
        let rows = out.len() / self.out_dim;
        assert_eq!(x.len(), rows * self.in_dim, "a row of x per output row");
        let panel_count = self.out_dim.div_ceil(self.path.panel());
        let written = self.block_into(x, 0..panel_count, self.out_dim, out);
        if epilogue == Epilogue::BiasGelu {
            gelu_in_place(written);
        }
        written
    }

    /// The columns of `panels` (`cols` of them) for every row of `x`, with bias, into `out`
    /// (rows × cols, row-major); returns `out`, now written.
    fn block_into<'o>(
        &self,
        x: &[f32],
        panels: std::ops::Range<usize>,
        cols: usize,
        out: &'o mut [MaybeUninit<f32>],
    ) -> &'o mut [f32] {
        match self.path {
            // SAFETY: the path was checked available when the weights were packed for it.
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx512 => unsafe { x86::block_avx512(self, x, panels, cols, out) },
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx2 => unsafe { x86::block_avx2(self, x, panels, cols, out) },
            _ => self.block_on(x, panels, cols, out),
        }
        // SAFETY: `block_on` writes every row of `out` in every one of its `cols` columns.
        unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) }
    }

    /// The body of [`PackedLinear::block_into`], inlined into a copy per instruction set.
    /// Blocks of the reduction outermost, so that each panel's block of weights is read once
    /// per task and each tile's rows of `x` stay in L1 across the panels.
    #[inline(always)]
    fn block_on(
        &self,
        x: &[f32],
        panels: std::ops::Range<usize>,
        cols: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        let k = self.in_dim;
        let rows = out.len() / cols.max(1);
        assert!(x.len() >= rows * k, "a row of x per output row");
        let width = self.path.panel();
        let tile_rows = self.path.tile_rows();
        let first_col = panels.start * width;
        // Stands in for `out` where a tile is narrower than a panel (the last, odd panel).
        let mut spare = [0f32; 12 * 32];
        let out_ptr = out.as_mut_ptr().cast::<f32>();
        for first_step in (0..k).step_by(BLOCK_STEPS) {
            let steps = BLOCK_STEPS.min(k - first_step);
            let pass = Pass {
                accumulate: first_step > 0,
                finish: first_step + steps == k,
            };
            for p in panels.clone() {
                let column = p * width - first_col;
                let panel_cols = width.min(cols - column);
                let weights = &self.panels[(p * k + first_step) * width..][..steps * width];
                let bias = &self.bias[p * width..][..panel_cols];
                for first_row in (0..rows).step_by(tile_rows) {
                    let count = tile_rows.min(rows - first_row);
                    let lhs = &x[first_row * k + first_step..];
                    let tile = Tile {
                        lhs: lhs.as_ptr(),
                        lhs_stride: k,
                        count,
                        steps,
                        weights: weights.as_ptr(),
                        bias: bias.as_ptr(),
                        pass,
                    };
                    // SAFETY: the tile's reads stay within `lhs` (count rows k apart, `steps`
                    // each, checked by the assert above) and `weights` (steps × width); its
                    // writes within `out` (rows × cols) or `spare` (12 × 32 ≥ count × width).
                    unsafe {
                        let at = out_ptr.add(first_row * cols + column);
                        if panel_cols == width {
                            self.run_tile(&tile, at, cols);
                        } else {
                            for r in 0..count {
                                if pass.accumulate {
                                    std::ptr::copy_nonoverlapping(
                                        at.add(r * cols),
                                        spare.as_mut_ptr().add(r * width),
                                        panel_cols,
                                    );
                                }
                            }
                            let mut padded_bias = [0f32; 32];
                            padded_bias[..panel_cols].copy_from_slice(bias);
                            let tile = Tile {
                                bias: padded_bias.as_ptr(),
                                ..tile
                            };
                            self.run_tile(&tile, spare.as_mut_ptr(), width);
                            for r in 0..count {
                                std::ptr::copy_nonoverlapping(
                                    spare.as_ptr().add(r * width),
                                    at.add(r * cols),
                                    panel_cols,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// # Safety
    /// As [`Tile`] says, with `out` holding `tile.count` rows `stride` apart of the panel's width.
    #[inline(always)]
    unsafe fn run_tile(&self, tile: &Tile, out: *mut f32, stride: usize) {
        match self.path {
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx512 => unsafe { x86::tile_avx512(tile, out, stride) },
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx2 => unsafe { x86::tile_avx2(tile, out, stride) },
            _ => unsafe { tile_portable(tile, out, stride) },
        }
    }
}

/// Which block of the reduction a kernel call computes.
#[derive(Debug, Clone, Copy)]
struct Pass {
    /// Add to what `out` holds (a later block), instead of starting from zero.
    accumulate: bool,
    /// The last block: add the bias before storing.
    finish: bool,
}

/// One kernel call: `count` rows of the left-hand side against one panel over `steps` steps.
#[derive(Debug, Clone, Copy)]
struct Tile {
    /// The first row's first step; rows `lhs_stride` apart.
    lhs: *const f32,
    lhs_stride: usize,
    count: usize,
    steps: usize,
    /// steps × panel width.
    weights: *const f32,
    /// The panel's width of biases (read on the last block only).
    bias: *const f32,
    pass: Pass,
}

/// The portable kernel: per output, the chain of multiply-adds the vector kernels compute lane by
/// lane (16 columns a panel).
///
/// # Safety
/// `tile` reads and `out` writes within bounds (see [`PackedLinear::block_on`]).
unsafe fn tile_portable(tile: &Tile, out: *mut f32, stride: usize) {
    const WIDTH: usize = 16;
    for r in 0..tile.count {
        let mut acc = [0f32; WIDTH];
        // SAFETY (all pointer reads and writes): within the bounds the caller checked.
        unsafe {
            if tile.pass.accumulate {
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = *out.add(r * stride + c);
                }
            }
            for s in 0..tile.steps {
                let x = *tile.lhs.add(r * tile.lhs_stride + s);
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = x.mul_add(*tile.weights.add(s * WIDTH + c), *a);
                }
            }
            for (c, &a) in acc.iter().enumerate() {
                let value = if tile.pass.finish {
                    a + *tile.bias.add(c)
                } else {
                    a
                };
                *out.add(r * stride + c) = value;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The kernels in intrinsics: `fmadd(a, b, c)` is `a.mul_add(b, c)` lane by lane, so every
    //! output is the same chain of roundings as in the portable kernel.
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{PackedLinear, Tile};

    /// # Safety
    /// The CPU has AVX-512 F and FMA.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn block_avx512(
        layer: &PackedLinear,
        x: &[f32],
        panels: std::ops::Range<usize>,
        cols: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        layer.block_on(x, panels, cols, out)
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn block_avx2(
        layer: &PackedLinear,
        x: &[f32],
        panels: std::ops::Range<usize>,
        cols: usize,
        out: &mut [MaybeUninit<f32>],
    ) {
        layer.block_on(x, panels, cols, out)
    }

    macro_rules! kernel {
        ($name:ident, $feature:literal, $vector:ty, $lanes:literal, $zero:ident, $load:ident,
         $splat:ident, $fmadd:ident, $add:ident, $store:ident) => {
            /// # Safety
            /// The CPU has the instructions this kernel is compiled for; `tile` and `out` as
            /// [`Tile`] says, R = `tile.count`.
            #[target_feature(enable = $feature)]
            unsafe fn $name<const R: usize>(tile: &Tile, out: *mut f32, stride: usize) {
                const WIDTH: usize = 2 * $lanes;
                let mut acc: [[$vector; 2]; R] = [[$zero(); 2]; R];
                // SAFETY (every read and write): within the bounds the caller checked.
                unsafe {
                    if tile.pass.accumulate {
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let row = out.add(r * stride);
                            *acc = [$load(row), $load(row.add($lanes))];
                        }
                    }
                    let mut weights = tile.weights;
                    let mut lhs = tile.lhs;
                    for _ in 0..tile.steps {
                        let w = [$load(weights), $load(weights.add($lanes))];
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let x = $splat(*lhs.add(r * tile.lhs_stride));
                            acc[0] = $fmadd(x, w[0], acc[0]);
                            acc[1] = $fmadd(x, w[1], acc[1]);
                        }
                        weights = weights.add(WIDTH);
                        lhs = lhs.add(1);
                    }
                    if tile.pass.finish {
                        let bias = [$load(tile.bias), $load(tile.bias.add($lanes))];
                        for acc in acc.iter_mut() {
                            acc[0] = $add(acc[0], bias[0]);
                            acc[1] = $add(acc[1], bias[1]);
                        }
                    }
                    for (r, acc) in acc.iter().enumerate() {
                        let row = out.add(r * stride);
                        $store(row, acc[0]);
                        $store(row.add($lanes), acc[1]);
                    }
                }
            }
        };
    }

    kernel!(
        avx512,
        "avx512f,fma",
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_storeu_ps
    );
    kernel!(
        avx2,
        "avx2,fma",
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_storeu_ps
    );

    /// # Safety
    /// The CPU has AVX-512 F and FMA; `tile` and `out` as [`Tile`] says, count ≤ 12.
    #[target_feature(enable = "avx512f,fma")]
    pub unsafe fn tile_avx512(tile: &Tile, out: *mut f32, stride: usize) {
        unsafe {
            match tile.count {
                1 => avx512::<1>(tile, out, stride),
                2 => avx512::<2>(tile, out, stride),
                3 => avx512::<3>(tile, out, stride),
                4 => avx512::<4>(tile, out, stride),
                5 => avx512::<5>(tile, out, stride),
                6 => avx512::<6>(tile, out, stride),
                7 => avx512::<7>(tile, out, stride),
                8 => avx512::<8>(tile, out, stride),
                9 => avx512::<9>(tile, out, stride),
                10 => avx512::<10>(tile, out, stride),
                11 => avx512::<11>(tile, out, stride),
                _ => avx512::<12>(tile, out, stride),
            }
        }
    }

    /// # Safety
    /// The CPU has AVX2 and FMA; `tile` and `out` as [`Tile`] says, count ≤ 6.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile_avx2(tile: &Tile, out: *mut f32, stride: usize) {
        unsafe {
            match tile.count {
                1 => avx2::<1>(tile, out, stride),
                2 => avx2::<2>(tile, out, stride),
                3 => avx2::<3>(tile, out, stride),
                4 => avx2::<4>(tile, out, stride),
                5 => avx2::<5>(tile, out, stride),
                _ => avx2::<6>(tile, out, stride),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::testing::random;

    /// Each output by the definition: one chain of multiply-adds in order, then the bias.
    fn reference(x: &[f32], weight: &[f32], bias: &[f32], k: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for row in x.chunks_exact(k) {
            for (w, &b) in weight.chunks_exact(k).zip(bias) {
                let chain = row
                    .iter()
                    .zip(w)
                    .fold(0f32, |acc, (&x, &w)| x.mul_add(w, acc));
                out.push(chain + b);
            }
        }
        out
    }

    /// (rows, in, out): odd widths, rows past a task and a tile, reductions past a block.
    const SHAPES: [(usize, usize, usize); 9] = [
        (1, 1, 1),
        (7, 384, 1152),
        (3, 5, 3),
        (13, 67, 33),
        (49, 385, 47),
        (100, 800, 40),
        (2, 3, 17),
        (12, 1536, 64),
        (61, 384, 96),
    ];

    #[test]
    fn every_path_this_cpu_runs_gives_the_reference_bits_on_odd_shapes() {
        for path in FmaPath::ALL.into_iter().filter(|p| p.is_available()) {
            for (seed, &(rows, k, n)) in SHAPES.iter().enumerate() {
                let weight = random(n * k, seed as u64);
                let bias = random(n, 50 + seed as u64);
                let x = random(rows * k, 100 + seed as u64);
                let layer = PackedLinear::for_path(&weight, &bias, n, k, path);
                let got = layer.forward(&x, Epilogue::Bias);
                assert!(
                    got == reference(&x, &weight, &bias, k),
                    "{path:?} at rows {rows}, in {k}, out {n}"
                );
            }
        }
    }

    #[test]
    fn one_pool_thread_or_many_give_the_same_bits() {
        // A few rows take the column split on several threads, the row split on one.
        let (rows, k, n) = (5, 96, 200);
        let weight = random(n * k, 1);
        let bias = random(n, 2);
        let x = random(rows * k, 3);
        let layer = PackedLinear::new(&weight, &bias, n, k);
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| layer.forward(&x, Epilogue::BiasGelu));
        let several = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| layer.forward(&x, Epilogue::BiasGelu));
        assert_eq!(single, several);
    }

    #[test]
    fn the_gelu_epilogue_is_gelu_of_the_biased_product() {
        let (rows, k, n) = (70, 20, 12);
        let layer = PackedLinear::new(&random(n * k, 4), &random(n, 5), n, k);
        let x = random(rows * k, 6);
        let mut plain = layer.forward(&x, Epilogue::Bias);
        gelu_in_place(&mut plain);
        assert_eq!(layer.forward(&x, Epilogue::BiasGelu), plain);
    }

    #[test]
    fn it_is_the_layer_within_float_rounding() {
        let (rows, k, n) = (9, 1536, 40);
        let weight = random(n * k, 7);
        let bias = random(n, 8);
        let x = random(rows * k, 9);
        let got = PackedLinear::new(&weight, &bias, n, k).forward(&x, Epilogue::Bias);
        for (i, row) in x.chunks_exact(k).enumerate() {
            for j in 0..n {
                let products = row
                    .iter()
                    .zip(&weight[j * k..(j + 1) * k])
                    .map(|(&a, &b)| f64::from(a) * f64::from(b));
                let exact = products.clone().sum::<f64>() + f64::from(bias[j]);
                let magnitude = products.map(f64::abs).sum::<f64>() + f64::from(bias[j]).abs();
                // The textbook bound of a sum of k + 1 rounded terms: (k + 1) · ε · Σ|terms|.
                let bound = (k + 1) as f64 * f64::from(f32::EPSILON) * magnitude;
                let error = (exact - f64::from(got[i * n + j])).abs();
                assert!(
                    error <= bound,
                    "row {i}, column {j}: off by {error} > {bound}"
                );
            }
        }
    }
}
