//! A snapshot on demand ("snapshot now" from the web, `/snap` from
//! Telegram, a key on the IR remote): the latest frame becomes a capture
//! of its own, shipped and stored like any event's.

use std::time::Duration;

use tokio::sync::watch;
use vigia_base::manifest::{FileKind, Manifest, Scores, MANIFEST_VERSION};
use vigia_base::{CameraId, CaptureId};
use vigia_media::Frame;

use crate::outbox::{Outbox, OutboxError};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no frame from the camera in the last {0:?}")]
    NoFrame(Duration),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Frames older than this are not "now": the camera is stuck or gone.
pub const MAX_FRAME_AGE: Duration = Duration::from_secs(5);

/// Writes the latest frame as a one-file capture (label `motion`, end
/// reason `manual`) and returns its id.
pub fn snapshot_now(
    outbox: &Outbox,
    camera: &CameraId,
    latest: &watch::Receiver<Option<Frame>>,
    now_ms: i64,
) -> Result<CaptureId, SnapshotError> {
    let frame = latest
        .borrow()
        .clone()
        .filter(|f| now_ms.saturating_sub(f.captured_ms) <= MAX_FRAME_AGE.as_millis() as i64)
        .ok_or(SnapshotError::NoFrame(MAX_FRAME_AGE))?;
    let t = frame.captured_ms;
    let id = CaptureId::new(t, (frame.seq as u32) ^ 0x5a5a_0000);
    let mut w = outbox.begin(id.clone(), camera.clone(), t, t)?;
    w.write_file(FileKind::Snapshot, &frame.jpeg, None)?;
    w.commit(Manifest {
        version: MANIFEST_VERSION,
        capture_id: id.clone(),
        camera: camera.clone(),
        trigger_ms: t,
        start_ms: t,
        end_ms: t,
        start_utc: vigia_base::clock::format_utc_ms(t),
        end_utc: vigia_base::clock::format_utc_ms(t),
        label: "motion".into(),
        scores: Scores::default(),
        frames: 1,
        snapshot_ms: Some(t),
        end_reason: "manual".into(),
        files: vec![],
    })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_frame_becomes_a_complete_capture_and_a_stale_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let (ob, _) = Outbox::open(d.path(), 1 << 30).unwrap();
        let cam: CameraId = "cam".parse().unwrap();
        let (tx, rx) = watch::channel(None);
        assert!(matches!(
            snapshot_now(&ob, &cam, &rx, 1_000),
            Err(SnapshotError::NoFrame(_))
        ));
        let mut scene =
            vigia_media::synthetic::SyntheticScene::new(vigia_media::synthetic::SceneConfig {
                width: 64,
                height: 48,
                ..Default::default()
            });
        let jpeg = vigia_media::jpeg::encode_jpeg_yuv(&scene.render(0), 80).unwrap();
        tx.send_replace(Some(Frame {
            camera: cam.clone(),
            seq: 3,
            captured_ms: 1_700_000_000_000,
            width: 64,
            height: 48,
            jpeg: jpeg.clone().into(),
        }));
        let id = snapshot_now(&ob, &cam, &rx, 1_700_000_001_000).unwrap();
        let m = ob.verify(&id).unwrap();
        assert_eq!(m.end_reason, "manual");
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].bytes, jpeg.len() as u64);
        assert!(matches!(
            snapshot_now(&ob, &cam, &rx, 1_700_000_000_000 + 60_000),
            Err(SnapshotError::NoFrame(_))
        ));
    }
}
