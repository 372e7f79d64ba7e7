//! TOML text -> validated sweep axes. Collects every error of a file, one line each,
//! naming the key path (and the nearest valid key for a misspelt one).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::schema::{self, KeySpec, Ty};
use crate::output::fmt_f64;

/// A typed config value (one point of an axis).
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

impl Val {
    /// Canonical text: the same value always prints the same way (floats given as
    /// integers print as floats), so run ids are stable.
    pub fn canon(&self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Float(x) => fmt_f64(*x),
            Val::Str(s) => s.clone(),
            Val::Bool(b) => b.to_string(),
        }
    }

    pub fn to_toml(&self) -> toml::Value {
        match self {
            Val::Int(i) => toml::Value::Integer(*i),
            Val::Float(x) => toml::Value::Float(*x),
            Val::Str(s) => toml::Value::String(s.clone()),
            Val::Bool(b) => toml::Value::Boolean(*b),
        }
    }
}

/// A config file after validation: the sweep name and, for every key given, its values.
#[derive(Clone, Debug)]
pub struct SweepDef {
    pub name: String,
    pub source: String,
    /// Keys given in the file (or by --set) with valid values, in schema order.
    pub given: Vec<(&'static KeySpec, Vec<Val>)>,
    /// Keys given with invalid values (reported in `errors`; resolved with their default,
    /// so that the rest of the file is checked in the same round).
    pub invalid: Vec<&'static str>,
    /// Keys that came from --set (the others from the file).
    pub from_set: Vec<String>,
    /// Every problem found so far, one line each.
    pub errors: Vec<String>,
}

impl SweepDef {
    pub fn scalar(&self, path: &str) -> Option<&Val> {
        self.given.iter().find(|(k, _)| k.path == path).map(|(_, v)| &v[0])
    }
}

/// Read, override and validate one config file. `Err` only when the text cannot be read
/// as TOML at all; validation errors are in [`SweepDef::errors`].
pub fn load(path: &Path, overrides: &[String]) -> Result<SweepDef, Vec<String>> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{source}: cannot read config: {e}")])?;
    parse(&text, &source, overrides)
}

/// A value as it appears in a message: at most 60 characters.
pub fn clip(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}... ({} characters)", s.chars().take(40).collect::<String>(), s.chars().count())
    }
}

/// An override: `key.path=value` (`--set`), or `~key.path` (`--unset`).
pub fn parse(text: &str, source: &str, overrides: &[String]) -> Result<SweepDef, Vec<String>> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| vec![toml_error(source, text, &e)])?;
    let mut errors = Vec::new();
    let mut from_set = Vec::new();
    for ov in overrides {
        if let Some(path) = ov.strip_prefix('~') {
            if let Err(e) = remove_key(&mut table, path) {
                errors.push(format!("--unset {}: {e}", clip(path)));
            }
            continue;
        }
        match apply_override(&mut table, ov) {
            Ok(p) => from_set.push(p),
            Err(e) => errors.push(format!("--set {}: {e}", clip(ov))),
        }
    }
    // A key or a section that --set brought in is blamed on --set, not on the file.
    let origin = |path: &str| -> String {
        let by_set = from_set.iter().any(|p| p == path || p.starts_with(&format!("{path}.")));
        if by_set {
            "--set".to_string()
        } else {
            source.to_string()
        }
    };
    let mut invalid = Vec::new();

    let mut given: BTreeMap<usize, (&'static KeySpec, Vec<Val>)> = BTreeMap::new();
    let mut visit = |path: String, value: &toml::Value, errors: &mut Vec<String>| match schema::KEYS
        .iter()
        .position(|k| k.path == path)
    {
        None if schema::sections().contains(&path.as_str()) => {
            errors.push(format!("{}: {path}: is a section ([{path}]), not a key; set one of its keys", origin(&path)));
        }
        None => {
            let hint = schema::suggest(&path).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
            errors.push(format!("{}: {path}: unknown key{hint}", origin(&path)));
        }
        Some(i) => {
            let spec = &schema::KEYS[i];
            match check_values(spec, value) {
                Ok(vals) => {
                    given.insert(i, (spec, vals));
                }
                Err(es) => {
                    invalid.push(spec.path);
                    errors.extend(es.into_iter().map(|e| format!("{}: {path}{e}", origin(&path))));
                }
            }
        }
    };
    let sections = schema::sections();
    for (k, v) in &table {
        match v {
            toml::Value::Table(t) if sections.contains(&k.as_str()) => {
                for (k2, v2) in t {
                    visit(format!("{k}.{k2}"), v2, &mut errors);
                }
            }
            toml::Value::Table(_) => {
                let hint = schema::suggest_section(k).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
                errors.push(format!("{}: [{k}]: unknown section{hint}", origin(k)));
            }
            _ => visit(k.clone(), v, &mut errors),
        }
    }
    let name_given = table.contains_key("name");
    let name = match given.values().find(|(k, _)| k.path == "name") {
        Some((_, v)) => v[0].canon(),
        // An invalid name has been reported already.
        None if name_given => String::new(),
        None => {
            errors.push(format!("{source}: name: missing (every sweep needs a name; results go to <out>/<name>/)"));
            String::new()
        }
    };
    if !name.is_empty() && !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        errors.push(format!(
            "{}: name = {name:?}: use letters, digits, '-', '_' or '.' (it names a folder)",
            origin("name")
        ));
    }
    Ok(SweepDef { name, source: source.to_string(), given: given.into_values().collect(), invalid, from_set, errors })
}

