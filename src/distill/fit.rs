//! Fit: a static model's token vectors learned from the transformer's own output. Each text's
//! static vector (the mean of its tokens' rows) is fitted to the teacher's vector of the same
//! text, reduced to the static model's dimensions: first one linear map of the distilled table
//! (closed form), then every seen token's own row, by conjugate gradients on the regularised
//! least-squares problem, stopped where the loss on held-out texts stops falling.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use sprs::CsMat;
use tokenizers::Tokenizer;

use super::{check_dims, token_vectors, write_model, DistillError};
use crate::cancel::Cancel;
use crate::model::files::{
    paragraph_fingerprint, FitRecord, StaticConfig, FIT_SAMPLE, STATIC_MODEL_TYPE,
};
use crate::model::ModelDir;

/// Share of the texts kept aside to stop the fit on.
pub const HELD_OUT_SHARE: f64 = 0.1;
/// Tokenlearn's SIF coefficient: a token of corpus probability p starts at weight a / (a + p).
pub const FIT_SIF: f64 = 1e-3;
/// Fewest texts with at least one token a fit accepts.
pub const MIN_FIT_TEXTS: usize = 20;
/// Rounds of conjugate gradients at most.
pub const MAX_ROUNDS: usize = 200;
/// Rounds without a better held-out loss before the fit stops.
const PATIENCE: usize = 5;
/// The pull of each token's row toward the mapped distilled row, against the data term (the
/// squared error summed over texts). A token seen once in a text of n tokens has a data weight
/// of 1/n²: the ridge keeps rows the texts barely see near their start. On 100,000 texts,
/// ridges from 1e-5 to 1e-3 gave the same model to within 0.001 STS-B: stopping on the
/// held-out loss is what regularises.
pub const DEFAULT_RIDGE: f64 = 1e-4;

/// Choices for [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Dimensions of the static model (the teacher's vectors are reduced to them by PCA).
    pub dims: usize,
    /// Seed of the held-out draw.
    pub seed: u64,
    /// See [`DEFAULT_RIDGE`].
    pub ridge: f64,
    /// Replace the output if it exists.
    pub replace: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            dims: super::DEFAULT_DIMS,
            seed: 0,
            ridge: DEFAULT_RIDGE,
            replace: false,
        }
    }
}

/// Where the fitting texts came from, recorded in the model's fit.json
/// ([`crate::model::files::FitRecord`]) so that an index built with it can say whether it
/// was fitted on the corpus it embeds.
#[derive(Debug, Clone, Copy)]
pub struct FitSource<'a> {
    /// The teacher's name and the precision it ran at.
    pub teacher: &'a str,
    pub teacher_precision: &'a str,
    /// The inputs as the user gave them.
    pub inputs: &'a [String],
    /// The paragraphs fitted on (their sentences are not fingerprinted), and how many the
    /// inputs held before sampling.
    pub paragraphs: &'a [String],
    pub available: usize,
    /// Whether the texts are the paragraphs' sentences alone.
    pub sentences_only: bool,
}

/// What [`fit`] fits on: the texts, the teacher's unit vector of each (one row per text), and
/// where they came from (for fit.json; `None` writes no record).
#[derive(Debug, Clone, Copy)]
pub struct FitInput<'a, S> {
    pub texts: &'a [S],
    pub teacher: ArrayView2<'a, f32>,
    pub source: Option<FitSource<'a>>,
}

/// Where the fit is, for a progress report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FitStage {
    /// Vocabulary tokens through the encoder: (done, total).
    Vocabulary(usize, usize),
    /// The linear map of the distilled table is fitted.
    Map,
    /// A round of the per-token fit and its held-out loss.
    Round { round: usize, held_out_loss: f64 },
}

/// Mean squared error per text (summed over dimensions) of static vectors against targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Losses {
    /// The distilled table under the fitted linear map.
    pub mapped: f64,
    /// After the per-token fit.
    pub fitted: f64,
}

