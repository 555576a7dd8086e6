//! Small dense solves for the outcome models and the propensity sandwich.

pub(super) use crate::linalg::solve;

/// Least squares of `y` on an intercept and the rows' covariates over the selected units;
/// coefficients intercept first.
pub(super) fn ols<'a>(rows: impl Iterator<Item = (&'a [f64], f64)>, p: usize) -> Option<Vec<f64>> {
    let k = p + 1;
    let mut xtx = vec![0.0; k * k];
    let mut xty = vec![0.0; k];
    for (row, y) in rows {
        for a in 0..k {
            let xa = if a == 0 { 1.0 } else { row[a - 1] };
            xty[a] += xa * y;
            for b in 0..k {
                let xb = if b == 0 { 1.0 } else { row[b - 1] };
                xtx[a * k + b] += xa * xb;
            }
        }
    }
    solve(xtx, xty, k)
}

/// Intercept + covariates dotted with coefficients.
pub(super) fn predict(coef: &[f64], row: &[f64]) -> f64 {
    coef[0] + coef[1..].iter().zip(row).map(|(c, v)| c * v).sum::<f64>()
}
