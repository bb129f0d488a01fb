//! Entropy decoding for `jpeg_luma`: Huffman tables, the bit reader and the
//! per-block coefficient loops.
//!
//! Split from the header and reconstruction code because this is where the
//! analysis decoder spends its time (every bit of every component must be
//! decoded even though only the luma DC or low-frequency picture is kept),
//! and it is tuned accordingly, after libjpeg-turbo and stb_image:
//!
//! * [`Bits`] keeps a 64-bit buffer and refills it eight bytes at a time
//!   when none of them is 0xFF; only near a 0xFF does it go byte by byte to
//!   undo stuffing and stop at markers.
//! * Each table has a [`LOOK`]-bit lookahead table whose entries hold the
//!   whole coefficient: bits to consume (code plus magnitude), zero run and
//!   the sign-extended value, so a typical coefficient costs one lookup.
//!   AC entries also hold the following coefficient when it fits in the
//!   same bits, and longer codes take a slow path that yields the same
//!   packed entry.
//! * Callers pick the loop: [`skip_ac`] decodes and discards (chroma, and
//!   luma AC at 1/8) with a [`SKIP_LOOK`]-bit table whose entries skip
//!   several coefficients, up to and including the end of block, at once;
//!   [`accumulate_ac`] adds each coefficient's precomputed contribution
//!   straight into the block's output pixels, so coefficients are never
//!   stored, cleared or transformed as a block.
//! * Building those tables fills some 18,000 entries for a colour frame,
//!   a noticeable share of a 1/8 decode, and a camera sends the same
//!   tables every frame, so built
//!   tables are kept in a small per-thread cache keyed by the DHT bytes
//!   (see [`table`]); a steady stream allocates nothing but its output.
//!
//! Why this shape: decoding is one long dependency chain (each lookup
//! needs the previous one's shift of the bit buffer), so what counts is
//! lookups per coefficient, keeping the reader in registers (see [`Bits`])
//! and avoiding unpredictable branches, not instruction counts.
//!
//! Robustness: lookups index fixed-size arrays with values the shifts bound
//! (no `unsafe`), every step of a block loop advances k or ends the block,
//! and the reader feeds counted zero bits past a marker or the end, so
//! corrupt data ends in an error, not a panic or a hang.

use super::Corrupt;
use std::cell::RefCell;
use std::rc::Rc;

/// Bits resolved by one table lookup. 10 bits cover nearly all camera AC
/// coefficients (code and magnitude together) with 8 KiB per table, small
/// enough to share a Raspberry Pi's 32 KiB L1 with the skip table.
pub(super) const LOOK: u32 = 10;
const LOOK_SIZE: usize = 1 << LOOK;

/// Bits resolved by one lookup of the multi-coefficient skip table (8 KiB
/// of `u16`).
const SKIP_LOOK: u32 = 12;
const SKIP_SIZE: usize = 1 << SKIP_LOOK;
/// Skip entry fields: bits to consume, then the sum of (run + 1) over the
/// entry's coefficients (zigzag positions advanced), then end of block.
const SKIP_USED_MASK: u32 = 0x1F;
const SKIP_ADV_SHIFT: u32 = 5;
const SKIP_EOB: u32 = 0x8000;

/// Packed entry: bits 0..8 = bits to consume, 8..16 = zero run before the
/// coefficient (or [`EOB_RUN`]), 16..32 = the signed value. 0 = not in the
/// lookahead table.
type Packed = i32;
/// A run that always carries k past 63, marking end of block.
const EOB_RUN: i32 = 0x80;

pub(super) struct Huffman {
    /// Code length << 8 | symbol for every LOOK-bit prefix; 0 = longer code.
    lut: [u16; LOOK_SIZE],
    /// Low half: the whole coefficient (see [`Packed`]) when code and
    /// magnitude bits fit in LOOK bits. High half (AC tables): the next
    /// coefficient likewise when it fits in the bits left, else 0, so
    /// `accumulate_ac` often decodes two coefficients per lookup.
    fast: [u64; LOOK_SIZE],
    /// For code length l (1..=16): largest code of that length, or -1.
    maxcode: [i32; 18],
    /// For code length l: index into `values` minus the first code.
    valoff: [i32; 17],
    values: [u8; 256],
    /// How many of `values` the table defines.
    nvalues: usize,
    /// AC tables: for every SKIP_LOOK-bit prefix, as many whole
    /// coefficients as it holds, for blocks whose values are not needed
    /// (see `SKIP_*`); 0 = the first one does not fit.
    skip: [u16; SKIP_SIZE],
    /// DC tables pack the difference; AC tables the run and value.
    is_dc: bool,
}

