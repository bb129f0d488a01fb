//! Every message that crosses the link's `control` and `live` channels,
//! and their framing. Pure: bytes in, typed messages out; no I/O.
//!
//! Framing is the same on both channels: a 4-byte big-endian body length,
//! then the body. Lengths are checked against a per-channel maximum
//! *before* anything is buffered, so a peer announcing a huge message is
//! refused at once instead of making us allocate.
//!
//! - `control` bodies are JSON objects tagged by `"type"` ([`ControlMessage`]).
//!   JSON because the messages are small and rare (a few per second at most),
//!   and a person debugging a link can read them; the tag and the protocol
//!   version in [`Hello`] make them versioned.
//! - `live` bodies are binary ([`LiveFrame`]): a kind byte, the frame's
//!   sequence number and capture time, then the JPEG as is — no base64 or
//!   JSON on the path that carries ten frames a second.
//!
//! Which SSH channel carries what is named here too, so both ends agree.

use serde::{Deserialize, Serialize};
use vigia_base::manifest::Manifest;
use vigia_base::{CameraId, CaptureId, Command};

/// The protocol version this build speaks. A server refuses a node whose
/// major version differs (in [`Hello`]).
pub const PROTOCOL_VERSION: u32 = 1;

/// SSH subsystem names of the private channels (RFC 4250 private names).
pub const CONTROL_SUBSYSTEM: &str = "vigia-control@vigia";
pub const LIVE_SUBSYSTEM: &str = "vigia-live@vigia";

/// A manifest of a five-minute event with 2 s fragments is about 30 KiB;
/// 256 KiB leaves room without letting a peer make us buffer much.
pub const MAX_CONTROL_BODY: usize = 256 * 1024;
/// A 4K JPEG at high quality stays under 4 MiB.
pub const MAX_LIVE_BODY: usize = 8 * 1024 * 1024;

const LIVE_KIND_FRAME: u8 = 1;
const LIVE_HEADER: usize = 1 + 8 + 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("malformed control message: {0}")]
    MalformedControl(String),
    #[error("malformed live frame: {0}")]
    MalformedLive(&'static str),
}

/// What a node says first on `control`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub protocol: u32,
    pub camera: CameraId,
    /// The node's software version (`vigia --version`).
    pub software: String,
    /// Features this node has: `live`, `commands`, `servo`, `buzzer`, …
    pub capabilities: Vec<String>,
}

/// The server's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    pub protocol: u32,
    pub software: String,
    /// How often the server expects a heartbeat.
    pub heartbeat_ms: u64,
}

/// The node's periodic status; its absence is how the server notices a
/// camera is gone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub uptime_ms: u64,
    pub armed: bool,
    pub backlog: Backlog,
    /// Frames the camera delivered in total, for "is the picture alive".
    pub frames: u64,
}

/// Captures waiting in the node's outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backlog {
    pub captures: u64,
    pub bytes: u64,
    /// Age of the oldest capture not yet acknowledged (0 when empty).
    pub oldest_age_ms: u64,
}

/// One file of a capture as the server acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckedFile {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlMessage {
    /// node → server, first message.
    Hello(Hello),
    /// server → node, answer to hello.
    Welcome(Welcome),
    /// node → server, every `heartbeat_ms`.
    Heartbeat(Heartbeat),
    /// server → node: start (`on`) or stop sending live frames.
    LiveDemand { on: bool },
    /// server → node: an order, answered by [`ControlMessage::CommandResult`]
    /// with the same id.
    Command { id: u64, command: Command },
    /// node → server.
    CommandResult { id: u64, ok: bool, message: String },
    /// node → server: every file of this capture has been uploaded over
    /// SFTP; here is its manifest (with each file's sha256). The server
    /// writes the manifest itself, so a half-uploaded capture is never
    /// mistaken for a complete one.
    CaptureCommitted { manifest: Manifest },
    /// server → node: the capture is durable on the server with exactly
    /// these files; the node may delete it.
    CaptureAck {
        capture_id: CaptureId,
        files: Vec<AckedFile>,
    },
    /// server → node: the capture was not stored. `bad_files` lists files
    /// whose size or sha256 did not match, which the node re-uploads from
    /// scratch before committing again.
    CaptureRejected {
        capture_id: CaptureId,
        reason: String,
        retryable: bool,
        bad_files: Vec<String>,
    },
}

