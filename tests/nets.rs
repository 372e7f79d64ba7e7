//! Networks end to end on real data (small subsets): the MLP and the CNN, quantized
//! methods, per-layer flips, validation split and selection, threads, the CIFAR-10 sample.
//! The tests that need the fetched data are `#[ignore]`d; CI runs them with
//! `--include-ignored` after scripts/fetch-data.sh.

mod common;

use std::path::Path;

use common::{column, data_dir, qnet, text};

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

/// Training depends neither on how many test images evaluate it nor on how long the run
/// goes: SR with 1,000 test images and 2 epochs trains exactly as with 200 and 1 epoch
/// (same losses and errors on the training and validation images, same flips in epoch
/// 1), so a longer run extends a shorter one.
#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn training_is_independent_of_the_test_subset_and_of_the_run_length() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let long = config(&data, "")
        .replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", "method = \"sr\"")
        .replace("train_size = 3000", "train_size = 1000");
    let short = long.replace("name = \"net\"", "name = \"short\"").replace("test_size = 1000", "test_size = 200");
    let short = short.replace("epochs = 2", "epochs = 1");
    std::fs::write(dir.path().join("long.toml"), &long).unwrap();
    std::fs::write(dir.path().join("short.toml"), &short).unwrap();
    assert!(qnet(&["run", "long.toml", "short.toml", "-q"], dir.path()).status.success());
    let one = |sweep: &str, file: &str| {
        let runs = common::run_dirs(&dir.path().join("results").join(sweep));
        assert_eq!(runs.len(), 1);
        std::fs::read_to_string(runs[0].join(file)).unwrap()
    };
    let (ml, ms) = (one("net", "metrics.csv"), one("short", "metrics.csv"));
    for col in ["step", "train_loss", "train_error", "val_loss", "val_error"] {
        let (l, s) = (column(&ml, col), column(&ms, col));
        assert_eq!((l.len(), s.len()), (3, 2), "{col}");
        assert_eq!(l[..2], s[..], "{col}");
    }
    // The test error differs (another subset): the comparison above can tell runs apart.
    assert_ne!(column(&ml, "test_error")[1], column(&ms, "test_error")[1]);
    let (ll, ls) = (one("net", "layers.csv"), one("short", "layers.csv"));
    let (fl, fs) = (column(&ll, "flip_frac"), column(&ls, "flip_frac"));
    assert!(!fs.is_empty() && fl.len() == 2 * fs.len(), "{ll}\n{ls}");
    assert_eq!(fl[..fs.len()], fs[..]);
}

