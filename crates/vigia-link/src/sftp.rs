//! The server's SFTP subsystem, confined to one camera's incoming area.
//!
//! One [`ConfinedSftp`] serves one SFTP session of one authenticated node (or
//! a stock `sftp`/`scp` client holding that camera's key). The client sees the
//! area `<data>/incoming/<camera>/` as `/` and can make capture folders in it,
//! upload files with resume, list, stat, read back, rename and remove —
//! nothing else. The SSH server starts it with
//! `russh_sftp::server::run(channel.into_stream(), handler).await`, which
//! spawns the session and returns at once.
//!
//! Confinement has two layers. Client strings become paths only through
//! [`resolve`] (module `path`): plain names, at most folder/file deep, joined
//! onto the area. Symlinks are the other way out, so they are never
//! followed: the `symlink`/`readlink` requests are refused, every file is
//! opened with `O_NOFOLLOW`, and the capture folder of a file must be a real
//! directory (`lstat`) before anything inside it is touched. A symlink
//! planted in the area by anyone therefore cannot redirect a write. What
//! remains is a race against a *local* user swapping a checked folder for a
//! symlink between the check and the open; the area belongs to the server's
//! user, so whoever could win it could already write there.
//!
//! Durability: "closed" means durable. Closing a handle that was written
//! fsyncs the file, and fsyncs its folder when the file was created; `mkdir`
//! and `rename` fsync the folders they change. The server acknowledges
//! evidence on that basis. A handle on which any write was refused never
//! closes with success, so a partial file is never reported as complete.
//!
//! Writes go straight to the file with `pwrite` on the runtime thread: they
//! land in the page cache and cost microseconds, where a `spawn_blocking`
//! per packet would add a thread hop to every packet of an upload. Only
//! the fsyncs, which can take milliseconds, run on the blocking pool.
//!
//! Layout: this file maps SFTP requests to operations and logs refusals
//! (once per request, client strings `{:?}`-escaped); `ops` does the file
//! operations; `path` turns client strings into area paths; `refusal` maps
//! errors to SFTP status codes.
//!
//! Not owned here: which camera a key maps to and where the area lives (the
//! SSH server decides), and what happens to a capture once uploaded (the
//! commit message over `control` and the store).

mod ops;
mod path;
mod refusal;

use std::collections::{HashMap, VecDeque};
use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Packet, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;

use self::ops::attrs_of;
use self::path::{normalize, shown};
pub use self::path::{resolve, PathError, MAX_DEPTH, MAX_NAME_BYTES};
use self::refusal::Refusal;

/// `limits@openssh.com`: the biggest packet the server reads. Equal to
/// russh-sftp's server default, which refuses anything longer.
const MAX_PACKET_BYTES: u32 = 256 * 1024;
/// Data per READ/WRITE, leaving room for the header as OpenSSH does.
const MAX_DATA_BYTES: u32 = MAX_PACKET_BYTES - 1024;
/// Directory entries per READDIR reply.
const DIR_BATCH: usize = 100;

const EXT_LIMITS: &str = "limits@openssh.com";
const EXT_FSYNC: &str = "fsync@openssh.com";
const EXT_POSIX_RENAME: &str = "posix-rename@openssh.com";

/// New capture folders and files are private to the server's user and
/// group: evidence is not for other local accounts.
const DIR_MODE: u32 = 0o750;
const FILE_MODE: u32 = 0o640;

/// Per-session resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpLimits {
    /// A write that would make a file larger than this is refused.
    pub max_file_bytes: u64,
    /// Open file and folder handles per session.
    pub max_open_handles: usize,
}

impl Default for SftpLimits {
    fn default() -> Self {
        Self {
            // A capture fragment is seconds of video; a whole clip at a high
            // bitrate stays far below this.
            max_file_bytes: 4 << 30,
            max_open_handles: 64,
        }
    }
}

/// The SFTP handler for one session, confined to one area.
pub struct ConfinedSftp {
    area: PathBuf,
    /// The area's folder name (the camera id), for logs.
    camera: String,
    limits: SftpLimits,
    handles: HashMap<String, OpenHandle>,
    handle_seq: u64,
}

enum OpenHandle {
    File(OpenFile),
    Dir(VecDeque<File>),
}

struct OpenFile {
    /// Shared so an fsync can run on the blocking pool while the handle stays
    /// open (`fsync@openssh.com`).
    file: Arc<fs::File>,
    /// The folder holding the file, fsynced after the file was created.
    dir: PathBuf,
    readable: bool,
    writable: bool,
    append: bool,
    /// Created by this open, so its folder entry is not durable yet.
    created: bool,
    /// Written since the last fsync.
    dirty: bool,
    /// Some write was refused: the file is incomplete.
    write_failed: bool,
}

