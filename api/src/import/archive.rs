//! Reading an uploaded zip without trusting it: entry names must stay inside the archive,
//! what is inflated is counted (not the sizes the archive declares) against a per-entry cap,
//! a total cap and a compression-ratio cap (per entry, and for all that is read against the
//! whole file), an entry may not hold more than it declares, and every failure is the
//! uploader's bad input.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use crate::error::{ServiceError, ServiceResult};

/// What an archive may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// All entries read, inflated, together.
    pub max_total_bytes: u64,
    /// Any one entry, inflated; checked against the declared sizes of all entries when the
    /// archive is opened, and again while reading.
    pub max_entry_bytes: u64,
    /// Inflated ÷ compressed size of one entry above which it is taken for a bomb (entries
    /// under `ratio_floor_bytes` are exempt: tiny files compress oddly). All that is read,
    /// over the size of the whole archive, is held to it too: small entries are exempt one
    /// by one, and a project may name one entry for many sources.
    pub max_ratio: u64,
    pub ratio_floor_bytes: u64,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total_bytes: 512 * 1024 * 1024,
            // A .qdpx may carry media that is never read: only the total counts.
            max_entry_bytes: u64::MAX,
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
    /// What the file entries claim to expand to, together.
    declared_total: u64,
    read_so_far: u64,
    /// The size of the file itself.
    archive_bytes: u64,
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

/// Whether a name in the archive (or a path the project gives to one) points outside it once
/// extracted: absolute, on a Windows drive ("C:…", "C:\\…"), or going up. A ':' elsewhere is
/// a character of a Mac or Linux file name ("Intervista 10:30.m4a"), and harmless here:
/// entries are looked up by name, never written to disk.
pub(crate) fn escapes(name: &str) -> bool {
    let unix = name.replace('\\', "/");
    let drive = matches!(unix.as_bytes(), [letter, b':', ..] if letter.is_ascii_alphabetic());
    drive || unix.starts_with('/') || unix.split('/').any(|c| c == "..")
}

fn corrupt(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::bad_input(format!(
        "the file is not a readable zip archive (corrupt or truncated?): {e}"
    ))
}