/// What a fit made.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub dir: PathBuf,
    pub dims: usize,
    pub vocabulary: usize,
    /// Texts fitted on and texts held out (texts without a token are left out of both).
    pub texts: usize,
    pub held_out: usize,
    /// Tokens that occur in the fitted texts (the others keep their mapped distilled row).
    pub seen_tokens: usize,
    /// Share of the teacher vectors' energy the kept dimensions hold.
    pub target_energy: f64,
    /// Losses on the fitted texts and on the held-out ones; the targets' own mean squared norm
    /// is the loss of a table of zeros.
    pub train: Losses,
    pub held_out_loss: Losses,
    pub target_norm: f64,
    /// Mean cosine between the fitted static vectors and the targets of the held-out texts.
    pub held_out_cosine: f64,
    /// Rounds of conjugate gradients run, and the one kept.
    pub rounds: usize,
    pub best_round: usize,
}

/// Fits a static model from `source` on `texts` and the teacher's unit vectors for them
/// (`teacher`, one row per text), and writes it at `output` (which must not exist unless
/// `options.replace`). Nothing is written if `cancel` is set before the end.
pub fn fit<S: AsRef<str> + Sync>(
    source: &ModelDir,
    output: &Path,
    input: FitInput<S>,
    options: FitOptions,
    progress: &mut dyn FnMut(FitStage),
    cancel: Option<&Cancel>,
) -> Result<Fitted, DistillError> {
    let FitInput {
        texts,
        teacher,
        source: source_texts,
    } = input;
    check_dims(source, options.dims)?;
    if teacher.nrows() != texts.len() || teacher.ncols() < options.dims {
        return Err(DistillError::Teacher(format!(
            "{} texts but {} teacher vectors of {} dimensions",
            texts.len(),
            teacher.nrows(),
            teacher.ncols()
        )));
    }
    if !(options.ridge > 0.0 && options.ridge.is_finite()) {
        return Err(DistillError::Teacher(format!(
            "the ridge must be above 0 (got {})",
            options.ridge
        )));
    }
    if output.exists() && !options.replace {
        return Err(DistillError::Exists {
            path: output.to_path_buf(),
        });
    }
    let tokenizer = super::plain_tokenizer(source)?;
    let vocabulary = tokenizer.get_vocab_size(true);
    let rows = token_rows(&tokenizer, texts)?;
    let usable: Vec<usize> = (0..texts.len()).filter(|&t| !rows[t].is_empty()).collect();
    if usable.len() < MIN_FIT_TEXTS {
        return Err(DistillError::TooFewTexts {
            got: usable.len(),
            need: MIN_FIT_TEXTS,
        });
    }
    let (train, held) = split(&usable, options.seed);

    // The map starts from the encoder's token vectors at full width: reducing them first
    // would drop what the map could use (STS-B 0.7554 against 0.7517 fitted on AG News' half).
    let width = match &source.architecture {
        crate::model::Architecture::Bert(config) => config.hidden_size,
        _ => options.dims,
    };
    let vectors = token_vectors(
        source,
        width,
        &mut |done, total| progress(FitStage::Vocabulary(done, total)),
        cancel,
    )?;
    if let Some(cancel) = cancel {
        cancel.check()?;
    }
    progress(FitStage::Map);
    let (axes, target_energy) = energy_axes(teacher, &train, options.dims)?;
    let targets = |subset: &[usize]| -> Array2<f32> {
        let mut out = Array2::<f32>::zeros((subset.len(), options.dims));
        for (mut row, &t) in out.rows_mut().into_iter().zip(subset) {
            let projected = teacher.row(t).mapv(f64::from).dot(&axes);
            row.iter_mut()
                .zip(projected)
                .for_each(|(o, x)| *o = x as f32);
        }
        out
    };
    let train_targets = targets(&train);
    let held_targets = targets(&held);
    let train_features = shares(&rows, &train, vocabulary);
    let held_features = shares(&rows, &held, vocabulary);

    let weights = sif_from_counts(&rows, &train, vocabulary, FIT_SIF);
    let mut distilled = Array2::<f32>::zeros((vocabulary, vectors.projected.ncols()));
    for (&id, row) in vectors.kept.iter().zip(vectors.projected.rows()) {
        let weight = weights[id as usize];
        distilled
            .row_mut(id as usize)
            .iter_mut()
            .zip(row)
            .for_each(|(d, &x)| *d = (x * weight) as f32);
    }
    let start = mapped_table(
        &train_features,
        &held_features,
        &distilled,
        &train_targets,
        &held_targets,
    )?;
    let mapped = Losses {
        mapped: loss(&train_features, &start, &train_targets),
        fitted: 0.0,
    };
    let held_mapped = loss(&held_features, &start, &held_targets);

    let solved = conjugate_gradients(
        &train_features,
        &train_targets,
        &held_features,
        &held_targets,
        start,
        options.ridge,
        progress,
        cancel,
    )?;
    let table = solved.table;
    let held_out_cosine = mean_cosine(&held_features, &table, &held_targets);
    let train_losses = Losses {
        fitted: loss(&train_features, &table, &train_targets),
        ..mapped
    };
    let held_losses = Losses {
        mapped: held_mapped,
        fitted: solved.best_loss,
    };
    if let Some(cancel) = cancel {
        cancel.check()?;
    }

    let static_config = StaticConfig {
        model_type: STATIC_MODEL_TYPE.into(),
        architectures: vec!["StaticModel".into()],
        tokenizer_name: Some(source.name.clone()),
        apply_pca: Some(options.dims.into()),
        sif_coefficient: Some(FIT_SIF),
        hidden_dim: Some(options.dims),
        seq_length: Some(1_000_000),
        normalize: true,
        pooling: Some("mean".into()),
        embedding_dtype: Some("float32".into()),
    };
    let record = source_texts.map(|from| FitRecord {
        teacher: from.teacher.to_string(),
        teacher_precision: from.teacher_precision.to_string(),
        seed: options.seed,
        inputs: from.inputs.to_vec(),
        paragraphs: from.paragraphs.len(),
        available: from.available,
        texts: train.len(),
        sentences_only: from.sentences_only,
        held_out_cosine,
        sample: fingerprint_sample(from.paragraphs),
    });
    write_model(
        output,
        &table,
        &static_config,
        &tokenizer,
        record.as_ref(),
        options.replace,
    )?;
    let seen_tokens = (0..vocabulary)
        .filter(|&v| {
            train_features
                .transpose
                .outer_view(v)
                .is_some_and(|r| r.nnz() > 0)
        })
        .count();
    Ok(Fitted {
        dir: output.to_path_buf(),
        dims: options.dims,
        vocabulary,
        texts: train.len(),
        held_out: held.len(),
        seen_tokens,
        target_energy,
        train: train_losses,
        held_out_loss: held_losses,
        target_norm: mean_square(&held_targets),
        held_out_cosine,
        rounds: solved.rounds,
        best_round: solved.best_round,
    })
}

