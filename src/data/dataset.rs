//! Real image data sets (MNIST, Fashion-MNIST, CIFAR-10) as flat `f32` matrices.
//!
//! Layout under the data folder (what `scripts/fetch-data.sh` writes):
//!
//! ```text
//! DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte           (or the same names + .gz)
//! DIR/fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte   (or the same names + .gz)
//! DIR/cifar10/data_batch_{1..5}.bin, DIR/cifar10/test_batch.bin    (each read from DIR/cifar10/
//!                                                                    cifar-10-batches-bin/ when it is there)
//! ```
//!
//! Only a 20-image sample of the CIFAR-10 test batch is reachable from these machines;
//! the training batches must be put there by hand.
//!
//! [`load`] returns pixels as stored, `0.0..=255.0`; scale them with [`ImageSet::scale_unit`]
//! or standardize them with [`standardize`]. Images are flattened row-major; CIFAR-10 keeps
//! its file order, channel-major (the R plane, then G, then B).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{cifar, idx};

/// The environment variable naming the data folder when the config does not.
pub const DATA_DIR_ENV: &str = "QNET_DATA_DIR";
/// The data folder when neither the config nor the environment names one.
pub const DEFAULT_DATA_DIR: &str = "data";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetName {
    Mnist,
    FashionMnist,
    Cifar10,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl DatasetName {
    pub const ALL: [DatasetName; 3] = [DatasetName::Mnist, DatasetName::FashionMnist, DatasetName::Cifar10];

    /// The name used in configs and as the folder under the data dir: `mnist`, `fashion_mnist`, `cifar10`.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion_mnist",
            DatasetName::Cifar10 => "cifar10",
        }
    }

    /// `[channels, rows, cols]` of one image.
    pub fn shape(self) -> [usize; 3] {
        match self {
            DatasetName::Mnist | DatasetName::FashionMnist => [1, 28, 28],
            DatasetName::Cifar10 => [cifar::CHANNELS, cifar::SIDE, cifar::SIDE],
        }
    }

    /// Values per image (`channels * rows * cols`).
    pub fn features(self) -> usize {
        self.shape().iter().product()
    }

    pub fn num_classes(self) -> usize {
        idx::NUM_CLASSES as usize
    }

    /// The files `load` reads for `split`, in order (the raw IDX names; `.gz` is accepted too).
    pub fn files(self, data_dir: &Path, split: Split) -> Vec<PathBuf> {
        let dir = data_dir.join(self.as_str());
        match self {
            DatasetName::Mnist | DatasetName::FashionMnist => {
                let prefix = match split {
                    Split::Train => "train",
                    Split::Test => "t10k",
                };
                vec![dir.join(format!("{prefix}-images-idx3-ubyte")), dir.join(format!("{prefix}-labels-idx1-ubyte"))]
            }
            DatasetName::Cifar10 => {
                // The official tarball unpacks into cifar-10-batches-bin/: each file is read
                // from there when it is there (the whole data set unpacked beside the
                // fetched 20-image sample, whose test_batch.bin sits at the top), else from
                // the top; a missing file is reported where the top would hold it, unless
                // only the nested folder exists.
                let nested = dir.join("cifar-10-batches-bin");
                let pick = |name: String| {
                    let n = nested.join(&name);
                    if n.is_file()
                        || nested.is_dir() && !dir.join(&name).is_file() && !dir.join("test_batch.bin").is_file()
                    {
                        n
                    } else {
                        dir.join(name)
                    }
                };
                match split {
                    Split::Train => (1..=5).map(|i| pick(format!("data_batch_{i}.bin"))).collect(),
                    Split::Test => vec![pick("test_batch.bin".to_string())],
                }
            }
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = String;

    /// Accepts `mnist`, `fashion_mnist` (also `fashion-mnist`, `fashionmnist`), `cifar10`
    /// (also `cifar-10`, `cifar_10`), in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        let key: String = s.to_ascii_lowercase().chars().filter(|c| *c != '-' && *c != '_').collect();
        match key.as_str() {
            "mnist" => Ok(DatasetName::Mnist),
            "fashionmnist" => Ok(DatasetName::FashionMnist),
            "cifar10" => Ok(DatasetName::Cifar10),
            _ => Err(format!("unknown data set `{s}`; expected one of mnist, fashion_mnist, cifar10")),
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// `n` images of `features` values each, row-major in `images`, and their labels (0..=9).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub n: usize,
    pub features: usize,
}

impl ImageSet {
    /// Image `i` as a slice of `features` values.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.features..(i + 1) * self.features]
    }

    /// Maps pixel values `0..=255` to `[0, 1]` (divides by 255).
    pub fn scale_unit(&mut self) {
        self.images.iter_mut().for_each(|x| *x /= 255.0);
    }

    /// Mean and (population) standard deviation of all values, accumulated in f64.
    pub fn mean_std(&self) -> (f64, f64) {
        let len = self.images.len().max(1) as f64;
        let mean = self.images.iter().map(|&x| x as f64).sum::<f64>() / len;
        let var = self.images.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / len;
        (mean, var.sqrt())
    }

    /// How many examples of each class.
    pub fn label_counts(&self) -> [usize; 10] {
        let mut c = [0; 10];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }

    /// Keeps the first `limit` examples; more than there are is an error.
    pub fn truncate(&mut self, limit: usize) -> Result<(), String> {
        if limit > self.n {
            return Err(format!("asked for the first {limit} examples, but the set holds only {}", self.n));
        }
        self.n = limit;
        self.images.truncate(limit * self.features);
        self.labels.truncate(limit);
        Ok(())
    }
}

/// The scalar shift and scale [`standardize`] applied: `x -> (x - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standardization {
    pub mean: f32,
    pub std: f32,
}

