//! `vigia user …`: manage the web platform's accounts. Works while the
//! server runs (the database is shared in WAL mode).

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};
use vigia_store::{Role, Store, StoreConfig};

#[derive(clap::Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        /// Administrators may also delete captures.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input (required:
        /// passwords never go on the command line, where `ps` shows them).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        config: PathBuf,
    },
    /// List users and their roles.
    List {
        #[arg(long)]
        config: PathBuf,
    },
    /// Delete a user and end their sessions.
    Remove {
        name: String,
        #[arg(long)]
        config: PathBuf,
    },
    /// Change a user's password (read from standard input) and end their sessions.
    Passwd {
        name: String,
        #[arg(long)]
        config: PathBuf,
    },
}

fn open_store(config: &std::path::Path) -> anyhow::Result<Store> {
    let cfg = vigia_config::load_server(config)
        .with_context(|| format!("loading {}", config.display()))?;
    let (store, _) = Store::open(StoreConfig {
        db_path: cfg.db_path(),
        media_dir: cfg.media_dir(),
        min_free_bytes: cfg.min_free_bytes,
    })
    .with_context(|| format!("opening the database in {}", cfg.data_dir.display()))?;
    Ok(store)
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(pw)
}

pub fn run(a: UserArgs) -> anyhow::Result<()> {
    match a.command {
        UserCommand::Add {
            name,
            admin,
            password_stdin: _,
            config,
        } => {
            let store = open_store(&config)?;
            let pw = read_password()?;
            let role = if admin { Role::Admin } else { Role::Viewer };
            let u = store
                .add_user(&name, &pw, role)
                .with_context(|| format!("adding user {name:?}"))?;
            println!("user {} added ({})", u.name, u.role);
        }
        UserCommand::List { config } => {
            let store = open_store(&config)?;
            for u in store.list_users().context("listing users")? {
                println!(
                    "{}\t{}\t{}",
                    u.name,
                    u.role,
                    vigia_base::clock::format_utc_ms(u.created_ms)
                );
            }
        }
        UserCommand::Remove { name, config } => {
            let store = open_store(&config)?;
            if !store
                .remove_user(&name)
                .with_context(|| format!("removing user {name:?}"))?
            {
                bail!("no user named {name:?}");
            }
            println!("user {name} removed");
        }
        UserCommand::Passwd { name, config } => {
            let store = open_store(&config)?;
            let pw = read_password()?;
            store
                .set_password(&name, &pw)
                .with_context(|| format!("changing the password of {name:?}"))?;
            println!("password of {name} changed; their sessions were ended");
        }
    }
    Ok(())
}
