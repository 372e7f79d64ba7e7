//! CSV files through the csv crate: numbers in the project's shortest round-trip form
//! (`#[serde(with = "f64_cell")]` / `"opt_cell"` on row fields), and a sink that streams
//! rows to disk as a run produces them, so no run keeps its rows in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::fmt_f64;
use crate::metrics::RowSink;

/// A float cell: the shortest text that reads back to the same f64 (see [`fmt_f64`]).
pub mod f64_cell {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::fmt_f64(*x))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = <&str>::deserialize(d)?;
        s.parse().map_err(|_| serde::de::Error::custom(format!("not a number: {s:?}")))
    }
}

/// An optional float cell: empty when absent.
pub mod opt_cell {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(v) => s.serialize_str(&super::fmt_f64(*v)),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let s = <&str>::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(|_| serde::de::Error::custom(format!("not a number: {s:?}")))
    }
}

/// Rows of type `R` streamed to a CSV file. The header is written up front, so a run that
/// fails before its first row still leaves a well-formed file.
pub struct CsvSink<R> {
    w: csv::Writer<BufWriter<File>>,
    _row: std::marker::PhantomData<fn(&R)>,
}

impl<R: Serialize> CsvSink<R> {
    pub fn create(path: &Path, header: &[&str]) -> std::io::Result<CsvSink<R>> {
        let file = File::create(path)?;
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(BufWriter::new(file));
        w.write_record(header).map_err(into_io)?;
        Ok(CsvSink { w, _row: std::marker::PhantomData })
    }

    /// Flush to the file (made durable with the rest of the run folder, see
    /// `sweep::folder`).
    pub fn finish(self) -> std::io::Result<()> {
        let buf = self.w.into_inner().map_err(|e| e.into_error())?;
        buf.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

impl<R: Serialize> RowSink<R> for CsvSink<R> {
    fn push(&mut self, row: &R) -> std::io::Result<()> {
        self.w.serialize(row).map_err(into_io)
    }
}

/// The csv crate's error as the I/O error it wraps (or an "other" error with its text).
pub fn into_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// A whole CSV text from a header and rows (the summary files, built in memory).
pub fn to_text<R: Serialize>(header: &[&str], rows: impl IntoIterator<Item = R>) -> String {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(vec![]);
    w.write_record(header).expect("writing to memory");
    for r in rows {
        w.serialize(r).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV of UTF-8 cells")
}

/// Write `text` to `path` (inside a temporary run folder, made durable as a whole before
/// the folder's rename makes it visible).
pub fn write_file(path: &Path, text: &[u8]) -> std::io::Result<()> {
    File::create(path)?.write_all(text)
}