/// Standardizes `train` and `test` with the mean and standard deviation of all training
/// values: one scalar each, not one per feature, as is standard for MNIST (on \[0,1\]-scaled
/// MNIST these are the familiar 0.1307 and 0.3081). Per-feature statistics would divide by
/// zero on MNIST's always-blank border pixels; per-channel CIFAR-10 statistics are not done
/// here. The test set uses the training statistics, so no test information leaks. A constant
/// training set (std 0) is only centred. Works on raw or \[0,1\]-scaled values alike.
pub fn standardize(train: &mut ImageSet, test: &mut ImageSet) -> Standardization {
    let (mean, std) = train.mean_std();
    let s = Standardization { mean: mean as f32, std: if std > 0.0 { std as f32 } else { 1.0 } };
    let inv = 1.0 / s.std;
    for x in train.images.iter_mut().chain(test.images.iter_mut()) {
        *x = (*x - s.mean) * inv;
    }
    s
}

/// The data folder: `config_value` if given, else `$QNET_DATA_DIR` if set and non-empty,
/// else `data` (relative to the working directory).
pub fn data_dir(config_value: Option<&Path>) -> PathBuf {
    if let Some(p) = config_value {
        return p.to_path_buf();
    }
    match std::env::var_os(DATA_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

/// CIFAR-10's training batches are not reachable from the package registries: say so.
fn cifar_train_present(data_dir: &Path, split: Split, files: &[PathBuf]) -> Result<(), String> {
    match files.iter().find(|p| !p.is_file()).filter(|_| split == Split::Train) {
        Some(missing) => Err(format!(
            "{} not found; the CIFAR-10 training batches cannot be fetched from the package \
             registries (`{}` gets only a 20-image test sample); put the official binary batches \
             data_batch_1.bin .. data_batch_5.bin in {}",
            missing.display(),
            idx::FETCH_COMMAND,
            missing.parent().unwrap_or(data_dir).display()
        )),
        None => Ok(()),
    }
}

/// The number of images of `split` of `name` in `data_dir`, with every file checked the
/// way [`load`] checks it (header, size, label range; a gzip file is decompressed once,
/// bounded by its header) but nothing kept: the preflight check of a sweep. Results are
/// remembered per file set, so a sweep of many runs on one data set checks it once.
pub fn inspect(name: DatasetName, data_dir: &Path, split: Split) -> Result<usize, String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Verdicts = HashMap<Vec<PathBuf>, Result<usize, String>>;
    static SEEN: Mutex<Option<Verdicts>> = Mutex::new(None);
    let files = name.files(data_dir, split);
    if let Some(r) = SEEN.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new).get(&files) {
        return r.clone();
    }
    let ctx = |e: String| format!("{name} {split}: {e}");
    let r = match name {
        DatasetName::Mnist | DatasetName::FashionMnist => (|| {
            let dims = idx::inspect(&files[0], idx::IMAGES_MAGIC)?;
            let labels = idx::inspect(&files[1], idx::LABELS_MAGIC)?;
            let [_, rows, cols] = name.shape();
            if (dims[1], dims[2]) != (rows, cols) {
                return Err(format!(
                    "{}: images are {}x{}, expected {rows}x{cols}",
                    files[0].display(),
                    dims[1],
                    dims[2]
                ));
            }
            if dims[0] != labels[0] {
                return Err(format!(
                    "count mismatch: {} holds {} images but {} holds {} labels",
                    files[0].display(),
                    dims[0],
                    files[1].display(),
                    labels[0]
                ));
            }
            Ok(dims[0])
        })(),
        DatasetName::Cifar10 => cifar_train_present(data_dir, split, &files)
            .and_then(|_| files.iter().try_fold(0, |acc, f| cifar::inspect(f).map(|n| acc + n))),
    }
    .map_err(ctx);
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new).insert(files, r.clone());
    r
}

