//! The fast analysis decoder: baseline Huffman JPEG → downscaled luma.
//!
//! This is the node's hottest code (every frame, on a Raspberry Pi), so it
//! does the least work that yields the picture analysis needs: it
//! entropy-decodes the scan (unavoidable, the bits of all components are
//! interleaved) but reconstructs only the Y component, and only at the
//! requested scale. At 1/8 the dequantised DC coefficient of each block *is*
//! the block's mean, so no IDCT runs at all. At 1/4 and 1/2 an 8→2 or 8→4
//! "box-averaging" IDCT (see `idct_basis`) turns the coefficients straight
//! into the mean of each 4x4 or 2x2 pixel group, skipping the all-zero
//! coefficient rows that dominate camera footage. Every scale is therefore
//! the exact box filter of the full decode (up to rounding), which is what
//! the zune-jpeg fallback computes too.
//!
//! It handles what cameras and ffmpeg emit: 8-bit baseline or extended
//! Huffman (SOF0/SOF1), one interleaved scan, gray or YCbCr with full-resolution
//! luma (4:2:0, 4:2:2, 4:4:0, 4:4:4), with or without restart intervals.
//! Anything else (progressive, 12-bit, arithmetic coding, multi-scan) is
//! reported as [`Outcome::Unsupported`] and the caller falls back to
//! zune-jpeg. Corrupt data is reported as an error, never a panic: every
//! index is bounds-checked and every loop is bounded by the frame geometry.
//!
//! Output size is ceil(width/scale) x ceil(height/scale), like the fallback.
//! (At the right and bottom edges a partial group also averages the
//! encoder's padding, where the fallback averages only visible pixels.)

use crate::plane::LumaPlane;

/// Natural (row-major) index of the k-th coefficient in zigzag order.
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Bits resolved by one table lookup; longer codes take the slow path.
const FAST_BITS: u32 = 9;

pub(crate) enum Outcome {
    Decoded(LumaPlane),
    /// A valid-looking JPEG this decoder does not handle; use the fallback.
    Unsupported,
}

const BAD_CODE: &str = "invalid Huffman code";

/// Why the data is corrupt; becomes `MediaError::InvalidJpeg`'s reason.
pub(crate) type Corrupt = String;

