//! The pre-buffer: the last few seconds of *encoded* frames, so an event's
//! clip can start before its trigger.
//!
//! It holds JPEG bytes (tens of kB a frame), never decoded pixels, so 10 s
//! at 10 fps of 768x576 fits in a few MB. It is bounded twice: by duration
//! (the pre-roll) and by bytes (a hard memory cap for a Pi, whatever the
//! camera's bitrate); frames evicted early because of the byte cap are
//! counted, since they shorten the pre-roll.

use std::collections::VecDeque;

use vigia_media::Frame;

#[derive(Debug)]
pub struct PreBuffer {
    frames: VecDeque<Frame>,
    bytes: u64,
    max_age_ms: i64,
    max_bytes: u64,
    evicted_for_bytes: u64,
}

impl PreBuffer {
    pub fn new(max_age_ms: i64, max_bytes: u64) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            max_age_ms,
            max_bytes,
            evicted_for_bytes: 0,
        }
    }

    /// Adds the newest frame and evicts what fell out of either bound.
    pub fn push(&mut self, frame: Frame) {
        let now = frame.captured_ms;
        self.bytes += frame.jpeg.len() as u64;
        self.frames.push_back(frame);
        while let Some(front) = self.frames.front() {
            if now - front.captured_ms > self.max_age_ms {
                self.pop_front();
            } else {
                break;
            }
        }
        // Keep at least the newest frame even if it alone exceeds the cap:
        // a trigger frame is never lost to the byte bound.
        while self.bytes > self.max_bytes && self.frames.len() > 1 {
            self.pop_front();
            self.evicted_for_bytes += 1;
        }
    }

    fn pop_front(&mut self) {
        if let Some(f) = self.frames.pop_front() {
            self.bytes -= f.jpeg.len() as u64;
        }
    }

    /// Takes every buffered frame captured at or after `from_ms`, oldest
    /// first, leaving the buffer empty.
    pub fn drain_from(&mut self, from_ms: i64) -> Vec<Frame> {
        self.bytes = 0;
        self.frames
            .drain(..)
            .filter(|f| f.captured_ms >= from_ms)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn evicted_for_bytes(&self) -> u64 {
        self.evicted_for_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(t: i64, size: usize) -> Frame {
        Frame {
            camera: "cam".parse().expect("id"),
            seq: t as u64,
            captured_ms: t,
            width: 16,
            height: 16,
            jpeg: Bytes::from(vec![0u8; size]),
        }
    }

    #[test]
    fn keeps_only_the_pre_roll_window() {
        let mut b = PreBuffer::new(1_000, 1 << 20);
        for t in (0..5_000).step_by(100) {
            b.push(frame(t, 10));
        }
        assert_eq!(b.len(), 11); // 3.9 s ..= 4.9 s
        assert_eq!(b.bytes(), 110);
        let got = b.drain_from(4_500);
        assert_eq!(got.first().map(|f| f.captured_ms), Some(4_500));
        assert_eq!(got.len(), 5);
        assert!(b.is_empty());
        assert_eq!(b.bytes(), 0);
    }

    #[test]
    fn byte_cap_evicts_oldest_and_counts_but_keeps_newest() {
        let mut b = PreBuffer::new(10_000, 250);
        for t in 0..5 {
            b.push(frame(t * 100, 100));
        }
        assert_eq!(b.len(), 2);
        assert_eq!(b.evicted_for_bytes(), 3);
        b.push(frame(600, 1_000));
        assert_eq!(b.len(), 1, "an oversized newest frame is still kept");
    }
}
