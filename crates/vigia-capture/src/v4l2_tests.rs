use super::*;

fn iv(num: u32, den: u32) -> Interval {
    Interval { num, den }
}

fn discrete(sizes: &[(u32, u32)], fps: &[(u32, u32)]) -> Vec<SizeCaps> {
    sizes
        .iter()
        .map(|&(width, height)| SizeCaps {
            size: SizeRange::Discrete { width, height },
            intervals: fps
                .iter()
                .map(|&(n, d)| IntervalRange::Discrete(iv(n, d)))
                .collect(),
        })
        .collect()
}

/// A Logitech C920 as `v4l2-ctl --list-formats-ext` shows it: YUYV up to
/// 1080p but only 5 fps there (USB 2 bandwidth), MJPEG at 30 fps.
fn c920() -> DeviceCaps {
    let rates = [(1, 30), (1, 24), (1, 20), (1, 15), (1, 10), (2, 15), (1, 5)];
    let sizes = [
        (640, 480),
        (160, 90),
        (160, 120),
        (176, 144),
        (320, 180),
        (320, 240),
        (352, 288),
        (432, 240),
        (640, 360),
        (800, 448),
        (800, 600),
        (864, 480),
        (960, 720),
        (1024, 576),
        (1280, 720),
        (1600, 896),
        (1920, 1080),
    ];
    let mut yuyv = discrete(&sizes[..16], &rates);
    yuyv.extend(discrete(&[(1920, 1080)], &[(1, 5)]));
    DeviceCaps {
        formats: vec![
            FormatCaps {
                fourcc: *b"YUYV",
                sizes: yuyv,
            },
            FormatCaps {
                fourcc: *b"H264",
                sizes: discrete(&sizes, &rates),
            },
            FormatCaps {
                fourcc: *b"MJPG",
                sizes: discrete(&sizes, &rates),
            },
        ],
    }
}

/// The Raspberry Pi camera through bcm2835-v4l2: stepwise sizes and
/// continuous frame intervals.
fn pi_camera() -> DeviceCaps {
    let size = SizeCaps {
        size: SizeRange::Stepwise {
            min_width: 32,
            max_width: 2592,
            step_width: 2,
            min_height: 32,
            max_height: 1944,
            step_height: 2,
        },
        intervals: vec![IntervalRange::Stepwise {
            min: iv(1, 90),
            max: iv(1, 1),
        }],
    };
    DeviceCaps {
        formats: ["YU12", "YUYV", "RGB3", "JPEG", "H264", "MJPG"]
            .iter()
            .map(|f| FormatCaps {
                fourcc: f.as_bytes().try_into().expect("4 bytes"),
                sizes: vec![size.clone()],
            })
            .collect(),
    }
}

/// A cheap YUYV-only webcam.
fn yuyv_only() -> DeviceCaps {
    let mut sizes = discrete(&[(640, 480)], &[(1, 30), (1, 15)]);
    sizes.extend(discrete(&[(320, 240)], &[(1, 30)]));
    sizes.extend(discrete(&[(1280, 720)], &[(1, 10)]));
    DeviceCaps {
        formats: vec![FormatCaps {
            fourcc: *b"YUYV",
            sizes,
        }],
    }
}

fn wish(width: u32, height: u32, fps: f64) -> Wish {
    Wish {
        width,
        height,
        fps,
        format: None,
    }
}

fn mode(format: PixelFormat, width: u32, height: u32, interval: Option<Interval>) -> Mode {
    Mode {
        format,
        width,
        height,
        interval,
    }
}

