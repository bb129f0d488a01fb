//! MQTT topic names and Home Assistant discovery documents: pure data, no
//! network, so the exact strings a broker sees are tested here.
//!
//! Discovery follows <https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery>:
//! one retained config per entity on
//! `<discovery_prefix>/<component>/<node_id>/<object_id>/config`, each with
//! the shared device block and the availability topic the last will
//! drives, so Home Assistant greys the camera out when the node vanishes.

use serde_json::{json, Value};
use vigia_base::CameraId;

pub(crate) const ON: &str = "ON";
pub(crate) const OFF: &str = "OFF";
pub(crate) const ONLINE: &str = "online";
pub(crate) const OFFLINE: &str = "offline";

/// Topic names under `<prefix>/<camera>/`.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    base: String,
}

impl Topics {
    pub fn new(prefix: &str, camera: &str) -> Self {
        Self {
            base: format!("{prefix}/{camera}"),
        }
    }
    pub fn event(&self) -> String {
        format!("{}/event", self.base)
    }
    /// `armed`, `motion`, `person`, `backlog`.
    pub fn state(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }
    pub fn snapshot(&self) -> String {
        format!("{}/snapshot", self.base)
    }
    /// Availability (the node's last will).
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }
    /// Subscription filter for commands.
    pub fn set_filter(&self) -> String {
        format!("{}/set/+", self.base)
    }
    pub fn set(&self, verb: &str) -> String {
        format!("{}/set/{verb}", self.base)
    }
    /// The command verb of a `set` topic, if `topic` is one of ours.
    pub fn set_verb<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/set/")
            .filter(|v| !v.is_empty() && !v.contains('/'))
    }
    /// Server side: the camera's link state as the server sees it.
    pub fn link(&self) -> String {
        format!("{}/link", self.base)
    }
    /// Server side: offline/online alert documents.
    pub fn alert(&self) -> String {
        format!("{}/alert", self.base)
    }
}

/// The retained discovery configs of one node: (topic, JSON payload).
pub(crate) fn discovery_configs(
    discovery_prefix: &str,
    topics: &Topics,
    camera: &CameraId,
) -> Vec<(String, Vec<u8>)> {
    let node_id = format!("vigia_{camera}");
    let device = json!({
        "identifiers": [node_id],
        "name": format!("vigia {camera}"),
        "manufacturer": "vigia",
        "model": "vigia node",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let entity = |component: &str, object_id: &str, name: &str, extra: Value| {
        let mut v = json!({
            "name": name,
            "unique_id": format!("{node_id}_{object_id}"),
            "object_id": format!("{node_id}_{object_id}"),
            "availability_topic": topics.status(),
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": device,
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        (
            format!("{discovery_prefix}/{component}/{node_id}/{object_id}/config"),
            v.to_string().into_bytes(),
        )
    };
    vec![
        entity(
            "binary_sensor",
            "motion",
            "Motion",
            json!({"state_topic": topics.state("motion"), "payload_on": ON, "payload_off": OFF, "device_class": "motion"}),
        ),
        entity(
            "binary_sensor",
            "person",
            "Person",
            json!({"state_topic": topics.state("person"), "payload_on": ON, "payload_off": OFF, "device_class": "occupancy"}),
        ),
        entity(
            "switch",
            "armed",
            "Armed",
            json!({
                "state_topic": topics.state("armed"),
                "command_topic": topics.set("armed"),
                "payload_on": ON, "payload_off": OFF,
                "state_on": ON, "state_off": OFF,
                "icon": "mdi:shield-home",
            }),
        ),
        entity(
            "camera",
            "snapshot",
            "Snapshot",
            json!({"topic": topics.snapshot()}),
        ),
        entity(
            "sensor",
            "backlog",
            "Upload backlog",
            json!({
                "state_topic": topics.state("backlog"),
                "unit_of_measurement": "captures",
                "state_class": "measurement",
                "icon": "mdi:cloud-upload",
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_topics_and_payloads_follow_home_assistant() {
        let cam: CameraId = "front-door".parse().expect("id");
        let t = Topics::new("vigia", cam.as_str());
        let configs = discovery_configs("homeassistant", &t, &cam);
        let topics: Vec<&str> = configs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/binary_sensor/vigia_front-door/motion/config",
                "homeassistant/binary_sensor/vigia_front-door/person/config",
                "homeassistant/switch/vigia_front-door/armed/config",
                "homeassistant/camera/vigia_front-door/snapshot/config",
                "homeassistant/sensor/vigia_front-door/backlog/config",
            ]
        );
        let switch: Value = serde_json::from_slice(&configs[2].1).expect("json");
        assert_eq!(switch["command_topic"], "vigia/front-door/set/armed");
        assert_eq!(switch["state_topic"], "vigia/front-door/armed");
        assert_eq!(switch["availability_topic"], "vigia/front-door/status");
        assert_eq!(switch["device"]["identifiers"][0], "vigia_front-door");
        let camera: Value = serde_json::from_slice(&configs[3].1).expect("json");
        assert_eq!(camera["topic"], "vigia/front-door/snapshot");
        // unique ids must differ or Home Assistant drops the later entities.
        let mut ids: Vec<String> = configs
            .iter()
            .map(|(_, p)| {
                serde_json::from_slice::<Value>(p).expect("json")["unique_id"].to_string()
            })
            .collect();
        ids.dedup();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn set_topics_yield_their_verb_only() {
        let t = Topics::new("home/vigia", "porch");
        assert_eq!(t.set_verb("home/vigia/porch/set/armed"), Some("armed"));
        assert_eq!(t.set_verb("home/vigia/porch/set/"), None);
        assert_eq!(t.set_verb("home/vigia/porch/set/a/b"), None);
        assert_eq!(t.set_verb("home/vigia/porch2/set/armed"), None);
        assert_eq!(t.set_verb("home/vigia/porch/armed"), None);
    }
}
