//! Keys and who is trusted: the server's host key, a node's own key, the
//! server's `authorized_keys` (each key bound to one camera) and the
//! node's pin of the server's host key.
//!
//! Files use OpenSSH formats so operators can read and edit them with the
//! tools they know, and a stock `sftp` client or `sshd` can share them.
//!
//! `authorized_keys` binds a key to a camera with an OpenSSH option:
//! ```text
//! restrict,environment="VIGIA_CAMERA=front-door" ssh-ed25519 AAAA… node@pi
//! ```
//! `restrict` keeps the line safe should the file ever be given to a stock
//! `sshd`; vigia reads the camera id from the `environment` option. A key
//! without that binding is refused: a key must never be able to write into
//! whichever camera's area its holder names.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use russh::keys::ssh_key::{self, private::Ed25519Keypair, HashAlg, LineEnding};
use russh::keys::{PrivateKey, PublicKey};
use vigia_base::CameraId;

const CAMERA_OPTION: &str = "environment=\"VIGIA_CAMERA=";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an OpenSSH key: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("{path} is readable by other users (mode {mode:o}); run chmod 600 on it")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("the key in {path} is already authorized for camera {camera}")]
    AlreadyAuthorized { path: PathBuf, camera: CameraId },
}

fn write_private(path: &Path, text: &[u8]) -> Result<(), KeyError> {
    let werr = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(werr)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists {
                    path: path.to_owned(),
                }
            } else {
                werr(e)
            }
        })?;
    f.write_all(text).map_err(werr)?;
    f.sync_all().map_err(werr)
}

/// A new Ed25519 key with `comment`.
pub fn new_ed25519(comment: &str) -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(comment);
    key
}

/// Writes `key` as `path` (0600, never overwriting) and its public half as
/// `path.pub`.
pub fn write_key_pair(key: &PrivateKey, path: &Path) -> Result<(), KeyError> {
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| KeyError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    write_private(path, pem.as_bytes())?;
    let public = public_line(key.public_key());
    let pub_path = pub_path(path);
    std::fs::write(&pub_path, format!("{public}\n")).map_err(|source| KeyError::Write {
        path: pub_path,
        source,
    })
}

pub fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// `ssh-ed25519 AAAA… comment`.
pub fn public_line(key: &PublicKey) -> String {
    key.to_openssh().unwrap_or_default()
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Reads a private key, refusing one other users can read (as OpenSSH
/// does), since a leaked node key lets anyone write into its camera's area.
pub fn read_private(path: &Path) -> Result<PrivateKey, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    PrivateKey::from_openssh(text).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The server's host key: loaded, or generated (Ed25519) on first start.
pub fn load_or_create_host_key(path: &Path) -> Result<PrivateKey, KeyError> {
    if path.exists() {
        return read_private(path);
    }
    let key = new_ed25519("vigia-server-host-key");
    write_key_pair(&key, path)?;
    tracing::info!(path = %path.display(), fingerprint = %fingerprint(key.public_key()), "generated the SSH host key");
    Ok(key)
}

pub fn read_public(path: &Path) -> Result<PublicKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    PublicKey::from_openssh(text.trim()).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// One usable line of `authorized_keys`.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    pub camera: CameraId,
    pub key: PublicKey,
}

fn camera_of(entry: &ssh_key::authorized_keys::Entry) -> Option<CameraId> {
    entry.config_opts().iter().find_map(|opt| {
        opt.strip_prefix(CAMERA_OPTION)?
            .strip_suffix('"')?
            .parse()
            .ok()
    })
}

/// Parses `authorized_keys` text. Lines that do not parse, or carry no
/// camera binding, are skipped with a warning naming the line number: one
/// bad line must not lock every camera out.
pub fn parse_authorized_keys(text: &str, origin: &Path) -> Vec<AuthorizedKey> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.parse::<ssh_key::authorized_keys::Entry>() {
            Ok(entry) => match camera_of(&entry) {
                Some(camera) => out.push(AuthorizedKey {
                    camera,
                    key: entry.public_key().clone(),
                }),
                None => tracing::warn!(
                    file = %origin.display(), line = i + 1,
                    "authorized key without a camera binding (environment=\"VIGIA_CAMERA=…\"); ignored"
                ),
            },
            Err(e) => {
                tracing::warn!(file = %origin.display(), line = i + 1, error = %e, "unparsable authorized_keys line; ignored")
            }
        }
    }
    out
}

