//! The capture manifest: what a capture says about itself, and the
//! contract between the node that writes it and the server that ingests it.
//!
//! The manifest (`manifest.json`) is the last file a node writes into a
//! capture. It lists the size and sha256 of every file, which the server
//! verifies before it stores and acknowledges the capture. It lives in this
//! crate because both sides depend on it and neither may depend on the
//! other.

use crate::{CameraId, CaptureId};
use serde::{Deserialize, Serialize};

pub const MANIFEST_NAME: &str = "manifest.json";
pub const MANIFEST_VERSION: u32 = 1;

/// The files a capture may hold. Names on disk come only from this enum,
/// never from strings a peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    Snapshot,
    ClipInit,
    /// Fragment `n` (from 1) of the clip.
    ClipFragment(u32),
}

impl FileKind {
    pub fn file_name(self) -> String {
        match self {
            FileKind::Snapshot => "snapshot.jpg".into(),
            FileKind::ClipInit => "clip-init.mp4".into(),
            FileKind::ClipFragment(n) => format!("clip-{n:06}.m4s"),
        }
    }

    pub fn from_file_name(name: &str) -> Option<Self> {
        match name {
            "snapshot.jpg" => Some(FileKind::Snapshot),
            "clip-init.mp4" => Some(FileKind::ClipInit),
            _ => {
                let n = name.strip_prefix("clip-")?.strip_suffix(".m4s")?;
                if n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()) {
                    n.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .map(FileKind::ClipFragment)
                } else {
                    None
                }
            }
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FileKind::Snapshot => "snapshot",
            FileKind::ClipInit => "clip_init",
            FileKind::ClipFragment(_) => "clip_fragment",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    /// `snapshot`, `clip_init` or `clip_fragment`.
    pub kind: String,
    pub bytes: u64,
    pub sha256: String,
    /// Fragments only: footage span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Highest per-frame motion score of the event.
    pub motion_max: f32,
    /// Mean motion score over the event's motion frames.
    pub motion_mean: f32,
    /// Best person probability over the event's detections. Absent when no
    /// detection ran (no model on the node, or the event ended first), so a
    /// reader can tell "not a person" from "not looked at".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_max: Option<f32>,
    /// Person detections run during the event.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub detections: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub capture_id: CaptureId,
    pub camera: CameraId,
    pub trigger_ms: i64,
    /// Footage span, ms since the Unix epoch (UTC); includes pre- and post-roll.
    pub start_ms: i64,
    pub end_ms: i64,
    /// The same instants as RFC 3339 UTC, for people reading the file.
    pub start_utc: String,
    pub end_utc: String,
    /// `person`, `animal` or `motion`.
    pub label: String,
    pub scores: Scores,
    /// Frames in the clip.
    pub frames: u32,
    /// Capture time of the frame chosen as snapshot.
    pub snapshot_ms: Option<i64>,
    /// `quiet`, `max_length`, `flush`, or `interrupted` (completed by start-up recovery).
    pub end_reason: String,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

pub const JOURNAL_NAME: &str = "event.json";

/// The journal of a capture being recorded (`event.json`), rewritten after
/// every file the recorder finishes. It lets a capture cut short — the
/// node crashed, lost power, or was smashed mid-event — be completed from
/// the files that were finished: by the node's start-up recovery from its
/// outbox, or by the server from the files already uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub capture_id: CaptureId,
    pub camera: CameraId,
    /// First trigger, ms since the Unix epoch (UTC).
    pub trigger_ms: i64,
    /// First frame of the clip (trigger minus the pre-roll available).
    pub start_ms: i64,
    pub files: Vec<FileEntry>,
}

impl Journal {
    /// The manifest of a capture cut short, from the files actually present
    /// (name, size and sha256 as found). Timing comes from the journal's
    /// entry of the same file when its sha256 matches.
    pub fn complete(&self, present: Vec<FileEntry>, end_reason: &str) -> Manifest {
        let mut files: std::collections::BTreeMap<FileKind, FileEntry> = Default::default();
        for mut f in present {
            let Some(kind) = FileKind::from_file_name(&f.name) else {
                continue;
            };
            if let Some(j) = self
                .files
                .iter()
                .find(|j| j.name == f.name && j.sha256 == f.sha256)
            {
                f.start_ms = j.start_ms;
                f.duration_ms = j.duration_ms;
                f.frames = j.frames;
            }
            f.kind = kind.label().into();
            files.insert(kind, f);
        }
        let end_ms = files
            .values()
            .filter_map(|f| Some(f.start_ms? + i64::from(f.duration_ms?)))
            .max()
            .unwrap_or(self.trigger_ms)
            .max(self.start_ms);
        Manifest {
            version: MANIFEST_VERSION,
            capture_id: self.capture_id.clone(),
            camera: self.camera.clone(),
            trigger_ms: self.trigger_ms,
            start_ms: self.start_ms,
            end_ms,
            start_utc: crate::clock::format_utc_ms(self.start_ms),
            end_utc: crate::clock::format_utc_ms(end_ms),
            label: "motion".into(),
            scores: Scores::default(),
            frames: files.values().filter_map(|f| f.frames).sum(),
            snapshot_ms: None,
            end_reason: end_reason.into(),
            files: files.into_values().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip_and_reject_everything_else() {
        for k in [
            FileKind::Snapshot,
            FileKind::ClipInit,
            FileKind::ClipFragment(1),
            FileKind::ClipFragment(999_999),
        ] {
            assert_eq!(FileKind::from_file_name(&k.file_name()), Some(k));
        }
        for bad in [
            "clip-000000.m4s",
            "clip-1.m4s",
            "../snapshot.jpg",
            "clip-00000a.m4s",
            "manifest.json",
            ".clip-init.mp4.tmp",
        ] {
            assert_eq!(FileKind::from_file_name(bad), None, "{bad}");
        }
    }

    /// Manifests written before person detection (no `person_max`) still
    /// parse, and "not looked at" survives a round trip as absent.
    #[test]
    fn person_score_is_optional_on_the_wire() {
        let old: Scores = serde_json::from_str(r#"{"motion_max":0.5,"motion_mean":0.2}"#)
            .expect("an older node's scores parse");
        assert_eq!(old.person_max, None);
        assert_eq!(old.detections, 0);
        assert_eq!(
            serde_json::to_string(&old).expect("json"),
            r#"{"motion_max":0.5,"motion_mean":0.2}"#
        );
        let seen = Scores {
            person_max: Some(0.0),
            detections: 4,
            ..old
        };
        let back: Scores =
            serde_json::from_str(&serde_json::to_string(&seen).expect("json")).expect("round trip");
        assert_eq!(back, seen, "a checked event with score 0 stays checked");
    }
}
