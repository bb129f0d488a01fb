//! The PIR sensor: from raw line edges to "motion started / motion ended".
//!
//! An HC-SR501 drives its output high when it sees infrared motion and holds
//! it high for its hold time (the Tx potentiometer, about 3 s to 5 min). In
//! retrigger mode (jumper H) the output stays high while motion continues;
//! in single-trigger mode (jumper L) it drops after the hold time, stays low
//! for a ~2.5 s block time, then rises again if motion goes on. For about a
//! minute after power-up the output toggles at random. Long wires and a
//! nearby Wi-Fi radio add glitches of a few milliseconds.
//!
//! [`PirDecoder`] turns that into clean spans, and is pure (time passed in)
//! so it can be tested on recorded edge sequences:
//! - a level counts only after it has held for `debounce_ms` (glitches);
//! - a low gap shorter than `retrigger_gap_ms` is the same motion
//!   (single-trigger mode's block time), so one walk-past is one span;
//! - nothing is reported before `warmup_ms` has passed since start.
//!
//! Edges come from a [`PirInput`]: the GPIO character device
//! ([`crate::gpio::GpioPir`]) or [`SimulatedPir`]. [`spawn_pir_monitor`]
//! runs the two together on a thread and hands events to async code.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use vigia_base::{Clock, Shutdown};

use crate::HwError;

/// One transition of the (logical) PIR output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Wall-clock time of the edge, ms since the Unix epoch.
    pub at_ms: i64,
    /// Level after the edge (true = motion, after any active-low inversion).
    pub high: bool,
}

