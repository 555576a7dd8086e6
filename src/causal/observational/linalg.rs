//! Small dense solves for the outcome models and the propensity sandwich.

/// Solves A·x = b (k×k, row-major) by Gaussian elimination with partial pivoting; `None`
/// when A is singular (a pivot below `1e-12` of the largest entry).
pub(super) fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize) -> Option<Vec<f64>> {
    let scale = a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    if scale.is_nan() || scale <= 0.0 || !scale.is_finite() {
        return None;
    }
    for c in 0..k {
        let pivot = (c..k).max_by(|&i, &j| a[i * k + c].abs().total_cmp(&a[j * k + c].abs()))?;
        if a[pivot * k + c].abs() <= 1e-12 * scale {
            return None;
        }
        if pivot != c {
            for m in 0..k {
                a.swap(pivot * k + m, c * k + m);
            }
            b.swap(pivot, c);
        }
        for r in c + 1..k {
            let f = a[r * k + c] / a[c * k + c];
            for m in c..k {
                a[r * k + m] -= f * a[c * k + m];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; k];
    for r in (0..k).rev() {
        let s: f64 = (r + 1..k).map(|m| a[r * k + m] * x[m]).sum();
        x[r] = (b[r] - s) / a[r * k + r];
    }
    Some(x)
}

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