/// Reads `authorized_keys`; a missing file means nobody is authorized.
pub fn read_authorized_keys(path: &Path) -> Result<Vec<AuthorizedKey>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_authorized_keys(&text, path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(KeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The camera a key is authorized for, comparing key material only
/// (comments differ between copies of the same key).
pub fn camera_for(keys: &[AuthorizedKey], offered: &PublicKey) -> Option<CameraId> {
    keys.iter()
        .find(|k| k.key.key_data() == offered.key_data())
        .map(|k| k.camera.clone())
}

/// Appends `key` bound to `camera` to `authorized_keys` (created 0600).
pub fn authorize(path: &Path, key: &PublicKey, camera: &CameraId) -> Result<(), KeyError> {
    let existing = read_authorized_keys(path)?;
    if let Some(c) = camera_for(&existing, key) {
        return Err(KeyError::AlreadyAuthorized {
            path: path.to_owned(),
            camera: c,
        });
    }
    let werr = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(werr)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(werr)?;
    writeln!(f, "restrict,{CAMERA_OPTION}{camera}\" {}", public_line(key)).map_err(werr)?;
    f.sync_all().map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_binds_each_key_to_its_camera_and_refuses_duplicates() {
        let d = tempfile::tempdir().unwrap();
        let ak = d.path().join("authorized_keys");
        let (a, b) = (new_ed25519("a"), new_ed25519("b"));
        authorize(&ak, a.public_key(), &"front".parse().unwrap()).unwrap();
        authorize(&ak, b.public_key(), &"garden".parse().unwrap()).unwrap();
        let keys = read_authorized_keys(&ak).unwrap();
        assert_eq!(camera_for(&keys, a.public_key()).unwrap().as_str(), "front");
        assert_eq!(
            camera_for(&keys, b.public_key()).unwrap().as_str(),
            "garden"
        );
        assert!(camera_for(&keys, new_ed25519("c").public_key()).is_none());
        assert!(matches!(
            authorize(&ak, a.public_key(), &"other".parse().unwrap()),
            Err(KeyError::AlreadyAuthorized { .. })
        ));
        let text = std::fs::read_to_string(&ak).unwrap();
        assert!(text.starts_with("restrict,environment=\"VIGIA_CAMERA=front\" ssh-ed25519 "));
    }

    #[test]
    fn unbound_and_broken_lines_are_skipped_not_fatal() {
        let good = new_ed25519("g");
        let text = format!(
            "# comment\n{}\ngarbage line\nrestrict,environment=\"VIGIA_CAMERA=../x\" {}\nrestrict,environment=\"VIGIA_CAMERA=ok\" {}\n",
            public_line(new_ed25519("unbound").public_key()),
            public_line(new_ed25519("badcam").public_key()),
            public_line(good.public_key()),
        );
        let keys = parse_authorized_keys(&text, Path::new("ak"));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].camera.as_str(), "ok");
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("node_key");
        let k = new_ed25519("node");
        write_key_pair(&k, &p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_private(&p).unwrap().public_key(), k.public_key());
        assert_eq!(&read_public(&pub_path(&p)).unwrap(), k.public_key());
        assert!(matches!(
            write_key_pair(&new_ed25519("x"), &p),
            Err(KeyError::Exists { .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_private(&p), Err(KeyError::TooOpen { .. })));
    }

    #[test]
    fn host_key_is_created_once_then_reused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("host_key");
        let a = load_or_create_host_key(&p).unwrap();
        let b = load_or_create_host_key(&p).unwrap();
        assert_eq!(a.public_key(), b.public_key());
    }
}
