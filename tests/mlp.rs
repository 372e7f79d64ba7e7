//! Networks end to end on real MNIST (a small subset). Skipped, and says so, when the data
//! has not been fetched (scripts/fetch-data.sh; CI fetches it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("QNET_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data"));
    dir.join("mnist/train-images-idx3-ubyte").is_file().then_some(dir)
}

fn qnet(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qnet-exp")).args(args).current_dir(cwd).output().unwrap()
}

fn config(data: &Path, extra: &str) -> String {
    format!(
        r#"
name = "net"
[problem]
kind = "mlp"
dataset = "mnist"
data_dir = "{}"
width = 64
depth = 2
train_size = 3000
test_size = 1000
[quant]
method = ["fp", "bc", "sr", "r"]
grid = "binary"
{extra}
[optim]
kind = "adam"
lr = 0.003
batch = 50
[run]
epochs = 2
"#,
        data.display()
    )
}

fn column(csv_text: &str, name: &str) -> Vec<String> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let i = rdr.headers().unwrap().iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    rdr.records().map(|r| r.unwrap()[i].to_string()).collect()
}

#[test]
fn binary_mlp_on_mnist_orders_the_methods_and_writes_per_layer_flips() {
    let Some(data) = data_dir() else {
        eprintln!("SKIPPED: MNIST not found in data/ or $QNET_DATA_DIR; run scripts/fetch-data.sh");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.toml"), config(&data, "")).unwrap();
    let o = qnet(&["run", "net.toml", "--progress", "none", "--jobs", "2"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sweep = dir.path().join("results/net");
    let summary = std::fs::read_to_string(sweep.join("summary.csv")).unwrap();
    let methods = column(&summary, "method");
    let err: Vec<f64> = column(&summary, "test_error_mean").iter().map(|v| v.parse().unwrap()).collect();
    let e = |m: &str| err[methods.iter().position(|x| x == m).unwrap()];
    // 2 epochs on 3k images, fixed seeds: FP about 9 %, BC 12 %, SR 15 %, R about 70 %
    // (binary R cannot move a weight once Adam's steps are below half a cell).
    assert!(e("fp") < 0.15, "fp {}", e("fp"));
    assert!(e("fp") < e("bc") + 0.01 && e("bc") < 0.25, "fp {} bc {}", e("fp"), e("bc"));
    assert!(e("r") > e("bc") + 0.2 && e("r") > e("sr"), "r {} sr {} bc {}", e("r"), e("sr"), e("bc"));
    for d in std::fs::read_dir(&sweep).unwrap() {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        let m = std::fs::read_to_string(d.join("metrics.csv")).unwrap();
        assert_eq!(
            m.lines().next().unwrap(),
            "step,epoch,lr,train_loss,train_error,test_loss,test_error,test_error_latent"
        );
        assert_eq!(m.lines().count(), 1 + 3, "step 0 and one row per epoch");
        let layers = std::fs::read_to_string(d.join("layers.csv")).unwrap();
        assert_eq!(layers.lines().next().unwrap(), "step,epoch,layer,flip_frac,round_err");
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("fp-") {
            assert_eq!(layers.lines().count(), 1, "FP quantizes nothing");
        } else {
            assert_eq!(column(&layers, "layer"), ["fc1", "fc2", "fc3", "fc1", "fc2", "fc3"]);
            let flips: Vec<f64> = column(&layers, "flip_frac").iter().map(|v| v.parse().unwrap()).collect();
            if name.starts_with("r-") {
                assert!(flips.iter().all(|&f| f == 0.0), "binary R with small steps never flips: {flips:?}");
            } else {
                assert!(flips.iter().all(|&f| f > 0.0 && f < 0.5), "{name}: {flips:?}");
            }
        }
    }
    // Same bytes with one job (one run per thread, single-threaded GEMMs).
    let o = qnet(&["run", "net.toml", "--progress", "none", "--jobs", "1", "--out", "one"], dir.path());
    assert!(o.status.success());
    for d in std::fs::read_dir(&sweep).unwrap() {
        let d = d.unwrap().path();
        if d.is_dir() {
            let other = dir.path().join("one/net").join(d.file_name().unwrap());
            for f in ["metrics.csv", "layers.csv"] {
                assert_eq!(std::fs::read(d.join(f)).unwrap(), std::fs::read(other.join(f)).unwrap(), "{f}");
            }
        }
    }
}

#[test]
fn first_and_last_layer_can_stay_full_precision() {
    let Some(data) = data_dir() else {
        eprintln!("SKIPPED: MNIST not found in data/ or $QNET_DATA_DIR; run scripts/fetch-data.sh");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(&data, "fp_first_last = true").replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", "method = \"bc\"");
    std::fs::write(dir.path().join("net.toml"), cfg).unwrap();
    let o = qnet(&["run", "net.toml", "--progress", "none"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = std::fs::read_dir(dir.path().join("results/net"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let layers = std::fs::read_to_string(d.join("layers.csv")).unwrap();
    assert_eq!(column(&layers, "layer"), ["fc2", "fc2"]);
}

#[test]
fn network_config_errors() {
    let base = "name = \"n\"\n[problem]\nkind = \"mlp\"\ntrain_size = 100\n[quant]\nmethod = \"bc\"\ngrid = \"binary\"\n[optim]\nlr = 0.01\n";
    let check = |text: &str, needle: &str| {
        let e = qnet_exp::config::parse_sweep(text, "t.toml", &[]).expect_err(needle);
        assert!(e.iter().any(|l| l.contains(needle)), "expected {needle:?} in {e:?}");
    };
    check(&format!("{base}batch = 1"), "batch normalisation needs at least 2 samples");
    check(&format!("{base}batch = 200"), "larger than problem.train_size = 100");
    check(&base.replace("lr = 0.01", "lr = \"1/mu\""), "networks are not strongly convex");
    check(
        &base.replace("kind = \"mlp\"", "kind = \"mlp\"\ndataset = \"svhn\""),
        "problem.dataset = \"svhn\": not one of mnist | fashion_mnist | cifar10",
    );
    check(
        &base.replace("kind = \"mlp\"", "kind = \"mlp\"\nsamples = 10"),
        "problem.samples: set, but applies to no run",
    );
    // A missing data set stops the sweep before anything is written.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("n.toml"), base.replace("train_size = 100", "data_dir = \"nowhere\"")).unwrap();
    let o = qnet(&["run", "n.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nowhere/mnist/train-images-idx3-ubyte: file not found") && err.contains("scripts/fetch-data.sh"),
        "{err}"
    );
    assert!(!dir.path().join("results").exists());
}

/// A single run with two jobs threads its GEMMs and its element-wise passes; the bits are
/// those of the single-threaded run (SR's rounding noise is keyed by position).
#[test]
fn threaded_network_runs_are_bitwise_the_serial_ones() {
    let Some(data) = data_dir() else {
        eprintln!("SKIPPED: MNIST not found in data/ or $QNET_DATA_DIR; run scripts/fetch-data.sh");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for m in ["sr", "bc"] {
        let cfg = config(&data, "").replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", &format!("method = \"{m}\""));
        std::fs::write(dir.path().join("net.toml"), cfg).unwrap();
        for jobs in ["1", "2"] {
            let o = qnet(&["run", "net.toml", "-q", "--jobs", jobs, "--out", &format!("{m}{jobs}")], dir.path());
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let run = |jobs: &str| {
            let sweep = dir.path().join(format!("{m}{jobs}/net"));
            let d = std::fs::read_dir(&sweep).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
            (std::fs::read(d.join("metrics.csv")).unwrap(), std::fs::read(d.join("layers.csv")).unwrap())
        };
        assert_eq!(run("1"), run("2"), "{m}");
    }
}
