//! Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is big-endian: a magic number (2051 for `u8` images, 2049 for `u8` labels),
//! one `u32` per dimension (`n, rows, cols` for images, `n` for labels), then the `u8` data.
//! Compression is recognised from the content (the gzip signature `1f 8b`), whatever the
//! name; a path that does not exist is also looked for with `.gz` appended.
//!
//! Every error names the file and says what is wrong (missing, bad magic, truncated with
//! the expected and actual sizes, trailing bytes, images/labels count mismatch, a label out
//! of range). Nothing here panics on bad input, and a short file is an error, never a short
//! data set.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// Magic number of an IDX file of `u8` images (`n, rows, cols`).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of `u8` labels (`n`).
pub const LABELS_MAGIC: u32 = 2049;
/// Labels must be below this (all the data sets read here have 10 classes).
pub const NUM_CLASSES: u8 = 10;

/// The command that fetches the real data sets, named in every "not found" message.
pub const FETCH_COMMAND: &str = "scripts/fetch-data.sh";

/// The images of an IDX file: `pixels` holds `n` images of `rows x cols` bytes, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// The "not found" message for `path`, listing every place looked at.
pub(crate) fn not_found(what: &Path, looked: &[PathBuf]) -> String {
    let places: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    format!(
        "{}: file not found (looked for {}); run `{FETCH_COMMAND}` to fetch MNIST, Fashion-MNIST and the \
         CIFAR-10 sample into data/, or set problem.data_dir (or QNET_DATA_DIR, which a config's \
         problem.data_dir overrides) to the folder that holds them",
        what.display(),
        places.join(" and ")
    )
}

/// Finds `path`, else `path.gz`. The error names both places and the fetch command.
pub fn locate(path: &Path) -> Result<PathBuf, String> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let mut looked = vec![path.to_path_buf()];
    if path.extension().is_none_or(|e| e != "gz") {
        let mut gz = path.as_os_str().to_owned();
        gz.push(".gz");
        let gz = PathBuf::from(gz);
        if gz.is_file() {
            return Ok(gz);
        }
        looked.push(gz);
    }
    Err(not_found(path, &looked))
}

/// Decompressed bytes read from a gzip file that has no IDX header: above this, the file is
/// refused (a "gzip bomb" must not exhaust the memory; real data sets are far smaller).
pub const MAX_GUNZIPPED: u64 = 1 << 30;

