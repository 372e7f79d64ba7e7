//! The data loaders on the real files that `scripts/fetch-data.sh` fetches into
//! `$QNET_DATA_DIR` or `data/` (the tests are `#[ignore]`d; CI fetches the data and runs them
//! with `--include-ignored`). The expected values are published facts about the data sets:
//! MNIST's label counts, first labels and mean pixel, Fashion-MNIST's first labels, the
//! first labels of the CIFAR-10 test batch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use qnet_exp::data::dataset::{self, load, standardize, DatasetName, Split};

fn root() -> PathBuf {
    let d = dataset::data_dir(None);
    if d.is_absolute() {
        d
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(d)
    }
}

/// The data folder; every file of `name`'s `split` must be there (raw or .gz).
fn present(name: DatasetName, split: Split) -> PathBuf {
    let dir = root();
    let missing: Vec<PathBuf> = name
        .files(&dir, split)
        .into_iter()
        .filter(|p| !p.is_file() && !PathBuf::from(format!("{}.gz", p.display())).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "{name} {split} not found in {} (missing {}); run scripts/fetch-data.sh",
        dir.display(),
        missing[0].display()
    );
    dir
}

#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn mnist_train_matches_known_facts() {
    let dir = present(DatasetName::Mnist, Split::Train);
    let t = Instant::now();
    let s = load(DatasetName::Mnist, &dir, Split::Train, None).unwrap();
    eprintln!("MNIST train: 60000 x 784 loaded in {:.3} s", t.elapsed().as_secs_f64());
    assert_eq!((s.n, s.features, s.images.len(), s.labels.len()), (60000, 784, 60000 * 784, 60000));
    assert_eq!(s.label_counts(), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(&s.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    let (mean, std) = s.mean_std();
    assert!((mean - 33.32).abs() < 0.01, "mean pixel {mean}");
    // On [0,1]-scaled pixels: the familiar 0.1307 / 0.3081.
    assert!((mean / 255.0 - 0.1307).abs() < 1e-4 && (std / 255.0 - 0.3081).abs() < 1e-4, "{mean} {std}");
    assert!(s.images.iter().all(|&x| (0.0..=255.0).contains(&x)));
}

#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn mnist_test_and_standardize() {
    let dir = present(DatasetName::Mnist, Split::Test);
    present(DatasetName::Mnist, Split::Train);
    let mut test = load(DatasetName::Mnist, &dir, Split::Test, None).unwrap();
    assert_eq!((test.n, test.features), (10000, 784));
    assert_eq!(&test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    // A subset is the first examples of the full set.
    let mut train = load(DatasetName::Mnist, &dir, Split::Train, Some(1000)).unwrap();
    assert_eq!((train.n, train.images.len()), (1000, 1000 * 784));
    assert_eq!(&train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    let err = load(DatasetName::Mnist, &dir, Split::Test, Some(10001)).unwrap_err();
    assert!(err.contains("holds only 10000"), "{err}");
    train.scale_unit();
    test.scale_unit();
    let st = standardize(&mut train, &mut test);
    assert!(st.std > 0.2 && st.std < 0.4, "{st:?}");
    let (m, s) = train.mean_std();
    assert!(m.abs() < 1e-5 && (s - 1.0).abs() < 1e-5, "standardized train: mean {m}, std {s}");
    let (m, s) = test.mean_std();
    assert!(m.abs() < 0.05 && (s - 1.0).abs() < 0.05, "standardized test: mean {m}, std {s}");
}

#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn fashion_mnist_matches_known_facts() {
    let dir = present(DatasetName::FashionMnist, Split::Train);
    let s = load(DatasetName::FashionMnist, &dir, Split::Train, None).unwrap();
    assert_eq!((s.n, s.features), (60000, 784));
    assert_eq!(&s.labels[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(s.label_counts(), [6000; 10]);
    let dir = present(DatasetName::FashionMnist, Split::Test);
    let s = load(DatasetName::FashionMnist, &dir, Split::Test, None).unwrap();
    assert_eq!((s.n, s.label_counts()), (10000, [1000; 10]));
}

/// Labels from the sample's PNG names, `cifar10_NN_L.png`, in NN order.
fn labels_from_png_names(dir: &Path) -> Option<Vec<u8>> {
    let mut named: Vec<(String, u8)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_prefix("cifar10_")?.strip_suffix(".png")?;
            let (nn, l) = stem.split_once('_')?;
            Some((nn.to_string(), l.parse().ok()?))
        })
        .collect();
    named.sort();
    Some(named.into_iter().map(|(_, l)| l).collect())
}

#[test]
#[ignore = "needs scripts/fetch-data.sh"]
fn cifar10_sample_labels_match_png_names() {
    let dir = present(DatasetName::Cifar10, Split::Test);
    let s = load(DatasetName::Cifar10, &dir, Split::Test, None).unwrap();
    assert_eq!((s.n, s.features, s.images.len()), (20, 3072, 20 * 3072));
    let png_dir = dir.join("cifar10").join("sample_png");
    match labels_from_png_names(&png_dir) {
        Some(expected) if expected.len() == 20 => assert_eq!(s.labels, expected, "labels vs PNG names"),
        _ => panic!("no 20 cifar10_NN_L.png in {} (scripts/fetch-data.sh keeps them)", png_dir.display()),
    }
    // The foolbox sample is the head of the real test batch: DATA.md's first 10 labels.
    assert_eq!(&s.labels[..10], &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    // Not a blank or constant image: the planes hold real pixels.
    let (mean, std) = s.mean_std();
    assert!(mean > 50.0 && mean < 200.0 && std > 30.0, "CIFAR sample mean {mean} std {std}");
}

#[test]
fn missing_data_says_how_to_fetch() {
    let d = tempfile::tempdir().unwrap();
    for name in DatasetName::ALL {
        let e = load(name, d.path(), Split::Test, None).unwrap_err();
        eprintln!("{e}");
        assert!(e.contains("not found") && e.contains("scripts/fetch-data.sh"), "{e}");
        assert!(e.contains(&d.path().display().to_string()), "{e}");
    }
}
