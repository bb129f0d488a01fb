//! `vigia keygen` (on a node) and `vigia authorize` (on the server): the
//! two steps that let a node upload.

use std::path::PathBuf;

use anyhow::Context;
use vigia_base::CameraId;
use vigia_link::keys;

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Where to write the private key (the public key goes to FILE.pub).
    /// Default: the node config's `link.key`, or ./node_key.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The node configuration file, for the default key path.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn keygen(a: KeygenArgs) -> anyhow::Result<()> {
    let (path, camera) = match (&a.out, &a.config) {
        (Some(p), _) => (p.clone(), None),
        (None, Some(c)) => {
            let cfg =
                vigia_config::load_node(c).with_context(|| format!("loading {}", c.display()))?;
            let key = cfg
                .link
                .as_ref()
                .map_or_else(|| cfg.data_dir.join("node_key"), |l| l.key.clone());
            (key, Some(cfg.camera))
        }
        (None, None) => (PathBuf::from("node_key"), None),
    };
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let comment = format!("vigia-node@{}", host.trim());
    let key = keys::new_ed25519(&comment);
    keys::write_key_pair(&key, &path).with_context(|| format!("writing {}", path.display()))?;
    let pub_path = keys::pub_path(&path);
    println!(
        "private key: {} (keep it on this node only)",
        path.display()
    );
    println!("public key:  {}", pub_path.display());
    println!("fingerprint: {}", keys::fingerprint(key.public_key()));
    println!(
        "authorize it on the server:  vigia authorize {} --camera {} --config server.toml",
        pub_path
            .file_name()
            .map_or("node_key.pub".into(), |n| n.to_string_lossy()),
        camera.map_or_else(|| "CAMERA".to_string(), |c| c.to_string())
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct AuthorizeArgs {
    /// The node's public key (`node_key.pub` from `vigia keygen`, or any
    /// OpenSSH ed25519/RSA public key).
    keyfile: PathBuf,
    /// The camera this key may upload as.
    #[arg(long)]
    camera: String,
    /// The server configuration file.
    #[arg(long)]
    config: PathBuf,
}

pub fn authorize(a: AuthorizeArgs) -> anyhow::Result<()> {
    let camera: CameraId = a
        .camera
        .parse()
        .with_context(|| format!("invalid camera id {:?}", a.camera))?;
    let cfg = vigia_config::load_server(&a.config)
        .with_context(|| format!("loading {}", a.config.display()))?;
    let key = keys::read_public(&a.keyfile)?;
    keys::authorize(&cfg.ssh.authorized_keys, &key, &camera)?;
    println!(
        "authorized {} for camera {camera} in {} (takes effect at the node's next connection)",
        keys::fingerprint(&key),
        cfg.ssh.authorized_keys.display()
    );
    Ok(())
}