/// Fingerprints of up to [`FIT_SAMPLE`] of `paragraphs`, evenly spaced (so the sample does
/// not depend on a random draw), sorted and without repeats.
fn fingerprint_sample(paragraphs: &[String]) -> Vec<String> {
    let step = paragraphs.len().div_ceil(FIT_SAMPLE).max(1);
    let mut sample: Vec<String> = paragraphs
        .iter()
        .step_by(step)
        .map(|p| paragraph_fingerprint(p))
        .collect();
    sample.sort_unstable();
    sample.dedup();
    sample
}

/// Each text's token ids as the static model sees them: word pieces without special tokens,
/// unknown pieces dropped (as [`crate::embed::Embedder`] does for a static model).
fn token_rows<S: AsRef<str> + Sync>(
    tokenizer: &Tokenizer,
    texts: &[S],
) -> Result<Vec<Vec<u32>>, DistillError> {
    let unknown = crate::embed::unknown_token(tokenizer);
    let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
    let encodings = tokenizer
        .encode_batch(inputs, false)
        .map_err(|e| DistillError::Embed(crate::embed::EmbedError::Tokenize(e.to_string())))?;
    Ok(encodings
        .iter()
        .map(|e| {
            e.get_ids()
                .iter()
                .copied()
                .filter(|&id| Some(id) != unknown)
                .collect()
        })
        .collect())
}

/// The texts in a seeded order, the last [`HELD_OUT_SHARE`] of them held out (at least one).
fn split(usable: &[usize], seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order = usable.to_vec();
    order.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
    let held = ((order.len() as f64 * HELD_OUT_SHARE).round() as usize).max(1);
    let train = order.split_off(held);
    let (mut train, mut held) = (train, order);
    train.sort_unstable();
    held.sort_unstable();
    (train, held)
}

