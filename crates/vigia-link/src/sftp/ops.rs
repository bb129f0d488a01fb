//! The file operations behind each SFTP request, inside the area.
//!
//! Every client path goes through `parse` first; every folder above the
//! target is checked to be a real directory; files open with `O_NOFOLLOW`.
//! The fsyncs that make "closed" mean "durable" run on the blocking pool;
//! reads and writes are small positioned I/O on the runtime thread (see the
//! parent module for why).

use std::collections::VecDeque;
use std::fs::{self, DirBuilder, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh_sftp::extensions::LimitsExtension;
use russh_sftp::protocol::{ExtendedReply, File, FileAttributes, OpenFlags, Packet, StatusCode};

use super::path::{parse, AreaPath};
use super::refusal::Refusal;
use super::{
    ok_status, ConfinedSftp, OpenFile, OpenHandle, DIR_BATCH, DIR_MODE, EXT_FSYNC, EXT_LIMITS,
    EXT_POSIX_RENAME, FILE_MODE, MAX_DATA_BYTES, MAX_PACKET_BYTES,
};

impl ConfinedSftp {
    fn new_handle(&mut self, handle: OpenHandle) -> String {
        self.handle_seq += 1;
        // Opaque and unguessable: a client can only use handles it was given.
        let id = format!("{:x}.{:016x}", self.handle_seq, rand::random::<u64>());
        self.handles.insert(id.clone(), handle);
        id
    }

    fn check_handle_room(&self) -> Result<(), Refusal> {
        if self.handles.len() >= self.limits.max_open_handles {
            return Err(Refusal::failure(format!(
                "too many open handles (limit {})",
                self.limits.max_open_handles
            )));
        }
        Ok(())
    }

    pub(super) fn open_file(&mut self, handle: &str) -> Result<&mut OpenFile, Refusal> {
        match self.handles.get_mut(handle) {
            Some(OpenHandle::File(f)) => Ok(f),
            _ => Err(Refusal::bad_handle()),
        }
    }

    /// Every folder above `p` must be a real directory, never a symlink.
    fn check_parents(&self, p: &AreaPath) -> Result<(), Refusal> {
        for dir in p.ancestors() {
            let md = fs::symlink_metadata(dir.on(&self.area))?;
            if md.file_type().is_symlink() {
                return Err(Refusal::denied(format!(
                    "{:?} is a symbolic link; links are not followed",
                    dir.client_string()
                )));
            }
            if !md.is_dir() {
                return Err(Refusal::new(StatusCode::NoSuchFile, "not a directory"));
            }
        }
        Ok(())
    }

    /// `lstat` of a validated path. The area itself is stat'ed through any
    /// symlink: where it lives is the administrator's choice.
    fn lstat(&self, p: &AreaPath) -> Result<Metadata, Refusal> {
        self.check_parents(p)?;
        let md = if p.is_root() {
            fs::metadata(&self.area)?
        } else {
            fs::symlink_metadata(p.on(&self.area))?
        };
        if p.dir_only() && !md.is_dir() {
            return Err(Refusal::new(StatusCode::NoSuchFile, "not a directory"));
        }
        Ok(md)
    }

    pub(super) fn stat_path(
        &self,
        client_path: &str,
        follow: bool,
    ) -> Result<FileAttributes, Refusal> {
        let p = parse(client_path)?;
        let md = self.lstat(&p)?;
        if follow && md.file_type().is_symlink() {
            return Err(Refusal::denied("symbolic links are not followed"));
        }
        Ok(attrs_of(&md))
    }

    pub(super) fn do_open(
        &mut self,
        client_path: &str,
        flags: OpenFlags,
    ) -> Result<String, Refusal> {
        self.check_handle_room()?;
        let p = parse(client_path)?;
        if p.is_root() || p.dir_only() {
            return Err(Refusal::failure("is a directory"));
        }
        self.check_parents(&p)?;
        let path = p.on(&self.area);

        let append = flags.contains(OpenFlags::APPEND);
        let writable = flags.contains(OpenFlags::WRITE) || append;
        let creating = flags.intersects(OpenFlags::CREATE | OpenFlags::EXCLUDE);
        if !writable && (creating || flags.contains(OpenFlags::TRUNCATE)) {
            return Err(Refusal::failure(
                "create or truncate needs the file opened for writing",
            ));
        }
        let readable = flags.contains(OpenFlags::READ) || !writable;

        let mut options = OpenOptions::new();
        options
            .read(readable)
            .write(flags.contains(OpenFlags::WRITE))
            .append(append)
            .truncate(flags.contains(OpenFlags::TRUNCATE))
            .mode(FILE_MODE)
            // NONBLOCK: opening a FIFO planted in the area must not hang the
            // session; it has no effect on regular files.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        let existed = if flags.contains(OpenFlags::EXCLUDE) {
            options.create_new(true);
            false
        } else if creating {
            options.create(true);
            fs::symlink_metadata(&path).is_ok()
        } else {
            true
        };
        let file = options.open(&path)?;
        if !file.metadata()?.is_file() {
            return Err(Refusal::failure("not a regular file"));
        }
        let dir = p
            .parent()
            .map_or_else(|| self.area.clone(), |d| d.on(&self.area));
        Ok(self.new_handle(OpenHandle::File(OpenFile {
            file: Arc::new(file),
            dir,
            readable,
            writable,
            append,
            created: !existed,
            dirty: false,
            write_failed: false,
        })))
    }

    pub(super) fn do_read(
        &mut self,
        handle: &str,
        offset: u64,
        len: u32,
    ) -> Result<Vec<u8>, Refusal> {
        let f = self.open_file(handle)?;
        if !f.readable {
            return Err(Refusal::denied("handle not open for reading"));
        }
        let len = len.min(MAX_DATA_BYTES) as usize;
        let mut buf = vec![0; len];
        let mut filled = 0;
        while filled < len {
            match f.file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if filled == 0 && len > 0 {
            return Err(Refusal::new(StatusCode::Eof, "end of file"));
        }
        buf.truncate(filled);
        Ok(buf)
    }

    pub(super) fn do_write(
        &mut self,
        handle: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<(), Refusal> {
        let max = self.limits.max_file_bytes;
        let f = self.open_file(handle)?;
        if !f.writable {
            return Err(Refusal::denied("handle not open for writing"));
        }
        let result = write_at(f, offset, data, max);
        match &result {
            Ok(()) => f.dirty = true,
            Err(_) => f.write_failed = true,
        }
        result
    }

    pub(super) async fn do_close(&mut self, handle: &str) -> Result<(), Refusal> {
        match self.handles.remove(handle) {
            None => Err(Refusal::bad_handle()),
            Some(OpenHandle::Dir(_)) => Ok(()),
            Some(OpenHandle::File(f)) => {
                if f.write_failed {
                    return Err(Refusal::failure(
                        "a write on this handle failed; the file is incomplete",
                    ));
                }
                if f.dirty || f.created {
                    sync(f.file, f.created.then_some(f.dir)).await?;
                }
                Ok(())
            }
        }
    }

    async fn do_fsync(&mut self, handle: &str) -> Result<(), Refusal> {
        let f = self.open_file(handle)?;
        let (file, dir) = (f.file.clone(), f.created.then(|| f.dir.clone()));
        sync(file, dir).await?;
        // The session handles one request at a time, so the entry is the one
        // we synced.
        if let Ok(f) = self.open_file(handle) {
            f.dirty = false;
            f.created = false;
        }
        Ok(())
    }

    /// `scp` in SFTP mode writes in place and then sets the final size on
    /// the handle, so a size is honoured here, within the file size limit.
    pub(super) fn do_fsetstat(
        &mut self,
        handle: &str,
        attrs: &FileAttributes,
    ) -> Result<(), Refusal> {
        let max = self.limits.max_file_bytes;
        let f = self.open_file(handle)?;
        let Some(size) = attrs.size else {
            return Ok(());
        };
        if !f.writable {
            return Err(Refusal::denied("handle not open for writing"));
        }
        let result = if size > max {
            Err(Refusal::failure(format!(
                "file would exceed the limit of {max} bytes"
            )))
        } else {
            f.file.set_len(size).map_err(Refusal::from)
        };
        match &result {
            Ok(()) => f.dirty = true,
            Err(_) => f.write_failed = true,
        }
        result
    }

    pub(super) fn do_opendir(&mut self, client_path: &str) -> Result<String, Refusal> {
        self.check_handle_room()?;
        let p = parse(client_path)?;
        let md = self.lstat(&p)?;
        if md.file_type().is_symlink() {
            return Err(Refusal::denied("symbolic links are not followed"));
        }
        if !md.is_dir() {
            return Err(Refusal::new(StatusCode::NoSuchFile, "not a directory"));
        }
        let parent_md = match p.parent() {
            Some(parent) => self.lstat(&parent)?,
            None => md.clone(),
        };
        // Like OpenSSH's server, list `.` and `..` first; clients hide them.
        let mut entries = VecDeque::from([
            File::new(".", attrs_of(&md)),
            File::new("..", attrs_of(&parent_md)),
        ]);
        for entry in fs::read_dir(p.on(&self.area))? {
            let entry = entry?;
            // A name that is not UTF-8 could not be named back by a client.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // DirEntry::metadata does not follow symlinks. An entry removed
            // since read_dir saw it is simply not listed.
            let Ok(md) = entry.metadata() else { continue };
            entries.push_back(File::new(name, attrs_of(&md)));
        }
        Ok(self.new_handle(OpenHandle::Dir(entries)))
    }

    pub(super) fn do_readdir(&mut self, handle: &str) -> Result<Vec<File>, Refusal> {
        let Some(OpenHandle::Dir(entries)) = self.handles.get_mut(handle) else {
            return Err(Refusal::bad_handle());
        };
        if entries.is_empty() {
            return Err(Refusal::new(StatusCode::Eof, "end of directory"));
        }
        let n = entries.len().min(DIR_BATCH);
        Ok(entries.drain(..n).collect())
    }

    pub(super) async fn do_mkdir(&mut self, client_path: &str) -> Result<(), Refusal> {
        let p = parse(client_path)?;
        if p.is_root() {
            return Err(Refusal::failure("already exists"));
        }
        if p.depth() != 1 {
            return Err(Refusal::denied("folders can only be made directly under /"));
        }
        DirBuilder::new().mode(DIR_MODE).create(p.on(&self.area))?;
        sync_dirs(vec![self.area.clone()]).await
    }

    pub(super) fn do_rmdir(&mut self, client_path: &str) -> Result<(), Refusal> {
        let p = parse(client_path)?;
        if p.is_root() {
            return Err(Refusal::denied("the root cannot be removed"));
        }
        let md = self.lstat(&p)?;
        if !md.is_dir() {
            return Err(Refusal::new(StatusCode::NoSuchFile, "not a directory"));
        }
        fs::remove_dir(p.on(&self.area))?;
        Ok(())
    }

    pub(super) fn do_remove(&mut self, client_path: &str) -> Result<(), Refusal> {
        let p = parse(client_path)?;
        if p.is_root() {
            return Err(Refusal::denied("the root cannot be removed"));
        }
        let md = self.lstat(&p)?;
        if md.is_dir() {
            return Err(Refusal::failure("is a directory"));
        }
        if !md.is_file() {
            return Err(Refusal::denied("only regular files can be removed"));
        }
        fs::remove_file(p.on(&self.area))?;
        Ok(())
    }

    /// Plain SFTP rename never replaces the target (as OpenSSH's server:
    /// link then unlink for files); `posix-rename@openssh.com` does.
    pub(super) async fn do_rename(
        &mut self,
        old: &str,
        new: &str,
        replace: bool,
    ) -> Result<(), Refusal> {
        let (from, to) = (parse(old)?, parse(new)?);
        if from.is_root() || to.is_root() {
            return Err(Refusal::denied("the root cannot be renamed"));
        }
        let md = self.lstat(&from)?;
        self.check_parents(&to)?;
        if md.is_dir() {
            if to.depth() != 1 {
                return Err(Refusal::denied("folders must stay directly under /"));
            }
        } else if !md.is_file() {
            return Err(Refusal::denied(
                "only regular files and folders can be renamed",
            ));
        } else if to.dir_only() {
            return Err(Refusal::new(StatusCode::NoSuchFile, "not a directory"));
        }
        let (from_path, to_path) = (from.on(&self.area), to.on(&self.area));
        if replace {
            fs::rename(&from_path, &to_path)?;
        } else if md.is_file() {
            match fs::hard_link(&from_path, &to_path) {
                Ok(()) => fs::remove_file(&from_path)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e.into()),
                // Filesystems without hard links: check, then rename.
                Err(_) => rename_no_replace(&from_path, &to_path)?,
            }
        } else {
            rename_no_replace(&from_path, &to_path)?;
        }
        let mut dirs = vec![parent_on(&from, &self.area)];
        let to_dir = parent_on(&to, &self.area);
        if to_dir != dirs[0] {
            dirs.push(to_dir);
        }
        sync_dirs(dirs).await
    }

    pub(super) fn do_setstat_path(
        &self,
        client_path: &str,
        attrs: &FileAttributes,
    ) -> Result<(), Refusal> {
        let p = parse(client_path)?;
        let md = self.lstat(&p)?;
        if md.file_type().is_symlink() {
            return Err(Refusal::denied("symbolic links are not followed"));
        }
        setstat_policy(attrs)
    }

    pub(super) async fn do_extended(
        &mut self,
        id: u32,
        request: &str,
        data: &[u8],
    ) -> Result<Packet, Refusal> {
        match request {
            EXT_LIMITS => {
                let limits = LimitsExtension {
                    max_packet_len: MAX_PACKET_BYTES.into(),
                    max_read_len: MAX_DATA_BYTES.into(),
                    max_write_len: MAX_DATA_BYTES.into(),
                    max_open_handles: self.limits.max_open_handles as u64,
                };
                let data = russh_sftp::ser::to_bytes(&limits)
                    .map_err(|e| Refusal::failure(format!("encoding limits: {e}")))?
                    .to_vec();
                Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
            }
            EXT_FSYNC => {
                let mut rest = data;
                let handle = take_string(&mut rest)?;
                self.do_fsync(&handle).await?;
                Ok(ok_status(id).into())
            }
            EXT_POSIX_RENAME => {
                let mut rest = data;
                let (old, new) = (take_string(&mut rest)?, take_string(&mut rest)?);
                self.do_rename(&old, &new, true).await?;
                Ok(ok_status(id).into())
            }
            _ => Err(Refusal::new(
                StatusCode::OpUnsupported,
                "extension not supported",
            )),
        }
    }
}

fn write_at(f: &OpenFile, offset: u64, data: &[u8], max: u64) -> Result<(), Refusal> {
    // With O_APPEND the kernel writes at the end whatever the offset says,
    // so the limit is checked against the end.
    let start = if f.append {
        f.file.metadata()?.len()
    } else {
        offset
    };
    let within = start
        .checked_add(data.len() as u64)
        .is_some_and(|end| end <= max);
    if !within {
        return Err(Refusal::failure(format!(
            "file would exceed the limit of {max} bytes"
        )));
    }
    f.file.write_all_at(data, offset)?;
    Ok(())
}

/// Permissions, owners and times are accepted and ignored (OpenSSH clients
/// send them after uploads; the server owns its files). A size change by
/// path is refused rather than silently dropped: only an open handle may
/// change a size (see `do_fsetstat`), so the close that follows makes it
/// durable.
fn setstat_policy(attrs: &FileAttributes) -> Result<(), Refusal> {
    if attrs.size.is_some() {
        return Err(Refusal::new(
            StatusCode::OpUnsupported,
            "changing a size is only supported on an open handle",
        ));
    }
    Ok(())
}

fn rename_no_replace(from: &Path, to: &Path) -> Result<(), Refusal> {
    match fs::symlink_metadata(to) {
        Ok(_) => Err(Refusal::failure("target already exists")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(fs::rename(from, to)?),
        Err(e) => Err(e.into()),
    }
}

fn parent_on(p: &AreaPath, area: &Path) -> PathBuf {
    p.parent()
        .map_or_else(|| area.to_path_buf(), |d| d.on(area))
}

/// fsync a file, then its folder, on the blocking pool.
async fn sync(file: Arc<fs::File>, dir: Option<PathBuf>) -> Result<(), Refusal> {
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        file.sync_all()?;
        if let Some(dir) = dir {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Refusal::failure(format!("fsync task failed: {e}")))?
    .map_err(Refusal::from)
}

async fn sync_dirs(dirs: Vec<PathBuf>) -> Result<(), Refusal> {
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        for dir in dirs {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Refusal::failure(format!("fsync task failed: {e}")))?
    .map_err(Refusal::from)
}

/// One SSH `string` (u32 length, bytes) from an extension's payload.
fn take_string(rest: &mut &[u8]) -> Result<String, Refusal> {
    let bad = || Refusal::new(StatusCode::BadMessage, "malformed extension request");
    let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
    let len = u32::from_be_bytes(*len) as usize;
    if tail.len() < len {
        return Err(bad());
    }
    let (s, tail) = tail.split_at(len);
    *rest = tail;
    String::from_utf8(s.to_vec()).map_err(|_| bad())
}

/// Size, type and permission bits, and times. Owners are left out: they are
/// the server's account, of no use to the client.
pub(super) fn attrs_of(md: &Metadata) -> FileAttributes {
    let secs = |t: i64| Some(u32::try_from(t.max(0)).unwrap_or(u32::MAX));
    FileAttributes {
        size: Some(md.len()),
        permissions: Some(md.mode()),
        atime: secs(md.atime()),
        mtime: secs(md.mtime()),
        ..FileAttributes::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_strings_are_parsed_strictly() {
        let mut payload = Vec::new();
        for s in ["/a", "/b"] {
            payload.extend_from_slice(&(s.len() as u32).to_be_bytes());
            payload.extend_from_slice(s.as_bytes());
        }
        let mut rest = payload.as_slice();
        assert_eq!(take_string(&mut rest).unwrap(), "/a");
        assert_eq!(take_string(&mut rest).unwrap(), "/b");
        assert!(rest.is_empty());
        assert!(take_string(&mut rest).is_err());
        let mut short: &[u8] = &[0, 0, 0, 9, b'x'];
        assert!(take_string(&mut short).is_err());
        let mut not_utf8: &[u8] = &[0, 0, 0, 1, 0xff];
        assert!(take_string(&mut not_utf8).is_err());
    }
}