#[derive(Clone)]
struct Huffman {
    /// (code length, symbol) for every 9-bit prefix; length 0 = slow path.
    fast: Vec<(u8, u8)>,
    /// For AC tables: the whole coefficient (code + magnitude bits) when
    /// both fit in the 9-bit prefix, as `value << 8 | run << 4 | bits`;
    /// 0 = use the general path. Most camera AC codes resolve here.
    fast_ac: Vec<i32>,
    /// For code length l (1..=16): largest code of that length, or -1.
    maxcode: [i32; 18],
    /// For code length l: index into `values` minus the first code.
    valoff: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn build(counts: &[u8; 16], values: &[u8]) -> Result<Self, Corrupt> {
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let mut maxcode = [-1i32; 18];
        let mut valoff = [0i32; 17];
        let mut code: u32 = 0;
        let mut k: usize = 0;
        for len in 1..=16u32 {
            let n = u32::from(counts[len as usize - 1]);
            valoff[len as usize] = k as i32 - code as i32;
            if n > 0 {
                if code + n > (1 << len) {
                    return Err("Huffman table overflows its code space".into());
                }
                for _ in 0..n {
                    let sym = *values.get(k).ok_or("Huffman table is short of values")?;
                    if len <= FAST_BITS {
                        let shift = FAST_BITS - len;
                        let first = (code << shift) as usize;
                        for e in &mut fast[first..first + (1 << shift)] {
                            *e = (len as u8, sym);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                maxcode[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        // Sentinel so the slow path always terminates.
        maxcode[17] = i32::MAX;
        let mut fast_ac = vec![0i32; 1 << FAST_BITS];
        for (i, e) in fast_ac.iter_mut().enumerate() {
            let (len, sym) = fast[i];
            let (run, s) = (i32::from(sym >> 4), u32::from(sym & 15));
            let total = u32::from(len) + s;
            if len == 0 || s == 0 || total > FAST_BITS {
                continue;
            }
            let raw = ((i as u32) >> (FAST_BITS - total)) & ((1 << s) - 1);
            let v = extend(raw as i32, s);
            *e = (v << 8) | (run << 4) | total as i32;
        }
        Ok(Self {
            fast,
            fast_ac,
            maxcode,
            valoff,
            values: values.to_vec(),
        })
    }
}

/// T.81 F.12: maps s magnitude bits to a signed value.
#[inline]
fn extend(v: i32, s: u32) -> i32 {
    if v < (1 << (s - 1)) {
        v - (1 << s) + 1
    } else {
        v
    }
}

/// MSB-first bit reader over entropy-coded data that removes byte stuffing
/// and stops at markers, feeding zeros past them (as libjpeg does) while
/// counting those fake bits, so over-reads are detected rather than decoded.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    nbits: u32,
    /// Zero bits appended past a marker or the end of data.
    fake_bits: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            buf: 0,
            nbits: 0,
            fake_bits: 0,
        }
    }

    #[inline]
    fn fill(&mut self) {
        // Fast path: eight bytes with no 0xFF among them (the common case)
        // need no unstuffing or marker checks, so take them in one go.
        if self.fake_bits == 0 {
            if let Some(Ok(b8)) = self
                .data
                .get(self.pos..self.pos + 8)
                .map(<[u8; 8]>::try_from)
            {
                let word = u64::from_be_bytes(b8);
                let inv = !word;
                let has_ff = inv.wrapping_sub(0x0101_0101_0101_0101) & !inv & 0x8080_8080_8080_8080;
                if has_ff == 0 {
                    let take = (64 - self.nbits) / 8;
                    let bits = take * 8;
                    let chunk = if bits == 64 {
                        word
                    } else {
                        word & !(u64::MAX >> bits)
                    };
                    self.buf |= chunk >> self.nbits;
                    self.nbits += bits;
                    self.pos += take as usize;
                    return;
                }
            }
        }
        while self.nbits <= 56 {
            let mut byte = 0u8;
            let mut real = false;
            if self.fake_bits == 0 {
                if let Some(&b) = self.data.get(self.pos) {
                    if b != 0xFF {
                        byte = b;
                        real = true;
                        self.pos += 1;
                    } else if self.data.get(self.pos + 1) == Some(&0x00) {
                        byte = 0xFF;
                        real = true;
                        self.pos += 2;
                    }
                }
            }
            if !real {
                self.fake_bits += 8;
            }
            self.buf |= u64::from(byte) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    /// True once the decoder has consumed bits that were never in the file.
    #[inline]
    fn overran(&self) -> bool {
        self.fake_bits > self.nbits
    }

    #[inline]
    fn peek(&mut self, n: u32) -> u32 {
        if self.nbits < n {
            self.fill();
        }
        (self.buf >> (64 - n)) as u32
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.nbits -= n;
    }

    #[inline]
    fn receive_extend(&mut self, s: u32) -> i32 {
        if s == 0 {
            return 0;
        }
        let v = self.peek(s) as i32;
        self.consume(s);
        extend(v, s)
    }

    #[inline]
    fn decode(&mut self, h: &Huffman) -> Option<u8> {
        let look = self.peek(16);
        let (len, sym) = h.fast[(look >> (16 - FAST_BITS)) as usize];
        if len != 0 {
            self.consume(u32::from(len));
            return Some(sym);
        }
        let mut len = FAST_BITS as usize + 1;
        loop {
            let code = (look >> (16 - len)) as i32;
            if code <= h.maxcode[len] {
                self.consume(len as u32);
                let idx = (code + h.valoff[len]) as usize;
                return h.values.get(idx).copied();
            }
            len += 1;
            if len > 16 {
                return None;
            }
        }
    }

    /// Skips to just after the next RSTn marker and resets the bit state.
    fn restart(&mut self) -> Result<(), Corrupt> {
        self.buf = 0;
        self.nbits = 0;
        self.fake_bits = 0;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF {
                let m = self.data[self.pos + 1];
                if (0xD0..=0xD7).contains(&m) {
                    self.pos += 2;
                    return Ok(());
                }
                if m != 0x00 && m != 0xFF {
                    return Err(format!("expected RST marker, found 0xFF{m:02X}"));
                }
            }
            self.pos += 1;
        }
        Err("truncated before RST marker".into())
    }
}

#[derive(Clone, Copy, Default)]
struct Component {
    id: u8,
    h: u32,
    v: u32,
    tq: usize,
    td: usize,
    ta: usize,
}

struct Header {
    width: u32,
    height: u32,
    comps: Vec<Component>,
    restart_interval: u32,
    /// Scan component indices (into `comps`) in scan order.
    scan: Vec<usize>,
    scan_start: usize,
}

fn be16(d: &[u8], i: usize) -> Result<u16, Corrupt> {
    match d.get(i..i + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err("truncated header".into()),
    }
}

struct Tables {
    quant: [Option<[u16; 64]>; 4],
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
}

fn parse(d: &[u8], tables: &mut Tables) -> Result<Option<Header>, Corrupt> {
    if d.len() < 4 || d[0] != 0xFF || d[1] != 0xD8 {
        return Err("missing SOI".into());
    }
    let mut pos = 2;
    let mut frame: Option<(u32, u32, Vec<Component>)> = None;
    let mut restart_interval = 0;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if d.get(pos) != Some(&0xFF) {
            return Err(format!("expected marker at offset {pos}"));
        }
        while d.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let m = *d.get(pos).ok_or("truncated before marker")?;
        pos += 1;
        if m == 0x01 || (0xD0..=0xD7).contains(&m) {
            continue;
        }
        if m == 0xD9 {
            return Err("EOI before SOS".into());
        }
        let len = usize::from(be16(d, pos)?);
        if len < 2 || pos + len > d.len() {
            return Err(format!("segment 0xFF{m:02X} has bad length {len}"));
        }
        let seg = &d[pos + 2..pos + len];
        match m {
            0xC0 | 0xC1 => {
                if seg.len() < 6 || seg[0] != 8 {
                    return Ok(None);
                }
                let height = u32::from(be16(seg, 1)?);
                let width = u32::from(be16(seg, 3)?);
                let n = usize::from(seg[5]);
                if width == 0 || height == 0 {
                    return Err("zero dimension (DNL is not supported)".into());
                }
                if seg.len() < 6 + 3 * n || !(n == 1 || n == 3) {
                    return Ok(None);
                }
                let comps = (0..n)
                    .map(|i| {
                        let c = &seg[6 + 3 * i..9 + 3 * i];
                        Component {
                            id: c[0],
                            h: u32::from(c[1] >> 4),
                            v: u32::from(c[1] & 15),
                            tq: usize::from(c[2]),
                            ..Component::default()
                        }
                    })
                    .collect::<Vec<_>>();
                frame = Some((width, height, comps));
            }
            // Any other SOF: progressive, lossless, arithmetic, 12-bit.
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xC4 => {
                let mut s = seg;
                while !s.is_empty() {
                    if s.len() < 17 {
                        return Err("truncated DHT".into());
                    }
                    let (class, id) = (s[0] >> 4, usize::from(s[0] & 15));
                    let mut counts = [0u8; 16];
                    counts.copy_from_slice(&s[1..17]);
                    let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    if total > 256 || s.len() < 17 + total || id > 3 || class > 1 {
                        return Err("bad DHT".into());
                    }
                    let h = Huffman::build(&counts, &s[17..17 + total])?;
                    if class == 0 {
                        tables.dc[id] = Some(h);
                    } else {
                        tables.ac[id] = Some(h);
                    }
                    s = &s[17 + total..];
                }
            }
            0xDB => {
                let mut s = seg;
                while !s.is_empty() {
                    let (prec, id) = (s[0] >> 4, usize::from(s[0] & 15));
                    let size = if prec == 0 { 64 } else { 128 };
                    if id > 3 || prec > 1 || s.len() < 1 + size {
                        return Err("bad DQT".into());
                    }
                    let mut q = [0u16; 64];
                    for (k, e) in q.iter_mut().enumerate() {
                        *e = if prec == 0 {
                            u16::from(s[1 + k])
                        } else {
                            u16::from_be_bytes([s[1 + 2 * k], s[2 + 2 * k]])
                        };
                    }
                    tables.quant[id] = Some(q);
                    s = &s[1 + size..];
                }
            }
            0xDD => restart_interval = u32::from(be16(seg, 0)?),
            0xDA => {
                let (width, height, mut comps) = frame.ok_or("SOS before SOF")?;
                let n = usize::from(*seg.first().ok_or("empty SOS")?);
                if seg.len() < 1 + 2 * n + 3 {
                    return Err("truncated SOS".into());
                }
                // A scan with fewer components than the frame means a
                // multi-scan (non-interleaved) file: leave it to the fallback.
                if n != comps.len() {
                    return Ok(None);
                }
                let mut scan = Vec::with_capacity(n);
                for i in 0..n {
                    let (cid, t) = (seg[1 + 2 * i], seg[2 + 2 * i]);
                    let ci = comps
                        .iter()
                        .position(|c| c.id == cid)
                        .ok_or("SOS names an unknown component")?;
                    comps[ci].td = usize::from(t >> 4);
                    comps[ci].ta = usize::from(t & 15);
                    scan.push(ci);
                }
                let (ss, se, ahal) = (seg[1 + 2 * n], seg[2 + 2 * n], seg[3 + 2 * n]);
                if ss != 0 || se != 63 || ahal != 0 {
                    return Ok(None);
                }
                return Ok(Some(Header {
                    width,
                    height,
                    comps,
                    restart_interval,
                    scan,
                    scan_start: pos + len,
                }));
            }
            _ => {}
        }
        pos += len;
    }
}

fn plans_blocks(hdr: &Header, single: bool) -> u64 {
    if single {
        1
    } else {
        hdr.comps.iter().map(|c| u64::from(c.h * c.v)).sum()
    }
}

/// Box-averaging inverse DCT: `basis[x][u]` is the mean of the 8-point
/// IDCT basis function u over the 8/n source pixels that output pixel x
/// covers. So `basis · F · basisᵀ` is exactly the box-filtered full
/// decode (before rounding), computed from the coefficients directly. For
/// n = 1 it degenerates to DC/8.
fn idct_basis(n: usize) -> [[f32; 8]; 4] {
    let m = 8 / n;
    let mut b = [[0f32; 8]; 4];
    for (x, row) in b.iter_mut().enumerate().take(n) {
        for (u, e) in row.iter_mut().enumerate() {
            let c = if u == 0 {
                std::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            let sum: f32 = (0..m)
                .map(|j| {
                    let p = (m * x + j) as f32;
                    ((2.0 * p + 1.0) * u as f32 * std::f32::consts::PI / 16.0).cos()
                })
                .sum();
            *e = c / 2.0 * sum / m as f32;
        }
    }
    b
}

/// Decodes `d` to luma at 1/`scale` (scale ∈ {2, 4, 8}).
pub(crate) fn decode(d: &[u8], scale: u32) -> Result<Outcome, Corrupt> {
    let mut tables = Tables {
        quant: [None; 4],
        dc: [None, None, None, None],
        ac: [None, None, None, None],
    };
    let Some(hdr) = parse(d, &mut tables)? else {
        return Ok(Outcome::Unsupported);
    };
    let hmax = hdr.comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = hdr.comps.iter().map(|c| c.v).max().unwrap_or(1);
    let y = hdr.comps[0];
    if hdr
        .comps
        .iter()
        .any(|c| c.h == 0 || c.v == 0 || c.h > 4 || c.v > 4)
        || y.h != hmax
        || y.v != vmax
        || hdr.comps.iter().map(|c| c.h * c.v).sum::<u32>() > 10
    {
        return Ok(Outcome::Unsupported);
    }
    for c in &hdr.comps {
        if c.tq > 3 || c.td > 3 || c.ta > 3 {
            return Err("table index out of range".into());
        }
        if tables.quant[c.tq].is_none() || tables.dc[c.td].is_none() || tables.ac[c.ta].is_none() {
            return Err("scan uses an undefined table".into());
        }
    }
    // A single-component scan is non-interleaved: one block per MCU
    // whatever the sampling factors say (T.81 A.2.2).
    let single = hdr.comps.len() == 1;
    let (mcu_w, mcu_h) = if single { (8, 8) } else { (8 * hmax, 8 * vmax) };
    let mcus_x = hdr.width.div_ceil(mcu_w);
    let mcus_y = hdr.height.div_ceil(mcu_h);
    // Every block costs at least 2 bits (a DC and an EOB code), so a scan
    // too short for the claimed size is corrupt; checking first also keeps
    // a flipped SOF byte from allocating gigabytes.
    let blocks_per_mcu: u64 = plans_blocks(&hdr, single);
    let scan_bits = (d.len().saturating_sub(hdr.scan_start) as u64) * 8;
    if u64::from(mcus_x) * u64::from(mcus_y) * blocks_per_mcu * 2 > scan_bits + 64 {
        return Err(format!(
            "{}x{} image cannot fit in {} bytes of scan data",
            hdr.width,
            hdr.height,
            scan_bits / 8
        ));
    }
    let n = (8 / scale) as usize;
    let out_w = hdr.width.div_ceil(scale);
    let out_h = hdr.height.div_ceil(scale);
    let mut out = LumaPlane::new(out_w, out_h);
    let basis = idct_basis(n);
    let yq = tables.quant[y.tq].ok_or("missing quant table")?;

    struct Plan<'t> {
        blocks_h: u32,
        blocks_v: u32,
        dc: &'t Huffman,
        ac: &'t Huffman,
        is_y: bool,
    }
    let mut plans = Vec::with_capacity(hdr.scan.len());
    for &ci in &hdr.scan {
        let c = hdr.comps[ci];
        let (bh, bv) = if single { (1, 1) } else { (c.h, c.v) };
        plans.push(Plan {
            blocks_h: bh,
            blocks_v: bv,
            dc: tables.dc[c.td].as_ref().ok_or("missing DC table")?,
            ac: tables.ac[c.ta].as_ref().ok_or("missing AC table")?,
            is_y: ci == 0,
        });
    }

    let mut bits = Bits::new(d, hdr.scan_start);
    let mut pred = [0i32; 4];
    let total_mcus = mcus_x * mcus_y;
    let mut coef = [0f32; 64];
    for mcu in 0..total_mcus {
        if hdr.restart_interval > 0 && mcu > 0 && mcu % hdr.restart_interval == 0 {
            if bits.overran() {
                return Err("entropy data runs past a marker".into());
            }
            bits.restart()?;
            pred = [0; 4];
        }
        let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
        for (pi, p) in plans.iter().enumerate() {
            for bv in 0..p.blocks_v {
                for bh in 0..p.blocks_h {
                    // DC
                    let s = u32::from(bits.decode(p.dc).ok_or(BAD_CODE)?);
                    if s > 11 {
                        return Err("DC magnitude too large".into());
                    }
                    pred[pi] = pred[pi].saturating_add(bits.receive_extend(s));
                    let want = p.is_y;
                    // Rows of `coef` holding non-zeros; the rest stay zero
                    // between blocks, so only these are cleared afterwards.
                    let mut rows = 1u8;
                    if want {
                        coef[0] = pred[pi] as f32 * f32::from(yq[0]);
                    }
                    // AC: decoded always (the bits must be consumed), kept
                    // only for the low-frequency corner of Y blocks.
                    let mut k = 1usize;
                    while k < 64 {
                        let fa = p.ac.fast_ac[bits.peek(FAST_BITS) as usize];
                        if fa != 0 {
                            bits.consume((fa & 15) as u32);
                            k += ((fa >> 4) & 15) as usize;
                            if k > 63 {
                                return Err("AC run past end of block".into());
                            }
                            if want && n > 1 {
                                let z = usize::from(ZIGZAG[k]);
                                coef[z] = (fa >> 8) as f32 * f32::from(yq[k]);
                                rows |= 1 << (z / 8);
                            }
                            k += 1;
                            continue;
                        }
                        let rs = bits.decode(p.ac).ok_or(BAD_CODE)?;
                        let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
                        if s == 0 {
                            if r != 15 {
                                break;
                            }
                            k += 16;
                            continue;
                        }
                        k += r;
                        if k > 63 {
                            return Err("AC run past end of block".into());
                        }
                        let v = bits.receive_extend(s);
                        if want && n > 1 {
                            let z = usize::from(ZIGZAG[k]);
                            coef[z] = v as f32 * f32::from(yq[k]);
                            rows |= 1 << (z / 8);
                        }
                        k += 1;
                    }
                    if want {
                        let bx = if single { mx } else { mx * p.blocks_h + bh };
                        let by = if single { my } else { my * p.blocks_v + bv };
                        put_block(&mut out, (bx, by), n, (&coef, rows), &basis);
                        for v in 0..8 {
                            if rows & (1 << v) != 0 {
                                coef[v * 8..v * 8 + 8].fill(0.0);
                            }
                        }
                    }
                }
            }
        }
        if mcu % mcus_x == mcus_x - 1 && bits.overran() {
            return Err("truncated entropy-coded data".into());
        }
    }
    if bits.overran() {
        return Err("truncated entropy-coded data".into());
    }
    Ok(Outcome::Decoded(out))
}

/// Writes one block's n x n box-averaged reconstruction into `out`,
/// clipped at the right and bottom edges.
#[inline]
fn put_block(
    out: &mut LumaPlane,
    (bx, by): (u32, u32),
    n: usize,
    (coef, rows): (&[f32; 64], u8),
    b: &[[f32; 8]; 4],
) {
    let (x0, y0) = (bx as usize * n, by as usize * n);
    let (w, h) = (out.width as usize, out.height as usize);
    if x0 >= w || y0 >= h {
        return;
    }
    if n == 1 {
        out.data[y0 * w + x0] = clamp_px(coef[0] / 8.0);
        return;
    }
    // Separable: each coefficient row over u, then columns over v. Camera
    // blocks are mostly zeros at high frequencies, so skip empty rows.
    let mut tmp = [[0f32; 4]; 8];
    for v in 0..8 {
        if rows & (1 << v) == 0 {
            continue;
        }
        let r = &coef[v * 8..v * 8 + 8];
        for x in 0..n {
            tmp[v][x] = b[x].iter().zip(r).map(|(a, c)| a * c).sum();
        }
    }
    for (yy, by) in b.iter().enumerate().take(n.min(h - y0)) {
        let row = &mut out.data[(y0 + yy) * w..(y0 + yy + 1) * w];
        for xx in 0..n.min(w - x0) {
            let mut acc = 0.0;
            for (v, t) in tmp.iter().enumerate() {
                if rows & (1 << v) != 0 {
                    acc += by[v] * t[xx];
                }
            }
            row[x0 + xx] = clamp_px(acc);
        }
    }
}

#[inline]
fn clamp_px(v: f32) -> u8 {
    (v + 128.5).clamp(0.0, 255.0) as u8
}
