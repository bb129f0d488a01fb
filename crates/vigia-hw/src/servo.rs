//! The servo: where to point, as a pure controller, and the mapping from
//! angle to pulse width.
//!
//! A hobby servo (SG90, MG996R) reads a pulse every 20 ms: 0.5 ms is one
//! end of its travel, 2.5 ms the other. [`ServoGeometry`] maps the
//! configured angle range linearly onto that pulse range. Drivers
//! ([`ServoDriver`]) only take pulse widths: sysfs PWM
//! ([`crate::pwm::SysfsPwm`]), GPIO software PWM ([`crate::softpwm`]) or
//! the simulation.
//!
//! [`ServoController`] decides the angle, time passed in. Priority, highest
//! first:
//! 1. a manual angle or preset from a [`Command`], held for `manual_hold_ms`;
//! 2. tracking: during an event, aim at the motion centroid (x in [0,1]
//!    mapped onto the angle range), ignoring moves inside `dead_band_deg`
//!    and moving at most `max_step_deg` per update, so a noisy centroid
//!    does not make the servo buzz back and forth;
//! 3. idle: hold `home_deg` (`fixed`) or visit the presets in order,
//!    `patrol_dwell_ms` at each (`patrol`).
//!
//! The centroid mapping assumes the camera is fixed and the servo aims
//! something else (a light, a second camera); `invert_track` flips it for a
//! servo mounted the other way round.

use std::fmt;
use std::str::FromStr;

use vigia_base::Command;

use crate::HwError;

/// Angle range ↔ pulse range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServoGeometry {
    pub min_deg: f32,
    pub max_deg: f32,
    /// Pulse at `min_deg`, µs.
    pub min_pulse_us: u32,
    /// Pulse at `max_deg`, µs.
    pub max_pulse_us: u32,
    /// PWM period, µs (20 ms for hobby servos).
    pub period_us: u32,
}

impl Default for ServoGeometry {
    fn default() -> Self {
        Self {
            min_deg: 0.0,
            max_deg: 180.0,
            min_pulse_us: 500,
            max_pulse_us: 2_500,
            period_us: 20_000,
        }
    }
}

impl ServoGeometry {
    pub fn validate(&self) -> Result<(), HwError> {
        if !(self.min_deg.is_finite() && self.max_deg.is_finite() && self.min_deg < self.max_deg) {
            return Err(HwError::invalid(
                "servo angle range",
                "min must be below max (both finite)",
            ));
        }
        if self.min_pulse_us == self.max_pulse_us
            || self.min_pulse_us.max(self.max_pulse_us) >= self.period_us
        {
            return Err(HwError::invalid(
                "servo pulse range",
                "pulses must differ and be shorter than the period",
            ));
        }
        if !(2_000..=100_000).contains(&self.period_us) {
            return Err(HwError::invalid(
                "servo period",
                "must be within 2000..=100000 µs",
            ));
        }
        Ok(())
    }

    pub fn clamp(&self, deg: f32) -> f32 {
        if deg.is_nan() {
            return self.min_deg;
        }
        deg.clamp(self.min_deg, self.max_deg)
    }

    /// Pulse width for an angle (clamped into the range).
    pub fn pulse_us(&self, deg: f32) -> u32 {
        let f = (self.clamp(deg) - self.min_deg) / (self.max_deg - self.min_deg);
        let lo = f64::from(self.min_pulse_us);
        let hi = f64::from(self.max_pulse_us);
        (lo + f64::from(f) * (hi - lo)).round() as u32
    }

    /// The angle a pulse width stands for (the inverse of
    /// [`pulse_us`](Self::pulse_us), clamped into the range).
    pub fn angle_deg(&self, pulse_us: u32) -> f32 {
        let lo = f64::from(self.min_pulse_us);
        let hi = f64::from(self.max_pulse_us);
        let f = ((f64::from(pulse_us) - lo) / (hi - lo)).clamp(0.0, 1.0) as f32;
        self.min_deg + f * (self.max_deg - self.min_deg)
    }
}

