//! Principal components: the directions of largest variance of a set of rows, from the
//! symmetric eigendecomposition of their covariance (linfa-linalg), each direction's sign fixed
//! so the same rows give the same result. `model distill` reduces token vectors with it and the
//! theme map starts from it.

use linfa_linalg::eigh::{EigSort, Eigh};
use ndarray::{Array2, ArrayView2};

/// The eigendecomposition did not converge (the covariance holds NaN or infinity).
#[derive(Debug, thiserror::Error)]
#[error("principal components: {0}")]
pub struct PcaError(String);

/// The `dims` directions of largest variance of a covariance matrix, one per column (each
/// signed so its largest entry is positive), and the share of the total variance they hold.
pub fn principal_axes(
    covariance: ArrayView2<f64>,
    dims: usize,
) -> Result<(Array2<f64>, f64), PcaError> {
    let (values, vectors) = covariance
        .to_owned()
        .eigh()
        .map_err(|e| PcaError(e.to_string()))?
        .sort_eig_desc();
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let kept: f64 = values.iter().take(dims).map(|v| v.max(0.0)).sum();
    let mut axes = vectors.slice(ndarray::s![.., ..dims]).to_owned();
    for mut column in axes.columns_mut() {
        let largest =
            column.iter().copied().fold(
                0.0f64,
                |best, x| if x.abs() > best.abs() { x } else { best },
            );
        if largest < 0.0 {
            column.mapv_inplace(|x| -x);
        }
    }
    Ok((axes, kept / total.max(f64::MIN_POSITIVE)))
}
