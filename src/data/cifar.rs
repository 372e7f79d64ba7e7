//! Reader for the CIFAR-10 binary format.
//!
//! A batch file is a sequence of 3073-byte records: the label (`u8`, 0..=9), then the red,
//! green and blue planes of a 32 x 32 image, each row-major (1024 bytes per plane). There is
//! no header: the record count is the file size / 3073, and a size that is not a multiple of
//! 3073 is an error naming the file. The official files are `data_batch_1.bin` ..
//! `data_batch_5.bin` (10 000 records each) and `test_batch.bin`.

use std::path::{Path, PathBuf};

use super::idx::{check_labels, check_limit, not_found, read_bytes};

/// Side of a CIFAR-10 image.
pub const SIDE: usize = 32;
/// Colour planes per image (R, G, B).
pub const CHANNELS: usize = 3;
/// Pixel bytes per image: 3 planes of 32 x 32.
pub const IMAGE_BYTES: usize = CHANNELS * SIDE * SIDE;
/// Bytes per record: the label, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;

/// Images and labels of one or more batch files. `pixels` holds `n` images of
/// [`IMAGE_BYTES`] each, in the file's order: the R plane, then G, then B (channel-major).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CifarBatch {
    pub n: usize,
    pub labels: Vec<u8>,
    pub pixels: Vec<u8>,
}

/// Reads one CIFAR-10 binary batch file; keeps the first `limit` records if given.
pub fn read_batch(path: &Path, limit: Option<usize>) -> Result<CifarBatch, String> {
    if !path.is_file() {
        return Err(not_found(path, &[path.to_path_buf()]));
    }
    let bytes = read_bytes(path)?;
    let p = path.display();
    if bytes.is_empty() {
        return Err(format!("{p}: empty file, expected 3073-byte CIFAR-10 records"));
    }
    if bytes.len() % RECORD_BYTES != 0 {
        return Err(format!(
            "{p}: size {} bytes is not a multiple of the 3073-byte CIFAR-10 record \
             ({} whole records and {} bytes left over); the file is truncated or not a CIFAR-10 binary batch",
            bytes.len(),
            bytes.len() / RECORD_BYTES,
            bytes.len() % RECORD_BYTES
        ));
    }
    let n = bytes.len() / RECORD_BYTES;
    let labels: Vec<u8> = bytes.chunks_exact(RECORD_BYTES).map(|r| r[0]).collect();
    check_labels(path, &labels)?;
    let keep = check_limit(path, n, limit)?;
    let mut pixels = Vec::with_capacity(keep * IMAGE_BYTES);
    for r in bytes.chunks_exact(RECORD_BYTES).take(keep) {
        pixels.extend_from_slice(&r[1..]);
    }
    let mut labels = labels;
    labels.truncate(keep);
    Ok(CifarBatch { n: keep, labels, pixels })
}

/// The number of records of a batch file, checked like [`read_batch`] checks it (size a
/// multiple of 3073, labels 0..=9) without keeping the images.
pub fn inspect(path: &Path) -> Result<usize, String> {
    Ok(read_batch(path, None)?.n)
}

/// Reads batch files in order and concatenates them; keeps the first `limit` records of the
/// whole if given (files past the limit are not read). Asking for more records than the files
/// hold is an error.
pub fn read_batches(paths: &[PathBuf], limit: Option<usize>) -> Result<CifarBatch, String> {
    let mut all = CifarBatch { n: 0, labels: Vec::new(), pixels: Vec::new() };
    for path in paths {
        if limit.is_some_and(|l| all.n >= l) {
            break;
        }
        let b = read_batch(path, None)?;
        all.n += b.n;
        all.labels.extend_from_slice(&b.labels);
        all.pixels.extend_from_slice(&b.pixels);
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let keep = check_limit(Path::new(&names.join(" + ")), all.n, limit)?;
    all.n = keep;
    all.labels.truncate(keep);
    all.pixels.truncate(keep * IMAGE_BYTES);
    Ok(all)
}

/// Encodes labels and channel-major images as CIFAR-10 binary records; for tests and tools.
pub fn encode(labels: &[u8], pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * RECORD_BYTES);
    for (l, img) in labels.iter().zip(pixels.chunks_exact(IMAGE_BYTES)) {
        out.push(*l);
        out.extend_from_slice(img);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> (Vec<u8>, Vec<u8>) {
        let labels = (0..n).map(|i| (i * 3 % 10) as u8).collect();
        let pixels = (0..n * IMAGE_BYTES).map(|i| (i * 31 % 251) as u8).collect();
        (labels, pixels)
    }

    #[test]
    fn round_trip_and_limit() {
        let d = tempfile::tempdir().unwrap();
        let (lb, px) = sample(4);
        let p = d.path().join("test_batch.bin");
        std::fs::write(&p, encode(&lb, &px)).unwrap();
        let b = read_batch(&p, None).unwrap();
        assert_eq!(b, CifarBatch { n: 4, labels: lb.clone(), pixels: px.clone() });
        let b = read_batch(&p, Some(3)).unwrap();
        assert_eq!((b.n, &b.labels[..], &b.pixels[..]), (3, &lb[..3], &px[..3 * IMAGE_BYTES]));
        assert!(read_batch(&p, Some(5)).unwrap_err().contains("holds only 4"));
    }

    #[test]
    fn several_batches_concatenate() {
        let d = tempfile::tempdir().unwrap();
        let (lb, px) = sample(5);
        let a = d.path().join("data_batch_1.bin");
        let b = d.path().join("data_batch_2.bin");
        std::fs::write(&a, encode(&lb[..2], &px[..2 * IMAGE_BYTES])).unwrap();
        std::fs::write(&b, encode(&lb[2..], &px[2 * IMAGE_BYTES..])).unwrap();
        let all = read_batches(&[a.clone(), b.clone()], None).unwrap();
        assert_eq!((all.n, all.labels, all.pixels), (5, lb.clone(), px.clone()));
        let first = read_batches(&[a.clone(), d.path().join("missing.bin")], Some(2)).unwrap();
        assert_eq!(first.labels, &lb[..2]);
        assert!(read_batches(&[a, b], Some(6)).unwrap_err().contains("holds only 5"));
    }

    #[test]
    fn bad_size_bad_label_missing_and_empty() {
        let d = tempfile::tempdir().unwrap();
        let (lb, px) = sample(2);
        let mut bytes = encode(&lb, &px);
        bytes.pop();
        let p = d.path().join("cut.bin");
        std::fs::write(&p, &bytes).unwrap();
        let e = read_batch(&p, None).unwrap_err();
        assert!(e.contains("cut.bin") && e.contains("6145 bytes") && e.contains("not a multiple of"), "{e}");

        let mut bytes = encode(&lb, &px);
        bytes[RECORD_BYTES] = 10;
        std::fs::write(&p, &bytes).unwrap();
        assert!(read_batch(&p, None).unwrap_err().contains("label 10 at index 1"));

        let e = read_batch(&d.path().join("test_batch.bin"), None).unwrap_err();
        assert!(e.contains("not found") && e.contains("scripts/fetch-data.sh"), "{e}");

        std::fs::write(&p, []).unwrap();
        assert!(read_batch(&p, None).unwrap_err().contains("empty"));
    }
}
