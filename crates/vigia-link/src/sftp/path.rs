//! Client paths → paths inside one camera's incoming area. Pure: no I/O.
//!
//! The SFTP client sees the area as `/` and may only name a capture folder
//! directly under it and files inside those folders (or directly under `/`,
//! which is where a stock `scp file host:` lands). Every component must be
//! one plain name: no `..`, no `.` (except a leading `.` meaning "the current
//! folder", which is always `/` here and which `scp` sends as `./name`), no
//! empty component, no NUL or control characters, no leading dot, at most
//! [`MAX_NAME_BYTES`]. Whatever passes is joined onto the area, so the result
//! can never name anything outside it; symlinks inside the area are the
//! handler's business (see [`super`]), not this module's.
//!
//! [`resolve`] is strict and used for every operation that touches the disk.
//! `normalize` is only for `SSH_FXP_REALPATH`, which clients use to
//! canonicalize what the user typed (`cd ..`), so it folds `.`, `..` and
//! repeated slashes lexically the way a chroot would, then applies the same
//! name rules to the result.

use std::path::{Path, PathBuf};

/// Deepest path a client may name: capture folder / file.
pub const MAX_DEPTH: usize = 2;
/// Longest single name, as on common Linux filesystems.
pub const MAX_NAME_BYTES: usize = 255;

/// Longest excerpt of a client string kept in an error, so a hostile 256 KiB
/// path does not end up in a log line.
const SHOWN_BYTES: usize = 120;

/// Why a client path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path {path:?} contains a NUL byte")]
    Nul { path: String },
    #[error("path {path:?} has an empty component")]
    EmptyComponent { path: String },
    #[error("path {path:?} has a `.` or `..` component")]
    DotComponent { path: String },
    #[error("name {name:?} starts with a dot")]
    Hidden { name: String },
    #[error("name {name:?} is {len} bytes long; at most {MAX_NAME_BYTES} are allowed")]
    NameTooLong { name: String, len: usize },
    #[error("name {name:?} contains a control character")]
    ControlChar { name: String },
    #[error("path {path:?} is {depth} levels deep; at most {MAX_DEPTH} (folder/file) are allowed")]
    TooDeep { path: String, depth: usize },
}

/// A validated path below the area: 0 names for `/`, 1 for a capture folder
/// or a top-level file, 2 for a file in a capture folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AreaPath {
    names: Vec<String>,
    /// Spelled with a trailing slash: it must be a folder (as in POSIX,
    /// where `open("f/", O_CREAT)` fails rather than creating `f`).
    dir_only: bool,
}

impl AreaPath {
    pub(crate) fn depth(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn is_root(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn dir_only(&self) -> bool {
        self.dir_only
    }

    /// The folder holding this entry; `None` for the root.
    pub(crate) fn parent(&self) -> Option<AreaPath> {
        let (_, rest) = self.names.split_last()?;
        Some(AreaPath {
            names: rest.to_vec(),
            dir_only: false,
        })
    }

    /// Proper ancestors below the root (the capture folder of a file).
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = AreaPath> + '_ {
        (1..self.names.len()).map(|n| AreaPath {
            names: self.names[..n].to_vec(),
            dir_only: false,
        })
    }

    /// The path as the client sees it, always absolute.
    pub(crate) fn client_string(&self) -> String {
        format!("/{}", self.names.join("/"))
    }

    pub(crate) fn on(&self, area: &Path) -> PathBuf {
        let mut path = area.to_path_buf();
        path.extend(&self.names);
        path
    }
}

/// Map a client path to the file or folder it names inside `area`.
///
/// Accepts `/`, `.`, `` (all the area itself), absolute (`/cap/f`) and
/// relative (`cap/f`, `./f`) paths, and one trailing slash (`cap/`).
pub fn resolve(area: &Path, client_path: &str) -> Result<PathBuf, PathError> {
    parse(client_path).map(|p| p.on(area))
}

/// Strict parsing shared by [`resolve`] and the handler.
pub(crate) fn parse(client_path: &str) -> Result<AreaPath, PathError> {
    if client_path.contains('\0') {
        return Err(PathError::Nul {
            path: shown(client_path),
        });
    }
    let rest = client_path.strip_prefix('/').unwrap_or(client_path);
    if rest.starts_with('/') {
        return Err(PathError::EmptyComponent {
            path: shown(client_path),
        });
    }
    // One trailing slash is how clients name a folder; more is junk.
    let (rest, dir_only) = match rest.strip_suffix('/') {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let mut parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    if parts.first() == Some(&".") {
        parts.remove(0);
    }
    let mut names = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            "" => {
                return Err(PathError::EmptyComponent {
                    path: shown(client_path),
                })
            }
            "." | ".." => {
                return Err(PathError::DotComponent {
                    path: shown(client_path),
                })
            }
            name => names.push(check_name(name)?),
        }
    }
    check_depth(client_path, names, dir_only)
}

