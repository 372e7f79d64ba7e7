//! experiments/lib.sh, which every experiment's run.sh sources: `run_sweep` starts a sweep
//! from scratch, or with RESUME=1 goes on with the runs already in its folder.

use std::path::Path;
use std::process::{Command, Output};

const SWEEP: &str = r#"
name = "resume"
[problem]
dim = 3
samples = 32
[quant]
method = ["fp", "sr"]
delta = 0.1
[optim]
lr = 0.02
batch = 4
[run]
steps = 50
log_every = 25
"#;

fn run_sweep(dir: &Path, resume: bool) -> Output {
    let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/lib.sh");
    Command::new("bash")
        .args(["-c", &format!("source {lib} && run_sweep sweep.toml")])
        .current_dir(dir)
        .env("QNET", env!("CARGO_BIN_EXE_qnet-exp"))
        .env("OUT", dir.join("out"))
        .env("RESULTS_DIR", dir.join("res"))
        .env("PLOTS", "0")
        .env("RESUME", if resume { "1" } else { "0" })
        .output()
        .unwrap()
}

#[test]
fn run_sweep_starts_from_scratch_unless_resumed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sweep.toml"), SWEEP).unwrap();
    let said = |o: &Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    let first = said(&run_sweep(dir.path(), false));
    assert!(first.contains("(2 ran, 0 skipped, 0 failed)"), "{first}");
    let summary = std::fs::read(dir.path().join("res/resume/summary.csv")).unwrap();
    let resumed = said(&run_sweep(dir.path(), true));
    assert!(resumed.contains("RESUME=1: going on with the runs in"), "{resumed}");
    assert!(resumed.contains("(0 ran, 2 skipped, 0 failed)"), "{resumed}");
    assert_eq!(std::fs::read(dir.path().join("res/resume/summary.csv")).unwrap(), summary);
    let again = said(&run_sweep(dir.path(), false));
    assert!(again.contains("(2 ran, 0 skipped, 0 failed)"), "{again}");
}
