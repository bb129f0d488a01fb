//! Person-detector benchmark: figures, not assertions.
//!
//! `cargo bench -p vigia-detect --bench detect` with `VIGIA_PERSON_MODEL`
//! set (scripts/person-fixtures.sh fetches it) and `VIGIA_FIXTURES` holding
//! vtest.avi. Prints the model time per detection on 1 and 2 threads, the
//! pure-Rust parts (resampling, SSD decode + NMS), the full node path for one
//! detection (JPEG decode + motion-region views + model), and the node's
//! added CPU per second of motion at the default 5 detections/s. Target:
//! ≤ 30 ms per detection on one core.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use vigia_detect::geometry::fill_input;
use vigia_detect::ssd::{postprocess, AnchorSpec, PostProcess};
use vigia_detect::{
    look, DetectError, Detections, LookPolicy, PersonDetector, RgbImage, SsdLitePerson, View,
};

/// Counts the model runs behind one look.
struct Counting<'a> {
    inner: &'a mut SsdLitePerson,
    runs: usize,
}

impl PersonDetector for Counting<'_> {
    fn name(&self) -> &str {
        "counting"
    }
    fn detect(&mut self, image: &RgbImage, view: &View) -> Result<Detections, DetectError> {
        self.runs += 1;
        self.inner.detect(image, view)
    }
}

fn time<T>(min: Duration, mut f: impl FnMut() -> T) -> (f64, usize) {
    let _ = f();
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < min || n < 5 {
        std::hint::black_box(f());
        n += 1;
    }
    (t0.elapsed().as_secs_f64() * 1000.0 / n as f64, n)
}

fn vtest_jpeg() -> Option<Vec<u8>> {
    let dir = std::env::var_os("VIGIA_FIXTURES")?;
    let path = PathBuf::from(dir).join("vtest.avi");
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-ss", "20", "-i"])
        .arg(&path)
        .args([
            "-frames:v",
            "1",
            "-q:v",
            "5",
            "-f",
            "image2pipe",
            "-c:v",
            "mjpeg",
            "-",
        ])
        .output()
        .ok()?;
    (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
}

fn main() {
    let Some(model) = vigia_detect::tract_ssd::model_path_from_env() else {
        eprintln!("VIGIA_PERSON_MODEL is not set (scripts/person-fixtures.sh fetches the model)");
        std::process::exit(1);
    };
    let Some(jpeg) = vtest_jpeg() else {
        eprintln!("VIGIA_FIXTURES/vtest.avi not found or ffmpeg missing");
        std::process::exit(1);
    };
    let img = vigia_detect::image::decode_jpeg(&jpeg).expect("decode vtest frame");
    let min = Duration::from_secs(3);
    println!(
        "person detector on a {}x{} vtest.avi frame",
        img.width, img.height
    );

    let (ms, _) = time(min, || vigia_detect::image::decode_jpeg(&jpeg));
    println!("  JPEG decode to RGB                {ms:7.2} ms");
    let mut buf = Vec::new();
    let (ms, _) = time(min, || fill_input(&img, &View::Full, 300, &mut buf));
    println!("  resample to 300x300 [-1,1]        {ms:7.2} ms");

    for threads in [1, 2] {
        let t0 = Instant::now();
        let mut det = SsdLitePerson::load(&model, threads).expect("model loads");
        let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let (ms, n) = time(min, || det.detect(&img, &View::Full).expect("detect"));
        println!("  model, {threads} thread(s)               {ms:7.2} ms/detection ({n} runs; load {load_ms:.0} ms)");
        if threads == 1 {
            let mut input = Vec::new();
            fill_input(&img, &View::Full, 300, &mut input);
            let (boxes, logits) = det.run_raw(&input).expect("run");
            let anchors = AnchorSpec::ssdlite_mobilenet_v2().anchors();
            let (ms, _) = time(min, || {
                postprocess(&anchors, &boxes, &logits, 2, 1, PostProcess::default())
            });
            println!("  SSD decode + NMS (Rust)           {ms:7.3} ms");
            // The node's path: decode the frame, look at a motion region
            // (a pedestrian-sized box; when large, the whole frame too) and
            // look again at a person candidate.
            let policy = LookPolicy::confirming(0.5);
            let mut counted = Counting {
                inner: &mut det,
                runs: 0,
            };
            let mut node_path = |region| {
                counted.runs = 0;
                let (ms, n) = time(min, || {
                    let im = vigia_detect::image::decode_jpeg(&jpeg).expect("decode");
                    look(&mut counted, &im, Some(region), policy).expect("detect")
                });
                (ms, counted.runs as f64 / (n + 1) as f64)
            };
            let (ms_small, runs_small) = node_path((0.45, 0.3, 0.5, 0.5));
            let (ms_large, runs_large) = node_path((0.1, 0.1, 0.9, 0.9));
            println!(
                "  node detection, small region      {ms_small:7.2} ms ({runs_small:.1} model runs)"
            );
            println!(
                "  node detection, large region      {ms_large:7.2} ms ({runs_large:.1} model runs)"
            );
            println!(
                "  node CPU per second of motion at 5 detections/s: {:.0}-{:.0} ms ({:.0}-{:.0} % of one core)",
                5.0 * ms_small,
                5.0 * ms_large,
                0.5 * ms_small,
                0.5 * ms_large
            );
        }
    }
}