/// Texts as rows of token shares (row t holds count(v in t) / len(t) at column v) and the
/// same matrix transposed, for products on either side.
struct Shares {
    rows: CsMat<f32>,
    transpose: CsMat<f32>,
}

fn shares(token_rows: &[Vec<u32>], subset: &[usize], vocabulary: usize) -> Shares {
    let mut indptr = Vec::with_capacity(subset.len() + 1);
    let mut indices = Vec::new();
    let mut data = Vec::new();
    indptr.push(0);
    for &t in subset {
        let mut ids: Vec<u32> = token_rows[t]
            .iter()
            .copied()
            .filter(|&id| (id as usize) < vocabulary)
            .collect();
        let share = 1.0 / ids.len().max(1) as f32;
        ids.sort_unstable();
        for run in ids.chunk_by(|a, b| a == b) {
            indices.push(run[0] as usize);
            data.push(share * run.len() as f32);
        }
        indptr.push(indices.len());
    }
    let rows = CsMat::new((subset.len(), vocabulary), indptr, indices, data);
    let transpose = rows.transpose_view().to_other_storage();
    Shares { rows, transpose }
}

/// Rows per parallel task of a sparse-dense product.
const ROWS_PER_TASK: usize = 512;

/// `sparse · dense`, rows in parallel (each output row summed in one order: deterministic).
fn product(sparse: &CsMat<f32>, dense: &Array2<f32>) -> Array2<f32> {
    let cols = dense.ncols();
    let mut out = Array2::<f32>::zeros((sparse.rows(), cols));
    if cols == 0 {
        return out;
    }
    out.as_slice_mut()
        .expect("a fresh array is contiguous")
        .par_chunks_mut(ROWS_PER_TASK * cols)
        .enumerate()
        .for_each(|(task, chunk)| {
            let start = task * ROWS_PER_TASK;
            let rows = chunk.len() / cols;
            let view = ArrayViewMut2::from_shape((rows, cols), chunk).expect("whole rows");
            let part = sparse.slice_outer(start..start + rows);
            sprs::prod::csr_mulacc_dense_rowmaj(part, dense.view(), view);
        });
    out
}

/// Per column, the sum of squares (in f64, summed in a fixed order).
fn column_squares(a: &Array2<f32>) -> Array1<f64> {
    let cols = a.ncols();
    let parts: Vec<Array1<f64>> = a
        .axis_chunks_iter(Axis(0), ROWS_PER_TASK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|chunk| {
            let mut sum = Array1::<f64>::zeros(cols);
            for row in chunk.rows() {
                sum.iter_mut()
                    .zip(row)
                    .for_each(|(s, &x)| *s += f64::from(x) * f64::from(x));
            }
            sum
        })
        .collect();
    parts
        .into_iter()
        .fold(Array1::zeros(cols), |total, part| total + part)
}

fn mean_square(a: &Array2<f32>) -> f64 {
    column_squares(a).sum() / a.nrows().max(1) as f64
}

/// Mean over texts of the squared distance between static vector and target.
fn loss(features: &Shares, table: &Array2<f32>, targets: &Array2<f32>) -> f64 {
    let predicted = product(&features.rows, table);
    mean_square(&(predicted - targets))
}

/// Mean cosine between static vectors and targets.
fn mean_cosine(features: &Shares, table: &Array2<f32>, targets: &Array2<f32>) -> f64 {
    let predicted = product(&features.rows, table);
    let total: f64 = predicted
        .rows()
        .into_iter()
        .zip(targets.rows())
        .map(|(p, t)| {
            let (p, t) = (p.mapv(f64::from), t.mapv(f64::from));
            p.dot(&t) / (p.dot(&p).sqrt() * t.dot(&t).sqrt()).max(1e-12)
        })
        .sum();
    total / predicted.nrows().max(1) as f64
}

/// The `dims` directions holding most of the teacher vectors' energy (uncentred, so that the
/// reduced vectors keep the teacher's cosines as far as dims allow) and the share they hold.
fn energy_axes(
    teacher: ArrayView2<f32>,
    train: &[usize],
    dims: usize,
) -> Result<(Array2<f64>, f64), DistillError> {
    let width = teacher.ncols();
    let mut moment = Array2::<f64>::zeros((width, width));
    for &t in train {
        let row = teacher.row(t).mapv(f64::from);
        let outer = row
            .view()
            .insert_axis(Axis(1))
            .dot(&row.view().insert_axis(Axis(0)));
        moment += &outer;
    }
    Ok(crate::pca::principal_axes(moment.view(), dims)?)
}