/// What the node learns from the PIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PirEvent {
    /// Motion began at `at_ms` (the time of the debounced rising edge).
    MotionStart { at_ms: i64 },
    /// The motion that began at `start_ms` ended at `at_ms` (the falling
    /// edge, reported once the retrigger gap has passed without a new rise).
    MotionEnd { start_ms: i64, at_ms: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PirParams {
    /// A level must hold this long to count.
    pub debounce_ms: i64,
    /// A low gap shorter than this joins two high spans into one motion.
    pub retrigger_gap_ms: i64,
    /// Edges in the first `warmup_ms` after start are ignored.
    pub warmup_ms: i64,
}

impl Default for PirParams {
    fn default() -> Self {
        Self {
            debounce_ms: 50,
            retrigger_gap_ms: 3_000,
            warmup_ms: 60_000,
        }
    }
}

impl PirParams {
    pub fn validate(&self) -> Result<(), HwError> {
        let ok = |v: i64, max: i64| (0..=max).contains(&v);
        if !ok(self.debounce_ms, 10_000) {
            return Err(HwError::invalid("pir debounce", "must be within 0..=10 s"));
        }
        if !ok(self.retrigger_gap_ms, 600_000) {
            return Err(HwError::invalid(
                "pir retrigger gap",
                "must be within 0..=600 s",
            ));
        }
        if !ok(self.warmup_ms, 600_000) {
            return Err(HwError::invalid("pir warm-up", "must be within 0..=600 s"));
        }
        Ok(())
    }
}

/// Debounce, warm-up and retrigger merging; see the module docs.
#[derive(Debug, Clone)]
pub struct PirDecoder {
    params: PirParams,
    warmup_end_ms: i64,
    /// Last level the line reported, and since when.
    raw_high: bool,
    raw_since_ms: i64,
    /// Debounced level, and since when.
    stable_high: bool,
    stable_since_ms: i64,
    /// Start of the motion span being reported, if any.
    motion_start_ms: Option<i64>,
    /// Falling edge that may end the current motion once the gap passes.
    pending_end_ms: Option<i64>,
}

impl PirDecoder {
    /// A decoder whose line is low at `start_ms`; warm-up counts from there.
    pub fn new(params: PirParams, start_ms: i64) -> Self {
        Self {
            params,
            warmup_end_ms: start_ms.saturating_add(params.warmup_ms),
            raw_high: false,
            raw_since_ms: start_ms,
            stable_high: false,
            stable_since_ms: start_ms,
            motion_start_ms: None,
            pending_end_ms: None,
        }
    }

    /// True while a motion span is open (between start and end events).
    pub fn in_motion(&self) -> bool {
        self.motion_start_ms.is_some()
    }

    /// Feeds one edge; returns the events that became certain up to its
    /// time. Edges must come in time order; a repeated level (an edge lost
    /// in between) is treated as no change.
    pub fn on_edge(&mut self, edge: Edge) -> Vec<PirEvent> {
        let mut out = self.poll(edge.at_ms);
        if edge.high != self.raw_high {
            self.raw_high = edge.high;
            self.raw_since_ms = edge.at_ms.max(self.raw_since_ms);
            out.extend(self.poll(edge.at_ms));
        }
        out
    }

    /// Advances time to `now_ms` without a new edge.
    pub fn poll(&mut self, now_ms: i64) -> Vec<PirEvent> {
        let mut out = Vec::new();
        // Settle the debounced level first: it happened at the raw edge's
        // time, before anything else still due at `now_ms`.
        if self.raw_high != self.stable_high
            && now_ms - self.raw_since_ms >= self.params.debounce_ms
        {
            let at = self.raw_since_ms;
            // A pending end older than the gap closes before this edge.
            self.close_if_gap_passed(at, &mut out);
            self.stable_high = self.raw_high;
            self.stable_since_ms = at;
            if self.stable_high {
                self.pending_end_ms = None;
            } else if self.motion_start_ms.is_some() {
                self.pending_end_ms = Some(at);
            }
        }
        if self.stable_high && self.motion_start_ms.is_none() && now_ms >= self.warmup_end_ms {
            let at = self.stable_since_ms.max(self.warmup_end_ms);
            self.motion_start_ms = Some(at);
            out.push(PirEvent::MotionStart { at_ms: at });
        }
        self.close_if_gap_passed(now_ms, &mut out);
        out
    }

    fn close_if_gap_passed(&mut self, now_ms: i64, out: &mut Vec<PirEvent>) {
        if let (Some(end), Some(start)) = (self.pending_end_ms, self.motion_start_ms) {
            if now_ms - end >= self.params.retrigger_gap_ms {
                out.push(PirEvent::MotionEnd {
                    start_ms: start,
                    at_ms: end,
                });
                self.motion_start_ms = None;
                self.pending_end_ms = None;
            }
        }
    }

    /// The next time at which [`poll`](Self::poll) may report something
    /// without a new edge.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut d: Option<i64> = None;
        let mut add = |t: i64| d = Some(d.map_or(t, |x: i64| x.min(t)));
        if self.raw_high != self.stable_high {
            add(self.raw_since_ms + self.params.debounce_ms);
        }
        if let Some(end) = self.pending_end_ms {
            add(end + self.params.retrigger_gap_ms);
        }
        if self.stable_high && self.motion_start_ms.is_none() {
            add(self.warmup_end_ms);
        }
        d
    }
}

/// A source of PIR edges (a GPIO line, or a simulation).
pub trait PirInput: Send {
    /// The line's current logical level (read once at start).
    fn level(&mut self) -> Result<bool, HwError>;
    /// Waits up to `timeout` for the next edge.
    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, HwError>;
}

/// A PIR driven by a test or the demo through a [`SimulatedPirHandle`].
#[derive(Debug)]
pub struct SimulatedPir {
    rx: std_mpsc::Receiver<Edge>,
    level: bool,
}

/// Drives a [`SimulatedPir`]; dropping it ends the simulation.
#[derive(Debug, Clone)]
pub struct SimulatedPirHandle {
    tx: std_mpsc::Sender<Edge>,
}

impl SimulatedPir {
    pub fn new() -> (Self, SimulatedPirHandle) {
        let (tx, rx) = std_mpsc::channel();
        (Self { rx, level: false }, SimulatedPirHandle { tx })
    }
}

impl SimulatedPirHandle {
    /// Queues an edge; false if the sensor is gone.
    pub fn edge(&self, at_ms: i64, high: bool) -> bool {
        self.tx.send(Edge { at_ms, high }).is_ok()
    }
}

