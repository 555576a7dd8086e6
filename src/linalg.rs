//! Small dense linear algebra for the estimators (k up to a few hundred): one solver of
//! each kind, shared by the conversion model, the observational estimators, the uplift
//! learners and difference in differences. Pure; a singular or non-positive-definite matrix
//! is `None`, for the caller to turn into a refusal an operator can act on.

/// Solves A·x = b (k×k, row-major) by Gaussian elimination with partial pivoting; `None`
/// when A is singular (a pivot below `1e-12` of the largest entry).
pub fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize) -> Option<Vec<f64>> {
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

/// Solves A·x = b for a symmetric positive-definite A (k×k, row-major, overwritten by its
/// Cholesky factor). `None` when A is not positive definite.
pub fn cholesky_solve(a: &mut [f64], b: &[f64], k: usize) -> Option<Vec<f64>> {
    for j in 0..k {
        let mut diag = a[j * k + j];
        for m in 0..j {
            diag -= a[j * k + m] * a[j * k + m];
        }
        // Written so a NaN diagonal also fails.
        if diag.is_nan() || diag <= 1e-14 {
            return None;
        }
        let l = diag.sqrt();
        a[j * k + j] = l;
        for i in j + 1..k {
            let mut v = a[i * k + j];
            for m in 0..j {
                v -= a[i * k + m] * a[j * k + m];
            }
            a[i * k + j] = v / l;
        }
    }
    let mut z = b.to_vec();
    for i in 0..k {
        for m in 0..i {
            z[i] -= a[i * k + m] * z[m];
        }
        z[i] /= a[i * k + i];
    }
    for i in (0..k).rev() {
        for m in i + 1..k {
            z[i] -= a[m * k + i] * z[m];
        }
        z[i] /= a[i * k + i];
    }
    Some(z)
}

/// Gauss–Jordan inverse with partial pivoting; None when a pivot vanishes relative to the
/// matrix's scale (the matrices here are at most periods x periods).
pub fn invert(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let scale = m.iter().flatten().fold(0.0_f64, |s, v| s.max(v.abs()));
    if n == 0 || scale == 0.0 || !scale.is_finite() {
        return None;
    }
    let mut a: Vec<Vec<f64>> = m.to_vec();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        a[col].iter_mut().for_each(|v| *v /= p);
        inv[col].iter_mut().for_each(|v| *v /= p);
        for r in 0..n {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    for j in 0..n {
                        a[r][j] -= f * a[col][j];
                        inv[r][j] -= f * inv[col][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [f64; 9] = [4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0];

    fn times(a: &[f64], x: &[f64], k: usize) -> Vec<f64> {
        (0..k)
            .map(|r| (0..k).map(|c| a[r * k + c] * x[c]).sum())
            .collect()
    }

    #[test]
    fn both_solvers_solve_a_positive_definite_system_and_agree() {
        let b = [1.0, -2.0, 3.0];
        let x = solve(A.to_vec(), b.to_vec(), 3).expect("solvable");
        let y = cholesky_solve(&mut A.clone(), &b, 3).expect("positive definite");
        for (got, want) in times(&A, &x, 3).iter().zip(b) {
            assert!((got - want).abs() < 1e-12);
        }
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() < 1e-12);
        }
    }

    #[test]
    fn singular_and_indefinite_matrices_are_refused() {
        let singular = [1.0, 2.0, 2.0, 4.0];
        assert!(solve(singular.to_vec(), vec![1.0, 2.0], 2).is_none());
        assert!(invert(&[vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
        let indefinite = [1.0, 2.0, 2.0, 1.0];
        assert!(cholesky_solve(&mut indefinite.clone(), &[1.0, 1.0], 2).is_none());
        // It has an ordinary solution all the same.
        assert!(solve(indefinite.to_vec(), vec![1.0, 1.0], 2).is_some());
        assert!(solve(vec![f64::NAN; 4], vec![1.0, 1.0], 2).is_none());
    }

    #[test]
    fn the_inverse_times_the_matrix_is_the_identity() {
        let m: Vec<Vec<f64>> = A.chunks(3).map(<[f64]>::to_vec).collect();
        let inv = invert(&m).expect("invertible");
        for (i, row) in m.iter().enumerate() {
            for j in 0..3 {
                let v: f64 = row.iter().zip(&inv).map(|(x, r)| x * r[j]).sum();
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
    }
}