impl ControlMessage {
    /// The variant's name, for logs that must not echo a peer's payload.
    pub fn kind(&self) -> &'static str {
        match self {
            ControlMessage::Hello(_) => "hello",
            ControlMessage::Welcome(_) => "welcome",
            ControlMessage::Heartbeat(_) => "heartbeat",
            ControlMessage::LiveDemand { .. } => "live_demand",
            ControlMessage::Command { .. } => "command",
            ControlMessage::CommandResult { .. } => "command_result",
            ControlMessage::CaptureCommitted { .. } => "capture_committed",
            ControlMessage::CaptureAck { .. } => "capture_ack",
            ControlMessage::CaptureRejected { .. } => "capture_rejected",
        }
    }
}

/// One live frame, node → server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFrame {
    pub seq: u64,
    /// Capture time, ms since the Unix epoch (UTC).
    pub captured_ms: i64,
    pub jpeg: Vec<u8>,
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A framed control message, ready to write to the channel.
pub fn encode_control(msg: &ControlMessage) -> Result<Vec<u8>, WireError> {
    let body = serde_json::to_vec(msg).map_err(|e| WireError::MalformedControl(e.to_string()))?;
    if body.len() > MAX_CONTROL_BODY {
        return Err(WireError::TooLarge {
            len: body.len(),
            max: MAX_CONTROL_BODY,
        });
    }
    Ok(frame(&body))
}

