//! Incremental MJPEG stream parsing, pure (no I/O).
//!
//! Owns turning an arbitrary sequence of byte chunks into complete JPEG
//! payloads, for the two framings vigia reads:
//! - `multipart/x-mixed-replace` bodies (IP cameras, Motion, our own live
//!   endpoint), delimited by the boundary from the Content-Type header.
//!   Real cameras are sloppy, so this accepts a boundary declared with or
//!   without its leading `--`, parts with or without `Content-Length` (a
//!   length is trusted only until the next boundary shows up early), header
//!   blocks missing the blank line, and garbage anywhere between parts.
//! - a raw concatenation of JPEGs (ffmpeg's `-f mjpeg`, some cheap cameras),
//!   split by walking the JPEG marker structure rather than by searching
//!   for `FFD9`, so an EXIF thumbnail inside APP1 does not cut a frame.
//!
//! Does not judge whether a payload is a good JPEG: callers run
//! [`crate::jpeg_check`] on each part, so all corrupt-frame accounting
//! happens in one place. Memory is bounded: a part larger than the
//! configured maximum is dropped as [`Event::Discarded`] and the parser
//! resyncs at the next boundary (or SOI).
//!
//! The parser is a state machine over one buffer; offsets in the state are
//! relative to the unconsumed data, so consumed bytes can be compacted away
//! without touching the state.

use bytes::Bytes;

/// Default cap on one part: far above any sane JPEG frame (a 4K frame at
/// high quality is ~2 MiB), low enough to survive a server gone mad.
pub const DEFAULT_MAX_PART_BYTES: usize = 8 << 20;

/// Cap on a part's header block; beyond it the part is garbage.
const MAX_HEADER_BYTES: usize = 16 << 10;

