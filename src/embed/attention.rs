//! Self-attention over packed sequences, read straight from the fused query/key/value
//! projection: per sequence and head, the scores of a block of query rows, their softmax and the
//! weighted sum of the values in one pass — no copies of q, k or v, no transposes, and no score
//! matrix larger than a block of rows.
//!
//! Every score and every context value is one chain of fused multiply-adds in a fixed order, and
//! the softmax sums in fixed lanes, so the AVX-512, AVX2 and portable paths give the same bits.

use rayon::prelude::*;

use super::pointwise::{exp, FmaPath};

/// Query rows per block: the scores of a block stay in L1 (8 × 256 floats for the longest
/// sequences), each key or value row loaded feeds eight rows of multiply-adds, and a tile keeps
/// sixteen chains in flight (eight were too few to hide the multiply-add's latency).
const BLOCK_ROWS: usize = 8;
/// Sequences are padded to a multiple of this many keys in the transposed key buffer.
const KEY_STEP: usize = 16;

/// The heads of one attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    pub count: usize,
    pub dim: usize,
}

impl Heads {
    fn hidden(self) -> usize {
        self.count * self.dim
    }
}

/// `softmax(q kᵀ) v` per sequence and head on the widest path: `qkv` is tokens × 3·hidden, the
/// queries (already scaled), keys and values side by side as the fused projection writes them;
/// `lengths` are the packed sequences. Returns tokens × hidden.
pub fn attention(qkv: &[f32], lengths: &[usize], heads: Heads) -> Vec<f32> {
    attention_on(FmaPath::best(), qkv, lengths, heads)
}

/// [`attention`] on a given path (which must be available: see [`FmaPath::is_available`]).
pub fn attention_on(path: FmaPath, qkv: &[f32], lengths: &[usize], heads: Heads) -> Vec<f32> {
    assert!(path.is_available(), "{path:?} attention cannot run here");
    let hidden = heads.hidden();
    let tokens: usize = lengths.iter().sum();
    assert_eq!(qkv.len(), tokens * 3 * hidden, "qkv is tokens × 3·hidden");
    let mut out = vec![0f32; tokens * hidden];
    let mut sequences = Vec::with_capacity(lengths.len());
    let mut rest = &mut out[..];
    let mut first_token = 0;
    for &len in lengths {
        let (mine, tail) = rest.split_at_mut(len * hidden);
        let input = &qkv[first_token * 3 * hidden..(first_token + len) * 3 * hidden];
        sequences.push((input, mine));
        rest = tail;
        first_token += len;
    }
    let run = |(input, out): (&[f32], &mut [f32])| sequence(path, input, heads, out);
    if sequences.len() == 1 {
        // One query: waking the thread pool costs more than its heads.
        sequences.into_iter().for_each(run);
    } else {
        sequences.into_par_iter().for_each(run);
    }
    out
}

/// Scores of the block's rows against keys `first..first + width` into `scores` (row r at
/// r · padded), from the transposed keys (dimension d at d · padded).
type ScoreTile = unsafe fn(&[&[f32]; BLOCK_ROWS], &[f32], usize, usize, &mut [f32]);
/// Σ_j p[r][j] · v[j][first..first + width] for the block's rows, from `qkv` (rows `stride`
/// apart), into `out` (row r at r · width).
type ContextTile = unsafe fn(&[&[f32]; BLOCK_ROWS], &[f32], usize, usize, &mut [f32]);

/// Sixteen keys (rows `stride` apart from `keys`, each from column `at`) into the transposed
/// keys: dimension d of key k at `keys_t[d · padded + k]`, for `dim` dimensions.
type KeyBlock = unsafe fn(&[f32], usize, usize, usize, &mut [f32], usize);

/// One path's tiles: sixteen keys transposed at a time; a wide score tile for the bulk of the
/// keys and a narrow one for the rest (widths dividing 16); context tiles widest first, each
/// taking the columns of the head it can fill (the widest that fits keeps the most multiply-add
/// chains in flight: MiniLM's heads are 32 wide). Each tile holds at most half the registers
/// in accumulators (eight rows × two vectors on AVX-512, × one on AVX2).
struct Tiles {
    keys: KeyBlock,
    score: (usize, ScoreTile),
    score_narrow: (usize, ScoreTile),
    context: [(usize, ContextTile); 3],
}