/// What the servo does when no event is running and no manual angle holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdleMode {
    /// Hold the home angle.
    #[default]
    Fixed,
    /// Visit the presets in order, dwelling at each.
    Patrol,
}

impl fmt::Display for IdleMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdleMode::Fixed => "fixed",
            IdleMode::Patrol => "patrol",
        })
    }
}

impl FromStr for IdleMode {
    type Err = HwError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fixed" => Ok(IdleMode::Fixed),
            "patrol" => Ok(IdleMode::Patrol),
            other => Err(HwError::invalid(
                "servo idle mode",
                format!("{other:?} is not one of fixed, patrol"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServoParams {
    pub geometry: ServoGeometry,
    pub home_deg: f32,
    pub idle: IdleMode,
    /// Aim at the motion centroid during events.
    pub track: bool,
    pub invert_track: bool,
    pub dead_band_deg: f32,
    pub max_step_deg: f32,
    /// Named angles, in patrol order.
    pub presets: Vec<(String, f32)>,
    pub patrol_dwell_ms: i64,
    pub manual_hold_ms: i64,
}

impl Default for ServoParams {
    fn default() -> Self {
        Self {
            geometry: ServoGeometry::default(),
            home_deg: 90.0,
            idle: IdleMode::Fixed,
            track: false,
            invert_track: false,
            dead_band_deg: 3.0,
            max_step_deg: 15.0,
            presets: Vec::new(),
            patrol_dwell_ms: 10_000,
            manual_hold_ms: 60_000,
        }
    }
}

impl ServoParams {
    pub fn validate(&self) -> Result<(), HwError> {
        self.geometry.validate()?;
        let g = &self.geometry;
        let in_range = |a: f32| a.is_finite() && a >= g.min_deg && a <= g.max_deg;
        if !in_range(self.home_deg) {
            return Err(HwError::invalid(
                "servo home",
                "must be within the angle range",
            ));
        }
        if let Some((name, _)) = self.presets.iter().find(|(_, a)| !in_range(*a)) {
            return Err(HwError::invalid(
                "servo preset",
                format!("{name:?} is outside the angle range"),
            ));
        }
        if !(self.dead_band_deg.is_finite() && self.dead_band_deg >= 0.0) {
            return Err(HwError::invalid("servo dead band", "must be ≥ 0"));
        }
        if !(self.max_step_deg.is_finite() && self.max_step_deg > 0.0) {
            return Err(HwError::invalid("servo max step", "must be > 0"));
        }
        if self.patrol_dwell_ms < 100 || self.manual_hold_ms < 0 {
            return Err(HwError::invalid(
                "servo timings",
                "patrol dwell must be ≥ 0.1 s and manual hold ≥ 0",
            ));
        }
        Ok(())
    }
}

/// Where the servo points, and why (reported in status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServoActivity {
    Manual,
    Tracking,
    Idle,
}

/// The pure aiming logic; see the module docs.
#[derive(Debug, Clone)]
pub struct ServoController {
    params: ServoParams,
    angle: f32,
    manual_until_ms: Option<i64>,
    /// Set while an event runs and tracking is on.
    tracking: bool,
    patrol_index: usize,
    patrol_next_ms: i64,
}

impl ServoController {
    /// Starts at home (`params` must have passed [`ServoParams::validate`]).
    pub fn new(params: ServoParams, now_ms: i64) -> Self {
        let angle = params.home_deg;
        let patrol_next_ms = now_ms;
        Self {
            params,
            angle,
            manual_until_ms: None,
            tracking: false,
            patrol_index: 0,
            patrol_next_ms,
        }
    }

    pub fn params(&self) -> &ServoParams {
        &self.params
    }

    /// The angle last decided.
    pub fn angle(&self) -> f32 {
        self.angle
    }

    pub fn activity(&self, now_ms: i64) -> ServoActivity {
        if self.manual_until_ms.is_some_and(|u| now_ms < u) {
            ServoActivity::Manual
        } else if self.tracking {
            ServoActivity::Tracking
        } else {
            ServoActivity::Idle
        }
    }

    fn set(&mut self, deg: f32) -> Option<f32> {
        let deg = self.params.geometry.clamp(deg);
        if (deg - self.angle).abs() < f32::EPSILON {
            return None;
        }
        self.angle = deg;
        Some(deg)
    }

    /// Obeys a servo command; other commands are not the servo's and give
    /// `Ok(None)`. Returns the new angle when it changed.
    pub fn command(&mut self, cmd: &Command, now_ms: i64) -> Result<Option<f32>, HwError> {
        let target = match cmd {
            Command::Servo { angle } => *angle,
            Command::ServoPreset { name } => self
                .params
                .presets
                .iter()
                .find(|(n, _)| n == name)
                .map(|&(_, a)| a)
                .ok_or_else(|| HwError::UnknownPreset(name.clone()))?,
            _ => return Ok(None),
        };
        self.manual_until_ms = Some(now_ms.saturating_add(self.params.manual_hold_ms));
        Ok(self.set(target))
    }

    /// The angle that points at horizontal position `x` (0 = left edge).
    pub fn angle_for_centroid(&self, x: f32) -> f32 {
        let g = &self.params.geometry;
        let x = if x.is_nan() { 0.5 } else { x.clamp(0.0, 1.0) };
        let x = if self.params.invert_track { 1.0 - x } else { x };
        g.min_deg + x * (g.max_deg - g.min_deg)
    }

    /// During an event: the motion centroid moved to `x`. Returns the new
    /// angle when the servo should move.
    pub fn aim(&mut self, x: f32, now_ms: i64) -> Option<f32> {
        if !self.params.track {
            return None;
        }
        self.tracking = true;
        if self.activity(now_ms) == ServoActivity::Manual {
            return None;
        }
        let target = self.angle_for_centroid(x);
        let delta = target - self.angle;
        if delta.abs() <= self.params.dead_band_deg {
            return None;
        }
        let step = delta.clamp(-self.params.max_step_deg, self.params.max_step_deg);
        self.set(self.angle + step)
    }

    /// The event ended: back to idle behaviour at the next [`tick`](Self::tick).
    pub fn event_ended(&mut self, now_ms: i64) {
        if self.tracking {
            self.tracking = false;
            self.patrol_next_ms = now_ms;
        }
    }

    /// Advances time; returns the new angle when idle behaviour moves the
    /// servo (back home, or to the next patrol preset).
    pub fn tick(&mut self, now_ms: i64) -> Option<f32> {
        if let Some(until) = self.manual_until_ms {
            if now_ms < until {
                return None;
            }
            self.manual_until_ms = None;
            self.patrol_next_ms = now_ms;
        }
        if self.tracking {
            return None;
        }
        let presets = &self.params.presets;
        if self.params.idle == IdleMode::Patrol && presets.len() >= 2 {
            if now_ms < self.patrol_next_ms {
                return None;
            }
            let (_, a) = presets[self.patrol_index % presets.len()];
            self.patrol_index = (self.patrol_index + 1) % presets.len();
            self.patrol_next_ms = now_ms.saturating_add(self.params.patrol_dwell_ms);
            return self.set(a);
        }
        self.set(self.params.home_deg)
    }

    /// When [`tick`](Self::tick) may next move the servo by itself.
    pub fn next_deadline(&self) -> Option<i64> {
        if let Some(u) = self.manual_until_ms {
            return Some(u);
        }
        if !self.tracking && self.params.idle == IdleMode::Patrol && self.params.presets.len() >= 2
        {
            return Some(self.patrol_next_ms);
        }
        None
    }
}

/// Something that produces servo pulses.
pub trait ServoDriver: Send {
    /// Starts (or changes) the pulse train.
    fn set_pulse_us(&mut self, pulse_us: u32) -> Result<(), HwError>;
    /// Stops the pulses; the servo goes limp.
    fn disable(&mut self) -> Result<(), HwError>;
}

/// A controller and a driver together: every decided angle is written.
pub struct Servo {
    controller: ServoController,
    driver: Box<dyn ServoDriver>,
}

impl Servo {
    /// Moves to the home angle at once.
    pub fn new(
        params: ServoParams,
        mut driver: Box<dyn ServoDriver>,
        now_ms: i64,
    ) -> Result<Self, HwError> {
        let controller = ServoController::new(params, now_ms);
        driver.set_pulse_us(controller.params().geometry.pulse_us(controller.angle()))?;
        Ok(Self { controller, driver })
    }

    pub fn controller(&self) -> &ServoController {
        &self.controller
    }

    fn write(&mut self, angle: Option<f32>) -> Result<Option<f32>, HwError> {
        if let Some(a) = angle {
            let p = self.controller.params().geometry.pulse_us(a);
            self.driver.set_pulse_us(p)?;
        }
        Ok(angle)
    }

    pub fn command(&mut self, cmd: &Command, now_ms: i64) -> Result<Option<f32>, HwError> {
        let a = self.controller.command(cmd, now_ms)?;
        self.write(a)
    }

    pub fn aim(&mut self, x: f32, now_ms: i64) -> Result<Option<f32>, HwError> {
        let a = self.controller.aim(x, now_ms);
        self.write(a)
    }

    pub fn event_ended(&mut self, now_ms: i64) {
        self.controller.event_ended(now_ms);
    }

    pub fn tick(&mut self, now_ms: i64) -> Result<Option<f32>, HwError> {
        let a = self.controller.tick(now_ms);
        self.write(a)
    }

    pub fn disable(&mut self) -> Result<(), HwError> {
        self.driver.disable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimulatedServo;
    use std::sync::Arc;

    #[test]
    fn angle_pulse_mapping_is_linear_and_clamped() {
        let g = ServoGeometry::default();
        assert_eq!(g.pulse_us(0.0), 500);
        assert_eq!(g.pulse_us(90.0), 1_500);
        assert_eq!(g.pulse_us(180.0), 2_500);
        assert_eq!(g.pulse_us(45.0), 1_000);
        assert_eq!(g.pulse_us(-30.0), 500);
        assert_eq!(g.pulse_us(400.0), 2_500);
        assert_eq!(g.pulse_us(f32::NAN), 500);
        for deg in [0.0, 12.5, 90.0, 133.0, 180.0] {
            assert!((g.angle_deg(g.pulse_us(deg)) - deg).abs() < 0.1, "{deg}");
        }
        let narrow = ServoGeometry {
            min_deg: -45.0,
            max_deg: 45.0,
            min_pulse_us: 1_000,
            max_pulse_us: 2_000,
            period_us: 20_000,
        };
        assert_eq!(narrow.pulse_us(0.0), 1_500);
        assert_eq!(narrow.pulse_us(-45.0), 1_000);
        assert_eq!(narrow.angle_deg(2_000), 45.0);
    }

    #[test]
    fn bad_geometry_is_refused() {
        let mut g = ServoGeometry {
            min_deg: 90.0,
            max_deg: 0.0,
            ..Default::default()
        };
        assert!(g.validate().is_err());
        g = ServoGeometry {
            max_pulse_us: 25_000,
            ..Default::default()
        };
        assert!(g.validate().is_err());
    }

    fn tracking_params() -> ServoParams {
        ServoParams {
            track: true,
            dead_band_deg: 3.0,
            max_step_deg: 20.0,
            ..Default::default()
        }
    }

    #[test]
    fn tracking_maps_centroid_with_dead_band_and_max_step() {
        let mut c = ServoController::new(tracking_params(), 0);
        assert_eq!(c.angle(), 90.0);
        assert_eq!(c.aim(0.51, 0), None, "1.8° is inside the dead band");
        assert_eq!(c.aim(1.0, 100), Some(110.0), "limited to 20° per update");
        assert_eq!(c.aim(1.0, 200), Some(130.0));
        assert_eq!(c.aim(0.73, 300), None, "131.4° is within 3° of 130°");
        assert_eq!(c.activity(300), ServoActivity::Tracking);
        c.event_ended(1_000);
        assert_eq!(c.tick(1_000), Some(90.0), "home after the event");
        let inverted = ServoParams {
            invert_track: true,
            ..tracking_params()
        };
        assert_eq!(
            ServoController::new(inverted, 0).angle_for_centroid(0.0),
            180.0
        );
    }

    #[test]
    fn manual_command_wins_for_its_hold_time() {
        let params = ServoParams {
            presets: vec![("door".into(), 30.0), ("gate".into(), 150.0)],
            manual_hold_ms: 5_000,
            ..tracking_params()
        };
        let mut c = ServoController::new(params, 0);
        assert_eq!(
            c.command(&Command::Servo { angle: 200.0 }, 0).expect("ok"),
            Some(180.0)
        );
        assert_eq!(c.aim(0.0, 100), None, "manual beats tracking");
        assert_eq!(
            c.command(
                &Command::ServoPreset {
                    name: "door".into()
                },
                1_000
            )
            .expect("ok"),
            Some(30.0)
        );
        assert!(matches!(
            c.command(
                &Command::ServoPreset {
                    name: "roof".into()
                },
                1_000
            ),
            Err(HwError::UnknownPreset(_))
        ));
        assert_eq!(c.command(&Command::Arm, 1_000).expect("not mine"), None);
        assert_eq!(c.next_deadline(), Some(6_000));
        assert_eq!(c.tick(5_999), None);
        // Hold over; the event still runs, so tracking resumes.
        assert_eq!(c.tick(6_000), None);
        assert_eq!(c.aim(0.0, 6_100), Some(10.0));
    }

    #[test]
    fn patrol_visits_presets_in_order_when_idle() {
        let params = ServoParams {
            idle: IdleMode::Patrol,
            presets: vec![("a".into(), 20.0), ("b".into(), 90.0), ("c".into(), 160.0)],
            patrol_dwell_ms: 10_000,
            ..tracking_params()
        };
        let mut c = ServoController::new(params, 0);
        let mut visits = Vec::new();
        for t in (0..=40_000).step_by(500) {
            if let Some(a) = c.tick(t) {
                visits.push((t, a));
            }
        }
        assert_eq!(
            visits,
            [
                (0, 20.0),
                (10_000, 90.0),
                (20_000, 160.0),
                (30_000, 20.0),
                (40_000, 90.0)
            ]
        );
        // An event interrupts the patrol; it resumes from the next preset.
        assert_eq!(c.aim(1.0, 41_000), Some(110.0));
        assert_eq!(c.tick(45_000), None);
        c.event_ended(46_000);
        assert_eq!(c.tick(46_000), Some(160.0));
    }

    #[test]
    fn servo_writes_pulses_to_its_driver() {
        let clock = vigia_base::SimulatedClock::new(0);
        let (drv, log) = SimulatedServo::new(Arc::new(clock));
        let mut s = Servo::new(tracking_params(), Box::new(drv), 0).expect("servo");
        assert_eq!(log.pulse_us(), Some(1_500));
        s.command(&Command::Servo { angle: 45.0 }, 0).expect("cmd");
        assert_eq!(log.pulse_us(), Some(1_000));
        s.disable().expect("disable");
        assert_eq!(log.pulse_us(), None);
        assert_eq!(log.writes().len(), 3);
    }

    #[test]
    fn idle_mode_text_round_trips() {
        for m in [IdleMode::Fixed, IdleMode::Patrol] {
            assert_eq!(m.to_string().parse::<IdleMode>().expect("parse"), m);
        }
        assert!("sweep".parse::<IdleMode>().is_err());
    }
}