/// Lexical canonicalization for `SSH_FXP_REALPATH`: folds `.`, `..` and
/// empty components, clamping `..` at `/` as a chroot does.
pub(crate) fn normalize(client_path: &str) -> Result<AreaPath, PathError> {
    if client_path.contains('\0') {
        return Err(PathError::Nul {
            path: shown(client_path),
        });
    }
    let mut names: Vec<String> = Vec::new();
    for part in client_path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                names.pop();
            }
            name => names.push(check_name(name)?),
        }
    }
    check_depth(client_path, names, false)
}

fn check_depth(
    client_path: &str,
    names: Vec<String>,
    dir_only: bool,
) -> Result<AreaPath, PathError> {
    if names.len() > MAX_DEPTH {
        return Err(PathError::TooDeep {
            path: shown(client_path),
            depth: names.len(),
        });
    }
    Ok(AreaPath { names, dir_only })
}

fn check_name(name: &str) -> Result<String, PathError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(PathError::NameTooLong {
            name: shown(name),
            len: name.len(),
        });
    }
    if name.starts_with('.') {
        return Err(PathError::Hidden { name: shown(name) });
    }
    if name.chars().any(char::is_control) {
        return Err(PathError::ControlChar { name: shown(name) });
    }
    Ok(name.to_owned())
}

