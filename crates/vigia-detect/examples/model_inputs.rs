//! Writes the person model's input tensor for each image, exactly as the
//! node prepares it (whole image, [`vigia_detect::geometry::fill_input`]):
//! 1x300x300x3 little-endian f32 in [-1, 1], one `<stem>.f32` per image.
//! `scripts/person-reference.sh` feeds these to TensorFlow itself, so that
//! the reference scores and tract's are computed on the same numbers.
//!
//! `cargo run --release -p vigia-detect --example model_inputs -- OUT_DIR IMAGE...`

use std::io::Write;
use std::path::PathBuf;

use vigia_detect::geometry::fill_input;
use vigia_detect::View;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: model_inputs OUT_DIR IMAGE...")?);
    std::fs::create_dir_all(&out)?;
    for path in args.map(PathBuf::from) {
        let image = vigia_detect::image::decode_image(&std::fs::read(&path)?)?;
        let mut input = Vec::new();
        fill_input(&image, &View::Full, 300, &mut input);
        let stem = path.file_stem().ok_or("an image path without a name")?;
        let mut f = std::fs::File::create(out.join(stem).with_extension("f32"))?;
        for v in &input {
            f.write_all(&v.to_le_bytes())?;
        }
    }
    Ok(())
}
