//! Gzipped dataset files (`.jsonl.gz`, `.csv.gz`): read through a decoder, named by what they
//! hold once decompressed.

use crate::data::error::DataError;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The name the format is read from: `x.jsonl.gz` → `x.jsonl`.
pub fn inner_name(path: &Path) -> PathBuf {
    if is_gz(path) {
        path.with_extension("")
    } else {
        path.to_path_buf()
    }
}

/// A buffered reader of the file's bytes, decompressed when it is gzipped (several gzip
/// members, as `cat a.gz b.gz` makes, are read one after the other).
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    Ok(if is_gz(path) {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            BufReader::new(file),
        )))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// The whole file, decompressed.
pub fn read_all(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut bytes = Vec::new();
    open(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::file(path, format!("cannot read: {e}")))?;
    Ok(bytes)
}
