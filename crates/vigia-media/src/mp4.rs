//! A fragmented MP4 (ISO BMFF) muxer for one H.264 video track, by hand.
//!
//! A clip is an *init segment* (`ftyp` + `moov` with an empty sample table
//! and `mvex`) followed by *media segments* (`moof` + `mdat`), each holding
//! a run of samples that starts with a sync sample. Fragments are
//! self-contained, so the node can upload seconds 0–2 of an event while
//! seconds 2–4 are still being filmed, and the concatenation of everything
//! shipped so far is always a playable file.
//!
//! Pure functions returning bytes: no I/O, no state. Decode times and
//! sequence numbers are the caller's ([`crate::clip`]) business.
//!
//! Box layouts follow ISO/IEC 14496-12 (and 14496-15 for `avcC`); the
//! choices that matter to players are commented where they are made.

/// Track id of the single video track.
const TRACK_ID: u32 = 1;

/// One access unit for a media segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// AVCC: NAL units each prefixed by a 4-byte big-endian length.
    pub data: Vec<u8>,
    /// In the track's timescale.
    pub duration: u32,
    pub is_sync: bool,
}

/// Appends boxes to a buffer, patching sizes when a box is closed.
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new() -> Self {
        Self { buf: Vec::new() }
    }
    fn open(&mut self, fourcc: &[u8; 4]) -> usize {
        let at = self.buf.len();
        self.u32(0);
        self.buf.extend_from_slice(fourcc);
        at
    }
    fn open_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let at = self.open(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0xFF_FFFF));
        at
    }
    fn close(&mut self, at: usize) {
        let size = (self.buf.len() - at) as u32;
        self.buf[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
    /// The identity transformation matrix of `mvhd` and `tkhd`.
    fn matrix(&mut self) {
        for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000u32] {
            self.u32(v);
        }
    }
}