/// The whole content of `path` (already located), gunzipped if it starts with the gzip
/// signature. Decompression stops one byte past the size an IDX header declares (the
/// parser then reports the excess), or one byte past [`MAX_GUNZIPPED`] for other content
/// (which is then refused).
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    let io_err = |e: std::io::Error| match e.kind() {
        ErrorKind::NotFound => not_found(path, &[path.to_path_buf()]),
        _ => format!("{}: cannot read: {e}", path.display()),
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut bytes = Vec::with_capacity(file.metadata().map(|m| m.len() as usize).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(io_err)?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let gz_err = |e: std::io::Error| format!("{}: corrupt or truncated gzip data: {e}", path.display());
    let mut dec = MultiGzDecoder::new(&bytes[..]);
    let mut out = Vec::new();
    (&mut dec).take(16).read_to_end(&mut out).map_err(gz_err)?;
    let cap = declared_len(&out).map_or(MAX_GUNZIPPED + 1, |n| n.saturating_add(1)).min(MAX_GUNZIPPED + 1);
    // Grow the buffer by at most its size and never past `cap` (`read_to_end` alone grows
    // it by half or more when full, so a stream just over the cap asked for far more).
    while (out.len() as u64) < cap {
        let step = (out.len().max(1 << 16) as u64).min(cap - out.len() as u64);
        out.reserve_exact(step as usize);
        if ((&mut dec).take(step).read_to_end(&mut out).map_err(gz_err)? as u64) < step {
            break;
        }
    }
    if out.len() as u64 > MAX_GUNZIPPED {
        return Err(format!(
            "{}: decompresses to more than {} MiB; not a data set this tool reads",
            path.display(),
            MAX_GUNZIPPED >> 20
        ));
    }
    Ok(out)
}

/// The total size an IDX header at the start of `head` declares, if it is one.
fn declared_len(head: &[u8]) -> Option<u64> {
    let ndims = match head.get(..4).map(|_| be_u32(head, 0))? {
        IMAGES_MAGIC => 3,
        LABELS_MAGIC => 1,
        _ => return None,
    };
    let header = 4 + 4 * ndims;
    if head.len() < header {
        return None;
    }
    let body = (0..ndims).try_fold(1u64, |acc, i| acc.checked_mul(be_u32(head, 4 + 4 * i) as u64))?;
    body.checked_add(header as u64)
}

/// Check an IDX file without keeping its data: magic, header, size (a gzip file is
/// decompressed once, bounded as in reading), and for labels their range. Returns the
/// dimensions. Cheap enough for a preflight check of every run.
pub fn inspect(path: &Path, magic: u32) -> Result<Vec<usize>, String> {
    let path = locate(path)?;
    let raw = std::fs::metadata(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut sig = [0u8; 2];
    let gz = File::open(&path).and_then(|mut f| f.read_exact(&mut sig)).is_ok() && sig == [0x1f, 0x8b];
    if gz || magic == LABELS_MAGIC {
        // Labels are small, and their values must be checked; gzip has no size up front.
        let bytes = read_bytes(&path)?;
        let dims = parse(&path, &bytes, magic)?;
        if magic == LABELS_MAGIC {
            check_labels(&path, &bytes[8..])?;
        }
        return Ok(dims);
    }
    let ndims = (magic & 0xff) as usize;
    let mut head = vec![0u8; 4 + 4 * ndims];
    let got = {
        let mut f = File::open(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
            }
        }
        n
    };
    head.truncate(got);
    // The size is checked against the file's length without reading the body.
    parse_header(&path, &head, raw.len(), magic)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn kind(magic: u32) -> &'static str {
    match magic {
        IMAGES_MAGIC => "an images file",
        LABELS_MAGIC => "a labels file",
        _ => "an unknown kind",
    }
}

/// Checks the header and the size of an IDX byte buffer; returns the dimensions.
/// `expected` is the magic number, whose low byte is the number of dimensions.
fn parse(path: &Path, bytes: &[u8], expected: u32) -> Result<Vec<usize>, String> {
    let header = 4 + 4 * (expected & 0xff) as usize;
    parse_header(path, &bytes[..bytes.len().min(header)], bytes.len() as u64, expected)
}

/// [`parse`] from the first bytes of a file and its total length.
fn parse_header(path: &Path, bytes: &[u8], total: u64, expected: u32) -> Result<Vec<usize>, String> {
    let p = path.display();
    let ndims = (expected & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(format!(
            "{p}: truncated: {} bytes, too short for an IDX header (expected at least {header} bytes)",
            bytes.len()
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != expected {
        let hint = match magic {
            IMAGES_MAGIC | LABELS_MAGIC => format!("this is {} (magic {magic})", kind(magic)),
            _ => "not an IDX file".to_string(),
        };
        return Err(format!(
            "{p}: bad magic number {magic} (0x{magic:08x}), expected {expected} for {}; {hint}",
            kind(expected)
        ));
    }
    if bytes.len() < header {
        return Err(format!("{p}: truncated: expected a {header}-byte header, found only {} bytes", total));
    }
    let dims: Vec<usize> = (0..ndims).map(|i| be_u32(bytes, 4 + 4 * i) as usize).collect();
    let shape = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" x ");
    if let Some(i) = dims.iter().position(|&d| d == 0) {
        let names = ["n", "rows", "cols"];
        return Err(format!("{p}: the header says {} = 0 ({shape}): no data", names[i.min(2)]));
    }
    let expected_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|body| body.checked_add(header))
        .ok_or_else(|| format!("{p}: the header claims an impossible size ({shape})"))?;
    let actual = total as usize;
    if actual < expected_len {
        return Err(format!(
            "{p}: truncated: expected {expected_len} bytes ({header}-byte header + {shape}), \
             found {actual} ({} missing)",
            expected_len - actual
        ));
    }
    if actual > expected_len {
        return Err(format!(
            "{p}: {} bytes longer than its header says: expected {expected_len} bytes \
             ({header}-byte header + {shape}), found {actual}",
            actual - expected_len
        ));
    }
    Ok(dims)
}

/// How many of `n` examples to keep: all, or the first `limit`; asking for more than
/// there are (or for none) is an error, so a data set is never silently short.
pub(crate) fn check_limit(path: &Path, n: usize, limit: Option<usize>) -> Result<usize, String> {
    match limit {
        None => Ok(n),
        Some(0) => Err(format!("{}: asked for 0 examples; the limit must be at least 1", path.display())),
        Some(l) if l > n => {
            Err(format!("{}: asked for the first {l} examples, but the file holds only {n}", path.display()))
        }
        Some(l) => Ok(l),
    }
}

/// Checks that every label is below [`NUM_CLASSES`].
pub(crate) fn check_labels(path: &Path, labels: &[u8]) -> Result<(), String> {
    match labels.iter().position(|&l| l >= NUM_CLASSES) {
        Some(i) => Err(format!(
            "{}: label {} at index {i} is out of range (expected 0..={})",
            path.display(),
            labels[i],
            NUM_CLASSES - 1
        )),
        None => Ok(()),
    }
}

/// Reads an IDX images file (magic 2051), raw or gzip; keeps the first `limit` images if given.
/// `path` may also name the file without its `.gz`.
pub fn read_images(path: &Path, limit: Option<usize>) -> Result<IdxImages, String> {
    let path = locate(path)?;
    let mut bytes = read_bytes(&path)?;
    let dims = parse(&path, &bytes, IMAGES_MAGIC)?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    let keep = check_limit(&path, n, limit)?;
    bytes.truncate(16 + keep * rows * cols);
    bytes.drain(..16);
    Ok(IdxImages { n: keep, rows, cols, pixels: bytes })
}

/// Reads an IDX labels file (magic 2049), raw or gzip; keeps the first `limit` labels if given.
/// Every label (of the whole file) must be below 10.
pub fn read_labels(path: &Path, limit: Option<usize>) -> Result<Vec<u8>, String> {
    let path = locate(path)?;
    let mut bytes = read_bytes(&path)?;
    let dims = parse(&path, &bytes, LABELS_MAGIC)?;
    let keep = check_limit(&path, dims[0], limit)?;
    bytes.drain(..8);
    check_labels(&path, &bytes)?;
    bytes.truncate(keep);
    Ok(bytes)
}

/// Reads an images file and its labels file, checks that they hold the same number of
/// examples, and keeps the first `limit` of each if given.
pub fn read_pair(images: &Path, labels: &Path, limit: Option<usize>) -> Result<(IdxImages, Vec<u8>), String> {
    let (ip, lp) = (locate(images)?, locate(labels)?);
    let mut imgs = read_images(&ip, None)?;
    let mut labs = read_labels(&lp, None)?;
    if imgs.n != labs.len() {
        return Err(format!(
            "count mismatch: {} holds {} images but {} holds {} labels",
            ip.display(),
            imgs.n,
            lp.display(),
            labs.len()
        ));
    }
    let keep = check_limit(&ip, imgs.n, limit)?;
    imgs.pixels.truncate(keep * imgs.rows * imgs.cols);
    imgs.n = keep;
    labs.truncate(keep);
    Ok((imgs, labs))
}

/// Writes `images` (n x rows x cols bytes) as an IDX images file; for tests and tools.
pub fn encode_images(rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let n = pixels.len().checked_div(rows * cols).unwrap_or(0);
    let mut out = Vec::with_capacity(16 + pixels.len());
    for v in [IMAGES_MAGIC, n as u32, rows as u32, cols as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Writes `labels` as an IDX labels file; for tests and tools.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// 5 images of 3 x 2 with distinct pixels, and their labels.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        ((0..30u8).map(|i| i * 7).collect(), vec![3, 1, 4, 1, 5])
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn round_trip_raw() {
        let d = tempfile::tempdir().unwrap();
        let (px, lb) = sample();
        let ip = write(d.path(), "i", &encode_images(3, 2, &px));
        let lp = write(d.path(), "l", &encode_labels(&lb));
        let (imgs, labs) = read_pair(&ip, &lp, None).unwrap();
        assert_eq!(imgs, IdxImages { n: 5, rows: 3, cols: 2, pixels: px.clone() });
        assert_eq!(labs, lb);
        let (imgs, labs) = read_pair(&ip, &lp, Some(2)).unwrap();
        assert_eq!((imgs.n, &imgs.pixels[..], &labs[..]), (2, &px[..12], &lb[..2]));
    }

    #[test]
    fn round_trip_gz_by_name_and_by_content() {
        let d = tempfile::tempdir().unwrap();
        let (px, lb) = sample();
        write(d.path(), "i.gz", &gz(&encode_images(3, 2, &px)));
        write(d.path(), "l.gz", &gz(&encode_labels(&lb)));
        // Asked for without .gz: found as .gz.
        let (imgs, labs) = read_pair(&d.path().join("i"), &d.path().join("l"), None).unwrap();
        assert_eq!((imgs.pixels, labs), (px.clone(), lb.clone()));
        // Gzip content under a raw name is recognised too.
        let p = write(d.path(), "raw-name", &gz(&encode_labels(&lb)));
        assert_eq!(read_labels(&p, Some(3)).unwrap(), &lb[..3]);
    }

    #[test]
    fn missing_file_names_places_and_command() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("train-images-idx3-ubyte");
        let e = read_images(&p, None).unwrap_err();
        assert!(e.contains("not found"), "{e}");
        assert!(e.contains(&p.display().to_string()), "{e}");
        assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
        assert!(e.contains("scripts/fetch-data.sh"), "{e}");
        // The config key first: it overrides the environment variable.
        assert!(e.contains("set problem.data_dir (or QNET_DATA_DIR"), "{e}");
    }

    #[test]
    fn bad_magic() {
        let d = tempfile::tempdir().unwrap();
        let (px, lb) = sample();
        let lp = write(d.path(), "l", &encode_labels(&lb));
        let e = read_images(&lp, None).unwrap_err();
        assert!(e.contains("bad magic number 2049") && e.contains("expected 2051"), "{e}");
        assert!(e.contains("labels file") && e.contains(&lp.display().to_string()), "{e}");
        let mut junk = encode_images(3, 2, &px);
        junk[2] = 0x42;
        let jp = write(d.path(), "j", &junk);
        let e = read_images(&jp, None).unwrap_err();
        assert!(e.contains("bad magic") && e.contains("not an IDX file"), "{e}");
        let tiny = write(d.path(), "t", &[0, 0]);
        assert!(read_labels(&tiny, None).unwrap_err().contains("truncated"));
    }

    #[test]
    fn truncated_says_expected_and_found() {
        let d = tempfile::tempdir().unwrap();
        let (px, lb) = sample();
        let full = encode_images(3, 2, &px);
        let p = write(d.path(), "i", &full[..full.len() - 4]);
        let e = read_images(&p, None).unwrap_err();
        assert!(e.contains("truncated") && e.contains("expected 46 bytes") && e.contains("found 42"), "{e}");
        // Even when only the first image is asked for.
        assert!(read_images(&p, Some(1)).unwrap_err().contains("truncated"));
        // Truncated header.
        let p = write(d.path(), "h", &full[..10]);
        assert!(read_images(&p, None).unwrap_err().contains("16-byte header"));
        // Truncated gzip stream.
        let z = gz(&encode_labels(&lb));
        let p = write(d.path(), "l.gz", &z[..z.len() / 2]);
        let e = read_labels(&p, None).unwrap_err();
        assert!(e.contains("gzip") && e.contains("l.gz"), "{e}");
        // Trailing bytes are an error too.
        let mut long = encode_labels(&lb);
        long.push(0);
        let p = write(d.path(), "long", &long);
        assert!(read_labels(&p, None).unwrap_err().contains("1 bytes longer"));
    }

    #[test]
    fn count_mismatch_bad_label_and_limits() {
        let d = tempfile::tempdir().unwrap();
        let (px, lb) = sample();
        let ip = write(d.path(), "i", &encode_images(3, 2, &px));
        let lp = write(d.path(), "l", &encode_labels(&lb[..4]));
        let e = read_pair(&ip, &lp, None).unwrap_err();
        assert!(e.contains("count mismatch") && e.contains("5 images") && e.contains("4 labels"), "{e}");
        let bad = write(d.path(), "b", &encode_labels(&[1, 2, 10]));
        let e = read_labels(&bad, None).unwrap_err();
        assert!(e.contains("label 10 at index 2"), "{e}");
        let lp = write(d.path(), "l5", &encode_labels(&lb));
        assert!(read_pair(&ip, &lp, Some(6)).unwrap_err().contains("holds only 5"));
        assert!(read_pair(&ip, &lp, Some(0)).is_err());
        let empty = write(d.path(), "e", &encode_labels(&[]));
        assert!(read_labels(&empty, None).unwrap_err().contains("n = 0"));
    }
}
