//! Running the app on a socket: plain HTTP ([`serve`]) and TLS
//! ([`serve_tls`], rustls with the `ring` provider, which builds without
//! cmake or nasm).
//!
//! Both take an already bound listener (tests bind port 0) and a shutdown
//! future; on shutdown they stop accepting and wait for open requests to
//! finish. Endless MJPEG responses would make that wait forever, so call
//! [`crate::LiveHub::close`] when shutting down. The peer address is passed
//! to handlers as `ConnectInfo<SocketAddr>` (rate limiting, `/metrics`).
//!
//! TLS handshakes run in their own tasks with a timeout, so a client that
//! stalls mid-handshake never holds up others.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Limit on a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serving HTTP: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading TLS {what} from {path}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS configuration with {cert} and {key}: {source}")]
    Tls {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// Serves `app` over plain HTTP until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Loads a PEM certificate chain and private key into a rustls config.
pub fn tls_config(cert_pem: &Path, key_pem: &Path) -> Result<rustls::ServerConfig, ServeError> {
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::Pem {
            what: "certificates",
            path: cert_pem.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ServeError::Pem {
            what: "certificates",
            path: cert_pem.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| ServeError::Pem {
        what: "private key",
        path: key_pem.to_owned(),
        reason: e.to_string(),
    })?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
    .map_err(|source| ServeError::Tls {
        cert: cert_pem.to_owned(),
        key: key_pem.to_owned(),
        source,
    })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// An axum listener yielding connections whose TLS handshake finished.
struct TlsListener {
    local: SocketAddr,
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

fn spawn_acceptor(listener: TcpListener, acceptor: TlsAcceptor) -> TlsListener {
    let (tx, rx) = mpsc::channel(64);
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let accept_task = tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a TLS connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    TlsListener {
        local,
        rx,
        accept_task,
    }
}

/// Serves `app` over HTTPS (HTTP/1.1) until `shutdown` completes.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    cert_pem: &Path,
    key_pem: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(cert_pem, key_pem)?));
    // `tap_io` is a no-op here; it gives us axum's `ConnectInfo` for any
    // listener whose address is a `SocketAddr`.
    let listener = spawn_acceptor(listener, acceptor).tap_io(|_| {});
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}
