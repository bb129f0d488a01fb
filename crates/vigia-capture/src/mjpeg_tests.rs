use super::*;
use crate::jpeg_check::inspect;
use crate::testutil::test_jpeg;

/// Feeds `input` split at `splits` and collects every event, then finish.
fn run(mut parser: MjpegParser, input: &[u8], splits: &[usize]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut prev = 0;
    for &s in splits.iter().chain(std::iter::once(&input.len())) {
        parser.push(&input[prev..s]);
        prev = s;
        while let Some(e) = parser.next_event() {
            events.push(e);
        }
    }
    events.extend(parser.finish());
    events
}

fn parts(events: &[Event]) -> Vec<Bytes> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Part(b) => Some(b.clone()),
            Event::Discarded { .. } => None,
        })
        .collect()
}

fn discards(events: &[Event]) -> Vec<DiscardReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Discarded { reason, .. } => Some(*reason),
            Event::Part(_) => None,
        })
        .collect()
}

/// Checks the parser gives `expected` whatever two chunks the input comes
/// in, and when it arrives one byte at a time.
fn assert_all_splits(make: impl Fn() -> MjpegParser, input: &[u8], expected: &[Event]) {
    for at in 0..=input.len() {
        assert_eq!(run(make(), input, &[at]), expected, "split at {at}");
    }
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run(make(), input, &bytewise), expected, "byte by byte");
}

fn frames() -> Vec<Bytes> {
    (0..3).map(|i| test_jpeg(24, 16, i * 40)).collect()
}

#[test]
fn boundary_parsing_from_content_type() {
    let b = |s| boundary_from_content_type(s);
    assert_eq!(
        b("multipart/x-mixed-replace;boundary=abc"),
        Some("abc".into())
    );
    assert_eq!(
        b("multipart/x-mixed-replace; Boundary=\"--my bound\""),
        Some("--my bound".into())
    );
    assert_eq!(
        b("multipart/x-mixed-replace; charset=x; boundary= x1 "),
        Some("x1".into())
    );
    assert_eq!(b("multipart/x-mixed-replace"), None);
    assert_eq!(b("image/jpeg; boundary="), None);
}

#[test]
fn multipart_with_content_length_any_split() {
    let f = frames();
    let mut body = Vec::new();
    for j in &f {
        body.extend_from_slice(b"--myboundary\r\nContent-Type: image/jpeg\r\n");
        body.extend_from_slice(format!("Content-Length: {}\r\n\r\n", j.len()).as_bytes());
        body.extend_from_slice(j);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--myboundary--\r\n");
    let expected: Vec<Event> = f.iter().cloned().map(Event::Part).collect();
    // Declared with and without the leading dashes: same delimiter.
    assert_all_splits(|| MjpegParser::multipart("myboundary"), &body, &expected);
    assert_all_splits(|| MjpegParser::multipart("--myboundary"), &body, &expected);
}

/// Content-Length lets a part out as soon as it is complete, without
/// waiting for the next boundary (one frame less latency).
#[test]
fn multipart_with_content_length_emits_without_next_boundary() {
    let j = test_jpeg(16, 16, 9);
    let mut p = MjpegParser::multipart("b");
    p.push(format!("--b\r\nContent-Length: {}\r\n\r\n", j.len()).as_bytes());
    p.push(&j);
    assert_eq!(p.next_event(), Some(Event::Part(j)));
    assert_eq!(p.next_event(), None);
}

/// Sloppy cameras: the boundary declared as `--x` but used as `--x`,
/// no Content-Length, headers without the blank line, parts without
/// CRLF before the next delimiter, and garbage between parts.
#[test]
fn multipart_sloppy_framing_any_split() {
    let f = frames();
    let mut body = b"preamble garbage \xff\xd8 not a frame\r\n".to_vec();
    body.extend_from_slice(b"--cam\r\nContent-Type: image/jpeg\r\n\r\n");
    body.extend_from_slice(&f[0]);
    // No CRLF before the delimiter, and no blank line after the headers.
    body.extend_from_slice(b"--cam\r\nContent-Type: image/jpeg\r\n");
    body.extend_from_slice(&f[1]);
    body.extend_from_slice(b"\r\n\r\n");
    // No headers at all, LF-only line ends.
    body.extend_from_slice(b"--cam\n");
    body.extend_from_slice(&f[2]);
    body.extend_from_slice(b"\n");
    let expected: Vec<Event> = f.iter().cloned().map(Event::Part).collect();
    assert_all_splits(|| MjpegParser::multipart("--cam"), &body, &expected);
}

/// A truncated part (camera cut mid-frame) ends at the next delimiter: the
/// part is emitted for the checker to reject, the following one survives.
#[test]
fn multipart_truncated_part_and_lying_content_length() {
    let f = frames();
    let mut body = Vec::new();
    body.extend_from_slice(format!("--b\r\nContent-Length: {}\r\n\r\n", f[0].len()).as_bytes());
    body.extend_from_slice(&f[0][..f[0].len() / 2]);
    body.extend_from_slice(format!("\r\n--b\r\nContent-Length: {}\r\n\r\n", f[1].len()).as_bytes());
    body.extend_from_slice(&f[1]);
    let events = run(MjpegParser::multipart("b"), &body, &[]);
    let got = parts(&events);
    assert_eq!(got.len(), 2);
    assert!(inspect(&got[0]).is_err());
    assert_eq!(got[1], f[1]);
}

#[test]
fn multipart_oversized_parts_are_discarded_and_resync() {
    let big = vec![0x55u8; 5000];
    let small = test_jpeg(8, 8, 1);
    let mut body = Vec::new();
    // With Content-Length: rejected from the header alone.
    body.extend_from_slice(format!("--b\r\nContent-Length: {}\r\n\r\n", big.len()).as_bytes());
    body.extend_from_slice(&big);
    // Without: rejected once it grows past the cap.
    body.extend_from_slice(b"\r\n--b\r\n\r\n");
    body.extend_from_slice(&big);
    body.extend_from_slice(b"\r\n--b\r\n\r\n");
    body.extend_from_slice(&small);
    body.extend_from_slice(b"\r\n--b\r\n");

    let mut p = MjpegParser::multipart("b").with_max_part_bytes(1000);
    let mut events = Vec::new();
    for chunk in body.chunks(100) {
        p.push(chunk);
        while let Some(e) = p.next_event() {
            events.push(e);
        }
        assert!(p.buffered() <= 1000 + 2 * 100, "memory is bounded");
    }
    assert_eq!(
        discards(&events),
        vec![DiscardReason::TooLarge, DiscardReason::TooLarge]
    );
    assert_eq!(parts(&events), vec![small]);
}

#[test]
fn multipart_endless_headers_are_discarded() {
    let mut p = MjpegParser::multipart("b");
    p.push(b"--b\r\n");
    p.push(&vec![b'x'; MAX_HEADER_BYTES + 10]);
    assert!(matches!(
        p.next_event(),
        Some(Event::Discarded {
            reason: DiscardReason::BadHeaders,
            ..
        })
    ));
    assert!(p.buffered() < 10);
}

/// An APP1 segment containing FFD9 (as an EXIF thumbnail does) must not
/// end the frame early.
fn jpeg_with_fake_eoi_in_app1(seed: u8) -> Bytes {
    let j = test_jpeg(16, 16, seed);
    let mut out = j[..2].to_vec();
    let payload = b"Exif\0\0\xff\xd8\xff\xd9thumb\xff\xd9";
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&j[2..]);
    Bytes::from(out)
}

