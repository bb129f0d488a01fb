//! One shutdown token for the whole process.
//!
//! Every long-running task holds a clone and selects on [`Shutdown::wait`].
//! The binary triggers it on the first SIGINT/SIGTERM and exits at once on
//! the second; tasks drain in the order the binary documents.

use tokio::sync::watch;

/// A cloneable, level-triggered stop signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }

    /// Asks every holder to stop. Idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once [`trigger`](Self::trigger) has been called (at once if
    /// it already was).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        // An error means every sender is gone, which can only happen when the
        // process is tearing down: treat it as a stop too.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_returns_after_trigger_and_when_already_triggered() {
        let s = Shutdown::new();
        let s2 = s.clone();
        let h = tokio::spawn(async move { s2.wait().await });
        assert!(!s.is_triggered());
        s.trigger();
        h.await.expect("waiter");
        assert!(s.is_triggered());
        s.wait().await;
    }
}