impl Tiles {
    fn of(path: FmaPath) -> Self {
        match path {
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx512 => Tiles {
                keys: x86::keys_avx512,
                score: (32, x86::scores_avx512_32),
                score_narrow: (16, x86::scores_avx512_16),
                context: [
                    (32, x86::context_avx512_32),
                    (16, x86::context_avx512_16),
                    (16, x86::context_avx512_16),
                ],
            },
            #[cfg(target_arch = "x86_64")]
            FmaPath::Avx2 => Tiles {
                keys: x86::keys_avx2,
                score: (8, x86::scores_avx2_8),
                score_narrow: (8, x86::scores_avx2_8),
                context: [(8, x86::context_avx2_8); 3],
            },
            _ => Tiles {
                keys: key_block,
                score: (KEY_STEP, score_tile::<KEY_STEP>),
                score_narrow: (KEY_STEP, score_tile::<KEY_STEP>),
                context: [(16, context_tile::<16>); 3],
            },
        }
    }
}

/// One sequence, all heads, compiled for the path's instruction set: the tiles are vector code
/// of their own, but the softmax's exp and the normalising writes only vectorise wide inside a
/// function built for the wider instructions (16% of an int8 forward pass when they were not).
fn sequence(path: FmaPath, qkv: &[f32], heads: Heads, out: &mut [f32]) {
    let tiles = Tiles::of(path);
    match path {
        // SAFETY: `attention_on` checked that the CPU runs the path.
        #[cfg(target_arch = "x86_64")]
        FmaPath::Avx512 => unsafe { sequence_avx512(&tiles, qkv, heads, out) },
        #[cfg(target_arch = "x86_64")]
        FmaPath::Avx2 => unsafe { sequence_avx2(&tiles, qkv, heads, out) },
        _ => sequence_on(&tiles, qkv, heads, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn sequence_avx512(tiles: &Tiles, qkv: &[f32], heads: Heads, out: &mut [f32]) {
    sequence_on(tiles, qkv, heads, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sequence_avx2(tiles: &Tiles, qkv: &[f32], heads: Heads, out: &mut [f32]) {
    sequence_on(tiles, qkv, heads, out)
}

#[inline(always)]
fn sequence_on(tiles: &Tiles, qkv: &[f32], heads: Heads, out: &mut [f32]) {
    let hidden = heads.hidden();
    let stride = 3 * hidden;
    let len = qkv.len() / stride;
    let padded = len.div_ceil(KEY_STEP) * KEY_STEP;
    // keys_t[d · padded + j] = key j, dimension d; padding keys are zeros.
    let mut keys_t = vec![0f32; heads.dim * padded];
    let mut scores = vec![0f32; BLOCK_ROWS * padded];
    let mut context = [0f32; BLOCK_ROWS * 32];
    for head in 0..heads.count {
        let query_at = head * heads.dim;
        let key_at = hidden + query_at;
        let value_at = 2 * hidden + query_at;
        // Sixteen keys at a time: their rows stay in L1 while each dimension's sixteen values
        // are gathered into one contiguous run (writing each key down its column instead spreads
        // stores over as many cache lines as the head has dimensions: 15% of the attention).
        let full_blocks = len / KEY_STEP;
        for block in 0..full_blocks {
            let keys = &qkv[block * KEY_STEP * stride..][..KEY_STEP * stride];
            let keys_t = &mut keys_t[block * KEY_STEP..];
            // SAFETY: `Tiles::of` gave this path's block, which `attention_on` checked the CPU
            // runs; it checks its bounds.
            unsafe { (tiles.keys)(keys, stride, key_at, heads.dim, keys_t, padded) };
        }
        let rest = &qkv[full_blocks * KEY_STEP * stride..];
        for d in (0..heads.dim).filter(|_| !rest.is_empty()) {
            let column = &mut keys_t[d * padded + full_blocks * KEY_STEP..][..KEY_STEP];
            for (k, token) in column.iter_mut().zip(rest.chunks_exact(stride)) {
                *k = token[key_at + d];
            }
        }
        for first in (0..len).step_by(BLOCK_ROWS) {
            // A short last block repeats its last row; only real rows are written out.
            // (Arrays written out: built by `map` they went through a call and a stalled copy.)
            let query = |r: usize| {
                let i = (first + r).min(len - 1);
                &qkv[i * stride + query_at..][..heads.dim]
            };
            let queries: [&[f32]; BLOCK_ROWS] = [
                query(0),
                query(1),
                query(2),
                query(3),
                query(4),
                query(5),
                query(6),
                query(7),
            ];
            let mut j = 0;
            // SAFETY (every tile call): `Tiles::of` gave this path's tiles, and `attention_on`
            // checked that the CPU runs it; the tiles check their bounds.
            let (width, tile) = tiles.score;
            while j + width <= padded {
                unsafe { tile(&queries, &keys_t, padded, j, &mut scores) };
                j += width;
            }
            let (width, tile) = tiles.score_narrow;
            while j < padded {
                unsafe { tile(&queries, &keys_t, padded, j, &mut scores) };
                j += width;
            }
            let mut inverse_sums = [0f32; BLOCK_ROWS];
            for (row, inverse) in scores.chunks_exact_mut(padded).zip(&mut inverse_sums) {
                *inverse = 1.0 / exp_shifted_in_place(row, len);
            }
            let row = |r: usize| &scores[r * padded..][..len];
            let probs: [&[f32]; BLOCK_ROWS] = [
                row(0),
                row(1),
                row(2),
                row(3),
                row(4),
                row(5),
                row(6),
                row(7),
            ];
            let block = Block {
                inverse_sums: &inverse_sums,
                rows: BLOCK_ROWS.min(len - first),
                first,
                hidden,
            };
            let mut c = 0;
            for &(width, tile) in &tiles.context {
                while c + width <= heads.dim {
                    unsafe { tile(&probs, qkv, stride, value_at + c, &mut context) };
                    block.write(&context[..BLOCK_ROWS * width], query_at + c, out);
                    c += width;
                }
            }
            while c < heads.dim {
                context_tile::<1>(&probs, qkv, stride, value_at + c, &mut context);
                block.write(&context[..BLOCK_ROWS], query_at + c, out);
                c += 1;
            }
        }
    }
}

/// The portable score tile: each score a chain of multiply-adds over the head's dimensions in
/// order, as the vector tiles compute it.
fn score_tile<const COLS: usize>(
    queries: &[&[f32]; BLOCK_ROWS],
    keys_t: &[f32],
    padded: usize,
    first: usize,
    scores: &mut [f32],
) {
    let mut acc = [[0f32; COLS]; BLOCK_ROWS];
    let dim = queries[0].len();
    for d in 0..dim {
        let keys = &keys_t[d * padded + first..][..COLS];
        for (acc, query) in acc.iter_mut().zip(queries) {
            let q = query[d];
            for (a, &k) in acc.iter_mut().zip(keys) {
                *a = q.mul_add(k, *a);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        scores[r * padded + first..][..COLS].copy_from_slice(acc);
    }
}

/// The portable key block: each key's dimensions written down their columns.
///
/// # Safety
/// None beyond the bounds it checks (unsafe to share the type of the vector blocks).
unsafe fn key_block(
    keys: &[f32],
    stride: usize,
    at: usize,
    dim: usize,
    keys_t: &mut [f32],
    padded: usize,
) {
    for d in 0..dim {
        let column = &mut keys_t[d * padded..][..KEY_STEP];
        for (k, token) in column.iter_mut().zip(keys.chunks_exact(stride)) {
            *k = token[at + d];
        }
    }
}

/// e^(x − max x) over the first `len` scores of `row`, in place; returns their sum. `row` is
/// padded to whole vectors, and every step runs on whole vectors with the padding masked out
/// (a scalar tail cost more than the rest, and writing −∞ into the padding first stalled the
/// vector loads that followed). What is written past `len` is never read.
#[inline(always)]
fn exp_shifted_in_place(row: &mut [f32], len: usize) -> f32 {
    const LANES: usize = KEY_STEP;
    assert!(row.len().is_multiple_of(LANES) && (1..=row.len()).contains(&len));
    // A plain comparison: `f32::max` also orders NaNs, at a compare and a blend more per step
    // (there are none: the scores are finite).
    let larger = |a: f32, b: f32| if b > a { b } else { a };
    let whole = len / LANES;
    let mut maxima = [f32::NEG_INFINITY; LANES];
    for chunk in row[..whole * LANES].chunks_exact(LANES) {
        for (max, &x) in maxima.iter_mut().zip(chunk) {
            *max = larger(*max, x);
        }
    }
    // The chunk `len` ends in, its padding masked out.
    let real = len - whole * LANES;
    if real > 0 {
        let last: &[f32; LANES] = row[whole * LANES..][..LANES].try_into().unwrap();
        for (i, (max, &x)) in maxima.iter_mut().zip(last).enumerate() {
            *max = if i < real { larger(*max, x) } else { *max };
        }
    }
    let max = fold_in_halves(maxima, larger);
    let mut sums = [0f32; LANES];
    for chunk in row[..whole * LANES].chunks_exact_mut(LANES) {
        for (sum, x) in sums.iter_mut().zip(chunk) {
            *x = exp(*x - max);
            *sum += *x;
        }
    }
    if real > 0 {
        let last: &mut [f32; LANES] = (&mut row[whole * LANES..][..LANES]).try_into().unwrap();
        for (i, (sum, x)) in sums.iter_mut().zip(last).enumerate() {
            *x = exp(*x - max);
            *sum += if i < real { *x } else { 0.0 };
        }
    }
    fold_in_halves(sums, |a, b| a + b)
}

/// Folds the lanes with `op` in halves (lane i with lane i + 8, then i + 4, ...): a few vector
/// steps, where a fold from lane 0 to 15 is fifteen dependent scalar steps per softmax row.
#[inline(always)]
fn fold_in_halves(mut lanes: [f32; KEY_STEP], op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut width = KEY_STEP;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            lanes[i] = op(lanes[i], lanes[i + width]);
        }
    }
    lanes[0]
}

/// The portable context tile: each value a chain of multiply-adds over the keys in order.
fn context_tile<const COLS: usize>(
    probs: &[&[f32]; BLOCK_ROWS],
    qkv: &[f32],
    stride: usize,
    first: usize,
    out: &mut [f32],
) {
    let mut acc = [[0f32; COLS]; BLOCK_ROWS];
    for (j, token) in qkv.chunks_exact(stride).enumerate() {
        let values = &token[first..first + COLS];
        for (acc, probs) in acc.iter_mut().zip(probs) {
            let p = probs[j];
            for (a, &v) in acc.iter_mut().zip(values) {
                *a = p.mul_add(v, *a);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        out[r * COLS..][..COLS].copy_from_slice(acc);
    }
}

/// Where a block of query rows writes its context.
struct Block<'a> {
    inverse_sums: &'a [f32; BLOCK_ROWS],
    /// The block's real rows (the last block may repeat its last row to fill up).
    rows: usize,
    first: usize,
    hidden: usize,
}

impl Block<'_> {
    /// A context tile (BLOCK_ROWS rows, `tile.len() / BLOCK_ROWS` wide), normalised by the
    /// softmax sums, into `out` (tokens × hidden) at column `column`.
    #[inline(always)]
    fn write(&self, tile: &[f32], column: usize, out: &mut [f32]) {
        let width = tile.len() / BLOCK_ROWS;
        for (r, values) in tile.chunks_exact(width).take(self.rows).enumerate() {
            let target = &mut out[(self.first + r) * self.hidden + column..][..width];
            for (y, &x) in target.iter_mut().zip(values) {
                *y = x * self.inverse_sums[r];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The tiles in intrinsics: `fmadd(a, b, c)` is `a.mul_add(b, c)`, lane by lane, so each
    //! value is the same chain of roundings as in the portable tiles.
    use std::arch::x86_64::*;

    use super::{BLOCK_ROWS, KEY_STEP};

    /// The bounds every score tile of `width` keys reads and writes within.
    fn check_scores(
        queries: &[&[f32]; BLOCK_ROWS],
        keys_t: &[f32],
        padded: usize,
        first: usize,
        scores: &[f32],
        width: usize,
    ) {
        let dim = queries[0].len();
        assert!(
            queries.iter().all(|q| q.len() == dim),
            "queries of one head"
        );
        assert!(first + width <= padded, "a tile within the keys");
        assert!(
            keys_t.len() >= dim * padded,
            "transposed keys of every dimension"
        );
        assert!(
            scores.len() >= BLOCK_ROWS * padded,
            "a score row per query row"
        );
    }

    /// The bounds every context tile of `width` columns reads and writes within.
    fn check_context(
        probs: &[&[f32]; BLOCK_ROWS],
        qkv: &[f32],
        stride: usize,
        first: usize,
        out: &[f32],
        width: usize,
    ) {
        let len = probs[0].len();
        assert!(probs.iter().all(|p| p.len() == len), "a weight per key");
        assert!(first + width <= stride, "columns within a row");
        assert!(qkv.len() >= len * stride, "a value row per key");
        assert!(out.len() >= BLOCK_ROWS * width, "room for the tile");
    }

    /// The bounds every key block reads and writes within.
    fn check_keys(
        keys: &[f32],
        stride: usize,
        at: usize,
        dim: usize,
        keys_t: &[f32],
        padded: usize,
    ) {
        assert!(keys.len() >= KEY_STEP * stride, "sixteen keys");
        assert!(at + dim <= stride, "the head within a row");
        assert!(
            dim == 0 || keys_t.len() >= (dim - 1) * padded + KEY_STEP,
            "a run of sixteen per dimension"
        );
        assert!(
            stride * KEY_STEP <= i32::MAX as usize,
            "offsets fit a gather's index"
        );
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn keys_avx512(
        keys: &[f32],
        stride: usize,
        at: usize,
        dim: usize,
        keys_t: &mut [f32],
        padded: usize,
    ) {
        check_keys(keys, stride, at, dim, keys_t, padded);
        let step = stride as i32;
        let offsets = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(step),
        );
        for d in 0..dim {
            // SAFETY: key k's dimension d is at k · stride + at + d < keys.len(); the run of
            // sixteen at d · padded is within keys_t (both checked above).
            unsafe {
                let column = _mm512_i32gather_ps::<4>(offsets, keys.as_ptr().add(at + d).cast());
                _mm512_storeu_ps(keys_t.as_mut_ptr().add(d * padded), column);
            }
        }
    }

    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn keys_avx2(
        keys: &[f32],
        stride: usize,
        at: usize,
        dim: usize,
        keys_t: &mut [f32],
        padded: usize,
    ) {
        check_keys(keys, stride, at, dim, keys_t, padded);
        let step = stride as i32;
        let offsets = _mm256_mullo_epi32(
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            _mm256_set1_epi32(step),
        );
        for d in 0..dim {
            // SAFETY: as in `keys_avx512`, eight keys at a time.
            unsafe {
                let first = keys.as_ptr().add(at + d);
                let low = _mm256_i32gather_ps::<4>(first, offsets);
                let high = _mm256_i32gather_ps::<4>(first.add(8 * stride), offsets);
                let out = keys_t.as_mut_ptr().add(d * padded);
                _mm256_storeu_ps(out, low);
                _mm256_storeu_ps(out.add(8), high);
            }
        }
    }

    macro_rules! score_tile {
        ($name:ident, $feature:literal, $vector:ty, $lanes:literal, $per_row:literal,
         $zero:ident, $load:ident, $splat:ident, $fmadd:ident, $store:ident) => {
            /// # Safety
            /// The CPU has the instructions this tile is compiled for.
            #[target_feature(enable = $feature)]
            pub unsafe fn $name(
                queries: &[&[f32]; BLOCK_ROWS],
                keys_t: &[f32],
                padded: usize,
                first: usize,
                scores: &mut [f32],
            ) {
                check_scores(queries, keys_t, padded, first, scores, $lanes * $per_row);
                let dim = queries[0].len();
                let mut acc: [[$vector; $per_row]; BLOCK_ROWS] = [[$zero(); $per_row]; BLOCK_ROWS];
                for d in 0..dim {
                    // SAFETY: d < dim and first + width ≤ padded, checked above.
                    let keys = unsafe { keys_t.as_ptr().add(d * padded + first) };
                    let k: [$vector; $per_row] =
                        std::array::from_fn(|v| unsafe { $load(keys.add(v * $lanes)) });
                    for (acc, query) in acc.iter_mut().zip(queries) {
                        let q = $splat(query[d]);
                        for (a, &k) in acc.iter_mut().zip(&k) {
                            *a = $fmadd(q, k, *a);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    let row = &mut scores[r * padded + first..][..$lanes * $per_row];
                    for (v, &a) in acc.iter().enumerate() {
                        // SAFETY: v · lanes + lanes ≤ the row's width.
                        unsafe { $store(row.as_mut_ptr().add(v * $lanes), a) };
                    }
                }
            }
        };
    }

    macro_rules! context_tile {
        ($name:ident, $feature:literal, $vector:ty, $lanes:literal, $per_row:literal,
         $zero:ident, $load:ident, $splat:ident, $fmadd:ident, $store:ident) => {
            /// # Safety
            /// The CPU has the instructions this tile is compiled for.
            #[target_feature(enable = $feature)]
            pub unsafe fn $name(
                probs: &[&[f32]; BLOCK_ROWS],
                qkv: &[f32],
                stride: usize,
                first: usize,
                out: &mut [f32],
            ) {
                const WIDTH: usize = $lanes * $per_row;
                check_context(probs, qkv, stride, first, out, WIDTH);
                let len = probs[0].len();
                let mut acc: [[$vector; $per_row]; BLOCK_ROWS] = [[$zero(); $per_row]; BLOCK_ROWS];
                for j in 0..len {
                    // SAFETY: j < len and first + width ≤ stride, checked above.
                    let values = unsafe { qkv.as_ptr().add(j * stride + first) };
                    let v: [$vector; $per_row] =
                        std::array::from_fn(|c| unsafe { $load(values.add(c * $lanes)) });
                    for (acc, probs) in acc.iter_mut().zip(probs) {
                        let p = $splat(probs[j]);
                        for (a, &v) in acc.iter_mut().zip(&v) {
                            *a = $fmadd(p, v, *a);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (c, &a) in acc.iter().enumerate() {
                        // SAFETY: r · WIDTH + c · lanes + lanes ≤ BLOCK_ROWS · WIDTH ≤ out.len().
                        unsafe { $store(out.as_mut_ptr().add(r * WIDTH + c * $lanes), a) };
                    }
                }
            }
        };
    }

    score_tile!(
        scores_avx512_32,
        "avx512f,fma",
        __m512,
        16,
        2,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps
    );
    score_tile!(
        scores_avx512_16,
        "avx512f,fma",
        __m512,
        16,
        1,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps
    );
    score_tile!(
        scores_avx2_8,
        "avx2,fma",
        __m256,
        8,
        1,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_storeu_ps
    );
    context_tile!(
        context_avx512_32,
        "avx512f,fma",
        __m512,
        16,
        2,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps
    );
    context_tile!(
        context_avx512_16,
        "avx512f,fma",
        __m512,
        16,
        1,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps
    );
    context_tile!(
        context_avx2_8,
        "avx2,fma",
        __m256,
        8,
        1,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_storeu_ps
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    /// The same arithmetic as the kernels, written as plainly as it reads: the bits every path
    /// must give.
    fn reference(qkv: &[f32], lengths: &[usize], heads: Heads) -> Vec<f32> {
        let hidden = heads.hidden();
        let stride = 3 * hidden;
        let tokens: usize = lengths.iter().sum();
        let mut out = vec![0f32; tokens * hidden];
        let mut first = 0;
        for &len in lengths {
            let token = |i: usize| &qkv[(first + i) * stride..][..stride];
            for h in 0..heads.count {
                let at = h * heads.dim;
                for i in 0..len {
                    let mut scores: Vec<f32> = (0..len)
                        .map(|j| {
                            (0..heads.dim).fold(0f32, |acc, d| {
                                token(i)[at + d].mul_add(token(j)[hidden + at + d], acc)
                            })
                        })
                        .collect();
                    scores.resize(len.div_ceil(KEY_STEP) * KEY_STEP, 0.0);
                    let inverse = 1.0 / exp_shifted_in_place(&mut scores, len);
                    for d in 0..heads.dim {
                        let sum = (0..len).fold(0f32, |acc, j| {
                            scores[j].mul_add(token(j)[2 * hidden + at + d], acc)
                        });
                        out[(first + i) * hidden + at + d] = sum * inverse;
                    }
                }
            }
            first += len;
        }
        out
    }

    /// Attention as the textbook writes it, in f64.
    fn textbook(qkv: &[f32], lengths: &[usize], heads: Heads) -> Vec<f64> {
        let hidden = heads.hidden();
        let stride = 3 * hidden;
        let tokens: usize = lengths.iter().sum();
        let mut out = vec![0f64; tokens * hidden];
        let mut first = 0;
        let x = |t: usize, c: usize| f64::from(qkv[t * stride + c]);
        for &len in lengths {
            for h in 0..heads.count {
                let at = h * heads.dim;
                for i in first..first + len {
                    let scores: Vec<f64> = (first..first + len)
                        .map(|j| {
                            (0..heads.dim)
                                .map(|d| x(i, at + d) * x(j, hidden + at + d))
                                .sum()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for d in 0..heads.dim {
                        let value: f64 = (first..first + len)
                            .zip(&weights)
                            .map(|(j, w)| w * x(j, 2 * hidden + at + d))
                            .sum();
                        out[i * hidden + at + d] = value / total;
                    }
                }
            }
            first += len;
        }
        out
    }

    const SHAPES: [(&[usize], Heads); 4] = [
        (&[1], Heads { count: 1, dim: 64 }),
        (&[7, 1, 33, 16], Heads { count: 3, dim: 64 }),
        (&[5, 70], Heads { count: 2, dim: 20 }),
        (&[17, 17, 2], Heads { count: 4, dim: 32 }),
    ];

    #[test]
    fn every_path_this_cpu_runs_gives_the_reference_bits_on_odd_shapes() {
        for (seed, (lengths, heads)) in SHAPES.into_iter().enumerate() {
            let tokens: usize = lengths.iter().sum();
            let qkv = random(tokens * 3 * heads.hidden(), seed as u64);
            let expected = reference(&qkv, lengths, heads);
            for path in FmaPath::ALL.into_iter().filter(|p| p.is_available()) {
                let got = attention_on(path, &qkv, lengths, heads);
                assert!(
                    got.iter()
                        .zip(&expected)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{path:?} differs from the reference on {lengths:?}, {heads:?}"
                );
            }
        }
    }

    #[test]
    fn it_is_attention_within_float_rounding() {
        for (seed, (lengths, heads)) in SHAPES.into_iter().enumerate() {
            let tokens: usize = lengths.iter().sum();
            let qkv = random(tokens * 3 * heads.hidden(), 100 + seed as u64);
            let got = attention(&qkv, lengths, heads);
            let exact = textbook(&qkv, lengths, heads);
            for (a, b) in got.iter().zip(&exact) {
                assert!(
                    (f64::from(*a) - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn each_sequence_attends_only_to_itself() {
        let heads = Heads { count: 2, dim: 16 };
        let lengths = [3, 9];
        let qkv = random(12 * 3 * heads.hidden(), 7);
        let both = attention(&qkv, &lengths, heads);
        let split = 3 * 3 * heads.hidden();
        let first = attention(&qkv[..split], &[3], heads);
        let second = attention(&qkv[split..], &[9], heads);
        assert_eq!(both, [first, second].concat());
    }
}