#[test]
fn raw_stream_any_split_with_garbage_and_thumbnails() {
    let f = vec![
        test_jpeg(24, 16, 1),
        jpeg_with_fake_eoi_in_app1(2),
        test_jpeg(8, 8, 3),
    ];
    let mut stream = b"junk\xff\xff".to_vec();
    stream.extend_from_slice(&f[0]);
    stream.extend_from_slice(&f[1]);
    stream.extend_from_slice(b"\r\n\x00\x00\xff");
    stream.extend_from_slice(&f[2]);
    let expected: Vec<Event> = f.iter().cloned().map(Event::Part).collect();
    for part in &f {
        inspect(part).expect("fixture is a valid JPEG");
    }
    assert_all_splits(MjpegParser::raw_jpeg, &stream, &expected);
}

#[test]
fn raw_truncated_frame_is_discarded_and_next_delivered() {
    let a = test_jpeg(24, 16, 1);
    let b = test_jpeg(24, 16, 2);
    let mut stream = a[..a.len() / 2].to_vec();
    stream.extend_from_slice(&b);
    stream.extend_from_slice(&a[..100]); // cut off by end of input
    let events = run(MjpegParser::raw_jpeg(), &stream, &[]);
    assert_eq!(parts(&events), vec![b]);
    assert_eq!(
        discards(&events),
        vec![DiscardReason::Truncated, DiscardReason::Truncated]
    );
}

#[test]
fn raw_oversized_frame_is_discarded() {
    let big = test_jpeg(64, 64, 1);
    let small = test_jpeg(8, 8, 2);
    let mut stream = big.to_vec();
    stream.extend_from_slice(&small);
    let max = small.len() + 10;
    assert!(big.len() > max);
    let events = run(
        MjpegParser::raw_jpeg().with_max_part_bytes(max),
        &stream,
        &[],
    );
    assert_eq!(parts(&events), vec![small]);
    assert_eq!(discards(&events)[0], DiscardReason::TooLarge);
}

#[test]
fn for_content_type_picks_framing() {
    let j = test_jpeg(8, 8, 1);
    let mut multipart = b"--zz\r\n\r\n".to_vec();
    multipart.extend_from_slice(&j);
    multipart.extend_from_slice(b"\r\n--zz\r\n");
    let p = MjpegParser::for_content_type(Some("multipart/x-mixed-replace;boundary=zz"));
    assert_eq!(parts(&run(p, &multipart, &[])), vec![j.clone()]);
    // Missing boundary: the raw splitter still finds the JPEG.
    let p = MjpegParser::for_content_type(Some("multipart/x-mixed-replace"));
    assert_eq!(parts(&run(p, &multipart, &[])), vec![j]);
}

/// Fuzz-style: random bytes, random chunking, random framing: no panic, and
/// memory stays bounded.
#[test]
fn random_input_never_panics_and_stays_bounded() {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let alphabet = [0xFF, 0xD8, 0xD9, 0xDA, 0x00, b'-', b'b', b'\r', b'\n', 0x12];
    for round in 0..200 {
        let mut p = if round % 2 == 0 {
            MjpegParser::multipart("b")
        } else {
            MjpegParser::raw_jpeg()
        }
        .with_max_part_bytes(512);
        for _ in 0..50 {
            let n = (next() % 64) as usize;
            let chunk: Vec<u8> = (0..n)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            p.push(&chunk);
            while p.next_event().is_some() {}
            assert!(p.buffered() <= MAX_HEADER_BYTES + 64, "bounded");
        }
        let _ = p.finish();
    }
}
