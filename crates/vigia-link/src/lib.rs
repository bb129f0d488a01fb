//! The link between a node and the server: one SSH connection per node,
//! the node being the client.
//!
//! - [`wire`] — every message that crosses the `control` and `live`
//!   channels, and their framing. Pure: no I/O, fuzzed by property tests.
//! - [`sftp`] — the server's SFTP subsystem, confined to one camera's
//!   incoming area.
//! - [`keys`] — host keys, node keys, `authorized_keys` (each key bound to a
//!   camera) and the node's pinned `known_hosts`.
//! - [`server`] and [`client`] — the SSH adapter: the only modules here
//!   that touch sockets.
//!
//! This crate knows nothing of the store or the web: the server side calls
//! back into the binary through [`server::ServerHooks`], and the node side
//! exposes a handle its uploader and live/command tasks use.

pub mod client;
pub mod keys;
pub mod server;
pub mod sftp;
pub mod wire;
