//! The hardware pieces wired together the way a node uses them, on the
//! simulated devices: config → `Hardware::simulated` → IR remote arms the
//! node → the PIR (rule `pir`) raises an alarm → the buzzer sounds → the IR
//! remote disarms → the buzzer goes quiet; the arming log shows both
//! changes from the remote.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use vigia_base::{Clock, CommandSource, RealClock, Shutdown};
use vigia_hw::{ir::spawn_ir_monitor, pir::spawn_pir_monitor, Buzzer, Hardware, PirEvent};
use vigia_node::alarm::{AlarmController, AlarmInput, AlarmNotice, AlarmTrigger};
use vigia_node::arming::Arming;
use vigia_vision::TriggerFusion;

const CONFIG: &str = r#"
[node]
camera = "porch"
data_dir = "data"
[pir]
line = 17
warmup_s = 0.0
debounce_ms = 0
[buzzer]
line = 27
pattern_ms = [60000, 1000]
[ir]
device = "/dev/input/event0"
[ir.keys]
KEY_1 = "arm"
KEY_2 = "disarm"
[trigger]
rule = "pir"
"#;

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_arms_pir_alarms_remote_disarms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = vigia_config::parse_node(CONFIG, Path::new("node.toml"), dir.path()).expect("config");
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    let (mut hw, sim) = Hardware::simulated(&cfg.hardware, clock.clone());
    let shutdown = Shutdown::new();

    let arming = Arming::open(&cfg.data_dir, cfg.arming.clone(), clock.now_ms()).expect("arming");
    let buzzer_cfg = cfg.hardware.buzzer.clone().expect("buzzer section");
    let buzzer = Buzzer::new(
        hw.buzzer.take().expect("buzzer"),
        buzzer_cfg.pattern,
        clock.clone(),
    );
    let alarm = AlarmController::new(Some(buzzer), &arming, clock.clone());
    let mut notices = alarm.subscribe();
    let (alarm_tx, alarm_rx) = tokio::sync::mpsc::channel(8);
    let alarm_task = tokio::spawn(alarm.run(alarm_rx, shutdown.clone()));

    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::channel(8);
    let ir_cfg = cfg.hardware.ir.clone().expect("ir section");
    let ir_thread = spawn_ir_monitor(
        hw.ir.take().expect("ir"),
        ir_cfg.params,
        shutdown.clone(),
        cmd_tx,
    )
    .expect("ir thread");
    let (pir_tx, mut pir_rx) = tokio::sync::mpsc::channel(8);
    let pir_cfg = cfg.hardware.pir.clone().expect("pir section");
    let pir_thread = spawn_pir_monitor(
        hw.pir.take().expect("pir"),
        pir_cfg.params,
        clock.clone(),
        shutdown.clone(),
        pir_tx,
    )
    .expect("pir thread");

    // The node's command loop, reduced to arming.
    let a2 = arming.clone();
    let c2 = clock.clone();
    let commands = tokio::spawn(async move {
        while let Some((cmd, source)) = cmd_rx.recv().await {
            a2.command(&cmd, source, c2.now_ms()).expect("persist");
        }
    });

    let ir = sim.ir.expect("ir handle");
    assert!(ir.press(clock.now_ms(), 2, 0x16), "KEY_1");
    wait_for("armed by the remote", || arming.is_armed()).await;

    // The PIR fires; fusion under rule `pir` turns it into a trigger.
    let mut fusion = TriggerFusion::new(cfg.trigger);
    let pir = sim.pir.expect("pir handle");
    let t = clock.now_ms();
    assert!(pir.edge(t, true));
    let Some(PirEvent::MotionStart { at_ms }) = pir_rx.recv().await else {
        panic!("no PIR motion");
    };
    fusion.pir_start(at_ms);
    let fused = fusion.frame(at_ms + 100, false, false);
    assert!(fused.trigger, "{fused:?}");
    alarm_tx
        .send(AlarmInput::Event(AlarmTrigger {
            at_ms,
            label: None,
            raises: fused.trigger,
        }))
        .await
        .expect("alarm input");
    let line = sim.buzzer.expect("buzzer log");
    wait_for("buzzer on", || line.level()).await;
    assert!(matches!(
        notices.recv().await,
        Ok(AlarmNotice::Raised { .. })
    ));

    assert!(ir.press(clock.now_ms() + 1_000, 3, 0x18), "KEY_2");
    wait_for("buzzer off after disarm", || !line.level()).await;
    assert!(matches!(
        notices.recv().await,
        Ok(AlarmNotice::Silenced {
            source: CommandSource::IrRemote,
            ..
        })
    ));
    let log: Vec<_> = arming
        .recent_changes()
        .iter()
        .map(|c| (c.armed, c.source))
        .collect();
    assert_eq!(
        log,
        [
            (true, CommandSource::IrRemote),
            (false, CommandSource::IrRemote)
        ]
    );

    shutdown.trigger();
    alarm_task.await.expect("alarm task");
    ir_thread.join().expect("ir join").expect("ir clean");
    pir_thread.join().expect("pir join").expect("pir clean");
    commands.abort();
}