/// What the parser produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// One part's payload (whitespace-trimmed), to be checked as a JPEG.
    Part(Bytes),
    /// Data that looked like a part but had to be thrown away; counts as
    /// a corrupt frame.
    Discarded { reason: DiscardReason, bytes: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardReason {
    /// Larger than the configured maximum part size.
    TooLarge,
    /// A multipart header block that never ended.
    BadHeaders,
    /// A raw JPEG cut short (by a new SOI or the end of input), or with
    /// broken marker structure.
    Truncated,
}

#[derive(Debug, Clone)]
enum State {
    /// Looking for the boundary delimiter.
    Seek,
    /// Just after a delimiter, looking for the end of the part headers.
    Headers,
    /// In a part body starting at `body_start`; the delimiter has been
    /// searched for up to `scanned`.
    Body {
        body_start: usize,
        content_length: Option<usize>,
        scanned: usize,
    },
    /// Raw framing: looking for SOI.
    RawSeek,
    /// Raw framing: inside a JPEG that starts at offset 0; `pos` is the next
    /// byte to examine, `in_scan` whether it is entropy-coded data.
    RawIn { pos: usize, in_scan: bool },
}

/// Extracts the boundary parameter from a Content-Type header value, e.g.
/// `multipart/x-mixed-replace; boundary="--myboundary"` → `--myboundary`.
pub fn boundary_from_content_type(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

#[derive(Debug, Clone)]
pub struct MjpegParser {
    /// `--` + the boundary without any leading dashes; `None` for raw.
    delimiter: Option<Vec<u8>>,
    max_part_bytes: usize,
    buf: Vec<u8>,
    /// Consumed bytes at the front of `buf`.
    start: usize,
    state: State,
}

impl MjpegParser {
    /// A parser for a multipart body. `boundary` may include the leading
    /// `--` or not: cameras disagree, and both spellings match the same
    /// delimiter lines.
    pub fn multipart(boundary: &str) -> Self {
        let core = boundary.trim_start_matches('-');
        let mut delimiter = b"--".to_vec();
        // A boundary of only dashes: match it literally.
        delimiter.extend_from_slice(if core.is_empty() { boundary } else { core }.as_bytes());
        Self::with_state(Some(delimiter), State::Seek)
    }

    /// A parser for concatenated JPEGs.
    pub fn raw_jpeg() -> Self {
        Self::with_state(None, State::RawSeek)
    }

    /// Multipart if the Content-Type carries a boundary, else raw JPEG
    /// (which also recovers frames from a multipart body whose boundary is
    /// missing from the header).
    pub fn for_content_type(content_type: Option<&str>) -> Self {
        match content_type.and_then(boundary_from_content_type) {
            Some(b) => Self::multipart(&b),
            None => Self::raw_jpeg(),
        }
    }

    pub fn with_max_part_bytes(mut self, max: usize) -> Self {
        self.max_part_bytes = max.max(1);
        self
    }

    fn with_state(delimiter: Option<Vec<u8>>, state: State) -> Self {
        Self {
            delimiter,
            max_part_bytes: DEFAULT_MAX_PART_BYTES,
            buf: Vec::new(),
            start: 0,
            state,
        }
    }

    /// Bytes currently held (bounded by about the maximum part size plus
    /// the last chunk).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends input. Call [`next_event`](Self::next_event) until it
    /// returns `None` before pushing more, to keep memory bounded.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 && (self.start >= 64 << 10 || self.start * 2 >= self.buf.len()) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete part or discard, or `None` if more input is
    /// needed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let step = match self.state {
                State::Seek => self.seek(),
                State::Headers => self.headers(),
                State::Body {
                    body_start,
                    content_length,
                    scanned,
                } => self.body(body_start, content_length, scanned),
                State::RawSeek => self.raw_seek(),
                State::RawIn { pos, in_scan } => self.raw_in(pos, in_scan),
            };
            match step {
                Step::Continue => continue,
                Step::NeedMore => return None,
                Step::Emit(e) => return Some(e),
            }
        }
    }

    /// End of input: returns a final part still in progress (a multipart
    /// body without Content-Length ends at end of stream), then resets.
    pub fn finish(&mut self) -> Option<Event> {
        let data = &self.buf[self.start..];
        let event = match self.state {
            State::Body { body_start, .. } => {
                let body = trim(&data[body_start..]);
                (!body.is_empty()).then(|| Event::Part(Bytes::copy_from_slice(body)))
            }
            State::RawIn { .. } => Some(Event::Discarded {
                reason: DiscardReason::Truncated,
                bytes: data.len(),
            }),
            _ => None,
        };
        self.buf.clear();
        self.start = 0;
        self.state = if self.delimiter.is_some() {
            State::Seek
        } else {
            State::RawSeek
        };
        event
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn delim_len(&self) -> usize {
        self.delimiter.as_ref().map_or(0, Vec::len)
    }

    fn find_delimiter(&self, from: usize) -> Option<usize> {
        let d = self.delimiter.as_deref()?;
        find(&self.data()[from..], d).map(|p| p + from)
    }

    fn seek(&mut self) -> Step {
        if let Some(p) = self.find_delimiter(0) {
            self.start += p + self.delim_len();
            self.state = State::Headers;
            return Step::Continue;
        }
        // Keep only what could be the start of a delimiter.
        let keep = self.delim_len().saturating_sub(1);
        let len = self.data().len();
        if len > keep {
            self.start += len - keep;
        }
        Step::NeedMore
    }

    fn headers(&mut self) -> Step {
        let data = self.data();
        let blank = find(data, b"\r\n\r\n")
            .map(|p| (p, p + 4))
            .into_iter()
            .chain(find(data, b"\n\n").map(|p| (p, p + 2)))
            .min();
        let soi = find(data, &[0xFF, 0xD8]);
        let (headers_end, body_start) = match (blank, soi) {
            (Some((h, b)), Some(s)) if h < s => (h, b),
            (_, Some(s)) => (s, s),
            (Some((h, b)), None) => (h, b),
            (None, None) => {
                if data.len() > MAX_HEADER_BYTES {
                    let bytes = data.len();
                    self.start += bytes;
                    self.state = State::Seek;
                    return Step::Emit(Event::Discarded {
                        reason: DiscardReason::BadHeaders,
                        bytes,
                    });
                }
                return Step::NeedMore;
            }
        };
        let content_length = content_length(&data[..headers_end]);
        if let Some(n) = content_length.filter(|&n| n > self.max_part_bytes) {
            self.start += body_start;
            self.state = State::Seek;
            return Step::Emit(Event::Discarded {
                reason: DiscardReason::TooLarge,
                bytes: n,
            });
        }
        self.state = State::Body {
            body_start,
            content_length,
            scanned: body_start,
        };
        Step::Continue
    }

    fn body(&mut self, body_start: usize, content_length: Option<usize>, scanned: usize) -> Step {
        let len = self.data().len();
        let search_end = match content_length {
            Some(n) => len.min(body_start + n),
            None => len,
        };
        let from = scanned
            .saturating_sub(self.delim_len().saturating_sub(1))
            .max(body_start)
            .min(search_end);
        // A delimiter inside the body means the part was cut short (or its
        // Content-Length lied): end it there and let the checker judge.
        let found = self
            .delimiter
            .as_deref()
            .and_then(|d| find(&self.data()[from..search_end], d).map(|p| p + from));
        let end = match (found, content_length) {
            (Some(p), _) => Some((p, p)),
            (None, Some(n)) if len >= body_start + n => Some((body_start + n, body_start + n)),
            _ => None,
        };
        if let Some((payload_end, resume)) = end {
            let payload = Bytes::copy_from_slice(trim(&self.data()[body_start..payload_end]));
            self.start += resume;
            self.state = State::Seek;
            return Step::Emit(Event::Part(payload));
        }
        if len - body_start > self.max_part_bytes {
            let keep = self.delim_len().saturating_sub(1);
            self.start += len - keep;
            self.state = State::Seek;
            return Step::Emit(Event::Discarded {
                reason: DiscardReason::TooLarge,
                bytes: len - body_start,
            });
        }
        self.state = State::Body {
            body_start,
            content_length,
            scanned: search_end,
        };
        Step::NeedMore
    }

    fn raw_seek(&mut self) -> Step {
        if let Some(p) = find(self.data(), &[0xFF, 0xD8, 0xFF]) {
            self.start += p;
            self.state = State::RawIn {
                pos: 2,
                in_scan: false,
            };
            return Step::Continue;
        }
        let len = self.data().len();
        if len > 2 {
            self.start += len - 2;
        }
        Step::NeedMore
    }

    fn raw_in(&mut self, mut pos: usize, mut in_scan: bool) -> Step {
        let data = &self.buf[self.start..];
        let verdict = loop {
            if pos > self.max_part_bytes || data.len() > self.max_part_bytes {
                break RawVerdict::Discard(DiscardReason::TooLarge);
            }
            if in_scan {
                // Entropy-coded data: only FF followed by a non-zero,
                // non-RST byte is a marker.
                if pos >= data.len() {
                    break RawVerdict::NeedMore;
                }
                match data[pos..].iter().position(|&b| b == 0xFF) {
                    None => {
                        pos = data.len();
                        break RawVerdict::NeedMore;
                    }
                    Some(off) => pos += off,
                }
                let Some(&next) = data.get(pos + 1) else {
                    break RawVerdict::NeedMore;
                };
                match next {
                    0x00 | 0xD0..=0xD7 => pos += 2,
                    0xFF => pos += 1,
                    _ => in_scan = false,
                }
                continue;
            }
            let Some(&b) = data.get(pos) else {
                break RawVerdict::NeedMore;
            };
            if b != 0xFF {
                break RawVerdict::Discard(DiscardReason::Truncated);
            }
            let Some(&marker) = data.get(pos + 1) else {
                break RawVerdict::NeedMore;
            };
            match marker {
                0xFF => pos += 1,
                0xD9 => break RawVerdict::Complete(pos + 2),
                // A new image starts: the current one was cut short.
                0xD8 => break RawVerdict::Restart(pos),
                0x01 | 0xD0..=0xD7 => pos += 2,
                0x00 => break RawVerdict::Discard(DiscardReason::Truncated),
                _ => {
                    let Some(l) = data.get(pos + 2..pos + 4) else {
                        break RawVerdict::NeedMore;
                    };
                    let seg_len = usize::from(u16::from_be_bytes([l[0], l[1]]));
                    if seg_len < 2 {
                        break RawVerdict::Discard(DiscardReason::Truncated);
                    }
                    pos += 2 + seg_len;
                    in_scan = marker == 0xDA;
                }
            }
        };
        match verdict {
            RawVerdict::NeedMore => {
                self.state = State::RawIn { pos, in_scan };
                Step::NeedMore
            }
            RawVerdict::Complete(end) => {
                let part = Bytes::copy_from_slice(&data[..end]);
                self.start += end;
                self.state = State::RawSeek;
                Step::Emit(Event::Part(part))
            }
            RawVerdict::Restart(at) => {
                self.start += at;
                self.state = State::RawIn {
                    pos: 2,
                    in_scan: false,
                };
                Step::Emit(Event::Discarded {
                    reason: DiscardReason::Truncated,
                    bytes: at,
                })
            }
            RawVerdict::Discard(reason) => {
                let bytes = pos.min(data.len());
                // Skip this SOI; resync at the next one.
                self.start += 2;
                self.state = State::RawSeek;
                Step::Emit(Event::Discarded { reason, bytes })
            }
        }
    }
}

enum Step {
    Continue,
    NeedMore,
    Emit(Event),
}

enum RawVerdict {
    NeedMore,
    Complete(usize),
    Restart(usize),
    Discard(DiscardReason),
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        let off = haystack[i..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        i += off;
        if &haystack[i + 1..i + needle.len()] == rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if !first.is_ascii_whitespace() {
            break;
        }
        b = rest;
    }
    while let [rest @ .., last] = b {
        if !last.is_ascii_whitespace() {
            break;
        }
        b = rest;
    }
    b
}

/// `Content-Length` from a part's header block, if present and numeric.
fn content_length(headers: &[u8]) -> Option<usize> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("content-length") {
            return None;
        }
        value.trim().parse().ok()
    })
}

#[cfg(test)]
#[path = "mjpeg_tests.rs"]
mod tests;
