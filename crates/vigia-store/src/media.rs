//! The media tree: where a stored capture's files live, and the small
//! file-system primitives ingest, deletion and recovery are built from.
//!
//! ```text
//! <media_dir>/
//!   .vigia-store.lock                  flock: the process holding it owns recovery
//!   .tmp-<capture id>/                 an ingest being built (removed at start-up)
//!   <camera id>/<YYYY-MM-DD>/<capture id>/
//!     snapshot.jpg  thumb.jpg  clip.mp4  manifest.json
//! ```
//! Every path component comes from a typed id ([`CameraId`], [`CaptureId`])
//! or from a day computed from one, never from a string a peer or user
//! sent. The day is the UTC date in the capture id, which ingest checks is
//! the capture's start. Also here: free-space queries (statvfs) and the
//! thumbnail (decode, box-filter downscale, encode), which is pure.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use vigia_base::{CameraId, CaptureId};
use vigia_media::{MediaError, Yuv420};

pub const SNAPSHOT: &str = "snapshot.jpg";
pub const THUMBNAIL: &str = "thumb.jpg";
pub const CLIP: &str = "clip.mp4";
pub const MANIFEST: &str = vigia_base::manifest::MANIFEST_NAME;
pub const TMP_PREFIX: &str = ".tmp-";
pub const LOCK_NAME: &str = ".vigia-store.lock";
/// Thumbnails are at most this wide (height keeps the aspect ratio).
pub const THUMB_WIDTH: u32 = 320;
pub const THUMB_QUALITY: u8 = 75;

/// `YYYY-MM-DD` (UTC) of the capture's start, from the id's time part.
pub fn day_of(id: &CaptureId) -> String {
    let s = id.as_str();
    format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8])
}

/// True if `s` is exactly `YYYY-MM-DD` in ASCII digits.
pub fn is_day(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

pub fn day_dir(media: &Path, camera: &CameraId, day: &str) -> PathBuf {
    media.join(camera.as_str()).join(day)
}

pub fn capture_dir(media: &Path, camera: &CameraId, id: &CaptureId) -> PathBuf {
    day_dir(media, camera, &day_of(id)).join(id.as_str())
}

pub fn tmp_dir(media: &Path, id: &CaptureId) -> PathBuf {
    media.join(format!("{TMP_PREFIX}{id}"))
}

pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Bytes available to unprivileged writers on the file system of `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated string and `st` a properly
    // sized, writable statvfs that the call fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ by platform
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Removes a capture directory (if present), fsyncs its parent, and
/// removes the day directory if that left it empty. Idempotent.
pub fn remove_capture_dir(
    media: &Path,
    camera: &CameraId,
    day: &str,
    id: &CaptureId,
) -> io::Result<()> {
    let day_path = day_dir(media, camera, day);
    let dir = day_path.join(id.as_str());
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    fsync_dir(&day_path)?;
    if fs::remove_dir(&day_path).is_ok() {
        fsync_dir(&media.join(camera.as_str()))?;
    }
    Ok(())
}

/// Makes the thumbnail of a snapshot: at most [`THUMB_WIDTH`] wide, JPEG
/// quality [`THUMB_QUALITY`].
pub fn thumbnail(snapshot_jpeg: &[u8]) -> Result<Vec<u8>, MediaError> {
    let img = vigia_media::jpeg::decode_yuv420(snapshot_jpeg)?;
    let small = downscale(&img, THUMB_WIDTH);
    vigia_media::jpeg::encode_jpeg_yuv(&small, THUMB_QUALITY)
}

/// Box-filter downscale of an I420 image to at most `max_width` wide,
/// keeping the aspect ratio and even dimensions. Returns a copy if the
/// image is already small enough.
pub fn downscale(img: &Yuv420, max_width: u32) -> Yuv420 {
    if img.width <= max_width || img.width == 0 || img.height == 0 {
        return img.clone();
    }
    let even = |v: u32| (v & !1).max(2);
    let w = even(max_width);
    let h = even(((u64::from(img.height) * u64::from(w)) / u64::from(img.width)) as u32);
    Yuv420 {
        width: w,
        height: h,
        y: resample(&img.y, img.width, img.height, w, h),
        u: resample(&img.u, img.width / 2, img.height / 2, w / 2, h / 2),
        v: resample(&img.v, img.width / 2, img.height / 2, w / 2, h / 2),
    }
}

/// Area average of one plane: each output pixel is the mean of the source
/// pixels its footprint covers (whole pixels; fine for thumbnails).
fn resample(src: &[u8], sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<u8> {
    let (sw, sh, dw, dh) = (sw as usize, sh as usize, dw as usize, dh as usize);
    let mut out = Vec::with_capacity(dw * dh);
    for oy in 0..dh {
        let y0 = oy * sh / dh;
        let y1 = ((oy + 1) * sh / dh).max(y0 + 1).min(sh);
        for ox in 0..dw {
            let x0 = ox * sw / dw;
            let x1 = ((ox + 1) * sw / dw).max(x0 + 1).min(sw);
            let mut sum = 0u32;
            for row in src.chunks(sw).skip(y0).take(y1 - y0) {
                sum += row[x0..x1].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            out.push(((sum + n / 2) / n.max(1)) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_come_from_capture_ids() {
        let id = CaptureId::new(1_795_000_313_120, 1);
        assert_eq!(day_of(&id), "2026-11-18");
        assert!(is_day("2026-11-18"));
        for bad in ["2026-11-1", "2026/11/18", "../11-18xx", "2026-11-18 "] {
            assert!(!is_day(bad), "{bad}");
        }
        let cam: CameraId = "porch".parse().expect("camera");
        assert_eq!(
            capture_dir(Path::new("/m"), &cam, &id),
            Path::new("/m/porch/2026-11-18/20261118T111153120Z-00000001")
        );
    }

    #[test]
    fn downscale_keeps_aspect_and_averages() {
        let img = Yuv420::filled(640, 480, 100, 90, 80);
        let s = downscale(&img, 320);
        assert_eq!((s.width, s.height), (320, 240));
        assert_eq!(s.y.len(), 320 * 240);
        assert_eq!(s.u.len(), 160 * 120);
        assert!(s.y.iter().all(|&p| p == 100));
        assert!(s.v.iter().all(|&p| p == 80));
        let odd = downscale(&Yuv420::filled(1000, 562, 0, 128, 128), 320);
        assert_eq!((odd.width, odd.height), (320, 178));
        let small = Yuv420::filled(160, 120, 1, 2, 3);
        assert_eq!(downscale(&small, 320), small);
    }
}
