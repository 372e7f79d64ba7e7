//! The CIFAR-10 reader (`data::cifar`): `read_batch` and `read_batches` on the fuzz input
//! written to temporary files, raw or gzip-wrapped.
//!
//! Input: byte 0 picks the call and the wrapping, bytes 1-2 the limit (0: none), bytes 3-6
//! two split points for up to three batch files; the rest is the content.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qnet_exp::data::cifar::{self, IMAGE_BYTES};
use qnet_exp_fuzz::{clear, put, scratch_dir, split_at};

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if data.len() < 7 {
        return;
    }
    let dir = DIR.get_or_init(scratch_dir);
    let flags = data[0];
    let limit = u16::from_be_bytes([data[1], data[2]]);
    let limit = (limit != 0).then_some(limit as usize);
    let (s1, s2) = (u16::from_be_bytes([data[3], data[4]]), u16::from_be_bytes([data[5], data[6]]));
    let body = &data[7..];
    let gz = |i: u8| flags & (0x04 << i) != 0;
    for n in ["a", "b", "c"] {
        clear(dir, n);
    }
    let ok = |b: &cifar::CifarBatch| {
        assert_eq!(b.labels.len(), b.n);
        assert_eq!(b.pixels.len(), b.n * IMAGE_BYTES);
        assert!(b.labels.iter().all(|&l| l < 10));
    };
    let r = match flags % 4 {
        0 => {
            let p = put(dir, "a", body, gz(0));
            cifar::read_batch(&p, limit)
        }
        mode => {
            let (x, rest) = split_at(body, s1);
            let (y, z) = split_at(rest, s2);
            let mut paths = vec![put(dir, "a", x, gz(0)), put(dir, "b", y, gz(1))];
            match mode {
                1 => paths.push(put(dir, "c", z, gz(2))),
                // A missing file last (not read when the limit is reached before it).
                2 => paths.push(dir.join("c")),
                _ => paths.insert(0, dir.join("missing")),
            }
            cifar::read_batches(&paths, limit)
        }
    };
    match r {
        Ok(b) => ok(&b),
        Err(e) => assert!(!e.is_empty()),
    }
});