#[test]
fn negotiation_table() {
    use PixelFormat::{Mjpeg, Yuyv};
    let yuyv_wish = |w, h, f| Wish {
        format: Some(Yuyv),
        ..wish(w, h, f)
    };
    let mjpeg_wish = |w, h, f| Wish {
        format: Some(Mjpeg),
        ..wish(w, h, f)
    };
    let cases: Vec<(&str, DeviceCaps, Wish, Mode)> = vec![
        (
            "c920 exact",
            c920(),
            wish(1280, 720, 10.0),
            mode(Mjpeg, 1280, 720, Some(iv(1, 10))),
        ),
        (
            "c920 largest not above",
            c920(),
            wish(1000, 700, 12.0),
            mode(Mjpeg, 800, 600, Some(iv(1, 10))),
        ),
        (
            "c920 7.5 fps",
            c920(),
            wish(640, 480, 7.0),
            mode(Mjpeg, 640, 480, Some(iv(2, 15))),
        ),
        (
            "c920 tie goes faster",
            c920(),
            wish(640, 480, 22.0),
            mode(Mjpeg, 640, 480, Some(iv(1, 24))),
        ),
        (
            "c920 smaller than all",
            c920(),
            wish(100, 50, 30.0),
            mode(Mjpeg, 160, 90, Some(iv(1, 30))),
        ),
        (
            "c920 bigger than all",
            c920(),
            wish(4000, 3000, 60.0),
            mode(Mjpeg, 1920, 1080, Some(iv(1, 30))),
        ),
        (
            "c920 YUYV asked: 1080p only at 5 fps",
            c920(),
            yuyv_wish(1920, 1080, 30.0),
            mode(Yuyv, 1920, 1080, Some(iv(1, 5))),
        ),
        (
            "pi exact",
            pi_camera(),
            wish(1280, 720, 15.0),
            mode(Mjpeg, 1280, 720, Some(iv(1000, 15000))),
        ),
        (
            "pi snaps to step",
            pi_camera(),
            wish(1281, 721, 25.0),
            mode(Mjpeg, 1280, 720, Some(iv(1000, 25000))),
        ),
        (
            "pi clamps size and rate",
            pi_camera(),
            wish(4000, 3000, 120.0),
            mode(Mjpeg, 2592, 1944, Some(iv(1, 90))),
        ),
        (
            "pi below min rate",
            pi_camera(),
            wish(640, 480, 0.5),
            mode(Mjpeg, 640, 480, Some(iv(1, 1))),
        ),
        (
            "yuyv-only",
            yuyv_only(),
            wish(1920, 1080, 30.0),
            mode(Yuyv, 1280, 720, Some(iv(1, 10))),
        ),
        (
            "yuyv-only, MJPEG wished",
            yuyv_only(),
            mjpeg_wish(640, 480, 20.0),
            mode(Yuyv, 640, 480, Some(iv(1, 15))),
        ),
        (
            "yuyv-only tiny",
            yuyv_only(),
            wish(160, 120, 30.0),
            mode(Yuyv, 320, 240, Some(iv(1, 30))),
        ),
    ];
    for (name, caps, w, want) in cases {
        assert_eq!(negotiate(&caps, &w), Ok(want), "{name}");
    }
}

#[test]
fn negotiation_fails_clearly_without_usable_formats() {
    let caps = DeviceCaps {
        formats: vec![FormatCaps {
            fourcc: *b"H264",
            sizes: discrete(&[(640, 480)], &[(1, 30)]),
        }],
    };
    let err = negotiate(&caps, &wish(640, 480, 10.0)).expect_err("no usable format");
    assert!(err.contains("H264"), "{err}");
    assert!(negotiate(&DeviceCaps::default(), &wish(1, 1, 1.0)).is_err());
}

#[test]
fn no_listed_intervals_keeps_the_device_default() {
    let caps = DeviceCaps {
        formats: vec![FormatCaps {
            fourcc: *b"MJPG",
            sizes: discrete(&[(640, 480)], &[]),
        }],
    };
    assert_eq!(
        negotiate(&caps, &wish(640, 480, 10.0)),
        Ok(mode(PixelFormat::Mjpeg, 640, 480, None))
    );
}

#[test]
fn yuyv_converts_to_i420() {
    // 4x2: Y0 U Y1 V per pixel pair; rows differ in chroma.
    let row0 = [10, 100, 20, 200, 30, 50, 40, 60];
    let row1 = [11, 102, 21, 202, 31, 52, 41, 62];
    let mut data = row0.to_vec();
    data.extend_from_slice(&[0xEE; 4]); // stride padding
    data.extend_from_slice(&row1);
    let img = yuyv_to_i420(&data, 4, 2, 12).expect("converts");
    assert_eq!(img.y, vec![10, 20, 30, 40, 11, 21, 31, 41]);
    assert_eq!(img.u, vec![101, 51]);
    assert_eq!(img.v, vec![201, 61]);
    assert!(yuyv_to_i420(&data, 3, 2, 12).is_err());
    assert!(yuyv_to_i420(&data[..10], 4, 2, 12).is_err());
}
