//! One-shot messages ("flash") shown on the next page a session loads:
//! how the live page reports a command's result after its
//! POST-redirect-GET, so a reload never sends the command again.
//!
//! Kept on the server, keyed by the session's CSRF token (random per
//! session, known to every handler that has a [`crate::auth::User`]), not
//! carried in the redirect's URL: a message in a URL could be forged by
//! anyone who sends a signed-in user a link ("camera disarmed, call …").
//! Memory is bounded: at most [`MAX_FLASHES`] pending messages, the oldest
//! dropped first, and one nobody fetched expires after [`FLASH_TTL_MS`].

use std::collections::VecDeque;
use std::sync::Mutex;

use vigia_base::CameraId;

/// Pending messages kept at most, over all sessions.
pub const MAX_FLASHES: usize = 1024;
/// A message not shown within this time is dropped.
pub const FLASH_TTL_MS: i64 = 5 * 60_000;

/// The outcome of one command, as shown to the user who gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub camera: CameraId,
    /// The command's text form (`arm`, `snapshot`, …).
    pub command: String,
    pub ok: bool,
    /// The node's answer or the reason it failed; may come from the node,
    /// so it is only ever rendered escaped.
    pub text: String,
}

struct Pending {
    key: String,
    at_ms: i64,
    flash: Flash,
}

#[derive(Default)]
pub struct Flashes {
    pending: Mutex<VecDeque<Pending>>,
}

impl Flashes {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        // Plain data: a panic elsewhere cannot leave it inconsistent.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the session's pending message.
    pub fn put(&self, key: &str, now_ms: i64, flash: Flash) {
        let mut q = self.lock();
        q.retain(|p| p.key != key && now_ms.saturating_sub(p.at_ms) <= FLASH_TTL_MS);
        q.push_back(Pending {
            key: key.to_owned(),
            at_ms: now_ms,
            flash,
        });
        while q.len() > MAX_FLASHES {
            q.pop_front();
        }
    }

    /// Removes and returns the session's pending message, if still fresh.
    pub fn take(&self, key: &str, now_ms: i64) -> Option<Flash> {
        let mut q = self.lock();
        let i = q.iter().position(|p| p.key == key)?;
        let p = q.remove(i)?;
        (now_ms.saturating_sub(p.at_ms) <= FLASH_TTL_MS).then_some(p.flash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flash(text: &str) -> Flash {
        Flash {
            camera: "front".parse().unwrap(),
            command: "arm".into(),
            ok: true,
            text: text.into(),
        }
    }

    #[test]
    fn shown_once_to_its_session_only() {
        let f = Flashes::default();
        f.put("a", 0, flash("first"));
        f.put("a", 1, flash("second"));
        f.put("b", 1, flash("other"));
        assert_eq!(f.take("c", 2), None);
        assert_eq!(f.take("a", 2).map(|f| f.text), Some("second".into()));
        assert_eq!(f.take("a", 2), None);
        assert_eq!(f.take("b", 2 + FLASH_TTL_MS), None, "expired");
    }

    #[test]
    fn memory_is_bounded() {
        let f = Flashes::default();
        for i in 0..MAX_FLASHES + 10 {
            f.put(&i.to_string(), 0, flash("x"));
        }
        assert_eq!(f.lock().len(), MAX_FLASHES);
        assert_eq!(f.take("0", 0), None, "the oldest went first");
        assert!(f.take(&(MAX_FLASHES + 9).to_string(), 0).is_some());
    }
}
