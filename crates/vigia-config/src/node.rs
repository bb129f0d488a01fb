//! The validated node configuration.

use std::path::{Path, PathBuf};

use vigia_base::CameraId;
use vigia_vision::{MotionParams, Polygon, Zone};

use crate::raw::{RawNodeConfig, RawSource};
use crate::ConfigError;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub camera: CameraId,
    pub data_dir: PathBuf,
    pub metrics_file: PathBuf,
    pub source: SourceConfig,
    /// Analysis runs at 1/`motion_scale` of the frame size; `None` picks the
    /// largest scale that keeps the analysis plane at least 96 pixels wide.
    pub motion_scale: Option<u32>,
    pub motion: MotionParams,
    pub event: EventSettings,
    pub recording: RecordingSettings,
    pub outbox: OutboxSettings,
    /// The link to the server; `None` keeps captures in the outbox.
    pub link: Option<crate::link::LinkConfig>,
    /// Telegram, MQTT and webhook settings; each `None` when its section is absent.
    pub notify: crate::notify::NotifyConfig,
    /// The person detector and the alarm rule (`[detect]`).
    pub detect: crate::detect::DetectSettings,
    /// PIR, buzzer, servo, IR remote; each `None` when its section is absent.
    pub hardware: vigia_hw::HardwareConfig,
    pub arming: crate::hw::ArmingSettings,
    /// How PIR and software motion combine into triggers.
    pub trigger: vigia_vision::FusionParams,
}