/// Tables built lately on this thread, keyed by class and DHT contents.
/// A camera sends the same tables in every frame; rebuilding them would
/// cost a noticeable share of a decode.
type Cache = Vec<(Vec<u8>, Rc<Huffman>)>;

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Vec::new()) };
}

/// Most tables kept per thread: two frame sources' worth of DC and AC,
/// luma and chroma.
const CACHE_TABLES: usize = 8;

/// The table for this DHT entry, built or from the per-thread cache.
pub(super) fn table(
    counts: &[u8; 16],
    symbols: &[u8],
    is_dc: bool,
) -> Result<Rc<Huffman>, Corrupt> {
    let same = |k: &[u8]| {
        k.len() == 17 + symbols.len()
            && k[0] == u8::from(is_dc)
            && k[1..17] == counts[..]
            && k[17..] == *symbols
    };
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, h)) = cache.iter().find(|(k, _)| same(k)) {
            return Ok(Rc::clone(h));
        }
        let h = Rc::new(Huffman::build(counts, symbols, is_dc)?);
        let mut key = Vec::with_capacity(17 + symbols.len());
        key.push(u8::from(is_dc));
        key.extend_from_slice(counts);
        key.extend_from_slice(symbols);
        if cache.len() >= CACHE_TABLES {
            cache.remove(0);
        }
        cache.push((key, Rc::clone(&h)));
        Ok(h)
    })
}

