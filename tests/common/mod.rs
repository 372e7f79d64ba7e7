//! Helpers shared by the integration tests: running the binary, temporary configs, reading
//! CSV columns, and the fetched data sets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The qnet-exp binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qnet-exp"))
}

/// Run the binary with `args` in `cwd`.
pub fn qnet(args: &[&str], cwd: &Path) -> Output {
    bin().args(args).current_dir(cwd).output().unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// 16 convex runs of a few milliseconds: FP, R, SR and BC at two step sizes, 2 seeds.
pub const TINY: &str = r#"
name = "tiny"
[problem]
dim = 5
samples = 100
[quant]
method = ["fp", "r", "sr", "bc"]
delta = 0.1
[optim]
lr = [0.05, 0.01]
batch = 4
[run]
steps = 400
seeds = 2
log_every = 50
"#;

/// A temporary folder holding `config` as `tiny.toml`.
pub fn setup(config: &str) -> (tempfile::TempDir, PathBuf) {
    setup_as(config, "tiny.toml")
}

/// A temporary folder holding `config` as `name`.
pub fn setup_as(config: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join(name);
    std::fs::write(&cfg, config).unwrap();
    (dir, cfg)
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The values of column `name` of a CSV text.
pub fn column(csv_text: &str, name: &str) -> Vec<String> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let i = rdr.headers().unwrap().iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    rdr.records().map(|r| r.unwrap()[i].to_string()).collect()
}

/// The run folders of a sweep folder (visible folders holding a status.toml: not the
/// temporary ones, nor the slurm/ scripts of `qnet-exp slurm`), sorted.
pub fn run_dirs(sweep: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sweep)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.') && p.join("status.toml").is_file()
        })
        .collect();
    v.sort();
    v
}

/// What must not depend on how a sweep was run: every run's metrics.csv, config.toml and
/// theory.toml, summary.csv, fits.csv (where written) and runs.csv without its wall_s
/// column, as (name, contents).
pub fn snapshot(sweep: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in run_dirs(sweep) {
        for f in ["metrics.csv", "config.toml", "theory.toml"] {
            let name = format!("{}/{f}", d.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read_to_string(d.join(f)).unwrap()));
        }
    }
    out.push(("summary.csv".into(), read(&sweep.join("summary.csv"))));
    if sweep.join("fits.csv").exists() {
        out.push(("fits.csv".into(), read(&sweep.join("fits.csv"))));
    }
    let runs = read(&sweep.join("runs.csv"));
    let mut rdr = csv::Reader::from_reader(runs.as_bytes());
    let wall = rdr.headers().unwrap().iter().position(|h| h == "wall_s").unwrap();
    let rows: Vec<String> = rdr
        .records()
        .map(|r| {
            r.unwrap().iter().enumerate().filter(|(i, _)| *i != wall).map(|(_, c)| c).collect::<Vec<_>>().join(",")
        })
        .collect();
    out.push(("runs.csv".into(), rows.join("\n")));
    out
}

/// The folder with the data sets fetched by scripts/fetch-data.sh ($QNET_DATA_DIR, else
/// data/). The tests that need it are `#[ignore]`d (CI runs them with --include-ignored
/// after fetching the data); run by hand without the data, they fail and say why.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("QNET_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data"));
    assert!(
        dir.join("mnist/train-images-idx3-ubyte").is_file(),
        "MNIST not found in {}: run scripts/fetch-data.sh (or set QNET_DATA_DIR)",
        dir.display()
    );
    dir
}
