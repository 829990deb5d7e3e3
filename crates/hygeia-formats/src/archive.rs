//! A zip archive read whole into memory, as phones send their outbox (Iaso's bulk upload):
//! every file by its path, bounded so that a zip bomb stops early.

use std::collections::BTreeMap;
use std::io::Read;

use crate::error::{FormatError, Located};

/// The archive's files by path (`./` dropped, folders and macOS' `__MACOSX/` left out), each
/// read whole; refused once they unpack to more than `max_unpacked` bytes. `file` names the
/// archive in errors.
pub fn unpack_zip(file: &str, zip: &[u8], max_unpacked: u64) -> Result<BTreeMap<String, Vec<u8>>, FormatError> {
    let bad = |part: Option<String>, message: String| FormatError::Invalid {
        at: Located { file: file.to_owned(), part, ..Default::default() },
        message,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| bad(None, format!("not a readable zip archive: {e}")))?;
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for index in 0..archive.len() {
        let entry_error = |e: zip::result::ZipError| bad(Some(format!("entry {index}")), format!("unreadable: {e}"));
        let mut entry = archive.by_index(index).map_err(entry_error)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(entry_error)?.trim_start_matches("./").to_owned();
        if name.starts_with("__MACOSX/") {
            continue;
        }
        let mut bytes = Vec::new();
        let room = max_unpacked.saturating_sub(total);
        (&mut entry)
            .take(room + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(Some(name.clone()), format!("unreadable: {e}")))?;
        total += bytes.len() as u64;
        if total > max_unpacked {
            return Err(bad(None, format!("the archive unpacks to more than {} MiB", max_unpacked >> 20)));
        }
        files.insert(name, bytes);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            out.start_file(*name, options).unwrap();
            out.write_all(bytes).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn files_come_back_by_path_without_mac_folders() {
        let zip = zip_of(&[("./instances.json", b"[]"), ("__MACOSX/._x", b"junk"), ("a/a.xml", b"<data/>")]);
        let files = unpack_zip("outbox.zip", &zip, 1 << 20).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a/a.xml", "instances.json"]);
        assert_eq!(files["a/a.xml"], b"<data/>");
    }

    #[test]
    fn a_bomb_and_garbage_are_refused_by_name() {
        // 2 MiB of zeros compress to a few kilobytes.
        let zip = zip_of(&[("big.bin", &vec![0u8; 2 << 20])]);
        assert!(zip.len() < 64 << 10);
        let err = unpack_zip("outbox.zip", &zip, 1 << 20).unwrap_err().to_string();
        assert_eq!(err, "outbox.zip: the archive unpacks to more than 1 MiB");
        let err = unpack_zip("outbox.zip", b"PK\x03\x04 not really", 1 << 20).unwrap_err().to_string();
        assert!(err.starts_with("outbox.zip: not a readable zip archive"), "{err}");
    }
}
