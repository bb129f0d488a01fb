//! Renders the synthetic scene to files for eyeballing: a JPEG snapshot of
//! one frame and a fragmented MP4 of a range of frames.
//!
//! `cargo run -p vigia-media --example synthetic_clip -- OUT_DIR [FIRST [COUNT]]`
//! writes `OUT_DIR/frame.jpg` (frame FIRST + COUNT/2, with the figures'
//! ground-truth boxes drawn) and `OUT_DIR/clip.mp4` (COUNT frames from
//! FIRST). Defaults: frames 60..160 at 10 fps, i.e. 6 s to 16 s, the first
//! figure crossing.

use std::path::PathBuf;
use vigia_media::{
    draw_box, encode_jpeg_yuv, ClipChunk, ClipConfig, ClipEncoder, SceneConfig, SyntheticScene,
    TruthKind,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: synthetic_clip OUT_DIR [FIRST [COUNT]]")?,
    );
    let first: u64 = args.next().map_or(Ok(60), |s| s.parse())?;
    let count: u64 = args.next().map_or(Ok(100), |s| s.parse())?;
    let mut scene = SyntheticScene::new(SceneConfig::default());
    let (w, h) = (scene.config().width, scene.config().height);

    let mid = first + count / 2;
    let mut img = scene.render(mid);
    let t = scene.loop_ms(mid);
    for g in scene.ground_truth() {
        if g.kind == TruthKind::Figure {
            if let Some([x1, y1, x2, y2]) = g.bbox_at(t, w, h) {
                draw_box(&mut img, x1, y1, x2, y2, 2);
            }
        }
    }
    std::fs::write(dir.join("frame.jpg"), encode_jpeg_yuv(&img, 85)?)?;

    let mut clip = ClipEncoder::new(ClipConfig::default());
    let mut file = Vec::new();
    let mut push = |chunks: Vec<ClipChunk>| {
        for c in chunks {
            match c {
                ClipChunk::Init(b) | ClipChunk::Fragment { bytes: b, .. } => file.extend(b),
            }
        }
    };
    for i in first..first + count {
        let jpeg = encode_jpeg_yuv(&scene.render(i), 80)?;
        push(clip.push_jpeg(&jpeg, scene.time_ms(i))?);
    }
    push(clip.finish()?);
    std::fs::write(dir.join("clip.mp4"), &file)?;
    println!(
        "wrote {}/frame.jpg and clip.mp4 ({} bytes)",
        dir.display(),
        file.len()
    );
    Ok(())
}
