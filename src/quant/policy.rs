//! Which grid each quantized weight lives on: one grid for every weight (convex problems,
//! toys, networks with `layer_scale = "fixed"`), or a grid per weight matrix scaled from
//! its fan-in and fan-out (BinaryConnect's networks).

use super::Grid;

/// Glorot-uniform half-width `sqrt(6 / (fan_in + fan_out))`: the range of a layer's
/// initial weights, and of its k-bit grid.
pub fn glorot_limit(fan_in: usize, fan_out: usize) -> f64 {
    (6.0 / (fan_in + fan_out) as f64).sqrt()
}

/// BinaryConnect's binary/ternary scale `sqrt(1.5 / (fan_in + fan_out))`: half the Glorot
/// limit (computed as its own expression, which is what earlier versions did bit for bit).
pub fn binary_connect_scale(fan_in: usize, fan_out: usize) -> f64 {
    (1.5 / (fan_in + fan_out) as f64).sqrt()
}

/// A grid whose scale comes from the layer (`quant.layer_scale = "glorot"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerGrid {
    /// `{-s, +s}`, s = BinaryConnect's scale.
    Binary,
    /// `{-s, 0, +s}`, s = BinaryConnect's scale.
    Ternary,
    /// `2^bits` levels over the Glorot range.
    Bits(u32),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GridRule {
    /// The same grid for every quantized weight.
    Same(Grid),
    /// Each weight matrix's own grid, from its fan-in and fan-out.
    PerLayer(LayerGrid),
}

/// The quantization of a quantized run: the grid rule, and whether a network keeps its
/// first and last weight matrices in full precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantPolicy {
    pub rule: GridRule,
    pub fp_first_last: bool,
}

impl QuantPolicy {
    pub fn same(grid: Grid) -> QuantPolicy {
        QuantPolicy { rule: GridRule::Same(grid), fp_first_last: false }
    }

    /// The one grid of a run whose weights all share it (`None` for per-layer grids).
    pub fn grid(&self) -> Option<Grid> {
        match self.rule {
            GridRule::Same(g) => Some(g),
            GridRule::PerLayer(_) => None,
        }
    }

    /// The grid of a weight matrix with this fan-in and fan-out (for a convolution,
    /// `c_in k k` and `c_out k k`).
    pub fn layer_grid(&self, fan_in: usize, fan_out: usize) -> Grid {
        let made = match self.rule {
            GridRule::Same(g) => return g,
            GridRule::PerLayer(LayerGrid::Binary) => Grid::binary(binary_connect_scale(fan_in, fan_out)),
            GridRule::PerLayer(LayerGrid::Ternary) => Grid::ternary(binary_connect_scale(fan_in, fan_out)),
            GridRule::PerLayer(LayerGrid::Bits(bits)) => Grid::bits(bits, glorot_limit(fan_in, fan_out)),
        };
        made.expect("positive fan-in and fan-out give positive scales")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_layer_grids_follow_binary_connect() {
        let q = QuantPolicy { rule: GridRule::PerLayer(LayerGrid::Binary), fp_first_last: false };
        let g = q.layer_grid(784, 256);
        let s = (1.5f64 / 1040.0).sqrt();
        assert_eq!((g.lo, g.hi), (-s, s));
        let t = QuantPolicy { rule: GridRule::PerLayer(LayerGrid::Ternary), fp_first_last: true }.layer_grid(10, 20);
        assert_eq!((t.lo, t.delta, t.hi), (-(0.05f64).sqrt(), (0.05f64).sqrt(), (0.05f64).sqrt()));
        let b = QuantPolicy { rule: GridRule::PerLayer(LayerGrid::Bits(2)), fp_first_last: false }.layer_grid(3, 3);
        assert_eq!((b.lo, b.hi), (-1.0, 1.0));
        assert!((b.delta - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(q.grid(), None);
        let fixed = Grid::fixed(0.1, None).unwrap();
        assert_eq!(QuantPolicy::same(fixed).layer_grid(5, 7), fixed);
        assert_eq!(QuantPolicy::same(fixed).grid(), Some(fixed));
    }
}
