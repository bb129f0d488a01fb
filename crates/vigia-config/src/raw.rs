//! The TOML file as written by people: every section, key and default.
//!
//! `config/node.example.toml` documents the same keys for users; a test
//! keeps the two in agreement by parsing the example.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNodeConfig {
    pub node: RawNode,
    #[serde(default)]
    pub source: RawSource,
    #[serde(default)]
    pub motion: RawMotion,
    #[serde(default)]
    pub event: RawEvent,
    #[serde(default)]
    pub recording: RawRecording,
    #[serde(default)]
    pub outbox: RawOutbox,
    /// Where captures go (`crate::link`); absent = they stay in the outbox.
    pub link: Option<crate::link::RawLink>,
    /// Notifications (`crate::notify`): each section present means on.
    pub telegram: Option<crate::notify::RawTelegram>,
    pub mqtt: Option<crate::notify::RawMqtt>,
    pub webhook: Option<crate::notify::RawWebhook>,
    /// Person detection and what raises an alarm (`crate::detect`).
    #[serde(default)]
    pub detect: crate::detect::RawDetect,
    /// Hardware (`crate::hw`): each section present means the device is fitted.
    pub pir: Option<crate::hw::RawPir>,
    pub buzzer: Option<crate::hw::RawBuzzer>,
    pub servo: Option<crate::hw::RawServo>,
    pub ir: Option<crate::hw::RawIr>,
    #[serde(default)]
    pub arming: crate::hw::RawArming,
    #[serde(default)]
    pub trigger: crate::hw::RawTrigger,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Camera id: 1-32 of a-z, 0-9, '-', '_'. Required.
    pub camera: String,
    /// Where the node keeps its outbox and state. Required.
    pub data_dir: String,
    /// Write Prometheus text metrics here every 10 s (node_exporter's
    /// textfile collector format). Default: `<data_dir>/metrics.prom`.
    #[serde(default)]
    pub metrics_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSource {
    /// `synthetic` (default), `mjpeg`, `file` or `v4l2`.
    pub kind: String,
    /// mjpeg: `http://[user:pass@]host[:port]/path`.
    pub url: Option<String>,
    /// file: path of any video ffmpeg reads.
    pub path: Option<String>,
    /// v4l2: device node. Default `/dev/video0`.
    pub device: String,
    /// Wished frame size (v4l2, synthetic; file scales if set). Default 768x576.
    pub width: u32,
    pub height: u32,
    /// Wished frame rate (v4l2, synthetic). Default 10.
    pub fps: f32,
    /// file and synthetic: pace to the frame rate (default true); false
    /// runs as fast as the pipeline allows (tests, benchmarks), and frames
    /// then wait for the pipeline instead of being dropped.
    pub realtime: bool,
    /// file: start again at the end (default false).
    #[serde(rename = "loop")]
    pub loop_forever: bool,
    /// synthetic: scene seed (default 1).
    pub seed: u64,
    /// synthetic: `default` (people walking) or `quiet` (no people).
    pub scene: String,
    /// JPEG quality of frames we encode ourselves (synthetic, YUYV cameras). Default 80.
    pub jpeg_quality: u8,
    /// mjpeg, v4l2: a camera silent for this many seconds is dropped and retried. Default 10.
    pub read_timeout_s: f32,
}

impl Default for RawSource {
    fn default() -> Self {
        Self {
            kind: "synthetic".into(),
            url: None,
            path: None,
            device: "/dev/video0".into(),
            width: 768,
            height: 576,
            fps: 10.0,
            realtime: true,
            loop_forever: false,
            seed: 1,
            scene: "default".into(),
            jpeg_quality: 80,
            read_timeout_s: 10.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub name: String,
    pub points: Vec<[f32; 2]>,
}

/// Motion detection. Defaults come from `vigia_vision::MotionParams`,
/// whose docs give each knob's meaning and unit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMotion {
    /// Analyse at 1/scale of the frame size: 1, 2, 4 or 8. Default: the
    /// largest scale that keeps the analysis plane at least 96 pixels wide
    /// (8 for 768x576, 4 for 640x480).
    pub scale: Option<u32>,
    pub threshold: Option<u8>,
    pub noise_k: Option<f32>,
    pub background_alpha: Option<f32>,
    pub min_blob_area: Option<f32>,
    pub min_changed_fraction: Option<f32>,
    pub max_changed_fraction: Option<f32>,
    pub light_change_fraction: Option<f32>,
    pub light_change_levels: Option<f32>,
    pub min_consecutive_frames: Option<u32>,
    pub despeckle: Option<u32>,
    pub warmup_frames: Option<u32>,
    /// Ignore zones: polygons in normalised [0,1] frame coordinates.
    pub masks: Vec<Vec<[f32; 2]>>,
    /// If any zone is set, only motion inside zones counts.
    pub zones: Vec<RawZone>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEvent {
    /// Footage kept from before the first trigger. Default 3 s.
    pub pre_roll_s: f32,
    /// Footage kept after the last motion. Default 5 s.
    pub post_roll_s: f32,
    /// An event records at least this long from its trigger. Default 2 s.
    pub min_length_s: f32,
    /// A longer event is closed and a new one started (bounded clip size). Default 300 s.
    pub max_length_s: f32,
    /// Quiet time after an event before a new one may start; motion in it
    /// is still recorded through the pre-roll of the next event. Default 0 s.
    pub cooldown_s: f32,
    /// Upper bound on the encoded pre-buffer. Default 16 MiB.
    pub prebuffer_max_bytes: u64,
}

impl Default for RawEvent {
    fn default() -> Self {
        Self {
            pre_roll_s: 3.0,
            post_roll_s: 5.0,
            min_length_s: 2.0,
            max_length_s: 300.0,
            cooldown_s: 0.0,
            prebuffer_max_bytes: 16 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRecording {
    /// Clip fragment length; each fragment can leave the device on its own. Default 2 s.
    pub fragment_s: f32,
    /// H.264 target bitrate. Default 1000 kbit/s.
    pub bitrate_kbps: u32,
    /// Frames waiting for the encoder before new ones are dropped (counted). Default 64.
    pub queue_frames: usize,
}

impl Default for RawRecording {
    fn default() -> Self {
        Self {
            fragment_s: 2.0,
            bitrate_kbps: 1000,
            queue_frames: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutbox {
    /// The outbox never grows past this; new captures then fail (and are
    /// retried) while older pending ones are kept. Default 2 GiB.
    pub max_bytes: u64,
}

impl Default for RawOutbox {
    fn default() -> Self {
        Self { max_bytes: 2 << 30 }
    }
}