#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn binary_mlp_on_mnist_orders_the_methods_and_writes_per_layer_flips() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.toml"), config(&data, "")).unwrap();
    let o = qnet(&["run", "net.toml", "--progress", "none", "--jobs", "2"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
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
        assert_eq!(m.lines().next().unwrap(), qnet_exp::nets::train::METRICS_COLUMNS.join(","));
        // The validation split: 300 of the 3000 images held out, evaluated every epoch.
        assert!(column(&m, "val_error").iter().all(|v| !v.is_empty()));
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
#[ignore = "needs scripts/fetch-data.sh"]
fn first_and_last_layer_can_stay_full_precision() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(&data, "fp_first_last = true").replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", "method = \"bc\"");
    std::fs::write(dir.path().join("net.toml"), cfg).unwrap();
    let o = qnet(&["run", "net.toml", "--progress", "none"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
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
    check(&format!("{base}batch = 95"), "larger than the 90 training images (problem.train_size = 100, 10 held out");
    check(&base.replace("lr = 0.01", "lr = \"1/mu\""), "networks are not strongly convex");
    check(
        &base.replace("kind = \"mlp\"", "kind = \"mlp\"\ndataset = \"svhn\""),
        "problem.dataset = \"svhn\": not one of mnist | fashion_mnist | cifar10",
    );
    check(
        &base.replace("kind = \"mlp\"", "kind = \"mlp\"\nsamples = 10"),
        "problem.samples: set, but applies to no run",
    );
    // Keys of step-based runs: networks run epochs, log and summarize per epoch, and
    // always shuffle; the error says which runs read each key.
    for (key, used) in [
        (
            "[run]\ntail = 0.5",
            "run.tail: set, but applies to no run of this sweep (used when convex problems and toys)",
        ),
        ("[run]\nlog_every = 5", "run.log_every: set, but applies to no run"),
        ("[run]\nsteps = 50", "run.steps: set, but applies to no run"),
        (
            "[optim]\nsampling = \"shuffle\"",
            "optim.sampling: set, but applies to no run of this sweep (used when convex problems)",
        ),
    ] {
        let (table, line) = key.split_once('\n').unwrap();
        let text = if base.contains(table) { base.replace(table, key) } else { format!("{base}{table}\n{line}\n") };
        check(&text, used);
    }
    // quant.scale is the binary grid's value only with one scale for every layer.
    check(
        &base.replace("grid = \"binary\"", "grid = \"binary\"\nscale = 0.05"),
        "networks: only with quant.layer_scale = \"fixed\"",
    );
    // A missing data set stops the sweep before anything is written.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("n.toml"), base.replace("train_size = 100", "data_dir = \"nowhere\"")).unwrap();
    let o = qnet(&["run", "n.toml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("nowhere/mnist/train-images-idx3-ubyte: file not found") && err.contains("scripts/fetch-data.sh"),
        "{err}"
    );
    assert!(!dir.path().join("results").exists());
}

/// `-v` logs each epoch's training time (what the benchmark scripts compare with PyTorch's
/// epoch): one line per epoch with its steps and a positive time, and the results are the
/// bytes of a quiet run.
#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn verbose_runs_log_each_epochs_training_time() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&data, "").replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", "method = \"bc\"");
    std::fs::write(dir.path().join("net.toml"), cfg).unwrap();
    let loud = qnet(&["run", "net.toml", "-v", "--progress", "none", "--out", "loud"], dir.path());
    assert!(loud.status.success(), "{}", text(&loud.stderr));
    let lines: Vec<String> =
        text(&loud.stderr).lines().filter(|l| l.contains("epoch trained")).map(String::from).collect();
    // 3000 images, 10 % held out for validation, batches of 50: 54 steps per epoch.
    assert_eq!(lines.len(), 2, "{}", text(&loud.stderr));
    for (e, line) in lines.iter().enumerate() {
        assert!(line.contains(&format!("epoch={}", e + 1)) && line.contains("steps=54"), "{line}");
        let secs: f64 =
            line.split("train_s=").nth(1).and_then(|v| v.split_whitespace().next()).unwrap().parse().unwrap();
        assert!(secs > 0.0 && secs < 60.0, "{line}");
    }
    let quiet = qnet(&["run", "net.toml", "-q", "--out", "quiet"], dir.path());
    assert!(quiet.status.success());
    assert!(!text(&quiet.stderr).contains("epoch trained"));
    let metrics = |out: &str| {
        let sweep = dir.path().join(out).join("net");
        let d = std::fs::read_dir(&sweep).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
        std::fs::read(d.join("metrics.csv")).unwrap()
    };
    assert_eq!(metrics("loud"), metrics("quiet"));
}

/// A single run with two jobs threads its GEMMs and its element-wise passes; the bits are
/// those of the single-threaded run (SR's rounding noise is keyed by position).
#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn threaded_network_runs_are_bitwise_the_serial_ones() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    for m in ["sr", "bc"] {
        let cfg = config(&data, "").replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", &format!("method = \"{m}\""));
        std::fs::write(dir.path().join("net.toml"), cfg).unwrap();
        for jobs in ["1", "2"] {
            let o = qnet(&["run", "net.toml", "-q", "--jobs", jobs, "--out", &format!("{m}{jobs}")], dir.path());
            assert!(o.status.success(), "{}", text(&o.stderr));
        }
        let run = |jobs: &str| {
            let sweep = dir.path().join(format!("{m}{jobs}/net"));
            let d = std::fs::read_dir(&sweep).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
            (std::fs::read(d.join("metrics.csv")).unwrap(), std::fs::read(d.join("layers.csv")).unwrap())
        };
        assert_eq!(run("1"), run("2"), "{m}");
    }
}