pub fn decode_control(body: &[u8]) -> Result<ControlMessage, WireError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde's message can quote the peer's input; keep only where it
        // failed and the category.
        WireError::MalformedControl(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// A framed live frame, ready to write to the channel.
pub fn encode_live(f: &LiveFrame) -> Result<Vec<u8>, WireError> {
    let len = LIVE_HEADER + f.jpeg.len();
    if len > MAX_LIVE_BODY {
        return Err(WireError::TooLarge {
            len,
            max: MAX_LIVE_BODY,
        });
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(LIVE_KIND_FRAME);
    out.extend_from_slice(&f.seq.to_be_bytes());
    out.extend_from_slice(&f.captured_ms.to_be_bytes());
    out.extend_from_slice(&f.jpeg);
    Ok(out)
}

pub fn decode_live(body: &[u8]) -> Result<LiveFrame, WireError> {
    if body.len() < LIVE_HEADER {
        return Err(WireError::MalformedLive("shorter than its header"));
    }
    if body[0] != LIVE_KIND_FRAME {
        return Err(WireError::MalformedLive("unknown kind"));
    }
    let seq = u64::from_be_bytes(body[1..9].try_into().expect("8 bytes"));
    let captured_ms = i64::from_be_bytes(body[9..17].try_into().expect("8 bytes"));
    let jpeg = &body[LIVE_HEADER..];
    // Only the markers: full validation is the viewer's decoder's job, but
    // something that is not even shaped like a JPEG is a broken peer.
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] {
        return Err(WireError::MalformedLive("not a JPEG"));
    }
    Ok(LiveFrame {
        seq,
        captured_ms,
        jpeg: jpeg.to_vec(),
    })
}

/// Splits a byte stream into frame bodies. Feed it whatever the channel
/// delivered; take complete bodies out with [`FrameReader::next_body`].
#[derive(Debug)]
pub struct FrameReader {
    max_body: usize,
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    pub fn new(max_body: usize) -> Self {
        Self {
            max_body,
            buf: Vec::new(),
            start: 0,
        }
    }

    pub fn control() -> Self {
        Self::new(MAX_CONTROL_BODY)
    }

    pub fn live() -> Self {
        Self::new(MAX_LIVE_BODY)
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete body, `None` if more bytes are needed, or an error
    /// once the stream announced a body over the limit (the stream is then
    /// unusable: close the channel).
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        let avail = &self.buf[self.start..];
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(avail[..4].try_into().expect("4 bytes")) as usize;
        if len > self.max_body {
            return Err(WireError::TooLarge {
                len,
                max: self.max_body,
            });
        }
        if avail.len() < 4 + len {
            return Ok(None);
        }
        let body = avail[4..4 + len].to_vec();
        self.start += 4 + len;
        // Compact once the consumed prefix dominates, so a long-lived
        // channel does not grow its buffer forever.
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(body))
    }

    /// Bytes received but not yet returned as a body.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use vigia_base::manifest::{FileEntry, Scores, MANIFEST_VERSION};

    use super::*;

    fn manifest() -> Manifest {
        let id = CaptureId::new(1_700_000_000_000, 7);
        Manifest {
            version: MANIFEST_VERSION,
            capture_id: id,
            camera: "front".parse().unwrap(),
            trigger_ms: 1,
            start_ms: 0,
            end_ms: 2,
            start_utc: "a".into(),
            end_utc: "b".into(),
            label: "motion".into(),
            scores: Scores {
                motion_max: 0.5,
                motion_mean: 0.25,
                ..Default::default()
            },
            frames: 3,
            snapshot_ms: Some(1),
            end_reason: "quiet".into(),
            files: vec![FileEntry {
                name: "snapshot.jpg".into(),
                kind: "snapshot".into(),
                bytes: 3,
                sha256: "ab".repeat(32),
                start_ms: None,
                duration_ms: None,
                frames: None,
            }],
        }
    }

    fn samples() -> Vec<ControlMessage> {
        vec![
            ControlMessage::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                camera: "front".parse().unwrap(),
                software: "0.1.0".into(),
                capabilities: vec!["live".into(), "commands".into()],
            }),
            ControlMessage::Welcome(Welcome {
                protocol: 1,
                software: "0.1.0".into(),
                heartbeat_ms: 5000,
            }),
            ControlMessage::Heartbeat(Heartbeat {
                uptime_ms: 9,
                armed: true,
                backlog: Backlog {
                    captures: 2,
                    bytes: 3,
                    oldest_age_ms: 4,
                },
                frames: 5,
            }),
            ControlMessage::LiveDemand { on: true },
            ControlMessage::Command {
                id: 3,
                command: Command::Servo { angle: 12.5 },
            },
            ControlMessage::CommandResult {
                id: 3,
                ok: false,
                message: "no servo".into(),
            },
            ControlMessage::CaptureCommitted {
                manifest: manifest(),
            },
            ControlMessage::CaptureAck {
                capture_id: CaptureId::new(1_700_000_000_000, 7),
                files: vec![AckedFile {
                    name: "snapshot.jpg".into(),
                    sha256: "ab".repeat(32),
                }],
            },
            ControlMessage::CaptureRejected {
                capture_id: CaptureId::new(1_700_000_000_000, 7),
                reason: "sha256 mismatch".into(),
                retryable: true,
                bad_files: vec!["clip-000001.m4s".into()],
            },
        ]
    }

    fn decode_all(reader: &mut FrameReader) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(b) = reader.next_body().unwrap() {
            out.push(b);
        }
        out
    }

    #[test]
    fn every_control_message_round_trips_through_framing() {
        let mut stream = Vec::new();
        for m in samples() {
            stream.extend(encode_control(&m).unwrap());
        }
        let mut r = FrameReader::control();
        r.push(&stream);
        let got: Vec<_> = decode_all(&mut r)
            .iter()
            .map(|b| decode_control(b).unwrap())
            .collect();
        assert_eq!(got, samples());
        assert_eq!(r.pending_bytes(), 0);
    }

    #[test]
    fn a_huge_announced_length_is_refused_before_buffering() {
        let mut r = FrameReader::control();
        r.push(&(u32::MAX).to_be_bytes());
        assert_eq!(
            r.next_body(),
            Err(WireError::TooLarge {
                len: u32::MAX as usize,
                max: MAX_CONTROL_BODY
            })
        );
    }

    #[test]
    fn unknown_types_fields_and_bad_ids_are_malformed() {
        for body in [
            r#"{"type":"self_destruct"}"#,
            r#"{"type":"live_demand","on":true,"extra":1}"#,
            r#"{"type":"hello","protocol":1,"camera":"../etc","software":"x","capabilities":[]}"#,
            r#"{"type":"command","id":1,"command":{"command":"format_disk"}}"#,
            r#"[1,2,3]"#,
            "",
        ] {
            assert!(
                matches!(
                    decode_control(body.as_bytes()),
                    Err(WireError::MalformedControl(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_errors_do_not_echo_the_peers_bytes() {
        let e = decode_control(br#"{"type":"SECRET-PAYLOAD"}"#).unwrap_err();
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    #[test]
    fn live_frames_round_trip_and_non_jpegs_are_refused() {
        let f = LiveFrame {
            seq: 42,
            captured_ms: -5,
            jpeg: vec![0xFF, 0xD8, 1, 2, 0xFF, 0xD9],
        };
        let enc = encode_live(&f).unwrap();
        let mut r = FrameReader::live();
        r.push(&enc);
        let body = r.next_body().unwrap().unwrap();
        assert_eq!(decode_live(&body).unwrap(), f);
        let mut bad = body.clone();
        bad[LIVE_HEADER] = 0;
        assert_eq!(
            decode_live(&bad),
            Err(WireError::MalformedLive("not a JPEG"))
        );
        assert!(decode_live(&body[..5]).is_err());
    }

    #[test]
    fn oversized_live_frames_are_refused_at_encode() {
        let f = LiveFrame {
            seq: 0,
            captured_ms: 0,
            jpeg: vec![0; MAX_LIVE_BODY],
        };
        assert!(matches!(encode_live(&f), Err(WireError::TooLarge { .. })));
    }

    proptest! {
        /// However the stream is cut into reads, the same bodies come out.
        #[test]
        fn framing_is_independent_of_read_boundaries(
            bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in prop::collection::vec(1usize..97, 1..40),
        ) {
            let mut stream = Vec::new();
            for b in &bodies {
                stream.extend(frame(b));
            }
            let mut r = FrameReader::new(1024);
            let mut got = Vec::new();
            let mut pos = 0;
            let mut i = 0;
            while pos < stream.len() {
                let n = cuts[i % cuts.len()].min(stream.len() - pos);
                r.push(&stream[pos..pos + n]);
                pos += n;
                i += 1;
                got.extend(decode_all(&mut r));
            }
            prop_assert_eq!(got, bodies);
        }

        /// Garbage never panics: it yields bodies, asks for more, or errors.
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
            let mut r = FrameReader::new(512);
            r.push(&bytes);
            while let Ok(Some(body)) = r.next_body() {
                let _ = decode_control(&body);
                let _ = decode_live(&body);
            }
            let _ = decode_control(&bytes);
            let _ = decode_live(&bytes);
        }

        #[test]
        fn live_frames_round_trip(seq in any::<u64>(), ms in any::<i64>(), tail in prop::collection::vec(any::<u8>(), 2..500)) {
            let mut jpeg = vec![0xFF, 0xD8];
            jpeg.extend(tail);
            let f = LiveFrame { seq, captured_ms: ms, jpeg };
            let enc = encode_live(&f).unwrap();
            prop_assert_eq!(decode_live(&enc[4..]).unwrap(), f);
        }

        #[test]
        fn commands_round_trip(id in any::<u64>(), angle in -1000.0f32..1000.0) {
            let m = ControlMessage::Command { id, command: Command::Servo { angle } };
            let enc = encode_control(&m).unwrap();
            prop_assert_eq!(decode_control(&enc[4..]).unwrap(), m);
        }
    }
}
