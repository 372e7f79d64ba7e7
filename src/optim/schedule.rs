//! Step-size schedules alpha_t, t = 0, 1, 2, ... (the step being taken).

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    Const,
    /// alpha0 / (1 + t / tau). With alpha0 = 1/mu and tau = 1 this is the theory's
    /// 1 / (mu (t + 1)).
    InvT {
        tau: f64,
    },
    /// alpha0 / sqrt(1 + t / tau).
    InvSqrtT {
        tau: f64,
    },
    /// alpha0 * gamma^floor(t / every).
    Step {
        every: u64,
        gamma: f64,
    },
    /// alpha0 * gamma^(t / every), the smooth version of `Step`.
    Exp {
        every: u64,
        gamma: f64,
    },
}

impl Schedule {
    #[inline]
    pub fn lr(&self, alpha0: f64, t: u64) -> f64 {
        let t = t as f64;
        match *self {
            Schedule::Const => alpha0,
            Schedule::InvT { tau } => alpha0 / (1.0 + t / tau),
            Schedule::InvSqrtT { tau } => alpha0 / (1.0 + t / tau).sqrt(),
            Schedule::Step { every, gamma } => alpha0 * gamma.powf((t / every as f64).floor()),
            Schedule::Exp { every, gamma } => alpha0 * gamma.powf(t / every as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_their_formulas() {
        assert_eq!(Schedule::Const.lr(0.3, 1000), 0.3);
        let mu = 4.0;
        for t in [0u64, 1, 9, 99] {
            let want = 1.0 / (mu * (t as f64 + 1.0));
            assert!((Schedule::InvT { tau: 1.0 }.lr(1.0 / mu, t) - want).abs() < 1e-15);
        }
        assert!((Schedule::InvSqrtT { tau: 1.0 }.lr(1.0, 3) - 0.5).abs() < 1e-15);
        let s = Schedule::Step { every: 10, gamma: 0.5 };
        assert_eq!((s.lr(1.0, 9), s.lr(1.0, 10), s.lr(1.0, 25)), (1.0, 0.5, 0.25));
        let e = Schedule::Exp { every: 10, gamma: 0.5 };
        assert!((e.lr(1.0, 5) - 0.5f64.sqrt()).abs() < 1e-15);
    }
}