/// Check one key's value(s) against its type and range; messages start after the path.
fn check_values(spec: &KeySpec, value: &toml::Value) -> Result<Vec<Val>, Vec<String>> {
    let items: Vec<(String, &toml::Value)> = match value {
        toml::Value::Array(a) if spec.axis => {
            if a.is_empty() {
                return Err(vec![": empty list (a sweep axis needs at least one value)".into()]);
            }
            a.iter().enumerate().map(|(i, v)| (format!("[{i}]"), v)).collect()
        }
        toml::Value::Array(_) => return Err(vec![": takes a single value, not a list".into()]),
        v => vec![(String::new(), v)],
    };
    let mut out: Vec<Val> = Vec::new();
    // The canonical texts of `out` (comparing with each of `out` made long lists quadratic).
    let mut seen = HashSet::new();
    let mut errs = Vec::new();
    for (idx, v) in items {
        match check_one(spec, v) {
            // The same value twice on an axis would only run the same runs twice.
            Ok(x) if !seen.insert(x.canon()) => {
                errs.push(format!("{idx} = {}: appears twice in the list", clip(&x.canon())))
            }
            Ok(x) => out.push(x),
            Err(e) => errs.push(format!("{idx}{e}")),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("string {:?}", clip(s)),
        toml::Value::Integer(i) => format!("integer {i}"),
        toml::Value::Float(x) => format!("float {x}"),
        toml::Value::Boolean(b) => format!("boolean {b}"),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
        toml::Value::Datetime(d) => format!("datetime {d}"),
    }
}

fn check_one(spec: &KeySpec, v: &toml::Value) -> Result<Val, String> {
    let list = if spec.axis { " (or a list of them)" } else { "" };
    match (spec.ty, v) {
        (Ty::Int { min, max }, toml::Value::Integer(i)) => {
            if *i < min || *i > max {
                Err(format!(" = {i}: out of range, allowed {min}..={max}"))
            } else {
                Ok(Val::Int(*i))
            }
        }
        (Ty::Int { .. }, v) => Err(format!(": expected an integer{list}, found {}", describe(v))),
        (Ty::Float { min, min_open, max }, toml::Value::Integer(_) | toml::Value::Float(_)) => {
            let x = match v {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(x) => *x,
                _ => unreachable!(),
            };
            let below = if min_open { x <= min } else { x < min };
            if !x.is_finite() || below || x > max {
                let lo = if min_open { format!("> {min}") } else { format!(">= {min}") };
                let hi = if max.is_finite() { format!(" and <= {max}") } else { String::new() };
                Err(format!(" = {x}: out of range, must be finite, {lo}{hi}"))
            } else {
                Ok(Val::Float(x))
            }
        }
        (Ty::Float { .. }, v) => Err(format!(": expected a number{list}, found {}", describe(v))),
        (Ty::Choice(choices), toml::Value::String(s)) => {
            if choices.contains(&s.as_str()) {
                Ok(Val::Str(s.clone()))
            } else {
                Err(format!(" = {:?}: not one of {}", clip(s), choices.join(" | ")))
            }
        }
        (Ty::Choice(choices), v) => {
            Err(format!(": expected one of {}{list}, found {}", choices.join(" | "), describe(v)))
        }
        (Ty::Bool, toml::Value::Boolean(b)) => Ok(Val::Bool(*b)),
        (Ty::Bool, v) => Err(format!(": expected true or false{list}, found {}", describe(v))),
        (Ty::NumberOr(word), toml::Value::String(s)) if s == word => Ok(Val::Str(s.clone())),
        (Ty::NumberOr(_), toml::Value::Integer(_) | toml::Value::Float(_)) => {
            check_one(&KeySpec { ty: Ty::Float { min: 0.0, min_open: true, max: f64::INFINITY }, ..*spec }, v)
        }
        (Ty::NumberOr(word), v) => Err(format!(": expected a number > 0 or \"{word}\"{list}, found {}", describe(v))),
        (Ty::Text, toml::Value::String(s)) if !s.is_empty() => Ok(Val::Str(s.clone())),
        (Ty::Text, v) => Err(format!(": expected a non-empty string, found {}", describe(v))),
    }
}

/// `key.path=value`, the value parsed as TOML (a bare word is a string).
fn apply_override(table: &mut toml::Table, ov: &str) -> Result<String, String> {
    let (path, raw) = ov.split_once('=').ok_or("expected key.path=value")?;
    let path = path.trim();
    if path.is_empty() || path.split('.').any(|p| p.is_empty()) {
        return Err("expected key.path=value".into());
    }
    // Every key is `name` or `section.key`. A deeper path names none, and its tables
    // (one per part) nested deep enough overflowed the stack when dropped.
    if path.split('.').count() > 2 {
        return Err(format!("{}: not a key (keys are `name` or `section.key`)", clip(path)));
    }
    let raw = raw.trim();
    let value = match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("parsed key"),
        // A list that is not TOML: most likely bare words, which TOML wants quoted.
        Err(_) if raw.starts_with('[') => {
            // The user's own words, quoted: the form they most likely meant.
            let inner = raw.trim_start_matches('[').trim_end_matches(']');
            let words: Vec<String> = inner
                .split(',')
                .map(|w| w.trim().trim_matches('"'))
                .filter(|w| !w.is_empty())
                .map(|w| if w.parse::<f64>().is_ok() { w.to_string() } else { format!("\"{w}\"") })
                .collect();
            let meant = clip(&format!("{path}=[{}]", words.join(", ")));
            return Err(format!(
                "not a TOML list; words in a list need quotes: --set '{meant}' (numbers need none: [0.1, 0.05])"
            ));
        }
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let mut parts: Vec<&str> = path.split('.').collect();
    let leaf = parts.pop().expect("non-empty path");
    let mut t = table;
    for p in parts {
        let entry = t.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("{p} is not a table")),
        };
    }
    t.insert(leaf.to_string(), value);
    Ok(path.to_string())
}

/// `--unset key.path`: remove a key the file sets (so that narrowing a shipped config never
/// leaves a key that applies to no run).
fn remove_key(table: &mut toml::Table, path: &str) -> Result<(), String> {
    // Dropping a whole section would silently run another problem (as --set refuses it).
    if schema::sections().contains(&path) {
        return Err(format!("is a section ([{path}]), not a key; unset its keys one by one"));
    }
    let mut parts: Vec<&str> = path.split('.').collect();
    let leaf = parts.pop().filter(|l| !l.is_empty()).ok_or("expected key.path")?;
    let mut t = &mut *table;
    for p in parts {
        t = match t.get_mut(p) {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(not_set(path)),
        };
    }
    t.remove(leaf).map(|_| ()).ok_or_else(|| not_set(path))
}

fn not_set(path: &str) -> String {
    let hint =
        schema::suggest(path).filter(|s| *s != path).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
    format!("the config does not set this key{hint}")
}

/// One line: "file:line:col: TOML syntax error: message".
fn toml_error(source: &str, text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
            format!("{source}:{line}:{col}: TOML syntax error: {msg}")
        }
        None => format!("{source}: TOML syntax error: {msg}"),
    }
}