/// A bounded copy of a client string for error messages and logs.
pub(super) fn shown(s: &str) -> String {
    if s.len() <= SHOWN_BYTES {
        return s.to_owned();
    }
    let mut end = SHOWN_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area() -> PathBuf {
        PathBuf::from("/data/incoming/cam1")
    }

    #[test]
    fn root_spellings_resolve_to_the_area() {
        for p in ["/", ".", "", "./", "/."] {
            assert_eq!(resolve(&area(), p), Ok(area()), "{p:?}");
        }
    }

    #[test]
    fn good_paths_resolve_inside() {
        let cases = [
            ("/20240101T120000-cam1", "20240101T120000-cam1"),
            ("/cap/clip-0001.mp4", "cap/clip-0001.mp4"),
            ("cap/manifest.json", "cap/manifest.json"),
            ("./snapshot.jpg", "snapshot.jpg"),
            ("./cap/f", "cap/f"),
            ("cap/", "cap"),
            ("/cap/", "cap"),
            ("/câmara 2/vídeo.mp4", "câmara 2/vídeo.mp4"),
            ("a..b", "a..b"),
        ];
        for (client, rel) in cases {
            let got = resolve(&area(), client).unwrap_or_else(|e| panic!("{client:?}: {e}"));
            assert_eq!(got, area().join(rel), "{client:?}");
            assert!(got.starts_with(area()));
        }
    }

    #[test]
    fn traversal_is_refused() {
        for p in [
            "..",
            "../x",
            "/..",
            "/../x",
            "/a/../../b",
            "a/..",
            "cap/../../../etc/passwd",
            "a/./b",
            "a/.",
            "././a",
        ] {
            assert!(
                matches!(resolve(&area(), p), Err(PathError::DotComponent { .. })),
                "{p:?} gave {:?}",
                resolve(&area(), p)
            );
        }
    }

    #[test]
    fn empty_components_are_refused() {
        for p in ["//", "//etc", "a//b", "/a//", "a///", "///"] {
            assert!(
                matches!(resolve(&area(), p), Err(PathError::EmptyComponent { .. })),
                "{p:?} gave {:?}",
                resolve(&area(), p)
            );
        }
    }

    #[test]
    fn nul_and_control_characters_are_refused() {
        assert!(matches!(
            resolve(&area(), "cap/f\0../../x"),
            Err(PathError::Nul { .. })
        ));
        for p in ["cap/a\nb", "a\rb", "\u{1b}[31m", "cap/\u{7f}", "a\u{85}b"] {
            assert!(
                matches!(resolve(&area(), p), Err(PathError::ControlChar { .. })),
                "{p:?}"
            );
        }
    }

    #[test]
    fn long_names_are_refused() {
        let ok = "a".repeat(MAX_NAME_BYTES);
        assert!(resolve(&area(), &format!("cap/{ok}")).is_ok());
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        let err = resolve(&area(), &format!("cap/{long}")).unwrap_err();
        assert!(matches!(err, PathError::NameTooLong { len: 256, .. }));
        // The message stays bounded whatever the client sent.
        let huge = "é".repeat(100_000);
        let msg = resolve(&area(), &huge).unwrap_err().to_string();
        assert!(msg.len() < 400, "{} bytes", msg.len());
    }

    #[test]
    fn hidden_names_are_refused() {
        for p in [".ssh", "/cap/.part", "./.x", ".../x"] {
            assert!(
                matches!(resolve(&area(), p), Err(PathError::Hidden { .. })),
                "{p:?} gave {:?}",
                resolve(&area(), p)
            );
        }
    }

    #[test]
    fn depth_beyond_folder_and_file_is_refused() {
        assert!(matches!(
            resolve(&area(), "/a/b/c"),
            Err(PathError::TooDeep { depth: 3, .. })
        ));
        assert!(matches!(
            resolve(&area(), "a/b/c/d/"),
            Err(PathError::TooDeep { depth: 4, .. })
        ));
    }

    #[test]
    fn normalize_folds_like_a_chroot() {
        let n = |p: &str| normalize(p).map(|a| a.client_string());
        assert_eq!(n(".").as_deref(), Ok("/"));
        assert_eq!(n("").as_deref(), Ok("/"));
        assert_eq!(n("/cap/..").as_deref(), Ok("/"));
        assert_eq!(n("/../../..").as_deref(), Ok("/"));
        assert_eq!(n("/../cap//./f").as_deref(), Ok("/cap/f"));
        assert_eq!(n("cap").as_deref(), Ok("/cap"));
        assert!(matches!(
            normalize("/a/b/c"),
            Err(PathError::TooDeep { .. })
        ));
        assert!(matches!(normalize("/.ssh"), Err(PathError::Hidden { .. })));
        assert!(matches!(normalize("a\0"), Err(PathError::Nul { .. })));
    }

    #[test]
    fn area_path_helpers() {
        let p = parse("/cap/f").unwrap();
        assert_eq!(p.depth(), 2);
        assert_eq!(p.parent(), Some(parse("/cap").unwrap()));
        assert_eq!(
            p.ancestors().collect::<Vec<_>>(),
            vec![parse("cap").unwrap()]
        );
        assert!(parse("/").unwrap().parent().is_none());
        assert!(parse("/").unwrap().is_root());
        assert!(parse("cap/").unwrap().dir_only());
        assert!(!parse("cap").unwrap().dir_only());
    }
}
