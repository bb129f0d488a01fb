//! Typed ids. They are the only strings that ever become file names, so
//! their syntax is restricted to one safe path component by construction.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("camera id {0:?} must be 1-32 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")]
    Camera(String),
    #[error("capture id {0:?} is not of the form YYYYMMDDTHHMMSSmmmZ-xxxxxxxx")]
    Capture(String),
}

/// Names one camera (and so one node) across the system: in file names,
/// topics, URLs and the database.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(String);

impl CameraId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CameraId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Camera(s.to_owned()))
        }
    }
}

impl TryFrom<String> for CameraId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<CameraId> for String {
    fn from(c: CameraId) -> String {
        c.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names one capture. Sorts by start time (UTC) as a string, so a directory
/// listing is already in capture order; the random suffix keeps two events
/// starting in the same millisecond (or a clock stepped backwards) distinct.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct CaptureId(String);

impl CaptureId {
    pub fn new(start_ms: i64, nonce: u32) -> Self {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        Self(format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z-{:08x}",
            t.year().clamp(0, 9999),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond(),
            nonce
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The start time the id encodes, ms since the Unix epoch (UTC).
    pub fn start_ms(&self) -> Option<i64> {
        let s = &self.0;
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
        let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
        let date =
            time::Date::from_calendar_date(num(0..4)? as i32, month, num(6..8)? as u8).ok()?;
        let t = time::Time::from_hms_milli(
            num(9..11)? as u8,
            num(11..13)? as u8,
            num(13..15)? as u8,
            num(15..18)? as u16,
        )
        .ok()?;
        let ns = time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp_nanos();
        Some((ns / 1_000_000) as i64)
    }
}

impl FromStr for CaptureId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        let ok = b.len() == 28
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'T'
            && b[9..18].iter().all(u8::is_ascii_digit)
            && b[18] == b'Z'
            && b[19] == b'-'
            && b[20..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Capture(s.to_owned()))
        }
    }
}

impl TryFrom<String> for CaptureId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<CaptureId> for String {
    fn from(c: CaptureId) -> String {
        c.0
    }
}

impl fmt::Display for CaptureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_ids_are_single_safe_path_components() {
        for good in ["front", "cam-1", "a", "garage_2"] {
            assert!(good.parse::<CameraId>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "Front",
            "-x",
            "a b",
            "x\0",
            &"a".repeat(33),
        ] {
            assert!(bad.parse::<CameraId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn capture_ids_round_trip_and_sort_by_time() {
        let a = CaptureId::new(1_795_000_313_120, 0xdead_beef);
        assert_eq!(a.as_str(), "20261118T111153120Z-deadbeef");
        assert_eq!(a.as_str().parse::<CaptureId>(), Ok(a.clone()));
        let b = CaptureId::new(1_795_000_313_121, 0);
        assert!(a < b);
        for bad in ["../../etc/passwd", "20261118T095153120Z-DEADBEEF", "x"] {
            assert!(bad.parse::<CaptureId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn capture_ids_give_back_their_start_time() {
        for ms in [0i64, 1_700_000_000_123, 1_795_000_000_999] {
            assert_eq!(CaptureId::new(ms, 9).start_ms(), Some(ms));
        }
    }
}
