//! One point of a sweep's Cartesian product, read by the resolvers. Every read marks the
//! key as used: the used keys are the run's parameters (its id, its CSV columns, its own
//! config.toml), and a key no run reads is an error.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::str::FromStr;

use super::parse::Val;
use super::schema::{self, Default, KeySpec};

pub struct Point<'a> {
    values: Vec<(&'static KeySpec, &'a Val)>,
    used: RefCell<BTreeSet<&'static str>>,
    errors: RefCell<Vec<String>>,
    /// Defaults that depend on other keys, as resolved for this point.
    computed: RefCell<Vec<(&'static str, Val)>>,
}

impl<'a> Point<'a> {
    pub fn new(values: Vec<(&'static KeySpec, &'a Val)>) -> Self {
        Point {
            values,
            used: RefCell::new(BTreeSet::new()),
            errors: RefCell::new(Vec::new()),
            computed: RefCell::new(Vec::new()),
        }
    }

    pub fn used(&self) -> BTreeSet<&'static str> {
        self.used.borrow().clone()
    }

    /// A resolution error (one line, without the file prefix).
    pub fn err(&self, msg: String) {
        self.errors.borrow_mut().push(msg);
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.borrow().clone()
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    fn given(&self, path: &str) -> Option<Val> {
        self.values.iter().find(|(k, _)| k.path == path).map(|(_, v)| (*v).clone())
    }

    /// The value (given or default) of a key, marking it used. `None` when the key has
    /// no default and was not given.
    pub fn get(&self, path: &'static str) -> Option<Val> {
        self.used.borrow_mut().insert(path);
        if let Some(v) = self.given(path) {
            return Some(v);
        }
        static_default(schema::key(path).expect("known key"))
    }

    /// Like `get`, and an error naming the key when it has no value (`when` says when it
    /// is required, e.g. `when quant.grid = "bits"`).
    pub fn required(&self, path: &'static str, when: &str) -> Option<Val> {
        let v = self.get(path);
        if v.is_none() {
            let when = if when.is_empty() { String::new() } else { format!(" {when}") };
            self.err(format!("{path}: missing (required{when})"));
        }
        v
    }

    /// A number (NaN after an error, which the caller's result is discarded for).
    pub fn f64(&self, path: &'static str) -> f64 {
        self.f64_when(path, "")
    }

    pub fn f64_when(&self, path: &'static str, when: &str) -> f64 {
        self.required(path, when).map_or(f64::NAN, |v| as_f64(&v))
    }

    pub fn int(&self, path: &'static str) -> i64 {
        match self.required(path, "") {
            Some(Val::Int(i)) => i,
            _ => 0,
        }
    }

    /// An optional number: `None` when not given and without default.
    pub fn opt_f64(&self, path: &'static str) -> Option<f64> {
        self.get(path).map(|v| as_f64(&v))
    }

    pub fn bool(&self, path: &'static str) -> bool {
        matches!(self.get(path), Some(Val::Bool(true)))
    }

    pub fn text(&self, path: &'static str) -> Option<String> {
        match self.get(path) {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A choice key as its enum. The parser checked the name against the same enum, so a
    /// failure here is a bug; it is reported, never defaulted.
    pub fn choice<T: FromStr<Err = String>>(&self, path: &'static str) -> Option<T> {
        match self.required(path, "")? {
            Val::Str(s) => s.parse().map_err(|e| self.err(format!("{path} = {e}"))).ok(),
            other => {
                self.err(format!("{path}: expected a name, found {}", other.canon()));
                None
            }
        }
    }

    /// The value of a key whose default depends on other keys; the default is recorded
    /// so that it shows in the run's params and config.toml.
    pub fn computed(&self, path: &'static str, default: Val) -> Val {
        self.get(path).unwrap_or_else(|| {
            self.computed.borrow_mut().push((path, default.clone()));
            default
        })
    }

    /// Like `get` but without marking (for reading back values already used), and with
    /// computed defaults filled in.
    pub fn get_silent(&self, path: &'static str) -> Option<Val> {
        if let Some(v) = self.given(path) {
            return Some(v);
        }
        let spec = schema::key(path)?;
        match spec.default {
            Default::Computed => self.computed.borrow().iter().find(|(k, _)| *k == path).map(|(_, v)| v.clone()),
            _ => static_default(spec),
        }
    }
}

fn static_default(spec: &KeySpec) -> Option<Val> {
    match spec.default {
        Default::Int(i) => Some(Val::Int(i)),
        Default::Float(x) => Some(Val::Float(x)),
        Default::Str(s) => Some(Val::Str(s.into())),
        Default::Bool(b) => Some(Val::Bool(b)),
        Default::None | Default::Computed => None,
    }
}

pub fn as_f64(v: &Val) -> f64 {
    match v {
        Val::Int(i) => *i as f64,
        Val::Float(x) => *x,
        _ => f64::NAN,
    }
}
