//! Commands from the web to a node (arm, disarm, snapshot now, …): the one
//! path both the live page's buttons and `POST /api/v1/cameras/{id}/commands`
//! take to the link.
//!
//! Who may: any signed-in user, viewer or admin. Arming and snapshots are
//! what the people living with the cameras need day to day; what only
//! admins may do is destroy evidence (deleting captures). Every command
//! still needs the session's CSRF token, checked by the callers before
//! anything reaches the node, and is logged with the user's name.
//!
//! The order travels over the node's `control` channel
//! ([`vigia_link::server::Nodes::send_command`]) and waits at most
//! [`crate::AppState::command_timeout`] for the answer. The node's answer
//! is untrusted text: it is shortened and stripped of control characters
//! here, and escaped wherever it is rendered.

use vigia_base::{CameraId, Command};
use vigia_link::server::CommandError;

use crate::auth::User;
use crate::state::AppState;

/// Longest node answer shown, in characters.
pub const MAX_ANSWER_CHARS: usize = 200;

/// Shortens a node's answer and drops control characters.
pub fn tidy(answer: &str) -> String {
    answer
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ANSWER_CHARS)
        .collect()
}

/// Sends `command` to the camera's node and waits for its answer.
pub async fn send(
    state: &AppState,
    user: &User,
    camera: &CameraId,
    command: &Command,
) -> Result<String, CommandError> {
    let result = state
        .nodes()
        .send_command(camera, command.clone(), state.command_timeout())
        .await;
    let result = match result {
        Ok(m) => Ok(tidy(&m)),
        Err(CommandError::Failed { camera, message }) => Err(CommandError::Failed {
            camera,
            message: tidy(&message),
        }),
        Err(e) => Err(e),
    };
    match &result {
        Ok(answer) => {
            tracing::info!(%camera, %command, user = %user.name(), %answer, "command done")
        }
        Err(e) => {
            tracing::warn!(%camera, %command, user = %user.name(), error = %e, "command failed")
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_shortened_and_control_free() {
        assert_eq!(tidy("armed\r\n\u{1b}[31m"), "armed[31m");
        assert_eq!(tidy(&"x".repeat(1000)).chars().count(), MAX_ANSWER_CHARS);
    }
}