impl NodeConfig {
    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Synthetic,
    Mjpeg,
    File,
    V4l2,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub url: Option<String>,
    pub path: Option<PathBuf>,
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: f32,
    pub realtime: bool,
    pub loop_forever: bool,
    pub seed: u64,
    /// Synthetic scene without walking figures (for false-alarm tests).
    pub quiet_scene: bool,
    pub jpeg_quality: u8,
    pub read_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSettings {
    pub pre_roll_ms: i64,
    pub post_roll_ms: i64,
    pub min_length_ms: i64,
    pub max_length_ms: i64,
    pub cooldown_ms: i64,
    pub prebuffer_max_bytes: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            pre_roll_ms: 3_000,
            post_roll_ms: 5_000,
            min_length_ms: 2_000,
            max_length_ms: 300_000,
            cooldown_ms: 0,
            prebuffer_max_bytes: 16 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSettings {
    pub fragment_ms: u32,
    pub bitrate_bps: u32,
    pub queue_frames: usize,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            fragment_ms: 2_000,
            bitrate_bps: 1_000_000,
            queue_frames: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    pub max_bytes: u64,
}

fn secs_to_ms(key: &str, s: f32, min_s: f32, max_s: f32) -> Result<i64, ConfigError> {
    if !s.is_finite() || s < min_s || s > max_s {
        return Err(ConfigError::invalid(
            key,
            format!("{s} s is outside {min_s}..={max_s} s"),
        ));
    }
    Ok((f64::from(s) * 1000.0).round() as i64)
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

fn polygon(key: &str, points: &[[f32; 2]]) -> Result<Polygon, ConfigError> {
    let poly = Polygon {
        points: points.iter().map(|p| (p[0], p[1])).collect(),
    };
    poly.validate()
        .map_err(|e| ConfigError::invalid(key, e.to_string()))?;
    Ok(poly)
}

impl RawNodeConfig {
    pub fn validate(self, base: &Path) -> Result<NodeConfig, ConfigError> {
        let camera: CameraId =
            self.node.camera.parse().map_err(|e: vigia_base::IdError| {
                ConfigError::invalid("node.camera", e.to_string())
            })?;
        if self.node.data_dir.is_empty() {
            return Err(ConfigError::invalid("node.data_dir", "must not be empty"));
        }
        let data_dir = resolve(base, &self.node.data_dir);
        let metrics_file = match &self.node.metrics_file {
            Some(p) => resolve(base, p),
            None => data_dir.join("metrics.prom"),
        };
        let source = validate_source(&self.source, base)?;

        let m = &self.motion;
        let motion_scale = m.scale;
        if motion_scale.is_some_and(|s| ![1, 2, 4, 8].contains(&s)) {
            return Err(ConfigError::invalid(
                "motion.scale",
                "must be 1, 2, 4 or 8 (or absent for automatic)",
            ));
        }
        let mut motion = MotionParams::default();
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = m.$field {
                    motion.$field = v;
                }
            };
        }
        set!(threshold);
        set!(noise_k);
        set!(background_alpha);
        set!(min_blob_area);
        set!(min_changed_fraction);
        set!(max_changed_fraction);
        set!(light_change_fraction);
        set!(light_change_levels);
        set!(min_consecutive_frames);
        set!(despeckle);
        set!(warmup_frames);
        for (i, mask) in m.masks.iter().enumerate() {
            motion
                .masks
                .push(polygon(&format!("motion.masks[{i}]"), mask)?);
        }
        for (i, z) in m.zones.iter().enumerate() {
            if z.name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    format!("motion.zones[{i}].name"),
                    "must not be empty",
                ));
            }
            motion.zones.push(Zone {
                name: z.name.clone(),
                polygon: polygon(&format!("motion.zones[{i}].points"), &z.points)?,
            });
        }
        // The detector checks ranges itself; surface its message under the
        // config key names users write.
        vigia_vision::MotionDetector::new(motion.clone())
            .map_err(|e| ConfigError::invalid("motion", e.to_string()))?;

        let e = &self.event;
        let event = EventSettings {
            pre_roll_ms: secs_to_ms("event.pre_roll_s", e.pre_roll_s, 0.0, 60.0)?,
            post_roll_ms: secs_to_ms("event.post_roll_s", e.post_roll_s, 0.0, 600.0)?,
            min_length_ms: secs_to_ms("event.min_length_s", e.min_length_s, 0.0, 600.0)?,
            max_length_ms: secs_to_ms("event.max_length_s", e.max_length_s, 1.0, 86_400.0)?,
            cooldown_ms: secs_to_ms("event.cooldown_s", e.cooldown_s, 0.0, 3_600.0)?,
            prebuffer_max_bytes: e.prebuffer_max_bytes,
        };
        if event.min_length_ms > event.max_length_ms {
            return Err(ConfigError::invalid(
                "event.min_length_s",
                "must not exceed event.max_length_s",
            ));
        }
        if event.prebuffer_max_bytes < 64 * 1024 {
            return Err(ConfigError::invalid(
                "event.prebuffer_max_bytes",
                "must be at least 65536",
            ));
        }

        let r = &self.recording;
        let recording = RecordingSettings {
            fragment_ms: secs_to_ms("recording.fragment_s", r.fragment_s, 0.5, 30.0)? as u32,
            bitrate_bps: match r.bitrate_kbps {
                50..=50_000 => r.bitrate_kbps * 1000,
                _ => {
                    return Err(ConfigError::invalid(
                        "recording.bitrate_kbps",
                        "must be within 50..=50000",
                    ))
                }
            },
            queue_frames: match r.queue_frames {
                1..=10_000 => r.queue_frames,
                _ => {
                    return Err(ConfigError::invalid(
                        "recording.queue_frames",
                        "must be within 1..=10000",
                    ))
                }
            },
        };
        if self.outbox.max_bytes < 1 << 20 {
            return Err(ConfigError::invalid(
                "outbox.max_bytes",
                "must be at least 1 MiB",
            ));
        }
        let link = match &self.link {
            Some(l) => Some(l.validate(base, &data_dir, camera.as_str())?),
            None => None,
        };
        Ok(NodeConfig {
            camera,
            data_dir,
            metrics_file,
            source,
            motion_scale,
            motion,
            event,
            recording,
            outbox: OutboxSettings {
                max_bytes: self.outbox.max_bytes,
            },
            link,
            detect: self.detect.validate(base)?,
            notify: crate::notify::validate_notify(
                "",
                self.telegram.as_ref(),
                self.mqtt.as_ref(),
                self.webhook.as_ref(),
            )?,
            hardware: crate::hw::validate_hardware(
                self.pir.as_ref(),
                self.buzzer.as_ref(),
                self.servo.as_ref(),
                self.ir.as_ref(),
            )?,
            arming: crate::hw::validate_arming(&self.arming)?,
            trigger: crate::hw::validate_trigger(&self.trigger, self.pir.is_some())?,
        })
    }
}

fn quality(key: &str, q: u8) -> Result<u8, ConfigError> {
    if (1..=100).contains(&q) {
        Ok(q)
    } else {
        Err(ConfigError::invalid(key, "must be within 1..=100"))
    }
}

