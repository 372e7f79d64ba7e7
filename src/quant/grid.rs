//! Representable values: binary, ternary, fixed-point (explicit delta) and k-bit grids.

/// What the user asked for; [`Grid`] is what it means numerically.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GridKind {
    /// {-s, +s}
    Binary { scale: f64 },
    /// {-s, 0, +s}
    Ternary { scale: f64 },
    /// k * delta, saturating at +-range (rounded down to a grid point) when a range is given.
    Fixed { delta: f64, range: Option<f64> },
    /// 2^bits levels spread uniformly over [-range, range] (ends included).
    Bits { bits: u32, range: f64 },
}

/// The set `origin + k * delta` within `[lo, hi]` (infinite ends for an unbounded grid).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub delta: f64,
    pub origin: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Grid {
    pub fn new(kind: GridKind) -> Result<Grid, String> {
        match kind {
            GridKind::Binary { scale } => Grid::binary(scale),
            GridKind::Ternary { scale } => Grid::ternary(scale),
            GridKind::Fixed { delta, range } => Grid::fixed(delta, range),
            GridKind::Bits { bits, range } => Grid::bits(bits, range),
        }
    }

    pub fn binary(scale: f64) -> Result<Grid, String> {
        positive("scale", scale)?;
        Ok(Grid { delta: 2.0 * scale, origin: -scale, lo: -scale, hi: scale })
    }

    pub fn ternary(scale: f64) -> Result<Grid, String> {
        positive("scale", scale)?;
        Ok(Grid { delta: scale, origin: 0.0, lo: -scale, hi: scale })
    }

    pub fn fixed(delta: f64, range: Option<f64>) -> Result<Grid, String> {
        positive("delta", delta)?;
        match range {
            None => Ok(Grid { delta, origin: 0.0, lo: f64::NEG_INFINITY, hi: f64::INFINITY }),
            Some(r) => {
                positive("range", r)?;
                let k = (r / delta + 1e-9).floor();
                if k < 1.0 {
                    return Err(format!("range {r} is smaller than delta {delta}"));
                }
                Ok(Grid { delta, origin: 0.0, lo: -k * delta, hi: k * delta })
            }
        }
    }

    pub fn bits(bits: u32, range: f64) -> Result<Grid, String> {
        if !(1..=16).contains(&bits) {
            return Err(format!("bits = {bits} is outside 1..=16"));
        }
        positive("range", range)?;
        let levels = (1u64 << bits) as f64;
        Ok(Grid { delta: 2.0 * range / (levels - 1.0), origin: -range, lo: -range, hi: range })
    }

    pub fn is_bounded(&self) -> bool {
        self.lo.is_finite() && self.hi.is_finite()
    }
}

fn positive(name: &str, x: f64) -> Result<(), String> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} = {x} must be a finite number > 0"))
    }
}
