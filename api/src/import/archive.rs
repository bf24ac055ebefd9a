//! Reading an uploaded zip without trusting it: entry names must stay inside the archive,
//! what is inflated is counted (not the sizes the archive declares) against a total cap and a
//! compression-ratio cap, and every failure is the uploader's bad input.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use crate::error::{ServiceError, ServiceResult};

/// What an archive may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// All entries read, inflated, together.
    pub max_total_bytes: u64,
    /// Inflated ÷ compressed size of one entry above which it is taken for a bomb (entries
    /// under `ratio_floor_bytes` are exempt: tiny files compress oddly).
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total_bytes: 512 * 1024 * 1024,
            max_ratio: 200,
            ratio_floor_bytes: 1024 * 1024,
            max_entries: 10_000,
        }
    }
}

pub struct Archive<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    /// Entry name as a lookup key (see `key`) → index.
    names: HashMap<String, usize>,
    limits: Limits,
    read_so_far: u64,
}

/// Vendors write `sources/` or `Sources/`, and Windows tools backslashes.
fn key(name: &str) -> String {
    let name = name.replace('\\', "/");
    let name = name.trim_start_matches("./");
    match name.split_once('/') {
        Some((dir, rest)) if dir.eq_ignore_ascii_case("sources") => format!("sources/{rest}"),
        _ => name.to_owned(),
    }
}

fn corrupt(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::bad_input(format!(
        "the file is not a readable zip archive (corrupt or truncated?): {e}"
    ))
}

impl<'a> Archive<'a> {
    pub fn open(bytes: &'a [u8], limits: Limits) -> ServiceResult<Self> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
        if zip.len() > limits.max_entries {
            return Err(ServiceError::bad_input(format!(
                "the archive holds {} entries; at most {} are accepted",
                zip.len(),
                limits.max_entries
            )));
        }
        let mut names = HashMap::new();
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(corrupt)?;
            let raw = entry.name().map_err(corrupt)?.into_owned();
            let unix = raw.replace('\\', "/");
            let escapes = entry.enclosed_name().is_none()
                || unix.starts_with('/')
                || unix.contains(':')
                || unix.split('/').any(|c| c == "..");
            if escapes {
                return Err(ServiceError::bad_input(format!(
                    "the archive entry {raw:?} points outside the archive"
                )));
            }
            if !entry.is_dir() {
                names.insert(key(&raw), i);
            }
        }
        Ok(Self {
            zip,
            names,
            limits,
            read_so_far: 0,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(&key(name))
    }

    /// The inflated bytes of an entry, `None` when there is no such entry.
    pub fn read(&mut self, name: &str) -> ServiceResult<Option<Vec<u8>>> {
        let Some(&index) = self.names.get(&key(name)) else {
            return Ok(None);
        };
        let limits = self.limits;
        let budget = limits.max_total_bytes.saturating_sub(self.read_so_far);
        let mut entry = self.zip.by_index(index).map_err(corrupt)?;
        let compressed = entry.compressed_size().max(1);
        let too_dense =
            |size: u64| size > limits.ratio_floor_bytes && size / compressed > limits.max_ratio;
        let bomb = || {
            ServiceError::bad_input(format!(
                "the archive entry {name:?} expands too much (more than {}:1, or past {} MiB in all): refused as a zip bomb",
                limits.max_ratio,
                limits.max_total_bytes / (1024 * 1024)
            ))
        };
        if entry.size() > budget || too_dense(entry.size()) {
            return Err(bomb());
        }
        // The declared size may lie: count what actually comes out.
        let mut out = Vec::with_capacity(entry.size().min(budget) as usize);
        (&mut entry)
            .take(budget + 1)
            .read_to_end(&mut out)
            .map_err(corrupt)?;
        let got = out.len() as u64;
        if got > budget || too_dense(got) {
            return Err(bomb());
        }
        self.read_so_far += got;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn message(e: ServiceError) -> String {
        match e {
            ServiceError::BadInput(m) => m,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn the_total_cap_counts_inflated_bytes_across_entries() {
        // Random-ish text that compresses little, so that only the total cap can refuse it.
        let text: Vec<u8> = (0..300_000u32)
            .map(|i| b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26)
            .collect();
        let bytes = zip_of(&[("sources/a.txt", &text), ("sources/b.txt", &text)]);
        let limits = Limits {
            max_total_bytes: 500_000,
            ..Limits::default()
        };
        let mut a = Archive::open(&bytes, limits).unwrap();
        assert_eq!(a.read("Sources/a.txt").unwrap().unwrap(), text);
        let err = message(a.read("sources/b.txt").unwrap_err());
        assert!(err.contains("zip bomb"), "{err}");
    }

    #[test]
    fn dense_entries_are_refused_before_they_are_inflated_whole() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let bytes = zip_of(&[("project.qde", &zeros)]);
        assert!(bytes.len() < 100_000);
        let mut a = Archive::open(&bytes, Limits::default()).unwrap();
        let err = message(a.read("project.qde").unwrap_err());
        assert!(err.contains("zip bomb"), "{err}");
    }

    #[test]
    fn names_escaping_the_archive_are_refused() {
        for evil in ["../evil.txt", "sources/../../evil.txt", "/etc/passwd"] {
            let bytes = zip_of(&[(evil, b"x")]);
            let err = message(Archive::open(&bytes, Limits::default()).err().unwrap());
            assert!(err.contains("outside the archive"), "{evil}: {err}");
        }
    }

    #[test]
    fn truncated_archives_are_bad_input() {
        let bytes = zip_of(&[("project.qde", b"<Project name=\"x\"/>")]);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 5] {
            let err = message(
                Archive::open(&bytes[..cut], Limits::default())
                    .err()
                    .unwrap(),
            );
            assert!(err.contains("not a readable zip"), "{err}");
        }
    }
}
