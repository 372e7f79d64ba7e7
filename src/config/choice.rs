//! The closed vocabularies of the config: one enum per choice key, parsed with `FromStr`.
//! The schema's allowed-value lists (and so every "not one of" message and the README's
//! key table) come from these enums' `NAMES`, so a new variant is one line here.

/// A string-valued config choice: its variants, their names, and parsing.
macro_rules! choice {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $var),+
        }

        impl $name {
            /// Every name, in declaration order (the allowed values of the config key).
            pub const NAMES: &'static [&'static str] = &[$($s),+];

            /// The name used in configs and CSV files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(format!("{s:?}: not one of {}", Self::NAMES.join(" | "))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice! {
    /// `problem.kind`: which problem family a run belongs to.
    ProblemKind {
        LeastSquares = "least_squares",
        Logistic = "logistic",
        Toy = "toy",
        Mlp = "mlp",
        Cnn = "cnn",
    }
}

choice! {
    /// `problem.dataset`: the real image data set of a network run.
    DatasetChoice {
        Mnist = "mnist",
        FashionMnist = "fashion_mnist",
        Cifar10 = "cifar10",
    }
}

choice! {
    /// `problem.landscape`: the toy objective.
    LandscapeName {
        Wave = "wave",
        EggCrate = "egg_crate",
        Rastrigin = "rastrigin",
    }
}

choice! {
    /// `problem.init`: the convex problems' initial point.
    InitName {
        Zero = "zero",
        Normal = "normal",
    }
}

choice! {
    /// `quant.method`.
    MethodName {
        Fp = "fp",
        R = "r",
        Sr = "sr",
        Bc = "bc",
    }
}

choice! {
    /// `quant.grid`.
    GridName {
        Fixed = "fixed",
        Binary = "binary",
        Ternary = "ternary",
        Bits = "bits",
    }
}

choice! {
    /// `quant.layer_scale`: per-layer (Glorot) or one fixed grid for every weight matrix.
    LayerScale {
        Glorot = "glorot",
        Fixed = "fixed",
    }
}

choice! {
    /// `quant.rounding`: how BC deploys its latent weights.
    RoundingName {
        Nearest = "nearest",
        Stochastic = "stochastic",
    }
}

choice! {
    /// `optim.kind`.
    OptimName {
        Sgd = "sgd",
        Momentum = "momentum",
        Adam = "adam",
    }
}

choice! {
    /// `optim.schedule`.
    ScheduleName {
        Const = "const",
        InvT = "inv_t",
        InvSqrtT = "inv_sqrt_t",
        Step = "step",
        Exp = "exp",
    }
}

choice! {
    /// `optim.sampling`: how the convex problems draw minibatches.
    Sampling {
        /// i.i.d. batches.
        Replacement = "replacement",
        /// Consecutive slices of a new permutation each epoch.
        Shuffle = "shuffle",
    }
}

choice! {
    /// `run.mode`: simulate SR on a toy, or solve its exact Markov chain.
    Mode {
        Simulate = "simulate",
        Exact = "exact",
    }
}

impl Sampling {
    /// The name under which the sampling enters the minibatch stream's seed. Frozen: it is
    /// what earlier versions printed, and changing it would move every committed result.
    pub fn seed_tag(self) -> &'static str {
        match self {
            Sampling::Replacement => "Replacement",
            Sampling::Shuffle => "Shuffle",
        }
    }
}

impl From<DatasetChoice> for crate::data::dataset::DatasetName {
    fn from(d: DatasetChoice) -> Self {
        use crate::data::dataset::DatasetName;
        match d {
            DatasetChoice::Mnist => DatasetName::Mnist,
            DatasetChoice::FashionMnist => DatasetName::FashionMnist,
            DatasetChoice::Cifar10 => DatasetName::Cifar10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_list_the_choices() {
        for n in MethodName::NAMES {
            assert_eq!(n.parse::<MethodName>().unwrap().as_str(), *n);
        }
        for n in ScheduleName::NAMES {
            assert_eq!(n.parse::<ScheduleName>().unwrap().to_string(), *n);
        }
        assert_eq!("sgd2".parse::<OptimName>().unwrap_err(), "\"sgd2\": not one of sgd | momentum | adam");
        // The dataset names are the data module's folder names.
        for n in DatasetChoice::NAMES {
            let d: crate::data::dataset::DatasetName = n.parse::<DatasetChoice>().unwrap().into();
            assert_eq!(d.as_str(), *n);
        }
    }
}