/// The LeNet-like CNN on MNIST: FP, BC and SR train (a few hundred steps), per-layer flips
/// for conv1, conv2, fc1 and fc2, step decay per epoch, and the same bytes with 1 and 2
/// jobs (2 jobs: one run at a time with threaded convolutions and GEMMs).
#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn lenet_on_mnist_trains_and_is_thread_count_independent() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&data, "")
        .replace("kind = \"mlp\"", "kind = \"cnn\"\narch = \"lenet\"")
        .replace("width = 64\ndepth = 2\n", "")
        .replace("train_size = 3000", "train_size = 1000")
        .replace("test_size = 1000", "test_size = 500")
        .replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", "method = [\"fp\", \"bc\", \"sr\"]")
        .replace("lr = 0.003", "lr = 0.003\nschedule = \"step\"\nevery = 1");
    std::fs::write(dir.path().join("cnn.toml"), cfg).unwrap();
    for jobs in ["1", "2"] {
        let o = qnet(&["run", "cnn.toml", "-q", "--jobs", jobs, "--out", &format!("j{jobs}")], dir.path());
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let sweep = dir.path().join("j1/net");
    let summary = std::fs::read_to_string(sweep.join("summary.csv")).unwrap();
    let err: Vec<f64> = column(&summary, "test_error_mean").iter().map(|v| v.parse().unwrap()).collect();
    // 2 epochs (36 steps) on 900 images, measured FP 9 %, BC 32 %, SR 35 %: far better
    // than chance (90 %) for every method, FP well ahead.
    let methods = column(&summary, "method");
    assert!(err.iter().all(|&e| e < 0.5), "{err:?}");
    assert!(err[methods.iter().position(|m| m == "fp").unwrap()] < 0.15, "{methods:?} {err:?}");
    for d in common::run_dirs(&sweep) {
        let m = std::fs::read_to_string(d.join("metrics.csv")).unwrap();
        // The step size halves after every epoch.
        assert_eq!(column(&m, "lr"), ["0.003", "0.003", "0.0015"]);
        let layers = std::fs::read_to_string(d.join("layers.csv")).unwrap();
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("fp-") {
            assert_eq!(column(&layers, "layer")[..4], ["conv1", "conv2", "fc1", "fc2"]);
        }
        let other = dir.path().join("j2/net").join(&name);
        for f in ["metrics.csv", "layers.csv"] {
            assert_eq!(std::fs::read(d.join(f)).unwrap(), std::fs::read(other.join(f)).unwrap(), "{name}/{f}");
        }
    }
}

/// The 20-image CIFAR-10 sample (all that the package registries hold) as both the test
/// set and, copied, the five training batches: the CIFAR reader, 3-channel convolutions and
/// the CSVs, end to end. Not a result: a smoke run.
#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn cnn_smoke_run_on_the_cifar10_sample() {
    let sample = data_dir().join("cifar10/test_batch.bin");
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("data/cifar10");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::copy(&sample, c.join("test_batch.bin")).unwrap();
    for i in 1..=5 {
        std::fs::copy(&sample, c.join(format!("data_batch_{i}.bin"))).unwrap();
    }
    let cfg = "name = \"cifar\"\n[problem]\nkind = \"cnn\"\ndataset = \"cifar10\"\ndata_dir = \"data\"\narch = \"conv3-8 pool conv3-16 pool fc32\"\n\
               [quant]\nmethod = [\"bc\", \"sr\"]\ngrid = \"binary\"\n[optim]\nkind = \"adam\"\nlr = 0.01\nbatch = 10\n[run]\nepochs = 2\n";
    std::fs::write(dir.path().join("c.toml"), cfg).unwrap();
    let o = qnet(&["run", "c.toml", "--progress", "none"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sweep = dir.path().join("results/cifar");
    let runs = std::fs::read_to_string(sweep.join("runs.csv")).unwrap();
    assert_eq!(column(&runs, "status"), ["finished", "finished"]);
    // Networks do not track the last step a deployed weight changed: empty, not 0.
    assert_eq!(column(&runs, "last_change_step"), ["", ""]);
    for d in common::run_dirs(&sweep) {
        let m = std::fs::read_to_string(d.join("metrics.csv")).unwrap();
        assert_eq!(m.lines().count(), 1 + 3);
        assert_eq!(
            column(&std::fs::read_to_string(d.join("layers.csv")).unwrap(), "layer")[..3],
            ["conv1", "conv2", "fc1"]
        );
    }
}

/// Step sizes chosen on validation data: `select` picks per method the step size with the
/// lowest mean validation error and writes best.csv (the winner's summary row, the number
/// of candidates and the runner-up's margin).
#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn select_picks_the_step_size_with_the_best_validation_error() {
    let data = data_dir();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&data, "")
        .replace("method = [\"fp\", \"bc\", \"sr\", \"r\"]", "method = [\"fp\", \"sr\"]")
        .replace("lr = 0.003", "lr = [0.00001, 0.003]")
        .replace("train_size = 3000", "train_size = 1000")
        .replace("epochs = 2", "epochs = 1\nseeds = 2");
    std::fs::write(dir.path().join("net.toml"), cfg).unwrap();
    assert!(qnet(&["run", "net.toml", "-q"], dir.path()).status.success());
    let o = qnet(&["select", "results/net", "--by", "val_error", "--within", "method"], dir.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let best = std::fs::read_to_string(dir.path().join("results/net/best.csv")).unwrap();
    assert_eq!(column(&best, "method"), ["fp", "sr"]);
    // A step of 1e-5 barely moves the weights in one epoch: 0.003 wins for both.
    assert_eq!(column(&best, "lr"), ["0.003", "0.003"]);
    assert_eq!(column(&best, "candidates"), ["2", "2"]);
    assert!(column(&best, "margin").iter().all(|m| m.parse::<f64>().unwrap() > 0.1), "{best}");
    let summary = std::fs::read_to_string(dir.path().join("results/net/summary.csv")).unwrap();
    let header = summary.lines().next().unwrap();
    assert!(best.lines().next().unwrap().ends_with(header), "best.csv carries the summary columns");
    for (args, needle) in [
        (vec!["--by", "nope"], "--by nope: no configuration here has this measure"),
        (vec!["--within", "colour"], "--within colour: not a parameter column"),
    ] {
        let mut a = vec!["select", "results/net"];
        a.extend(args);
        let o = qnet(&a, dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains(needle), "{}", text(&o.stderr));
    }
}

