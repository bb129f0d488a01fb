//! A snapshot on demand ("snapshot now" from the web, `/snap` from
//! Telegram, a key on the IR remote): the latest frame becomes a capture
//! of its own, shipped and stored like any event's.

use std::time::Duration;

use tokio::sync::watch;
use vigia_base::manifest::{FileKind, Manifest, Scores, MANIFEST_VERSION};
use vigia_base::{CameraId, CaptureId, Clock};
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

/// How long a request waits for a fresh frame when there is none yet: a
/// `/snap` sent while the node starts or the camera reconnects should get
/// a photo a moment later, not an error.
pub const FRAME_WAIT: Duration = Duration::from_secs(5);

/// The latest frame if it is fresh, else the next one to arrive within
/// `wait`.
pub async fn fresh_frame(
    latest: &watch::Receiver<Option<Frame>>,
    clock: &dyn Clock,
    wait: Duration,
) -> Result<Frame, SnapshotError> {
    let mut rx = latest.clone();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = rx.borrow_and_update().clone();
        if let Some(f) = frame.filter(|f| is_fresh(f, clock.now_ms())) {
            return Ok(f);
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            // Timed out, or the camera task is gone for good.
            Ok(Err(_)) | Err(_) => return Err(SnapshotError::NoFrame(MAX_FRAME_AGE)),
        }
    }
}

fn is_fresh(frame: &Frame, now_ms: i64) -> bool {
    now_ms.saturating_sub(frame.captured_ms) <= MAX_FRAME_AGE.as_millis() as i64
}

/// Writes `frame` as a one-file capture (label `motion`, end reason
/// `manual`) and returns its id.
pub fn save_snapshot(
    outbox: &Outbox,
    camera: &CameraId,
    frame: &Frame,
) -> Result<CaptureId, SnapshotError> {
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
    use vigia_base::clock::SimulatedClock;

    fn frame(cam: &CameraId, seq: u64, captured_ms: i64) -> Frame {
        let mut scene =
            vigia_media::synthetic::SyntheticScene::new(vigia_media::synthetic::SceneConfig {
                width: 64,
                height: 48,
                ..Default::default()
            });
        let jpeg = vigia_media::jpeg::encode_jpeg_yuv(&scene.render(0), 80).unwrap();
        Frame {
            camera: cam.clone(),
            seq,
            captured_ms,
            width: 64,
            height: 48,
            jpeg: jpeg.into(),
        }
    }

    #[tokio::test]
    async fn a_fresh_frame_becomes_a_complete_capture_and_a_stale_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let (ob, _) = Outbox::open(d.path(), 1 << 30).unwrap();
        let cam: CameraId = "cam".parse().unwrap();
        let clock = SimulatedClock::new(1_700_000_001_000);
        let (tx, rx) = watch::channel(Some(frame(&cam, 3, 1_700_000_000_000)));
        let f = fresh_frame(&rx, &clock, Duration::ZERO).await.unwrap();
        let id = save_snapshot(&ob, &cam, &f).unwrap();
        let m = ob.verify(&id).unwrap();
        assert_eq!(m.end_reason, "manual");
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].bytes, f.jpeg.len() as u64);

        // A minute later the same frame is a stuck camera, not "now".
        clock.advance_ms(60_000);
        assert!(matches!(
            fresh_frame(&rx, &clock, Duration::from_millis(20)).await,
            Err(SnapshotError::NoFrame(_))
        ));
        drop(tx);
    }

    #[tokio::test]
    async fn a_request_before_the_first_frame_waits_for_it() {
        let cam: CameraId = "cam".parse().unwrap();
        let clock = SimulatedClock::new(1_700_000_000_500);
        let (tx, rx) = watch::channel(None);
        let waiting = tokio::spawn({
            let clock = clock.clone();
            async move { fresh_frame(&rx, &clock, Duration::from_secs(30)).await }
        });
        tokio::task::yield_now().await;
        tx.send_replace(Some(frame(&cam, 1, 1_700_000_000_400)));
        let f = waiting.await.unwrap().expect("the first frame");
        assert_eq!(f.seq, 1);
    }

    #[tokio::test]
    async fn a_camera_that_never_delivers_is_an_error_not_a_hang() {
        let clock = SimulatedClock::new(0);
        let (tx, rx) = watch::channel::<Option<Frame>>(None);
        assert!(matches!(
            fresh_frame(&rx, &clock, Duration::from_millis(20)).await,
            Err(SnapshotError::NoFrame(_))
        ));
        drop(tx);
        // The camera task is gone: no waiting at all.
        assert!(matches!(
            fresh_frame(&rx, &clock, Duration::from_secs(3600)).await,
            Err(SnapshotError::NoFrame(_))
        ));
    }
}