/// The init segment: `ftyp` and a `moov` describing one `avc1` track.
///
/// `sps` and `pps` are bare NAL units (no start code, no length); the
/// `avcC` profile, compatibility and level bytes are copied from the SPS as
/// 14496-15 requires. Durations are 0 because a fragmented file's length
/// is the sum of its fragments; `mvex` tells players to expect them.
pub fn init_segment(width: u32, height: u32, sps: &[u8], pps: &[u8], timescale: u32) -> Vec<u8> {
    let mut w = Writer::new();
    let ftyp = w.open(b"ftyp");
    w.bytes(b"isom");
    w.u32(0x200);
    for brand in [b"isom", b"iso5", b"avc1", b"mp41"] {
        w.bytes(brand);
    }
    w.close(ftyp);

    let moov = w.open(b"moov");
    let mvhd = w.open_full(b"mvhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(1000); // movie timescale; only used for durations, all 0 here
    w.u32(0); // duration
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    w.matrix();
    w.zeros(24); // pre_defined
    w.u32(TRACK_ID + 1); // next_track_ID
    w.close(mvhd);

    let trak = w.open(b"trak");
    // flags: enabled | in_movie | in_preview
    let tkhd = w.open_full(b"tkhd", 0, 7);
    w.u32(0);
    w.u32(0);
    w.u32(TRACK_ID);
    w.u32(0); // reserved
    w.u32(0); // duration
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(0); // volume: 0 for video
    w.u16(0);
    w.matrix();
    w.u32(width << 16); // 16.16 fixed point
    w.u32(height << 16);
    w.close(tkhd);

    let mdia = w.open(b"mdia");
    let mdhd = w.open_full(b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(timescale);
    w.u32(0); // duration
    w.u16(0x55C4); // language "und", packed ISO-639-2/T
    w.u16(0);
    w.close(mdhd);
    let hdlr = w.open_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(b"vide");
    w.zeros(12);
    w.bytes(b"vigia video\0");
    w.close(hdlr);

    let minf = w.open(b"minf");
    let vmhd = w.open_full(b"vmhd", 0, 1);
    w.zeros(8); // graphicsmode + opcolor
    w.close(vmhd);
    let dinf = w.open(b"dinf");
    let dref = w.open_full(b"dref", 0, 0);
    w.u32(1);
    // flags 1: the media data is in this file.
    let url = w.open_full(b"url ", 0, 1);
    w.close(url);
    w.close(dref);
    w.close(dinf);

    let stbl = w.open(b"stbl");
    let stsd = w.open_full(b"stsd", 0, 0);
    w.u32(1);
    let avc1 = w.open(b"avc1");
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined + reserved
    w.u16(width as u16);
    w.u16(height as u16);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth: colour, no alpha
    w.u16(0xFFFF); // pre_defined = -1
    let avcc = w.open(b"avcC");
    w.u8(1); // configurationVersion
    w.u8(sps.get(1).copied().unwrap_or(66)); // AVCProfileIndication
    w.u8(sps.get(2).copied().unwrap_or(0)); // profile_compatibility
    w.u8(sps.get(3).copied().unwrap_or(30)); // AVCLevelIndication
    w.u8(0xFC | 3); // lengthSizeMinusOne = 3: 4-byte NAL lengths
    w.u8(0xE0 | 1); // one SPS
    w.u16(sps.len() as u16);
    w.bytes(sps);
    w.u8(1); // one PPS
    w.u16(pps.len() as u16);
    w.bytes(pps);
    w.close(avcc);
    w.close(avc1);
    w.close(stsd);
    for fourcc in [b"stts", b"stsc", b"stco"] {
        let b = w.open_full(fourcc, 0, 0);
        w.u32(0); // entry_count
        w.close(b);
    }
    let stsz = w.open_full(b"stsz", 0, 0);
    w.u32(0); // sample_size
    w.u32(0); // sample_count
    w.close(stsz);
    w.close(stbl);
    w.close(minf);
    w.close(mdia);
    w.close(trak);

    let mvex = w.open(b"mvex");
    let trex = w.open_full(b"trex", 0, 0);
    w.u32(TRACK_ID);
    w.u32(1); // default_sample_description_index
    w.u32(0); // default_sample_duration
    w.u32(0); // default_sample_size
    w.u32(0); // default_sample_flags
    w.close(trex);
    w.close(mvex);
    w.close(moov);
    w.buf
}

/// `trun` sample_flags for a sync sample: depends on no other sample.
const FLAGS_SYNC: u32 = 0x0200_0000;
/// For a non-sync sample: depends on others, and sample_is_non_sync_sample.
const FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// One media segment: `moof` (with `tfdt` = `base_decode_time` in the
/// track timescale) and the `mdat` holding `samples` back to back.
///
/// `tfhd` uses default-base-is-moof, so the `trun` data offset is relative
/// to the start of this `moof` and each segment can be parsed alone (what
/// MSE and the CMAF profile expect).
pub fn media_segment(sequence_number: u32, base_decode_time: u64, samples: &[Sample]) -> Vec<u8> {
    let mut w = Writer::new();
    let moof = w.open(b"moof");
    let mfhd = w.open_full(b"mfhd", 0, 0);
    w.u32(sequence_number);
    w.close(mfhd);
    let traf = w.open(b"traf");
    let tfhd = w.open_full(b"tfhd", 0, 0x02_0000); // default-base-is-moof
    w.u32(TRACK_ID);
    w.close(tfhd);
    let tfdt = w.open_full(b"tfdt", 1, 0);
    w.u64(base_decode_time);
    w.close(tfdt);
    // data-offset | sample-duration | sample-size | sample-flags present
    let trun = w.open_full(b"trun", 0, 0x0001 | 0x0100 | 0x0200 | 0x0400);
    w.u32(samples.len() as u32);
    let data_offset_at = w.buf.len();
    w.u32(0);
    for s in samples {
        w.u32(s.duration);
        w.u32(s.data.len() as u32);
        w.u32(if s.is_sync {
            FLAGS_SYNC
        } else {
            FLAGS_NON_SYNC
        });
    }
    w.close(trun);
    w.close(traf);
    w.close(moof);
    // First sample byte: right after the mdat header, counted from moof.
    let data_offset = (w.buf.len() - moof + 8) as u32;
    w.buf[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());

    let mdat = w.open(b"mdat");
    for s in samples {
        w.bytes(&s.data);
    }
    w.close(mdat);
    w.buf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (fourcc, payload) of each top-level box; panics on a malformed size.
    fn boxes(mut b: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let size = u32::from_be_bytes(b[..4].try_into().expect("size")) as usize;
            assert!(size >= 8 && size <= b.len(), "bad box size {size}");
            out.push((b[4..8].try_into().expect("fourcc"), &b[8..size]));
            b = &b[size..];
        }
        out
    }

    fn find<'a>(b: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
        let (head, rest) = path.split_first()?;
        let (_, payload) = boxes(b).into_iter().find(|(f, _)| f == *head)?;
        if rest.is_empty() {
            Some(payload)
        } else {
            find(payload, rest)
        }
    }

    #[test]
    fn init_segment_structure() {
        let sps = [0x67, 66, 0xC0, 31, 0xDA, 0x01];
        let pps = [0x68, 0xCE, 0x3C, 0x80];
        let init = init_segment(768, 576, &sps, &pps, 90_000);
        let top: Vec<_> = boxes(&init).iter().map(|(f, _)| *f).collect();
        assert_eq!(top, [*b"ftyp", *b"moov"]);
        let ftyp = find(&init, &[b"ftyp"]).expect("ftyp");
        assert_eq!(&ftyp[..4], b"isom");
        assert!(ftyp.windows(4).any(|w| w == b"avc1"));
        assert!(find(&init, &[b"moov", b"mvex", b"trex"]).is_some());
        let mdhd = find(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]).expect("mdhd");
        assert_eq!(
            u32::from_be_bytes(mdhd[12..16].try_into().expect("4")),
            90_000
        );
        let stsd = find(
            &init,
            &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
        )
        .expect("stsd");
        // stsd: version/flags + count, then the avc1 entry.
        let avc1 = &stsd[8..];
        assert_eq!(&avc1[4..8], b"avc1");
        let avcc = find(&avc1[8 + 78..], &[b"avcC"]).expect("avcC");
        assert_eq!(&avcc[..4], &[1, 66, 0xC0, 31]);
        assert_eq!(&avcc[8..8 + sps.len()], &sps);
    }

    #[test]
    fn media_segment_offsets_point_at_samples() {
        let samples = vec![
            Sample {
                data: vec![0, 0, 0, 2, 0x65, 0xAA],
                duration: 9000,
                is_sync: true,
            },
            Sample {
                data: vec![0, 0, 0, 1, 0x41],
                duration: 9000,
                is_sync: false,
            },
        ];
        let seg = media_segment(3, 180_000, &samples);
        let top = boxes(&seg);
        assert_eq!(top[0].0, *b"moof");
        assert_eq!(top[1].0, *b"mdat");
        let moof_len = top[0].1.len() + 8;
        let mfhd = find(&seg, &[b"moof", b"mfhd"]).expect("mfhd");
        assert_eq!(&mfhd[4..8], &3u32.to_be_bytes());
        let tfdt = find(&seg, &[b"moof", b"traf", b"tfdt"]).expect("tfdt");
        assert_eq!(tfdt[0], 1, "tfdt version 1");
        assert_eq!(&tfdt[4..12], &180_000u64.to_be_bytes());
        let trun = find(&seg, &[b"moof", b"traf", b"trun"]).expect("trun");
        assert_eq!(&trun[4..8], &2u32.to_be_bytes());
        let off = u32::from_be_bytes(trun[8..12].try_into().expect("4")) as usize;
        assert_eq!(off, moof_len + 8);
        assert_eq!(&seg[off..off + 6], &samples[0].data[..]);
        assert_eq!(&seg[off + 6..], &samples[1].data[..]);
        // Second sample's flags mark it non-sync.
        assert_eq!(
            &trun[12 + 12 + 8..12 + 12 + 12],
            &FLAGS_NON_SYNC.to_be_bytes()
        );
    }
}