/// SIF weights from the texts' own token counts: a / (a + p) for a token of probability p
/// (1 for a token the texts never use).
fn sif_from_counts(
    token_rows: &[Vec<u32>],
    subset: &[usize],
    vocabulary: usize,
    coefficient: f64,
) -> Vec<f64> {
    let mut counts = vec![0u64; vocabulary];
    for &t in subset {
        for &id in &token_rows[t] {
            if let Some(c) = counts.get_mut(id as usize) {
                *c += 1;
            }
        }
    }
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts
        .iter()
        .map(|&c| coefficient / (coefficient + c as f64 / total))
        .collect()
}

/// Ridges of the linear map tried, as shares of the mean eigenvalue of its Gram matrix: the
/// one with the lowest held-out loss is kept (a few hundred texts cannot pin 256 × 256
/// numbers; a hundred thousand can).
const MAP_RIDGES: [f64; 6] = [1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0];

/// The distilled table times the linear map that best turns its static vectors into the
/// targets: ridge least squares, the ridge chosen on the held-out texts.
fn mapped_table(
    train: &Shares,
    held: &Shares,
    distilled: &Array2<f32>,
    targets: &Array2<f32>,
    held_targets: &Array2<f32>,
) -> Result<Array2<f32>, DistillError> {
    let x = product(&train.rows, distilled).mapv(f64::from);
    let held_x = product(&held.rows, distilled).mapv(f64::from);
    let gram = x.t().dot(&x);
    let cross = x.t().dot(&targets.mapv(f64::from));
    let dims = gram.nrows();
    let (values, vectors) = {
        use linfa_linalg::eigh::{EigSort, Eigh};
        gram.eigh()
            .map_err(|e| DistillError::Solve(e.to_string()))?
            .sort_eig_desc()
    };
    let mean_value =
        (values.iter().map(|v| v.max(0.0)).sum::<f64>() / dims as f64).max(f64::MIN_POSITIVE);
    let rotated_cross = vectors.t().dot(&cross);
    let held_targets = held_targets.mapv(f64::from);
    let mut best: Option<(f64, Array2<f64>)> = None;
    for share in MAP_RIDGES {
        let inverse = values.mapv(|v| 1.0 / (v.max(0.0) + share * mean_value));
        let map = vectors.dot(&(&rotated_cross * &inverse.view().insert_axis(Axis(1))));
        let error = held_x.dot(&map) - &held_targets;
        let held_loss = error.iter().map(|e| e * e).sum::<f64>();
        if best.as_ref().is_none_or(|(loss, _)| held_loss < *loss) {
            best = Some((held_loss, map));
        }
    }
    let (_, map) = best.expect("ridges to try");
    Ok(distilled.mapv(f64::from).dot(&map).mapv(|x| x as f32))
}

struct Solved {
    table: Array2<f32>,
    best_loss: f64,
    rounds: usize,
    best_round: usize,
}

