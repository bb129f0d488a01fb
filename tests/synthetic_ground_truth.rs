//! The node's detection pipeline against the synthetic scene's ground
//! truth: every walking figure gives exactly one event whose span covers
//! it; sensor noise, slow light drift, foliage flicker and a sudden light
//! switch give none.

use std::path::Path;

use vigia_capture::synthetic::{SyntheticConfig, SyntheticSource};
use vigia_media::synthetic::{SceneConfig, SceneScript, SyntheticScene, TruthKind};
use vigia_node::analyze::{analyze, EventLine};

const LOOPS: i64 = 2;

fn run(script: SceneScript) -> (Vec<EventLine>, SceneConfig) {
    let cfg = vigia_config::parse_node(
        "[node]\ncamera = \"gt\"\ndata_dir = \"unused\"\n",
        Path::new("<test>"),
        Path::new("/"),
    )
    .expect("default config");
    let scene = SceneConfig {
        seed: 7,
        width: 768,
        height: 576,
        fps: 10.0,
        script,
    };
    let mut sc = SyntheticConfig::new(cfg.camera.clone(), scene.clone());
    sc.frames = Some((scene.script.period_ms * LOOPS / 100) as u64);
    let source = Box::new(SyntheticSource::new(
        sc,
        std::sync::Arc::new(vigia_base::RealClock),
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (events, summary) = rt.block_on(analyze(source, &cfg, |_| {})).expect("analyze");
    eprintln!("events {events:?}\nsummary {summary:?}");
    assert_eq!(
        summary.analysed_frames, summary.frames,
        "every frame is analysed"
    );
    (events, scene)
}

#[test]
fn every_walking_figure_gives_exactly_one_covering_event() {
    let (events, scene) = run(SceneScript::default());
    let truth = SyntheticScene::new(scene.clone()).ground_truth();
    let figures: Vec<_> = truth
        .iter()
        .filter(|t| t.kind == TruthKind::Figure)
        .collect();
    assert_eq!(figures.len(), 2);
    let period = scene.script.period_ms;
    let mut expected = Vec::new();
    for l in 0..LOOPS {
        for f in &figures {
            expected.push((f.start_ms + l * period, f.end_ms + l * period));
        }
    }
    assert_eq!(
        events.len(),
        expected.len(),
        "one event per figure: {events:?} vs {expected:?}"
    );
    for (e, (fs, fe)) in events.iter().zip(&expected) {
        assert!(
            e.clip_start_ms <= *fs,
            "the clip (with pre-roll) starts before the figure enters: {e:?} vs {fs}"
        );
        assert!(
            e.start_ms >= *fs,
            "no trigger before the figure enters: {e:?} vs {fs}"
        );
        assert!(
            e.start_ms <= fs + 1_500,
            "triggered within 1.5 s of entering: {e:?} vs {fs}"
        );
        assert!(
            e.end_ms >= *fe,
            "the event lasts until the figure has left: {e:?} vs {fe}"
        );
        assert_eq!(e.label, "motion");
    }
}

#[test]
fn noise_drift_flicker_and_light_switch_give_no_event() {
    let (events, scene) = run(SceneScript::quiet());
    let truth = SyntheticScene::new(scene).ground_truth();
    assert!(
        truth.iter().any(|t| t.kind == TruthKind::LightSwitch),
        "the quiet scene switches a light"
    );
    assert!(truth.iter().any(|t| t.kind == TruthKind::Flicker));
    assert!(events.is_empty(), "false events: {events:?}");
}