/// Loads `split` of data set `name` from `data_dir` (see the module doc for the layout),
/// keeping the first `limit` examples if given (more than the split holds is an error).
/// Pixel values are as stored, `0.0..=255.0`. Errors name the data set, the file and the
/// problem; a missing file's error names `scripts/fetch-data.sh`.
pub fn load(name: DatasetName, data_dir: &Path, split: Split, limit: Option<usize>) -> Result<ImageSet, String> {
    let ctx = |e: String| format!("{name} {split}: {e}");
    let files = name.files(data_dir, split);
    let (pixels, labels, n) = match name {
        DatasetName::Mnist | DatasetName::FashionMnist => {
            let (imgs, labels) = idx::read_pair(&files[0], &files[1], limit).map_err(ctx)?;
            let [_, rows, cols] = name.shape();
            if (imgs.rows, imgs.cols) != (rows, cols) {
                return Err(ctx(format!(
                    "{}: images are {}x{}, expected {rows}x{cols}",
                    files[0].display(),
                    imgs.rows,
                    imgs.cols
                )));
            }
            (imgs.pixels, labels, imgs.n)
        }
        DatasetName::Cifar10 => {
            cifar_train_present(data_dir, split, &files).map_err(ctx)?;
            let b = cifar::read_batches(&files, limit).map_err(ctx)?;
            (b.pixels, b.labels, b.n)
        }
    };
    let features = name.features();
    debug_assert_eq!(pixels.len(), n * features);
    let images: Vec<f32> = pixels.iter().map(|&b| b as f32).collect();
    Ok(ImageSet { images, labels, n, features })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(images: Vec<f32>, features: usize) -> ImageSet {
        let n = images.len() / features;
        ImageSet { images, labels: vec![0; n], n, features }
    }

    #[test]
    fn names_round_trip() {
        for d in DatasetName::ALL {
            assert_eq!(d.as_str().parse::<DatasetName>().unwrap(), d);
        }
        assert_eq!("Fashion-MNIST".parse::<DatasetName>().unwrap(), DatasetName::FashionMnist);
        assert_eq!("CIFAR-10".parse::<DatasetName>().unwrap(), DatasetName::Cifar10);
        assert!("imagenet".parse::<DatasetName>().unwrap_err().contains("mnist, fashion_mnist, cifar10"));
        assert_eq!(DatasetName::Cifar10.features(), 3072);
    }

    #[test]
    fn scale_and_standardize() {
        let mut a = set(vec![0.0, 255.0, 51.0, 102.0], 2);
        a.scale_unit();
        assert_eq!(a.images, vec![0.0, 1.0, 0.2, 0.4]);
        let mut tr = set(vec![1.0, 3.0, 1.0, 3.0], 2);
        let mut te = set(vec![2.0, 5.0], 2);
        let s = standardize(&mut tr, &mut te);
        assert_eq!(s, Standardization { mean: 2.0, std: 1.0 });
        assert_eq!(tr.images, vec![-1.0, 1.0, -1.0, 1.0]);
        assert_eq!(te.images, vec![0.0, 3.0]);
        let mut c = set(vec![4.0; 4], 2);
        let mut e = set(vec![5.0; 2], 2);
        assert_eq!(standardize(&mut c, &mut e).std, 1.0);
        assert_eq!(e.images, vec![1.0, 1.0]);
    }

    #[test]
    fn truncate_never_silently_short() {
        let mut a = set(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2);
        a.truncate(2).unwrap();
        assert_eq!((a.n, a.images.len(), a.labels.len()), (2, 4, 2));
        assert!(a.truncate(3).is_err());
    }

    /// CIFAR-10's files: each from the official tarball's cifar-10-batches-bin/ when it is
    /// there (even beside a fetched sample at the top), else from the top.
    #[test]
    fn cifar_files_prefer_the_unpacked_data_set() {
        let d = tempfile::tempdir().unwrap();
        let (top, nested) = (d.path().join("cifar10"), d.path().join("cifar10/cifar-10-batches-bin"));
        std::fs::create_dir_all(&nested).unwrap();
        let files = |split| DatasetName::Cifar10.files(d.path(), split);
        // Only a nested folder: it is the one.
        assert_eq!(files(Split::Test), [nested.join("test_batch.bin")]);
        // The fetched sample at the top, an empty nested folder: the top.
        std::fs::write(top.join("test_batch.bin"), b"").unwrap();
        assert_eq!(files(Split::Test), [top.join("test_batch.bin")]);
        assert_eq!(files(Split::Train)[4], top.join("data_batch_5.bin"));
        // Training batches unpacked beside the sample: each file where it is.
        std::fs::write(nested.join("data_batch_1.bin"), b"").unwrap();
        assert_eq!(files(Split::Train)[0], nested.join("data_batch_1.bin"));
        assert_eq!(files(Split::Train)[1], top.join("data_batch_2.bin"));
        assert_eq!(files(Split::Test), [top.join("test_batch.bin")]);
        // The whole tarball: its test batch too.
        std::fs::write(nested.join("test_batch.bin"), b"").unwrap();
        assert_eq!(files(Split::Test), [nested.join("test_batch.bin")]);
    }

    #[test]
    fn data_dir_prefers_config() {
        assert_eq!(data_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
    }

    #[test]
    fn load_from_written_files() {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("mnist");
        std::fs::create_dir_all(&m).unwrap();
        let px: Vec<u8> = (0..3 * 784).map(|i| (i % 256) as u8).collect();
        std::fs::write(m.join("t10k-images-idx3-ubyte"), idx::encode_images(28, 28, &px)).unwrap();
        std::fs::write(m.join("t10k-labels-idx1-ubyte"), idx::encode_labels(&[7, 2, 1])).unwrap();
        let s = load(DatasetName::Mnist, d.path(), Split::Test, Some(2)).unwrap();
        assert_eq!((s.n, s.features, &s.labels[..]), (2, 784, &[7u8, 2][..]));
        assert_eq!(s.image(1)[0], (784 % 256) as f32);
        let e = load(DatasetName::Mnist, d.path(), Split::Train, None).unwrap_err();
        assert!(e.starts_with("mnist train: ") && e.contains("scripts/fetch-data.sh"), "{e}");
        let e = load(DatasetName::Cifar10, d.path(), Split::Train, None).unwrap_err();
        assert!(e.contains("data_batch_1.bin") && e.contains("cannot be fetched"), "{e}");
        // Wrong image size for the data set.
        let f = d.path().join("fashion_mnist");
        std::fs::create_dir_all(&f).unwrap();
        std::fs::write(f.join("t10k-images-idx3-ubyte"), idx::encode_images(2, 2, &[0; 4])).unwrap();
        std::fs::write(f.join("t10k-labels-idx1-ubyte"), idx::encode_labels(&[0])).unwrap();
        let e = load(DatasetName::FashionMnist, d.path(), Split::Test, None).unwrap_err();
        assert!(e.contains("images are 2x2, expected 28x28"), "{e}");
    }
}