/// Minimises |A x − B|² + ridge |x − start|² by conjugate gradients on the normal equations
/// (CGLS, one independent system per dimension), keeping the round with the lowest held-out
/// loss and stopping after [`PATIENCE`] rounds without a better one.
#[allow(clippy::too_many_arguments)]
fn conjugate_gradients(
    train: &Shares,
    targets: &Array2<f32>,
    held: &Shares,
    held_targets: &Array2<f32>,
    start: Array2<f32>,
    ridge: f64,
    progress: &mut dyn FnMut(FitStage),
    cancel: Option<&Cancel>,
) -> Result<Solved, DistillError> {
    let ridge32 = ridge as f32;
    // x = start + z; the residual r = B − A x.
    let mut z = Array2::<f32>::zeros(start.dim());
    let mut residual = targets - &product(&train.rows, &start);
    let mut gradient = product(&train.transpose, &residual);
    let mut direction = gradient.clone();
    let mut gamma = column_squares(&gradient);
    let mut best = Solved {
        best_loss: loss(held, &start, held_targets),
        table: start.clone(),
        rounds: 0,
        best_round: 0,
    };
    let mut since_best = 0;
    for round in 1..=MAX_ROUNDS {
        if let Some(cancel) = cancel {
            cancel.check()?;
        }
        let moved = product(&train.rows, &direction);
        let delta = column_squares(&moved) + column_squares(&direction) * ridge;
        let step: Vec<f32> = gamma
            .iter()
            .zip(&delta)
            .map(|(&g, &d)| if d > 0.0 { (g / d) as f32 } else { 0.0 })
            .collect();
        let step = Array1::from(step);
        z.zip_mut_with(&(&direction * &step), |a, &b| *a += b);
        residual.zip_mut_with(&(&moved * &step), |a, &b| *a -= b);
        gradient = product(&train.transpose, &residual);
        gradient.zip_mut_with(&z, |g, &zz| *g -= ridge32 * zz);
        let next = column_squares(&gradient);
        let beta: Vec<f32> = next
            .iter()
            .zip(&gamma)
            .map(|(&n, &g)| if g > 0.0 { (n / g) as f32 } else { 0.0 })
            .collect();
        let beta = Array1::from(beta);
        direction = &gradient + &(&direction * &beta);
        gamma = next;

        let table = &start + &z;
        let held_out_loss = loss(held, &table, held_targets);
        progress(FitStage::Round {
            round,
            held_out_loss,
        });
        best.rounds = round;
        if held_out_loss < best.best_loss {
            best.best_loss = held_out_loss;
            best.table = table;
            best.best_round = round;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= PATIENCE {
                break;
            }
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts of random token mixes whose targets a known table makes exactly: the fit from a
    /// start of zeros must bring the loss down by orders of magnitude and keep it falling.
    #[test]
    fn conjugate_gradients_recover_a_table_that_explains_the_targets() {
        let vocabulary = 40;
        let dims = 3;
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) as usize
        };
        let truth = Array2::from_shape_fn((vocabulary, dims), |(v, d)| {
            ((v * 7 + d * 3) % 11) as f32 / 11.0 - 0.5
        });
        let rows: Vec<Vec<u32>> = (0..400)
            .map(|_| {
                (0..2 + next() % 6)
                    .map(|_| (next() % vocabulary) as u32)
                    .collect()
            })
            .collect();
        let all: Vec<usize> = (0..rows.len()).collect();
        let (train, held) = split(&all, 3);
        let features = shares(&rows, &train, vocabulary);
        let held_features = shares(&rows, &held, vocabulary);
        let targets = product(&features.rows, &truth);
        let held_targets = product(&held_features.rows, &truth);
        let start = Array2::<f32>::zeros((vocabulary, dims));
        let before = loss(&features, &start, &targets);
        let mut losses = Vec::new();
        let solved = conjugate_gradients(
            &features,
            &targets,
            &held_features,
            &held_targets,
            start,
            1e-6,
            &mut |stage| {
                if let FitStage::Round { held_out_loss, .. } = stage {
                    losses.push(held_out_loss)
                }
            },
            None,
        )
        .unwrap();
        let after = loss(&features, &solved.table, &targets);
        assert!(after < before * 1e-3, "train loss {before} → {after}");
        assert!(
            solved.best_loss < 1e-3 * mean_square(&held_targets),
            "{solved:?}",
            solved = solved.best_loss
        );
        assert!(
            losses.first().unwrap() > losses.last().unwrap(),
            "{losses:?}"
        );
    }

    #[test]
    fn shares_hold_each_tokens_part_of_its_text() {
        let rows = vec![vec![3, 1, 3, 3], vec![], vec![0]];
        let s = shares(&rows, &[0, 2], 5);
        let dense = s.rows.to_dense();
        assert_eq!(dense.row(0).to_vec(), vec![0.0, 0.25, 0.0, 0.75, 0.0]);
        assert_eq!(dense.row(1).to_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(s.transpose.to_dense(), dense.t());
    }

    #[test]
    fn the_held_out_draw_is_seeded_and_disjoint() {
        let all: Vec<usize> = (0..100).collect();
        let (train, held) = split(&all, 5);
        assert_eq!((train.len(), held.len()), (90, 10));
        assert!(held.iter().all(|h| !train.contains(h)));
        assert_eq!(split(&all, 5), (train, held.clone()));
        assert_ne!(split(&all, 6).1, held);
    }
}
