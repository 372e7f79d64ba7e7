//! Writes the seed corpora of the fuzz targets into `<dir>/<target>/` (scripts/fuzz.sh
//! runs it): the repository's configs, and tiny valid IDX and CIFAR-10 files made with
//! the crate's own encoders, with the headers each target reads first.
//!
//! Usage: cargo run --manifest-path fuzz/Cargo.toml --example seeds -- <dir> <repo root>

use std::path::{Path, PathBuf};

use qnet_exp::data::{cifar, idx};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("seed dir");
    std::fs::write(d.join(name), bytes).expect("write seed");
}

/// The repository's configs: configs/*.toml and experiments/*/*.toml.
fn configs(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("configs")];
    if let Ok(rd) = std::fs::read_dir(root.join("experiments")) {
        dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut files: Vec<PathBuf> =
            rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
        files.sort();
        for f in files {
            let name = f.strip_prefix(root).unwrap_or(&f).display().to_string().replace('/', "_");
            out.push((name, std::fs::read_to_string(&f).expect("read config")));
        }
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: seeds <dir> <repo root>"));
    let root = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));

    for (name, text) in configs(&root) {
        write(&dir, "config_text", &name, text.as_bytes());
    }
    // Overrides: base config index, then one override per line.
    for (i, text) in [
        "quant.method=sr",
        "~quant.delta\nquant.grid=binary",
        "optim.lr=[0.1, 0.2]\nrun.seeds=3",
        "problem.kind=toy\n~problem.dim",
        "quant.method=[\"sr\", \"bc\"]\nquant.rounding=stochastic",
        "problem.arch=conv5-8 pool fc10\nproblem.dataset=cifar10",
        "run.seed_index=1\noptim.schedule=inv_t",
    ]
    .iter()
    .enumerate()
    {
        let mut bytes = vec![i as u8 % 3];
        bytes.extend_from_slice(text.as_bytes());
        write(&dir, "config_overrides", &format!("seed{i}"), &bytes);
    }
    // config_structured reads raw bytes through `arbitrary`: a few byte patterns.
    for (i, b) in [vec![0u8; 64], vec![0xff; 64], (0..=255u8).collect::<Vec<_>>()].iter().enumerate() {
        write(&dir, "config_structured", &format!("seed{i}"), b);
    }

    // IDX: header bytes (flags, limit, split, magic), then the file(s).
    let px: Vec<u8> = (0..24u8).map(|i| i * 9).collect();
    let images = idx::encode_images(3, 2, &px); // 4 images of 3 x 2
    let labels = idx::encode_labels(&[3, 1, 4, 1]);
    let idx_seed = |flags: u8, limit: u16, split: u16, magic: u32, body: &[u8]| {
        let mut v = vec![flags];
        v.extend_from_slice(&limit.to_be_bytes());
        v.extend_from_slice(&split.to_be_bytes());
        v.extend_from_slice(&magic.to_be_bytes());
        v.extend_from_slice(body);
        v
    };
    let pair = [images.clone(), labels.clone()].concat();
    let gz_images = qnet_exp_fuzz::gz(&images);
    let seeds = [
        ("images", idx_seed(0, 0, 0, 0, &images)),
        ("images_limit", idx_seed(0, 2, 0, 0, &images)),
        ("images_gz", idx_seed(0x08, 0, 0, 0, &images)),
        ("images_gz_content", idx_seed(0, 0, 0, 0, &gz_images)),
        ("images_gz_name", idx_seed(0x28, 0, 0, 0, &images)),
        ("labels", idx_seed(1, 0, 0, 0, &labels)),
        ("labels_gz", idx_seed(0x09, 3, 0, 0, &labels)),
        ("pair", idx_seed(2, 0, images.len() as u16, 0, &pair)),
        ("pair_gz", idx_seed(0x1a, 1, images.len() as u16, 0, &pair)),
        ("inspect_images", idx_seed(4, 0, 0, 0, &images)),
        ("inspect_images_gz", idx_seed(0x0c, 0, 0, 0, &images)),
        ("inspect_labels", idx_seed(5, 0, 0, 0, &labels)),
        ("inspect_magic", idx_seed(6, 0, 0, idx::IMAGES_MAGIC, &images)),
        ("missing", idx_seed(7, 0, 0, idx::LABELS_MAGIC, &[])),
    ];
    for (name, bytes) in seeds {
        write(&dir, "idx", name, &bytes);
    }

    // CIFAR-10: flags, limit, two split points, then records.
    let lb = [3u8, 7];
    let cpx: Vec<u8> = (0..2 * cifar::IMAGE_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    let two = cifar::encode(&lb, &cpx);
    let one = cifar::encode(&lb[..1], &cpx[..cifar::IMAGE_BYTES]);
    let cifar_seed = |flags: u8, limit: u16, s1: u16, s2: u16, body: &[u8]| {
        let mut v = vec![flags];
        for x in [limit, s1, s2] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    };
    let rec = cifar::RECORD_BYTES as u16;
    let seeds = [
        ("one", cifar_seed(0, 0, 0, 0, &one)),
        ("two_limit", cifar_seed(0, 1, 0, 0, &two)),
        ("two_gz", cifar_seed(0x04, 0, 0, 0, &two)),
        ("gz_content", cifar_seed(0, 0, 0, 0, &qnet_exp_fuzz::gz(&one))),
        ("batches", cifar_seed(1, 0, rec, 0, &two)),
        ("batches_gz", cifar_seed(0x1d, 2, rec, rec, &two)),
        ("batches_missing_last", cifar_seed(2, 1, rec, rec, &two)),
        ("batches_missing_first", cifar_seed(3, 0, rec, 0, &two)),
    ];
    for (name, bytes) in seeds {
        write(&dir, "cifar", name, &bytes);
    }
}
