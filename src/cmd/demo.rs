//! `vigia demo`: a server and a node on the built-in synthetic camera, on
//! one machine, with embedded defaults, so a newcomer sees vigia work in
//! one command.
//!
//! It does what an operator does for a real installation, in one process:
//! writes `DIR/server.toml` and `DIR/node.toml` (so the same setup can be
//! run again with `vigia server`/`vigia node` and administered with
//! `vigia user …`), makes the node's SSH key, authorizes it on the server
//! for camera `demo`, pins the server's host key in the node's config,
//! creates an `admin` account with a one-time random password if there is
//! no user yet, and prints the URL. Node and server then talk over the real
//! SSH link on loopback: captures, live view and commands.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use vigia_base::Shutdown;
use vigia_store::Role;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its configs, database and captures.
    #[arg(long, default_value = "vigia-demo")]
    data: PathBuf,
    /// Address of the web platform.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// Address of the SSH listener the node connects to (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:2222")]
    ssh: String,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

fn random_password() -> anyhow::Result<String> {
    let mut b = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.data).with_context(|| format!("creating {}", a.data.display()))?;
    let data = std::fs::canonicalize(&a.data)
        .with_context(|| format!("resolving {}", a.data.display()))?;
    let server_toml = data.join("server.toml");
    let server_text = demo_server_toml(&data, &a.http, &a.ssh);
    std::fs::write(&server_toml, &server_text)
        .with_context(|| format!("writing {}", server_toml.display()))?;
    let server_cfg = vigia_config::parse_server(&server_text, &server_toml, &data)
        .context("the demo server config is invalid")?;
    let authorized_keys = server_cfg.ssh.authorized_keys.clone();

    let rt = super::runtime()?;
    rt.block_on(async move {
        let shutdown = Shutdown::new();
        super::spawn_signal_handler(shutdown.clone());
        if let Some(s) = a.seconds {
            let sd = shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(s)).await;
                sd.trigger();
            });
        }
        let server = super::server::Server::start(server_cfg, shutdown.clone()).await?;

        // The node's side, written once the SSH port is known.
        let node_toml = data.join("node.toml");
        let node_text = demo_node_toml(&data, server.ssh_addr, &server.host_key_fingerprint);
        std::fs::write(&node_toml, &node_text)
            .with_context(|| format!("writing {}", node_toml.display()))?;
        let node_cfg = vigia_config::parse_node(&node_text, &node_toml, &data)
            .context("the demo node config is invalid")?;
        authorize_node(&node_cfg, &authorized_keys)?;

        if server.store.list_users().context("listing users")?.is_empty() {
            let pw = random_password()?;
            server.store.add_user("admin", &pw, Role::Admin).context("creating the demo admin")?;
            println!("  sign in as: admin / {pw}   (shown once; change it with `vigia user passwd admin --config {}`)", server_toml.display());
        } else {
            println!(
                "  sign in with the account created on the first run (forgot it? `vigia user passwd admin --config {}` reads a new one from standard input)",
                server_toml.display()
            );
        }
        println!("vigia demo: synthetic camera \"{}\" (people cross at 6 s and 24 s of every minute)", node_cfg.camera);
        println!("  open:     {}", server.url);
        println!("  configs:  {} and {}", server_toml.display(), node_toml.display());
        println!("  stop with Ctrl-C");

        let node = tokio::spawn(super::node::run_with_events(node_cfg, shutdown.clone(), None, false));
        let node_result = node.await.context("node task panicked")?;
        shutdown.trigger();
        server.wait().await?;
        node_result
    })
}

/// Makes the node's key on the first run and authorizes it for its camera.
fn authorize_node(node: &vigia_config::NodeConfig, authorized_keys: &Path) -> anyhow::Result<()> {
    use vigia_link::keys;
    let link = node.link.as_ref().context("the demo node has a link")?;
    if !link.key.exists() {
        keys::write_key_pair(&keys::new_ed25519("vigia-demo-node"), &link.key)?;
    }
    let key = keys::read_private(&link.key)?;
    let known = keys::read_authorized_keys(authorized_keys)?;
    if keys::camera_for(&known, key.public_key()).is_none() {
        keys::authorize(authorized_keys, key.public_key(), &node.camera)?;
    }
    Ok(())
}

fn demo_server_toml(data: &Path, http: &str, ssh: &str) -> String {
    format!(
        "# Written by `vigia demo`; run it again with: vigia server --config {d}/server.toml\n\
         [server]\ndata_dir = \"{d}/server\"\nname = \"vigia demo\"\n\n[http]\nlisten = \"{http}\"\n\n\
         [ssh]\nlisten = \"{ssh}\"\n\n\
         [retention]\nmax_age_days = 7.0\nmin_free_bytes = 268435456\n",
        d = data.display()
    )
}

fn demo_node_toml(data: &Path, ssh: std::net::SocketAddr, fingerprint: &str) -> String {
    format!(
        "# Written by `vigia demo`; run it again with: vigia node --config {d}/node.toml\n\
         [node]\ncamera = \"demo\"\ndata_dir = \"{d}/node\"\n\n\
         [source]\nkind = \"synthetic\"\nwidth = 768\nheight = 576\nfps = 10.0\nseed = 1\n\n\
         [event]\npre_roll_s = 3.0\npost_roll_s = 4.0\n\n\
         [link]\nserver = \"{ip}\"\nport = {port}\nserver_fingerprint = \"{fingerprint}\"\n",
        d = data.display(),
        ip = ssh.ip(),
        port = ssh.port(),
    )
}
