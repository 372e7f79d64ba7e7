//! `config::parse_sweep` on configs built from the schema (`config::schema::KEYS`): known
//! keys with values mostly of the right type (boundaries, typical values, random ones in
//! and out of range), single or as sweep lists, plus a few `--set`/`--unset` overrides, so
//! that inputs get past the TOML parser and the type checks into the resolvers.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use qnet_exp::config::schema::{KeySpec, Ty, KEYS};
use toml::{Table, Value};

/// Required keys of a family, so that many inputs start from a config that resolves.
const FAMILIES: &[&[(&str, &str)]] = &[
    &[("quant.method", "\"sr\""), ("quant.delta", "0.1"), ("optim.lr", "0.01"), ("problem.samples", "50")],
    &[("problem.kind", "\"toy\""), ("quant.method", "\"sr\""), ("quant.delta", "0.5"), ("optim.lr", "0.01")],
    &[
        ("problem.kind", "\"mlp\""),
        ("quant.method", "\"bc\""),
        ("quant.grid", "\"binary\""),
        ("optim.lr", "0.001"),
        ("optim.batch", "20"),
    ],
    &[("problem.kind", "\"cnn\""), ("quant.method", "\"fp\""), ("optim.lr", "0.001"), ("optim.batch", "20")],
];

const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1e-300,
    1e-9,
    1e-3,
    0.05,
    0.1,
    0.5,
    0.999_999,
    1.0,
    1.5,
    2.0,
    10.0,
    1e9,
    1e300,
    f64::MAX,
    -1.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

const WORDS: &[&str] = &["", " ", "x", "1/mu", "1/sqrt(d)", "lenet", "vgg", "fuzz", "a.b", "..", "-", "é", "\n"];

fn int(u: &mut Unstructured, min: i64, max: i64) -> Result<i64> {
    Ok(match u.int_in_range(0..=9)? {
        0 => min,
        1 => max,
        2 => min.saturating_add(1),
        3 => max.saturating_sub(1),
        4 => min.saturating_sub(1),
        5 => max.saturating_add(1),
        6 => u.arbitrary()?,
        7 => u.int_in_range(min..=max)?,
        _ => u.int_in_range(0..=64)?,
    })
}

fn float(u: &mut Unstructured, min: f64, max: f64) -> Result<f64> {
    Ok(match u.int_in_range(0..=5)? {
        0 => *u.choose(FLOATS)?,
        1 => min,
        2 => max,
        3 => f64::from_bits(u.arbitrary()?),
        4 => u.int_in_range(-4..=64)? as f64 / 16.0,
        _ => {
            let t: u16 = u.arbitrary()?;
            let hi = if max.is_finite() { max } else { min.max(0.0) + 100.0 };
            min + (hi - min) * t as f64 / u16::MAX as f64
        }
    })
}

fn word(u: &mut Unstructured) -> Result<String> {
    Ok(if u.ratio(1, 2)? { u.choose(WORDS)?.to_string() } else { u.arbitrary::<String>()? })
}

/// A CNN description: ready-made names and layer tokens, sometimes malformed.
fn arch(u: &mut Unstructured) -> Result<String> {
    let mut toks = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let n = |u: &mut Unstructured| -> Result<i64> {
            Ok(if u.ratio(3, 4)? {
                *u.choose(&[0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 4096, 4097])?
            } else {
                u.arbitrary()?
            })
        };
        toks.push(match u.int_in_range(0..=5)? {
            0 => format!("conv{}-{}", n(u)?, n(u)?),
            1 => "pool".to_string(),
            2 => format!("fc{}", n(u)?),
            3 => u.choose(&["lenet", "vgg", "conv3", "conv-", ","])?.to_string(),
            _ => format!("conv{}-{}", u.choose(&[1, 3, 5])?, u.choose(&[1, 2, 8])?),
        });
    }
    let sep = *u.choose(&[" ", ",", ", ", "  "])?;
    Ok(toks.join(sep))
}