impl PirInput for SimulatedPir {
    fn level(&mut self) -> Result<bool, HwError> {
        Ok(self.level)
    }

    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, HwError> {
        match self.rx.recv_timeout(timeout) {
            Ok(e) => {
                self.level = e.high;
                Ok(Some(e))
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                Err(HwError::SimulationEnded { device: "pir" })
            }
        }
    }
}

/// Longest blocking wait, so the thread notices shutdown promptly.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// Runs `input` through a [`PirDecoder`] on its own thread (reading a GPIO
/// line blocks) and sends the events to `tx`. The thread ends on shutdown,
/// when `tx`'s receiver is dropped, or on an input error (returned).
pub fn spawn_pir_monitor(
    mut input: Box<dyn PirInput>,
    params: PirParams,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
    tx: tokio::sync::mpsc::Sender<PirEvent>,
) -> std::io::Result<std::thread::JoinHandle<Result<(), HwError>>> {
    std::thread::Builder::new()
        .name("vigia-pir".into())
        .spawn(move || {
            let start = clock.now_ms();
            let mut decoder = PirDecoder::new(params, start);
            let mut events = if input.level()? {
                decoder.on_edge(Edge {
                    at_ms: start,
                    high: true,
                })
            } else {
                Vec::new()
            };
            while !shutdown.is_triggered() {
                for e in events.drain(..) {
                    if tx.blocking_send(e).is_err() {
                        return Ok(());
                    }
                }
                let now = clock.now_ms();
                let wait = decoder
                    .next_deadline()
                    .map(|d| Duration::from_millis(d.saturating_sub(now).clamp(0, 200) as u64))
                    .unwrap_or(MAX_WAIT)
                    .min(MAX_WAIT);
                match input.wait_edge(wait)? {
                    Some(edge) => events = decoder.on_edge(edge),
                    None => events = decoder.poll(clock.now_ms()),
                }
            }
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(debounce: i64, gap: i64, warmup: i64) -> PirParams {
        PirParams {
            debounce_ms: debounce,
            retrigger_gap_ms: gap,
            warmup_ms: warmup,
        }
    }

    /// Feeds `(ms, level)` edges, then polls at `end_ms`; returns all events.
    fn run(params: PirParams, edges: &[(i64, bool)], end_ms: i64) -> Vec<PirEvent> {
        let mut d = PirDecoder::new(params, 0);
        let mut out = Vec::new();
        for &(at_ms, high) in edges {
            out.extend(d.on_edge(Edge { at_ms, high }));
        }
        out.extend(d.poll(end_ms));
        out
    }

    use PirEvent::{MotionEnd, MotionStart};

    /// Retrigger mode (jumper H): one long high span, reported as is.
    #[test]
    fn retrigger_mode_walk_past_is_one_span() {
        let ev = run(p(50, 3_000, 0), &[(10_000, true), (16_400, false)], 30_000);
        assert_eq!(
            ev,
            vec![
                MotionStart { at_ms: 10_000 },
                MotionEnd {
                    start_ms: 10_000,
                    at_ms: 16_400
                }
            ]
        );
    }

    /// Single-trigger mode (jumper L) with Tx = 3 s: high 3 s, low 2.5 s
    /// block, high again while the person lingers. The blocks are merged.
    #[test]
    fn single_trigger_mode_blocks_are_merged() {
        let edges = [
            (5_000, true),
            (8_000, false),
            (10_500, true),
            (13_500, false),
            (16_000, true),
            (19_000, false),
        ];
        let ev = run(p(50, 3_000, 0), &edges, 40_000);
        assert_eq!(
            ev,
            vec![
                MotionStart { at_ms: 5_000 },
                MotionEnd {
                    start_ms: 5_000,
                    at_ms: 19_000
                }
            ]
        );
    }

    /// Wi-Fi interference: 2-10 ms spikes never become motion, and a 5 ms
    /// dip inside a real span does not split it.
    #[test]
    fn glitches_are_debounced() {
        let edges = [
            (1_000, true),
            (1_004, false),
            (2_000, true),
            (2_010, false),
            (3_000, true),
            (3_900, false),
            (3_905, true),
            (6_000, false),
        ];
        let ev = run(p(50, 0, 0), &edges, 10_000);
        assert_eq!(
            ev,
            vec![
                MotionStart { at_ms: 3_000 },
                MotionEnd {
                    start_ms: 3_000,
                    at_ms: 6_000
                }
            ]
        );
    }

    #[test]
    fn warmup_toggles_are_ignored_and_a_level_held_past_it_counts_from_its_end() {
        let edges = [(2_000, true), (4_000, false), (20_000, true)];
        let mut d = PirDecoder::new(p(50, 1_000, 30_000), 0);
        let mut out = Vec::new();
        for &(at_ms, high) in &edges {
            out.extend(d.on_edge(Edge { at_ms, high }));
        }
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(d.next_deadline(), Some(20_050), "debounce first");
        assert!(d.poll(20_050).is_empty(), "still warming up");
        assert_eq!(d.next_deadline(), Some(30_000));
        assert_eq!(d.poll(30_000), vec![MotionStart { at_ms: 30_000 }]);
        assert!(d.in_motion());
    }

    #[test]
    fn end_is_reported_only_after_the_gap_and_deadlines_say_when() {
        let mut d = PirDecoder::new(p(50, 3_000, 0), 0);
        assert!(d
            .on_edge(Edge {
                at_ms: 1_000,
                high: true
            })
            .is_empty());
        assert_eq!(d.next_deadline(), Some(1_050));
        assert_eq!(d.poll(1_050), vec![MotionStart { at_ms: 1_000 }]);
        assert_eq!(d.next_deadline(), None);
        assert!(d
            .on_edge(Edge {
                at_ms: 4_000,
                high: false
            })
            .is_empty());
        assert_eq!(d.poll(4_050), vec![]);
        assert_eq!(d.next_deadline(), Some(7_000));
        assert_eq!(d.poll(6_999), vec![]);
        assert_eq!(
            d.poll(7_000),
            vec![MotionEnd {
                start_ms: 1_000,
                at_ms: 4_000
            }]
        );
        assert!(!d.in_motion());
    }

    /// A late poll must still order the end of one span before the start of
    /// the next when the gap between them was longer than the merge gap.
    #[test]
    fn two_separate_spans_seen_by_a_late_poll_stay_separate() {
        let edges = [(1_000, true), (2_000, false), (9_000, true)];
        let ev = run(p(0, 3_000, 0), &edges, 9_500);
        assert_eq!(
            ev,
            vec![
                MotionStart { at_ms: 1_000 },
                MotionEnd {
                    start_ms: 1_000,
                    at_ms: 2_000
                },
                MotionStart { at_ms: 9_000 },
            ]
        );
    }

    #[test]
    fn repeated_levels_are_not_edges() {
        let ev = run(
            p(0, 0, 0),
            &[(100, true), (200, true), (300, false), (400, false)],
            1_000,
        );
        assert_eq!(
            ev,
            vec![
                MotionStart { at_ms: 100 },
                MotionEnd {
                    start_ms: 100,
                    at_ms: 300
                }
            ]
        );
    }

    #[test]
    fn monitor_thread_delivers_simulated_edges_and_stops_on_shutdown() {
        let clock = vigia_base::SimulatedClock::new(0);
        let (pir, handle) = SimulatedPir::new();
        let shutdown = Shutdown::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let t = spawn_pir_monitor(
            Box::new(pir),
            p(0, 0, 0),
            Arc::new(clock.clone()),
            shutdown.clone(),
            tx,
        )
        .expect("spawn");
        assert!(handle.edge(1_000, true));
        assert_eq!(rx.blocking_recv(), Some(MotionStart { at_ms: 1_000 }));
        assert!(handle.edge(2_000, false));
        assert_eq!(
            rx.blocking_recv(),
            Some(MotionEnd {
                start_ms: 1_000,
                at_ms: 2_000
            })
        );
        shutdown.trigger();
        t.join().expect("join").expect("clean exit");
    }

    #[test]
    fn params_are_checked() {
        assert!(PirParams::default().validate().is_ok());
        assert!(p(-1, 0, 0).validate().is_err());
        assert!(p(0, 0, 700_000).validate().is_err());
    }
}