impl ConfinedSftp {
    /// A handler serving `area` as `/`. The area is created (with its
    /// parents) when the client initializes the session.
    pub fn new(area: PathBuf, limits: SftpLimits) -> Self {
        let camera = area
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            area,
            camera,
            limits,
            handles: HashMap::new(),
            handle_seq: 0,
        }
    }

    /// Log a refusal once and turn it into the status reply. The subject (a
    /// client path or handle) is bounded and `{:?}`-escaped. Missing files
    /// and end-of-data are ordinary answers (clients probe with `stat`), so
    /// they stay at debug level.
    fn reply<T>(
        &self,
        op: &str,
        subject: &str,
        result: Result<T, Refusal>,
    ) -> Result<T, StatusReply> {
        result.map_err(|r| {
            let subject = shown(subject);
            match r.code {
                StatusCode::Eof | StatusCode::NoSuchFile => tracing::debug!(
                    camera = %self.camera, op, subject = ?subject, "sftp: {}", r.message
                ),
                _ => tracing::warn!(
                    camera = %self.camera, op, subject = ?subject, code = ?r.code,
                    "sftp request refused: {}", r.message
                ),
            }
            r.code.with_message(r.message)
        })
    }
}

fn ok_status(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_owned(),
        language_tag: "en-US".to_owned(),
    }
}

impl russh_sftp::server::Handler for ConfinedSftp {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.with_message("operation not supported")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        let area = self.area.clone();
        let created = DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&area)
            .map_err(Refusal::from);
        self.reply("init", &area.to_string_lossy(), created)?;
        let mut version = Version::new();
        for ext in [EXT_LIMITS, EXT_FSYNC, EXT_POSIX_RENAME] {
            version.extensions.insert(ext.to_owned(), "1".to_owned());
        }
        Ok(version)
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let handle = self.do_open(&filename, pflags);
        let handle = self.reply("open", &filename, handle)?;
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        let closed = self.do_close(&handle).await;
        self.reply("close", &handle, closed)?;
        Ok(ok_status(id))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let data = self.do_read(&handle, offset, len);
        let data = self.reply("read", &handle, data)?;
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let written = self.do_write(&handle, offset, &data);
        self.reply("write", &handle, written)?;
        Ok(ok_status(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let attrs = self.stat_path(&path, false);
        let attrs = self.reply("lstat", &path, attrs)?;
        Ok(Attrs { id, attrs })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let attrs = self.stat_path(&path, true);
        let attrs = self.reply("stat", &path, attrs)?;
        Ok(Attrs { id, attrs })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let attrs = self
            .open_file(&handle)
            .and_then(|f| Ok(attrs_of(&f.file.metadata()?)));
        let attrs = self.reply("fstat", &handle, attrs)?;
        Ok(Attrs { id, attrs })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let done = self.do_setstat_path(&path, &attrs);
        self.reply("setstat", &path, done)?;
        Ok(ok_status(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let done = self.do_fsetstat(&handle, &attrs);
        self.reply("fsetstat", &handle, done)?;
        Ok(ok_status(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let handle = self.do_opendir(&path);
        let handle = self.reply("opendir", &path, handle)?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let files = self.do_readdir(&handle);
        let files = self.reply("readdir", &handle, files)?;
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let done = self.do_remove(&filename);
        self.reply("remove", &filename, done)?;
        Ok(ok_status(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let done = self.do_mkdir(&path).await;
        self.reply("mkdir", &path, done)?;
        Ok(ok_status(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        let done = self.do_rmdir(&path);
        self.reply("rmdir", &path, done)?;
        Ok(ok_status(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let canonical = normalize(&path)
            .map(|p| p.client_string())
            .map_err(Refusal::from);
        let canonical = self.reply("realpath", &path, canonical)?;
        Ok(Name {
            id,
            files: vec![File::dummy(canonical)],
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        let done = self.do_rename(&oldpath, &newpath, false).await;
        self.reply("rename", &format!("{oldpath} -> {newpath}"), done)?;
        Ok(ok_status(id))
    }

    async fn readlink(&mut self, _id: u32, path: String) -> Result<Name, Self::Error> {
        let refused: Result<Name, _> = Err(Refusal::denied("symbolic links are not supported"));
        self.reply("readlink", &path, refused)
    }

    async fn symlink(
        &mut self,
        _id: u32,
        linkpath: String,
        _targetpath: String,
    ) -> Result<Status, Self::Error> {
        let refused: Result<Status, _> = Err(Refusal::denied("symbolic links are not supported"));
        self.reply("symlink", &linkpath, refused)
    }

    async fn extended(
        &mut self,
        id: u32,
        request: String,
        data: Vec<u8>,
    ) -> Result<Packet, Self::Error> {
        let reply = self.do_extended(id, &request, &data).await;
        self.reply("extended", &request, reply)
    }
}