fn validate_source(s: &RawSource, base: &Path) -> Result<SourceConfig, ConfigError> {
    let kind = match s.kind.as_str() {
        "synthetic" => SourceKind::Synthetic,
        "mjpeg" => SourceKind::Mjpeg,
        "file" => SourceKind::File,
        "v4l2" => SourceKind::V4l2,
        other => {
            return Err(ConfigError::invalid(
                "source.kind",
                format!("{other:?} is not one of synthetic, mjpeg, file, v4l2"),
            ))
        }
    };
    match kind {
        SourceKind::Mjpeg => match &s.url {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
            Some(_) => {
                return Err(ConfigError::invalid(
                    "source.url",
                    "must start with http:// or https://",
                ))
            }
            None => {
                return Err(ConfigError::invalid(
                    "source.url",
                    "required for kind = \"mjpeg\"",
                ))
            }
        },
        SourceKind::File if s.path.is_none() => {
            return Err(ConfigError::invalid(
                "source.path",
                "required for kind = \"file\"",
            ))
        }
        _ => {}
    }
    if s.width < 16
        || s.height < 16
        || s.width > 8192
        || s.height > 8192
        || s.width % 2 == 1
        || s.height % 2 == 1
    {
        return Err(ConfigError::invalid(
            "source.width/height",
            "must be even and within 16..=8192",
        ));
    }
    if !s.fps.is_finite() || s.fps < 0.5 || s.fps > 120.0 {
        return Err(ConfigError::invalid(
            "source.fps",
            "must be within 0.5..=120",
        ));
    }
    let quiet_scene = match s.scene.as_str() {
        "default" => false,
        "quiet" => true,
        other => {
            return Err(ConfigError::invalid(
                "source.scene",
                format!("{other:?} is not one of default, quiet"),
            ))
        }
    };
    Ok(SourceConfig {
        kind,
        url: s.url.clone(),
        path: s.path.as_deref().map(|p| resolve(base, p)),
        device: PathBuf::from(&s.device),
        width: s.width,
        height: s.height,
        fps: s.fps,
        realtime: s.realtime,
        loop_forever: s.loop_forever,
        seed: s.seed,
        quiet_scene,
        jpeg_quality: quality("source.jpeg_quality", s.jpeg_quality)?,
        read_timeout_ms: secs_to_ms("source.read_timeout_s", s.read_timeout_s, 0.1, 600.0)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_node;

    fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        parse_node(text, Path::new("test.toml"), Path::new("/etc/vigia"))
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = parse("[node]\ncamera = \"porch\"\ndata_dir = \"data\"\n").expect("valid");
        assert_eq!(c.camera.as_str(), "porch");
        assert_eq!(c.data_dir, PathBuf::from("/etc/vigia/data"));
        assert_eq!(
            c.metrics_file,
            PathBuf::from("/etc/vigia/data/metrics.prom")
        );
        assert_eq!(c.source.kind, SourceKind::Synthetic);
        assert_eq!(c.event, EventSettings::default());
        assert_eq!(c.recording, RecordingSettings::default());
        assert_eq!(c.motion_scale, None);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let e = parse("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[event]\npre_rol_s = 2\n")
            .expect_err("typo");
        assert!(e.to_string().contains("pre_rol_s"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases = [
            ("[node]\ncamera = \"Bad Cam\"\ndata_dir = \"d\"\n", "node.camera"),
            ("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[event]\npre_roll_s = -1\n", "event.pre_roll_s"),
            ("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[source]\nkind = \"mjpeg\"\n", "source.url"),
            ("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[source]\nkind = \"rtsp\"\n", "source.kind"),
            ("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[motion]\nscale = 3\n", "motion.scale"),
            ("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[motion]\nmasks = [[[0.0, 0.0], [1.0, 1.0]]]\n", "motion.masks[0]"),
            ("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[source]\njpeg_quality = 0\n", "source.jpeg_quality"),
        ];
        for (text, key) in cases {
            let e = parse(text).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn motion_overrides_and_zones_apply() {
        let c = parse(
            "[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[motion]\nthreshold = 30\nmin_consecutive_frames = 3\n\
             [[motion.zones]]\nname = \"door\"\npoints = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9]]\n",
        )
        .expect("valid");
        assert_eq!(c.motion.threshold, 30);
        assert_eq!(c.motion.min_consecutive_frames, 3);
        assert_eq!(c.motion.zones.len(), 1);
        assert_eq!(c.motion.zones[0].name, "door");
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../../../config/node.example.toml");
        let c = parse(text).expect("config/node.example.toml must stay valid");
        assert_eq!(c.camera.as_str(), "front-door");
    }

    /// The example documents the detector's defaults in comments; they must
    /// be the defaults the code uses.
    #[test]
    fn example_motion_comments_match_the_defaults() {
        let text = include_str!("../../../config/node.example.toml");
        let section = text.split("[motion]").nth(1).expect("[motion] section");
        let section = section.split("\n[").next().expect("section body");
        let mut uncommented = String::from("[node]\ncamera = \"p\"\ndata_dir = \"d\"\n[motion]\n");
        for line in section.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                let kv = rest.split(" #").next().unwrap_or(rest).trim();
                let key = kv.split(" = ").next().unwrap_or("");
                let documented_knob = !["masks", "name", "points"].contains(&key);
                if documented_knob
                    && !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && kv.contains(" = ")
                {
                    uncommented.push_str(kv);
                    uncommented.push('\n');
                }
            }
        }
        assert!(uncommented.matches(" = ").count() >= 13, "{uncommented}");
        let c = parse(&uncommented).expect("uncommented defaults parse");
        assert_eq!(
            format!("{:?}", c.motion),
            format!("{:?}", MotionParams::default())
        );
    }
}