/// A value for `key`: usually of its type, sometimes of another one.
fn value(u: &mut Unstructured, key: &KeySpec) -> Result<Value> {
    if u.ratio(1, 12)? {
        return Ok(match u.int_in_range(0..=4)? {
            0 => Value::Integer(u.arbitrary()?),
            1 => Value::Float(*u.choose(FLOATS)?),
            2 => Value::String(word(u)?),
            3 => Value::Boolean(u.arbitrary()?),
            _ => Value::Table(Table::new()),
        });
    }
    Ok(match key.ty {
        Ty::Int { min, max } => Value::Integer(int(u, min, max)?),
        Ty::Float { min, max, .. } => {
            if u.ratio(1, 8)? {
                Value::Integer(int(u, min.max(-1e18) as i64, max.min(1e18) as i64)?)
            } else {
                Value::Float(float(u, min, max)?)
            }
        }
        Ty::Choice(names) => Value::String(if u.ratio(7, 8)? { u.choose(names)?.to_string() } else { word(u)? }),
        Ty::Bool => Value::Boolean(u.arbitrary()?),
        Ty::Text if key.path == "problem.arch" => Value::String(arch(u)?),
        Ty::Text if key.path == "name" => Value::String(if u.ratio(7, 8)? { "fuzz".into() } else { word(u)? }),
        Ty::Text => Value::String(word(u)?),
        Ty::NumberOr(w) => {
            if u.ratio(1, 3)? {
                Value::String(w.to_string())
            } else {
                Value::Float(float(u, 0.0, 10.0)?)
            }
        }
    })
}

/// A single value, or (for an axis, sometimes) a list of 1..=4 values (rarely empty).
fn entry(u: &mut Unstructured, key: &KeySpec) -> Result<Value> {
    if (key.axis && u.ratio(1, 3)?) || u.ratio(1, 40)? {
        let n = u.int_in_range(0..=4)?;
        let mut vals = Vec::new();
        for _ in 0..n {
            vals.push(value(u, key)?);
        }
        return Ok(Value::Array(vals));
    }
    value(u, key)
}

fn set(root: &mut Table, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_string(), v);
        }
        Some((sec, leaf)) => {
            let t = root.entry(sec).or_insert_with(|| Value::Table(Table::new()));
            if let Value::Table(t) = t {
                t.insert(leaf.to_string(), v);
            }
        }
    }
}

fn build(u: &mut Unstructured) -> Result<(String, Vec<String>)> {
    let mut root = Table::new();
    if u.ratio(15, 16)? {
        root.insert("name".into(), Value::String("fuzz".into()));
    }
    if u.ratio(3, 4)? {
        for (path, raw) in *u.choose(FAMILIES)? {
            let v: Table = format!("v = {raw}").parse().expect("valid TOML");
            set(&mut root, path, v["v"].clone());
        }
    }
    for _ in 0..u.int_in_range(0..=12)? {
        let key = u.choose(KEYS)?;
        let v = entry(u, key)?;
        set(&mut root, key.path, v);
    }
    if u.ratio(1, 32)? {
        // An unknown key or section.
        let path = *u.choose(&["problem.dmi", "optimizer.lr", "quant", "run.seed_idx", "lr"])?;
        set(&mut root, path, Value::Integer(1));
    }
    let mut overrides = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let key = u.choose(KEYS)?;
        overrides.push(if u.ratio(1, 4)? {
            format!("~{}", key.path)
        } else {
            let v = entry(u, key)?;
            // A bare word, as typed on a command line, or the TOML form.
            match v {
                Value::String(s) if u.ratio(1, 2)? => format!("{}={s}", key.path),
                v => format!("{}={v}", key.path),
            }
        });
    }
    // Tables after plain values: the order TOML needs, whatever the insertion order.
    let text = toml::to_string(&root).unwrap_or_default();
    Ok((text, overrides))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((text, overrides)) = build(&mut u) else { return };
    qnet_exp_fuzz::check_sweep(&text, &overrides);
});
