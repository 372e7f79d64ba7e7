//! The IDX reader (`data::idx`): `read_images`, `read_labels`, `read_pair` and `inspect`
//! on the fuzz input written to temporary files, raw or gzip-wrapped.
//!
//! Input: byte 0 picks the call and the wrapping, bytes 1-2 the limit (0: none), bytes 3-4
//! where a pair is split into its images and labels files, bytes 5-8 `inspect`'s magic
//! number (for the call that takes any magic); the rest is the file content. Content
//! that itself starts with the gzip signature is read as gzip, so the fuzzer also mutates
//! gzip streams directly.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qnet_exp::data::idx;
use qnet_exp_fuzz::{clear, put, scratch_dir, split_at};

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let dir = DIR.get_or_init(scratch_dir);
    let (flags, limit) = (data[0], u16::from_be_bytes([data[1], data[2]]));
    let split = u16::from_be_bytes([data[3], data[4]]);
    let magic = u32::from_be_bytes([data[5], data[6], data[7], data[8]]);
    let body = &data[9..];
    let limit = (limit != 0).then_some(limit as usize);
    let (gz_a, gz_b) = (flags & 0x08 != 0, flags & 0x10 != 0);
    // Bit 5: write `a.gz` and ask for `a` (the reader's fallback to the .gz name).
    let name = |n: &str, gz: bool| if gz && flags & 0x20 != 0 { format!("{n}.gz") } else { n.to_string() };
    clear(dir, "a");
    clear(dir, "b");
    let a = dir.join("a");
    let b = dir.join("b");
    match flags % 8 {
        0 => {
            put(dir, &name("a", gz_a), body, gz_a);
            check(idx::read_images(&a, limit).map(|i| assert_eq!(i.pixels.len(), i.n * i.rows * i.cols)));
        }
        1 => {
            put(dir, &name("a", gz_a), body, gz_a);
            check(idx::read_labels(&a, limit).map(|l| assert!(l.iter().all(|&x| x < idx::NUM_CLASSES))));
        }
        2 | 3 => {
            let (ib, lb) = split_at(body, split);
            put(dir, &name("a", gz_a), ib, gz_a);
            put(dir, &name("b", gz_b), lb, gz_b);
            check(idx::read_pair(&a, &b, limit).map(|(i, l)| assert_eq!(i.n, l.len())));
        }
        4 => {
            put(dir, &name("a", gz_a), body, gz_a);
            inspect_agrees(&a, idx::IMAGES_MAGIC, limit);
        }
        5 => {
            put(dir, &name("a", gz_a), body, gz_a);
            inspect_agrees(&a, idx::LABELS_MAGIC, limit);
        }
        6 => {
            put(dir, &name("a", gz_a), body, gz_a);
            check(idx::inspect(&a, magic));
        }
        _ => {
            // A missing file, and a folder where a file is expected.
            check(idx::read_images(&b, limit));
            std::fs::create_dir_all(&a).unwrap();
            check(idx::read_labels(&a, limit));
            check(idx::inspect(&a, magic));
            std::fs::remove_dir(&a).unwrap();
        }
    }
});

/// An error is a one-line message naming what is wrong; nothing else is checked here.
fn check<T>(r: Result<T, String>) {
    if let Err(e) = r {
        assert!(!e.is_empty());
    }
}

/// `inspect` accepts exactly the files that reading accepts, with the same dimensions.
fn inspect_agrees(path: &Path, magic: u32, limit: Option<usize>) {
    let seen = idx::inspect(path, magic);
    let read = if magic == idx::IMAGES_MAGIC {
        idx::read_images(path, None).map(|i| vec![i.n, i.rows, i.cols])
    } else {
        idx::read_labels(path, None).map(|l| vec![l.len()])
    };
    match (&seen, &read) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "inspect and read disagree on the dimensions"),
        (Err(_), Err(_)) => {}
        _ => panic!("inspect says {seen:?} but reading says {:?}", read.as_ref().map(|_| "ok")),
    }
    if limit.is_some() {
        check(idx::read_images(path, limit));
    }
}
