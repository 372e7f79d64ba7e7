//! Mean, sample standard deviation and Student-t 95% confidence half-widths.

/// Two-sided 97.5% quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

pub fn t975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T975[df - 1],
        // Cornish-Fisher expansion around the normal quantile; error < 1e-4 for df > 30.
        _ => {
            let (z, v) = (1.959964f64, df as f64);
            z + (z.powi(3) + z) / (4.0 * v) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); `None` for a single value.
    pub std: Option<f64>,
    /// Half-width of the 95% confidence interval of the mean; `None` for a single value.
    pub ci95: Option<f64>,
}

pub fn summarize(xs: &[f64]) -> Option<Summary> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(Summary { n, mean, std: None, ci95: None });
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    Some(Summary { n, mean, std: Some(std), ci95: Some(t975(n - 1) * std / (n as f64).sqrt()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.mean, 2.5);
        assert!((s.std.unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((s.ci95.unwrap() - 3.182 * s.std.unwrap() / 2.0).abs() < 1e-12);
        assert_eq!(summarize(&[7.0]).unwrap().std, None);
        assert!(summarize(&[]).is_none());
        assert!((t975(40) - 2.0211).abs() < 2e-4 && (t975(120) - 1.9799).abs() < 2e-4);
    }
}