/// `n` bytes, in MiB when that is exact and large.
fn size_text(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
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
        let mut declared_total = 0u64;
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(corrupt)?;
            let raw = entry.name().map_err(corrupt)?.into_owned();
            // `escapes`, not zip's `enclosed_name`, which also refuses a letter and a colon
            // inside a name ("sources/R: intervista.txt") for the drive it would be on Windows.
            if escapes(&raw) {
                return Err(ServiceError::bad_input(format!(
                    "the archive entry {raw:?} points outside the archive"
                )));
            }
            if entry.size() > limits.max_entry_bytes {
                return Err(ServiceError::bad_input(format!(
                    "the archive entry {raw:?} would expand to {} bytes, more than the {} allowed for one entry",
                    entry.size(),
                    size_text(limits.max_entry_bytes)
                )));
            }
            if !entry.is_dir() {
                declared_total = declared_total.saturating_add(entry.size());
                names.insert(key(&raw), i);
            }
        }
        Ok(Self {
            zip,
            names,
            limits,
            declared_total,
            read_so_far: 0,
            archive_bytes: bytes.len() as u64,
        })
    }

    /// Refuses, before anything is inflated, an archive whose entries together declare more
    /// than `max_total_bytes`. For packages that are read whole (a .docx), not for a .qdpx,
    /// whose media may be large and is never read.
    pub fn check_declared_total(&self) -> ServiceResult<()> {
        if self.declared_total > self.limits.max_total_bytes {
            return Err(ServiceError::bad_input(format!(
                "the archive would expand to {} bytes, more than the {} allowed in all",
                self.declared_total,
                size_text(self.limits.max_total_bytes)
            )));
        }
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(&key(name))
    }

    /// The name of the entry `name` finds as the archive writes it ("Sources/…" for
    /// "sources/…").
    pub fn written_name(&self, name: &str) -> Option<String> {
        let &index = self.names.get(&key(name))?;
        let name = self.zip.name_for_index(index)?.ok()?.replace('\\', "/");
        Some(name.trim_start_matches("./").to_owned())
    }

    /// The inflated bytes of an entry, `None` when there is no such entry.
    pub fn read(&mut self, name: &str) -> ServiceResult<Option<Vec<u8>>> {
        let Some(&index) = self.names.get(&key(name)) else {
            return Ok(None);
        };
        let limits = self.limits;
        let budget = limits
            .max_entry_bytes
            .min(limits.max_total_bytes.saturating_sub(self.read_so_far));
        if self.zip.by_index_data(index).map_err(corrupt)?.encrypted() {
            return Err(ServiceError::bad_input(format!(
                "the archive entry {name:?} is encrypted; save the file without a password"
            )));
        }
        let mut entry = self.zip.by_index(index).map_err(corrupt)?;
        let declared = entry.size();
        let compressed = entry.compressed_size().max(1);
        if declared > limits.ratio_floor_bytes && declared / compressed > limits.max_ratio {
            return Err(ServiceError::bad_input(format!(
                "the archive entry {name:?} would expand to {declared} bytes, {}:1 (more than {}:1): refused as a zip bomb",
                declared / compressed,
                limits.max_ratio
            )));
        }
        let together = self.read_so_far.saturating_add(declared);
        if together > limits.ratio_floor_bytes
            && together / self.archive_bytes.max(1) > limits.max_ratio
        {
            return Err(ServiceError::bad_input(format!(
                "reading the archive entry {name:?} would bring what the archive expands to to {together} bytes, {}:1 of the file (more than {}:1): refused as a zip bomb",
                together / self.archive_bytes.max(1),
                limits.max_ratio
            )));
        }
        // The declared size is within `max_entry_bytes` (see `open`): past the budget is past
        // the total.
        if declared > budget {
            return Err(ServiceError::bad_input(format!(
                "the archive entry {name:?} would expand to {declared} bytes, past the {} allowed in all: refused as a zip bomb",
                size_text(limits.max_total_bytes)
            )));
        }
        // The declared size is a claim: reading stops one byte past it, so a lying header
        // cannot make the decompressor run on (the zip crate also refuses such an entry; this
        // does not depend on it). Within it, the checks above hold.
        let mut out = Vec::with_capacity(declared.min(1 << 20) as usize);
        (&mut entry)
            .take(declared + 1)
            .read_to_end(&mut out)
            .map_err(corrupt)?;
        let got = out.len() as u64;
        if got > declared {
            return Err(ServiceError::bad_input(format!(
                "the archive entry {name:?} holds more data than the archive declares ({declared} bytes): refused"
            )));
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
    fn an_entry_found_by_its_key_is_named_as_the_archive_writes_it() {
        let bytes = zip_of(&[("./Sources/Int 1.txt", b"testo"), ("Notes/n.txt", b"nota")]);
        let archive = Archive::open(&bytes, Limits::default()).unwrap();
        assert_eq!(
            archive.written_name("sources/Int 1.txt").as_deref(),
            Some("Sources/Int 1.txt")
        );
        assert_eq!(
            archive.written_name("Notes/n.txt").as_deref(),
            Some("Notes/n.txt")
        );
        assert_eq!(archive.written_name("sources/altro.txt"), None);
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

    /// Entries under the floor escape the ratio one by one; read again and again (a project
    /// naming one text for 500 sources) they meet it over the whole file.
    #[test]
    fn what_is_read_in_all_is_held_to_the_ratio_of_the_whole_file() {
        let a_mib = vec![b'a'; 1024 * 1024];
        let bytes = zip_of(&[("sources/a.txt", &a_mib)]);
        assert!(bytes.len() < 5_000, "{}", bytes.len());
        let mut a = Archive::open(&bytes, Limits::default()).unwrap();
        assert_eq!(a.read("sources/a.txt").unwrap().unwrap().len(), a_mib.len());
        let err = message(a.read("sources/a.txt").unwrap_err());
        assert!(
            err.contains("zip bomb") && err.contains(":1 of the file"),
            "{err}"
        );
        // Letters as random as a transcript's (deflate gets about 2:1 from them) are far
        // from the ratio, read as often as that.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let text: Vec<u8> = (0..3_000_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b"abcdefghilmnopqrstuvz "[(state % 22) as usize]
            })
            .collect();
        let bytes = zip_of(&[("sources/t.txt", &text)]);
        let mut a = Archive::open(&bytes, Limits::default()).unwrap();
        for _ in 0..3 {
            assert_eq!(a.read("sources/t.txt").unwrap().unwrap().len(), text.len());
        }
    }

    #[test]
    fn names_escaping_the_archive_are_refused() {
        for evil in [
            "../evil.txt",
            "sources/../../evil.txt",
            "/etc/passwd",
            "C:/Windows/evil.txt",
            "c:evil.txt",
            "D:\\evil.txt",
            "\\\\server\\share\\evil.txt",
        ] {
            let bytes = zip_of(&[(evil, b"x")]);
            let err = message(Archive::open(&bytes, Limits::default()).err().unwrap());
            assert!(err.contains("outside the archive"), "{evil}: {err}");
        }
    }

    #[test]
    fn a_colon_inside_a_name_is_a_character_like_any_other() {
        let bytes = zip_of(&[
            ("project.qde", b"<Project/>"),
            ("sources/Intervista 10:30.m4a", b"audio"),
            ("sources/Città: prima parte.txt", "Là è così’".as_bytes()),
            ("sources/R: intervista.txt", "R: sì".as_bytes()),
            ("sources/a:b.txt", b"ab"),
        ]);
        let mut a = Archive::open(&bytes, Limits::default()).unwrap();
        assert_eq!(
            a.read("Sources/Città: prima parte.txt").unwrap().unwrap(),
            "Là è così’".as_bytes()
        );
        assert_eq!(
            a.read("sources/R: intervista.txt").unwrap().unwrap(),
            "R: sì".as_bytes()
        );
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

    #[test]
    fn declared_sizes_are_held_to_the_entry_and_total_caps() {
        let bytes = zip_of(&[("a.xml", &[b'x'; 5000]), ("b.xml", &[b'y'; 5000])]);
        let one = Limits {
            max_entry_bytes: 4096,
            ..Limits::default()
        };
        let err = message(Archive::open(&bytes, one).err().unwrap());
        assert!(
            err.contains("\"a.xml\" would expand to 5000 bytes, more than the 4096 bytes allowed"),
            "{err}"
        );
        let all = Limits {
            max_total_bytes: 8192,
            ..Limits::default()
        };
        let mut a = Archive::open(&bytes, all).unwrap();
        let err = message(a.check_declared_total().unwrap_err());
        assert!(
            err.contains("would expand to 10000 bytes, more than the 8192 bytes allowed in all"),
            "{err}"
        );
        // Without that check (a .qdpx) only what is read counts.
        assert_eq!(a.read("a.xml").unwrap().unwrap().len(), 5000);
        let err = message(a.read("b.xml").unwrap_err());
        assert!(err.contains("zip bomb"), "{err}");
    }

    /// A header that declares a small size for a large entry: reading stops past the claim.
    #[test]
    fn an_entry_holding_more_than_it_declares_is_refused() {
        let text = "parola ".repeat(2000);
        let mut bytes = zip_of(&[("project.qde", text.as_bytes())]);
        let small = 100u32.to_le_bytes();
        // Uncompressed size: offset 22 of the local header, 24 of the central directory entry.
        for (sig, at) in [(0x04034b50u32, 22), (0x02014b50, 24)] {
            let pos = bytes
                .windows(4)
                .position(|w| w == sig.to_le_bytes())
                .unwrap();
            bytes[pos + at..pos + at + 4].copy_from_slice(&small);
        }
        let mut a = Archive::open(&bytes, Limits::default()).unwrap();
        let err = message(a.read("project.qde").unwrap_err());
        // The zip crate notices first ("larger than its declared uncompressed size"); the
        // check in `read` stands behind it.
        assert!(
            err.contains("more data than the archive declares")
                || err.contains("larger than its declared"),
            "{err}"
        );
    }
}