impl Huffman {
    fn build(counts: &[u8; 16], symbols: &[u8], is_dc: bool) -> Result<Self, Corrupt> {
        let mut h = Self {
            lut: [0; LOOK_SIZE],
            fast: [0; LOOK_SIZE],
            skip: [0; SKIP_SIZE],
            maxcode: [-1; 18],
            valoff: [0; 17],
            values: [0; 256],
            nvalues: symbols.len(),
            is_dc,
        };
        if symbols.len() > 256 {
            return Err("Huffman table has too many values".into());
        }
        h.values[..symbols.len()].copy_from_slice(symbols);
        let mut code: u32 = 0;
        let mut k: usize = 0;
        for len in 1..=16u32 {
            let n = u32::from(counts[len as usize - 1]);
            h.valoff[len as usize] = k as i32 - code as i32;
            if n > 0 {
                if code + n > (1 << len) {
                    return Err("Huffman table overflows its code space".into());
                }
                for _ in 0..n {
                    let sym = *symbols.get(k).ok_or("Huffman table is short of values")?;
                    if len <= LOOK {
                        let shift = LOOK - len;
                        let first = (code << shift) as usize;
                        for i in first..first + (1 << shift) {
                            h.lut[i] = (len as u16) << 8 | u16::from(sym);
                            h.fast[i] = u64::from(h.pack(i as u32, len, sym) as u32);
                        }
                    }
                    code += 1;
                    k += 1;
                }
                h.maxcode[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        // Sentinel so the slow path always terminates.
        h.maxcode[17] = i32::MAX;
        if !is_dc {
            for i in 0..LOOK_SIZE {
                h.fast[i] |= u64::from(h.second(i as u32) as u32) << 32;
            }
            for p in 0..SKIP_SIZE as u32 {
                h.skip[p as usize] = h.skip_entry(p);
            }
        }
        Ok(h)
    }

    /// The packed entry for the coefficient after the first one in
    /// LOOK-bit prefix `look`, if both fit; else 0.
    fn second(&self, look: u32) -> Packed {
        let first = self.fast[look as usize] as u32 as Packed;
        let used = (first & 0xFF) as u32;
        if first == 0 || (first >> 8) & 0xFF == EOB_RUN || used >= LOOK {
            return 0;
        }
        let rest = (look << used) & (LOOK_SIZE as u32 - 1);
        let e = self.lut[rest as usize];
        let len = u32::from(e >> 8);
        let s = u32::from(e & 15);
        if len == 0 || used + len + s > LOOK {
            return 0;
        }
        self.pack(rest, len, e as u8)
    }

    /// Walks the AC codes at the start of SKIP_LOOK-bit prefix `p` for the
    /// skip table: stops at the first that does not fit with its magnitude,
    /// after an end of block, or before the advance would pass 63 (such
    /// an entry could never be used anyway).
    fn skip_entry(&self, p: u32) -> u16 {
        let (mut used, mut adv) = (0u32, 0u32);
        while used < SKIP_LOOK {
            let rest = (p << used) & (SKIP_SIZE as u32 - 1);
            let e = self.lut[(rest >> (SKIP_LOOK - LOOK)) as usize];
            let len = u32::from(e >> 8);
            let (r, s) = (u32::from(e >> 4) & 15, u32::from(e & 15));
            if len == 0 || used + len + s > SKIP_LOOK {
                break;
            }
            if s == 0 && r != 15 {
                return ((used + len) | (adv << SKIP_ADV_SHIFT) | SKIP_EOB) as u16;
            }
            let step = if s == 0 { 16 } else { r + 1 };
            if adv + step > 63 {
                break;
            }
            used += len + s;
            adv += step;
        }
        (used | (adv << SKIP_ADV_SHIFT)) as u16
    }

    /// The packed entry for LOOK-bit prefix `look` that starts with a code
    /// of `len` bits for `sym`, or 0 if the magnitude bits do not fit.
    fn pack(&self, look: u32, len: u32, sym: u8) -> Packed {
        let (run, s) = if self.is_dc {
            if sym > 11 {
                return 0; // the slow path reports it
            }
            (0, u32::from(sym))
        } else {
            (i32::from(sym >> 4), u32::from(sym & 15))
        };
        if s == 0 {
            let run = match (self.is_dc, run) {
                (true, _) => 0,
                (false, 15) => 15, // ZRL: sixteen zeros, i.e. run 15 then a 0
                (false, _) => EOB_RUN,
            };
            return run << 8 | len as i32;
        }
        let total = len + s;
        if total > LOOK {
            return 0;
        }
        let raw = (look >> (LOOK - total)) & ((1 << s) - 1);
        extend(raw as i32, s) << 16 | run << 8 | total as i32
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

/// What was wrong with the entropy-coded data. Small and `Copy` so the
/// hot loops return it cheaply; it becomes a [`Corrupt`] reason with `?`.
#[derive(Clone, Copy, Debug)]
pub(super) enum Bad {
    Code,
    DcMagnitude,
    RunPastEnd,
}

impl From<Bad> for Corrupt {
    fn from(b: Bad) -> Self {
        match b {
            Bad::Code => "invalid Huffman code",
            Bad::DcMagnitude => "DC magnitude too large",
            Bad::RunPastEnd => "AC run past end of block",
        }
        .into()
    }
}

/// MSB-first bit reader over entropy-coded data that removes byte stuffing
/// and stops at markers, feeding zeros past them (as libjpeg does) while
/// counting those fake bits, so over-reads are detected rather than decoded.
///
/// `Copy`, and its out-of-line slow paths take and return it by value:
/// that way its address never escapes the decode loop and the optimiser
/// keeps `buf` and `nbits` in registers rather than in memory, which
/// matters because every coefficient's decode depends on the previous
/// one's shift of `buf`.
#[derive(Clone, Copy)]
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// Valid bits are the top `nbits`; the rest are zero.
    buf: u64,
    nbits: u32,
    /// Zero bits appended past a marker or the end of data.
    fake_bits: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            buf: 0,
            nbits: 0,
            fake_bits: 0,
        }
    }

    /// Tops the buffer up to at least 57 bits.
    #[inline(always)]
    fn fill(&mut self) {
        // Fast path: take whole bytes up to the first 0xFF of the next
        // eight, which need no unstuffing or marker checks.
        if self.fake_bits == 0 {
            if let Some(Ok(b8)) = self
                .data
                .get(self.pos..self.pos + 8)
                .map(<[u8; 8]>::try_from)
            {
                let word = u64::from_be_bytes(b8);
                // Exact per-byte test (no borrow between bytes): the high
                // bit of each byte of `ff` is set iff that byte is 0xFF.
                const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
                let inv = !word;
                let ff = !(((inv & LOW7) + LOW7) | inv | LOW7);
                let clean = ff.leading_zeros() / 8;
                let take = ((64 - self.nbits) / 8).min(clean);
                if take > 0 {
                    let bits = take * 8;
                    let chunk = if bits == 64 {
                        word
                    } else {
                        word & !(u64::MAX >> bits)
                    };
                    self.buf |= chunk >> self.nbits;
                    self.nbits += bits;
                    self.pos += take as usize;
                }
                if self.nbits > 56 {
                    return;
                }
            }
        }
        *self = self.fill_bytewise();
    }

    /// Byte at a time, for stuffing, markers and the last bytes.
    #[inline(never)]
    fn fill_bytewise(mut self) -> Self {
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
        self
    }

    /// True once the decoder has consumed bits that were never in the file.
    #[inline]
    pub(super) fn overran(&self) -> bool {
        self.fake_bits > self.nbits
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.nbits -= n;
    }

    #[inline]
    fn peek(&mut self, n: u32) -> u32 {
        if self.nbits < n {
            self.fill();
        }
        (self.buf >> (64 - n)) as u32
    }

    /// Decodes one Huffman symbol the long way.
    fn symbol(&mut self, h: &Huffman) -> Option<u8> {
        let look = self.peek(16);
        let e = h.lut[(look >> (16 - LOOK)) as usize];
        if e != 0 {
            self.consume(u32::from(e >> 8));
            return Some(e as u8);
        }
        let mut len = LOOK as usize + 1;
        while len <= 16 {
            let code = (look >> (16 - len)) as i32;
            if code <= h.maxcode[len] {
                self.consume(len as u32);
                let idx = code + h.valoff[len];
                return usize::try_from(idx)
                    .ok()
                    .filter(|&i| i < h.nvalues)
                    .and_then(|i| h.values.get(i).copied());
            }
            len += 1;
        }
        None
    }

    /// The slow path of [`Self::next`]: decodes the code and magnitude
    /// (consuming them) and returns the packed entry with 0 bits to consume.
    #[inline(never)]
    fn slow(mut self, h: &Huffman) -> (Self, Result<Packed, Bad>) {
        let Some(sym) = self.symbol(h) else {
            return (self, Err(Bad::Code));
        };
        let (run, s) = if h.is_dc {
            if sym > 11 {
                return (self, Err(Bad::DcMagnitude));
            }
            (0, u32::from(sym))
        } else {
            (i32::from(sym >> 4), u32::from(sym & 15))
        };
        if s == 0 {
            let e = match (h.is_dc, run) {
                (true, _) => 0,
                (false, 15) => 15 << 8,
                (false, _) => EOB_RUN << 8,
            };
            return (self, Ok(e));
        }
        let v = extend(self.peek(s) as i32, s);
        self.consume(s);
        (self, Ok(v << 16 | run << 8))
    }

    /// Decodes the next coefficient's packed entry and consumes its bits.
    #[inline(always)]
    fn next(&mut self, h: &Huffman) -> Result<Packed, Bad> {
        if self.nbits < 16 {
            self.fill();
        }
        // The shift bounds the index below LOOK_SIZE: no bounds check.
        let mut e = h.fast[(self.buf >> (64 - LOOK)) as usize] as u32 as Packed;
        if e == 0 {
            let (b, r) = self.slow(h);
            *self = b;
            e = r?;
        }
        self.consume((e & 0xFF) as u32);
        Ok(e)
    }

    /// Skips to just after the next RSTn marker and resets the bit state.
    pub(super) fn restart(mut self) -> Result<Self, Corrupt> {
        self.buf = 0;
        self.nbits = 0;
        self.fake_bits = 0;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF {
                let m = self.data[self.pos + 1];
                if (0xD0..=0xD7).contains(&m) {
                    self.pos += 2;
                    return Ok(self);
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

/// Decodes a DC difference with table `h` (built with `is_dc`).
#[inline(always)]
pub(super) fn decode_dc(bits: &mut Bits, h: &Huffman) -> Result<i32, Bad> {
    Ok(bits.next(h)? >> 16)
}

/// Decodes one block's AC coefficients and throws them away, several per
/// lookup where they fit the skip table.
#[inline(always)]
pub(super) fn skip_ac(bits: &mut Bits, h: &Huffman) -> Result<(), Bad> {
    let mut k = 1u32;
    while k < 64 {
        if bits.nbits < 16 {
            bits.fill();
        }
        // The shift bounds the index below SKIP_SIZE: no bounds check.
        let e = u32::from(h.skip[(bits.buf >> (64 - SKIP_LOOK)) as usize]);
        let adv = e >> SKIP_ADV_SHIFT & 63;
        // Usable unless it would fill the block: then bits after the
        // 63rd coefficient belong to the next block, not to this entry.
        if e != 0 && k + adv < 64 {
            bits.consume(e & SKIP_USED_MASK);
            k += adv;
            if e & SKIP_EOB != 0 {
                return Ok(());
            }
            continue;
        }
        let e = bits.next(h)?;
        k += ((e >> 8) & 0xFF) as u32;
        if k > 63 {
            return end_of_block(e);
        }
        k += 1;
    }
    Ok(())
}

/// Decodes one block's AC coefficients, adding value x `tab[k]` to `acc`
/// for each coefficient at zigzag position k.
#[inline(always)]
pub(super) fn accumulate_ac<const NN: usize>(
    bits: &mut Bits,
    h: &Huffman,
    tab: &[[f32; NN]; 64],
    mut acc: [f32; NN],
) -> Result<[f32; NN], Bad> {
    let mut k = 1usize;
    while k < 64 {
        if bits.nbits < 16 {
            bits.fill();
        }
        // The shift bounds the index below LOOK_SIZE: no bounds check.
        let pair = h.fast[(bits.buf >> (64 - LOOK)) as usize];
        let mut e = pair as u32 as Packed;
        if e == 0 {
            let (b, r) = bits.slow(h);
            *bits = b;
            e = r?;
        }
        bits.consume((e & 0xFF) as u32);
        k += ((e >> 8) & 0xFF) as usize;
        if k > 63 {
            return end_of_block(e).map(|()| acc);
        }
        add(&mut acc, e >> 16, &tab[k]);
        k += 1;
        // The second coefficient, unless there is none or the first filled
        // the block (then the bits belong to the next block). Whether it
        // is there is unpredictable, so an absent one becomes a no-op
        // (0 bits, run 0, value 0, k unchanged) rather than a branch.
        let e = (pair >> 32) as u32 as Packed;
        let e = if k < 64 { e } else { 0 };
        bits.consume((e & 0xFF) as u32);
        k += ((e >> 8) & 0xFF) as usize;
        if k > 63 {
            // An end of block, or a full block with no second entry.
            return end_of_block(e).map(|()| acc);
        }
        add(&mut acc, e >> 16, &tab[k]);
        k += usize::from(e != 0);
    }
    Ok(acc)
}

#[inline(always)]
fn add<const NN: usize>(acc: &mut [f32; NN], v: i32, t: &[f32; NN]) {
    let v = v as f32;
    for (a, t) in acc.iter_mut().zip(t) {
        *a += v * t;
    }
}

/// A run carried k past 63: fine for an end-of-block code or a ZRL (value
/// 0; libjpeg tolerates one at the end too), corrupt for a coefficient.
#[inline(always)]
fn end_of_block(e: Packed) -> Result<(), Bad> {
    if (e >> 8) & 0xFF == EOB_RUN || e >> 16 == 0 {
        Ok(())
    } else {
        Err(Bad::RunPastEnd)
    }
}
