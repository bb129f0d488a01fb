//! The fast analysis decoder: baseline Huffman JPEG → downscaled luma.
//!
//! This is the node's hottest code (every frame, on a Raspberry Pi), so it
//! does the least work that yields the picture analysis needs: it
//! entropy-decodes the scan (unavoidable, the bits of all components are
//! interleaved) but reconstructs only the Y component, and only at the
//! requested scale. At 1/8 the dequantised DC coefficient of each block *is*
//! the block's mean, so no IDCT runs at all. At 1/4 and 1/2 an 8→2 or 8→4
//! "box-averaging" IDCT (see `idct_basis`) turns the coefficients straight
//! into the mean of each 4x4 or 2x2 pixel group. It runs coefficient by
//! coefficient as they are decoded: each adds its precomputed, dequantised
//! contribution (`contribution_table`) to the block's 4 or 16 output
//! pixels, so camera blocks with a handful of non-zero coefficients cost a
//! handful of small vector multiply-adds, and nothing is stored or cleared.
//! Every scale is therefore the exact box filter of the full decode (up to
//! rounding), which is what the zune-jpeg fallback computes too.
//!
//! The entropy decoding, where the time goes, lives in `entropy` (bit
//! reader, lookahead tables, the skip and accumulate loops); this file
//! owns the headers, the MCU walk and the reconstruction.
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

mod entropy;

use entropy::{accumulate_ac, decode_dc, skip_ac, Bits, Huffman};
use std::rc::Rc;

/// Natural (row-major) index of the k-th coefficient in zigzag order.
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

pub(crate) enum Outcome {
    Decoded(LumaPlane),
    /// A valid-looking JPEG this decoder does not handle; use the fallback.
    Unsupported,
}

/// Why the data is corrupt; becomes `MediaError::InvalidJpeg`'s reason.
pub(crate) type Corrupt = String;

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
    dc: [Option<Rc<Huffman>>; 4],
    ac: [Option<Rc<Huffman>>; 4],
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
                    let h = entropy::table(&counts, &s[17..17 + total], class == 0)?;
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
    // NN = pixels per block in the output, n x n with n = 8 / scale.
    match scale {
        8 => decode_at::<1>(d),
        4 => decode_at::<4>(d),
        2 => decode_at::<16>(d),
        _ => Ok(Outcome::Unsupported),
    }
}

/// Block side in output pixels for NN output pixels per block.
const fn side(nn: usize) -> usize {
    match nn {
        1 => 1,
        4 => 2,
        _ => 4,
    }
}

/// One block of an MCU: its tables, whether it is luma (kept) and, for
/// luma, its offset in blocks within the MCU.
#[derive(Clone, Copy)]
struct McuBlock<'t> {
    dc: &'t Huffman,
    ac: &'t Huffman,
    is_y: bool,
    dx: u32,
    dy: u32,
}

/// Most blocks one MCU may hold (T.81 B.2.3).
const MAX_MCU_BLOCKS: usize = 10;

fn decode_at<const NN: usize>(d: &[u8]) -> Result<Outcome, Corrupt> {
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
        || hdr.comps.iter().map(|c| c.h * c.v).sum::<u32>() > MAX_MCU_BLOCKS as u32
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

    let y_dc = tables.dc[y.td].as_ref().ok_or("missing DC table")?;
    let y_ac = tables.ac[y.ta].as_ref().ok_or("missing AC table")?;
    let mut blocks = [McuBlock {
        dc: y_dc,
        ac: y_ac,
        is_y: true,
        dx: 0,
        dy: 0,
    }; MAX_MCU_BLOCKS];
    let mut nblocks = 0;
    for &ci in &hdr.scan {
        let c = hdr.comps[ci];
        let (bh, bv) = if single { (1, 1) } else { (c.h, c.v) };
        for dy in 0..bv {
            for dx in 0..bh {
                blocks[nblocks] = McuBlock {
                    dc: tables.dc[c.td].as_ref().ok_or("missing DC table")?,
                    ac: tables.ac[c.ta].as_ref().ok_or("missing AC table")?,
                    is_y: ci == 0,
                    dx,
                    dy,
                };
                nblocks += 1;
            }
        }
    }
    let blocks = &blocks[..nblocks];
    let tab = contribution_table::<NN>(&tables.quant[y.tq].ok_or("missing quant table")?);
    let (bw, bh) = if single { (1, 1) } else { (y.h, y.v) };

    let n = side(NN) as u32;
    let mut out = LumaPlane::new(hdr.width.div_ceil(8 / n), hdr.height.div_ceil(8 / n));
    let mut bits = Bits::new(d, hdr.scan_start);
    // Only luma's DC prediction matters; chroma DC is decoded and dropped.
    let mut pred = 0i32;
    let total_mcus = mcus_x * mcus_y;
    for mcu in 0..total_mcus {
        if hdr.restart_interval > 0 && mcu > 0 && mcu % hdr.restart_interval == 0 {
            if bits.overran() {
                return Err("entropy data runs past a marker".into());
            }
            bits = bits.restart()?;
            pred = 0;
        }
        let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
        for b in blocks {
            let diff = decode_dc(&mut bits, b.dc)?;
            if !b.is_y {
                skip_ac(&mut bits, b.ac)?;
                continue;
            }
            pred = pred.saturating_add(diff);
            let dc = pred as f32;
            let mut acc = tab[0].map(|t| dc * t);
            if NN == 1 {
                skip_ac(&mut bits, b.ac)?;
            } else {
                acc = accumulate_ac(&mut bits, b.ac, &tab, acc)?;
            }
            put_block::<NN>(&mut out, (mx * bw + b.dx, my * bh + b.dy), &acc);
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

/// `tab[k][y * n + x]`: what a coefficient of 1 at zigzag position k
/// adds to output pixel (x, y) of its block, dequantisation included:
/// `q[k] * basis[y][v] * basis[x][u]` for natural position (u, v). Summing
/// these over a block's coefficients is the separable box-averaging IDCT,
/// done coefficient by coefficient as they are decoded.
fn contribution_table<const NN: usize>(q: &[u16; 64]) -> [[f32; NN]; 64] {
    let n = side(NN);
    let basis = idct_basis(n);
    let mut tab = [[0f32; NN]; 64];
    for (k, row) in tab.iter_mut().enumerate() {
        let z = usize::from(ZIGZAG[k]);
        let (u, v) = (z % 8, z / 8);
        for (i, e) in row.iter_mut().enumerate() {
            let (x, y) = (i % n, i / n);
            *e = f32::from(q[k]) * basis[y][v] * basis[x][u];
        }
    }
    tab
}

/// Writes one block's n x n pixels (the accumulated reconstruction) into
/// `out`, clipped at the right and bottom edges.
#[inline(always)]
fn put_block<const NN: usize>(out: &mut LumaPlane, (bx, by): (u32, u32), acc: &[f32; NN]) {
    let n = side(NN);
    let (x0, y0) = (bx as usize * n, by as usize * n);
    let (w, h) = (out.width as usize, out.height as usize);
    if x0 >= w || y0 >= h {
        return;
    }
    let cols = n.min(w - x0);
    for (yy, src) in acc.chunks_exact(n).take(h - y0).enumerate() {
        let start = (y0 + yy) * w + x0;
        for (o, &a) in out.data[start..start + cols].iter_mut().zip(src) {
            *o = clamp_px(a);
        }
    }
}

#[inline]
fn clamp_px(v: f32) -> u8 {
    (v + 128.5).clamp(0.0, 255.0) as u8
}