/// Damaged data is found before anything runs: exit 2, one line naming the file and the
/// fault, no output folder; and sizes beyond the data are errors, not silent clamps.
#[test]
fn data_faults_are_found_in_preflight() {
    use qnet_exp::data::idx::{encode_images, encode_labels};
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("data/mnist");
    std::fs::create_dir_all(&m).unwrap();
    let px = vec![7u8; 40 * 784];
    let labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    let write = |name: &str, bytes: &[u8]| std::fs::write(m.join(name), bytes).unwrap();
    write("train-images-idx3-ubyte", &encode_images(28, 28, &px));
    write("train-labels-idx1-ubyte", &encode_labels(&labels));
    write("t10k-images-idx3-ubyte", &encode_images(28, 28, &px[..20 * 784]));
    write("t10k-labels-idx1-ubyte", &encode_labels(&labels[..20]));
    let base = "name = \"n\"\n[problem]\nkind = \"mlp\"\ndata_dir = \"data\"\nwidth = 8\ndepth = 1\n[quant]\nmethod = \"fp\"\n[optim]\nlr = 0.01\nbatch = 10\n[run]\nepochs = 1\n";
    let run = |cfg: &str| {
        std::fs::write(dir.path().join("n.toml"), cfg).unwrap();
        qnet(&["run", "n.toml", "--progress", "none"], dir.path())
    };
    let o = run(base);
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::remove_dir_all(dir.path().join("results")).unwrap();
    type Case<'a> = (String, &'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            base.replace("batch = 10", "batch = 37"),
            "optim.batch = 37: larger than the 36 training images",
            Box::new(|| {}),
        ),
        (
            base.replace("width = 8", "width = 8\ntrain_size = 41"),
            "problem.train_size = 41: the mnist training set holds only 40",
            Box::new(|| {}),
        ),
        (
            base.replace("width = 8", "width = 8\ntest_size = 21"),
            "problem.test_size = 21: the mnist test set holds only 20",
            Box::new(|| {}),
        ),
        (
            base.to_string(),
            "truncated",
            Box::new(|| write("train-images-idx3-ubyte", &encode_images(28, 28, &px)[..5000])),
        ),
        (base.to_string(), "bad magic number", Box::new(|| write("train-images-idx3-ubyte", &encode_labels(&labels)))),
        (
            base.to_string(),
            "count mismatch",
            Box::new(|| write("train-images-idx3-ubyte", &encode_images(28, 28, &px[..39 * 784]))),
        ),
    ];
    for (cfg, needle, damage) in cases {
        damage();
        let o = run(&cfg);
        assert_eq!(o.status.code(), Some(2), "{needle}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains(needle) && err.lines().count() == 1, "{needle}: {err}");
        assert!(!dir.path().join("results").exists(), "{needle}: nothing written");
    }
}
