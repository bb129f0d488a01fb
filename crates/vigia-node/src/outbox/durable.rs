//! The durability primitives the outbox is built from, in DESIGN.md's
//! order: write to a temporary name → fsync the file → rename → fsync the
//! directory. After `write_atomic` returns, the file exists under its final
//! name with its full contents even if power is cut; before it returns, the
//! final name either does not exist or holds the previous contents.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Name of the temporary file used while writing `name` in the same
/// directory. Dot-prefixed so listings of complete files skip it and
/// recovery can find and remove it.
pub fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dir/name` durably and atomically. On error the
/// temporary file is removed (best effort) and the final name untouched.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(temp_name(name));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes a directory tree so that a crash part-way never leaves it
/// looking intact: it is first renamed to a dot-prefixed `.NAME.deleting`
/// (which recovery finishes deleting), then removed.
pub fn remove_dir_durably(parent: &Path, name: &str) -> io::Result<()> {
    let doomed = parent.join(format!(".{name}.deleting"));
    fs::rename(parent.join(name), &doomed)?;
    fsync_dir(parent)?;
    fs::remove_dir_all(&doomed)?;
    fsync_dir(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_file_and_leaves_no_temp() {
        let d = tempfile::tempdir().expect("tempdir");
        write_atomic(d.path(), "a.json", b"first").expect("write");
        write_atomic(d.path(), "a.json", b"second").expect("rewrite");
        assert_eq!(fs::read(d.path().join("a.json")).expect("read"), b"second");
        let names: Vec<_> = fs::read_dir(d.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["a.json"]);
    }

    #[test]
    fn failed_write_leaves_previous_contents() {
        let d = tempfile::tempdir().expect("tempdir");
        write_atomic(d.path(), "a", b"kept").expect("write");
        // A directory in the way of the temp name makes open() fail.
        fs::create_dir(d.path().join(temp_name("a"))).expect("mkdir");
        assert!(write_atomic(d.path(), "a", b"lost").is_err());
        assert_eq!(fs::read(d.path().join("a")).expect("read"), b"kept");
    }

    #[test]
    fn remove_dir_durably_removes_tree() {
        let d = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(d.path().join("c/sub")).expect("mkdir");
        fs::write(d.path().join("c/sub/x"), b"x").expect("write");
        remove_dir_durably(d.path(), "c").expect("remove");
        assert_eq!(fs::read_dir(d.path()).expect("ls").count(), 0);
    }
}
