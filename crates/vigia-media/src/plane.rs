//! Raw pixel planes: 8-bit luma for analysis and planar YUV 4:2:0 (I420)
//! for the H.264 encoder and the synthetic scene.

/// An 8-bit luma image, rows packed (stride == width).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LumaPlane {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl LumaPlane {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            data: vec![0; width as usize * height as usize],
        }
    }

    #[inline]
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }
}

/// Planar YUV 4:2:0, BT.601 full range, even width and height, packed rows:
/// `y` is width*height bytes, `u` and `v` are (width/2)*(height/2) each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yuv420 {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Yuv420 {
    /// A frame filled with one colour. Width and height must be even.
    pub fn filled(width: u32, height: u32, y: u8, u: u8, v: u8) -> Self {
        let (w, h) = (width as usize, height as usize);
        Self {
            width,
            height,
            y: vec![y; w * h],
            u: vec![u; (w / 2) * (h / 2)],
            v: vec![v; (w / 2) * (h / 2)],
        }
    }

    /// The luma plane alone.
    pub fn luma(&self) -> LumaPlane {
        LumaPlane {
            width: self.width,
            height: self.height,
            data: self.y.clone(),
        }
    }
}
