//! Why a request was refused, as the SFTP status the client gets.
//!
//! One place maps path errors and errno values to SFTPv3 status codes, the
//! way OpenSSH's server does where v3 has a code, each with a short message
//! the client can show. `io::Error` from std carries no path, so nothing of
//! the server's layout leaks into a message.

use std::io;

use russh_sftp::protocol::StatusCode;

use super::PathError;

/// A refused request: the status the client gets and why.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) code: StatusCode,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(super) fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PermissionDenied, message)
    }

    pub(super) fn failure(message: impl Into<String>) -> Self {
        Self::new(StatusCode::Failure, message)
    }

    pub(super) fn bad_handle() -> Self {
        Self::failure("invalid handle")
    }
}

impl From<PathError> for Refusal {
    fn from(err: PathError) -> Self {
        Self::denied(err.to_string())
    }
}

impl From<io::Error> for Refusal {
    fn from(err: io::Error) -> Self {
        // Mirrors OpenSSH's errno mapping where SFTPv3 has a code, with a
        // message the client can show; io::Error from std carries no path.
        let (code, message) = match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                (StatusCode::Failure, "no space left on device")
            }
            Some(libc::ELOOP) => (
                StatusCode::PermissionDenied,
                "symbolic links are not followed",
            ),
            Some(libc::ENOENT) => (StatusCode::NoSuchFile, "no such file or directory"),
            Some(libc::ENOTDIR) => (StatusCode::NoSuchFile, "not a directory"),
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                (StatusCode::PermissionDenied, "permission denied")
            }
            Some(libc::EEXIST) => (StatusCode::Failure, "already exists"),
            Some(libc::ENOTEMPTY) => (StatusCode::Failure, "directory not empty"),
            Some(libc::EISDIR) => (StatusCode::Failure, "is a directory"),
            Some(libc::EFBIG) => (StatusCode::Failure, "file too large"),
            _ => return Self::failure(format!("i/o error: {err}")),
        };
        Self::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_maps_to_failure_with_no_space() {
        for errno in [libc::ENOSPC, libc::EDQUOT] {
            let r = Refusal::from(io::Error::from_raw_os_error(errno));
            assert_eq!(r.code, StatusCode::Failure);
            assert_eq!(r.message, "no space left on device");
        }
    }

    #[test]
    fn errno_mapping_follows_openssh() {
        let code = |errno| Refusal::from(io::Error::from_raw_os_error(errno)).code;
        assert_eq!(code(libc::ENOENT), StatusCode::NoSuchFile);
        assert_eq!(code(libc::ENOTDIR), StatusCode::NoSuchFile);
        assert_eq!(code(libc::EACCES), StatusCode::PermissionDenied);
        assert_eq!(code(libc::ELOOP), StatusCode::PermissionDenied);
        assert_eq!(code(libc::EEXIST), StatusCode::Failure);
        assert_eq!(code(libc::EIO), StatusCode::Failure);
    }
}
