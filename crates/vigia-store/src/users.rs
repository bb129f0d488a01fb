//! Users and sessions.
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults:
//! 19 MiB, 2 passes, 1 lane — OWASP's recommended minimum — and a 16-byte
//! random salt), stored as PHC strings so parameters can be raised later
//! without invalidating old hashes. Hashing runs outside the database
//! lock. There is no default user.
//!
//! A session token is 32 random bytes from the OS, hex-encoded for the
//! cookie; the database keeps only its sha256, so a leaked database or
//! backup logs nobody in. The CSRF token is random as well. Changing a
//! password ends the user's sessions; deleting a user cascades to them.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use rusqlite::{params, OptionalExtension, Row};
use sha2::{Digest, Sha256};

use crate::{NewSession, Role, Session, Store, StoreError, User};

pub const MIN_PASSWORD_CHARS: usize = 10;
/// argon2 hashes whatever it is given; refuse megabyte "passwords".
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_NAME_CHARS: usize = 64;

pub fn valid_user_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if valid_user_name(name) {
        Ok(())
    } else {
        Err(StoreError::InvalidUserName {
            name: name.to_owned(),
        })
    }
}

fn check_password(name: &str, password: &str) -> Result<(), StoreError> {
    let weak = |reason| {
        Err(StoreError::WeakPassword {
            name: name.to_owned(),
            reason,
        })
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return weak("shorter than 10 characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return weak("longer than 1024 bytes");
    }
    if password.trim().is_empty() {
        return weak("only whitespace");
    }
    Ok(())
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random {
        reason: e.to_string(),
    })?;
    Ok(buf)
}

fn hash_password(name: &str, password: &str) -> Result<String, StoreError> {
    let salt = random_bytes::<16>()?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::PasswordHash {
            name: name.to_owned(),
            reason: e.to_string(),
        })
}

fn token_sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: role.parse().map_err(|e: crate::RoleParseError| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
        })?,
        created_ms: r.get(3)?,
    })
}

fn now_ms() -> i64 {
    crate::captures::wall_clock_ms()
}

impl Store {
    /// Adds a user. Names are 1-64 characters of `[A-Za-z0-9._-]`;
    /// passwords at least 10 characters.
    pub fn add_user(&self, name: &str, password: &str, role: Role) -> Result<User, StoreError> {
        check_name(name)?;
        check_password(name, password)?;
        let hash = hash_password(name, password)?;
        let now = now_ms();
        let db = self.db();
        let r = db.execute(
            "insert into user (name, role, password_hash, created_ms, password_changed_ms) values (?1, ?2, ?3, ?4, ?4)",
            params![name, role.as_str(), hash, now],
        );
        match r {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                return Err(StoreError::UserExists {
                    name: name.to_owned(),
                })
            }
            Err(e) => return Err(StoreError::db(format!("adding user {name:?}"))(e)),
        }
        tracing::info!(user = name, role = %role, "user added");
        Ok(User {
            id: db.last_insert_rowid(),
            name: name.to_owned(),
            role,
            created_ms: now,
        })
    }

    /// Changes a password and ends every session of the user.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), StoreError> {
        check_name(name)?;
        check_password(name, password)?;
        let hash = hash_password(name, password)?;
        let ctx = || format!("changing the password of {name:?}");
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::db(ctx()))?;
        let id: Option<i64> = tx
            .query_row("select id from user where name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(StoreError::db(ctx()))?;
        let Some(id) = id else {
            return Err(StoreError::UnknownUser {
                name: name.to_owned(),
            });
        };
        tx.execute(
            "update user set password_hash = ?1, password_changed_ms = ?2 where id = ?3",
            params![hash, now_ms(), id],
        )
        .map_err(StoreError::db(ctx()))?;
        let ended = tx
            .execute("delete from session where user_id = ?1", [id])
            .map_err(StoreError::db(ctx()))?;
        tx.commit().map_err(StoreError::db(ctx()))?;
        tracing::info!(user = name, sessions_ended = ended, "password changed");
        Ok(())
    }

    /// Removes a user and (by cascade) their sessions. False if unknown.
    pub fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .db()
            .execute("delete from user where name = ?1", [name])
            .map_err(StoreError::db(format!("removing user {name:?}")))?;
        if n > 0 {
            tracing::info!(user = name, "user removed");
        }
        Ok(n > 0)
    }

    pub fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let db = self.db();
        let mut stmt = db
            .prepare_cached("select id, name, role, created_ms from user order by name")
            .map_err(StoreError::db("listing users"))?;
        let users = stmt
            .query_map([], user_from_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::db("listing users"))?;
        Ok(users)
    }

    /// The user if `password` is theirs. An unknown name still costs one
    /// argon2 verification, so timing does not reveal which names exist.
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, StoreError> {
        let row = if valid_user_name(name) {
            self.db()
                .query_row(
                    "select id, name, role, created_ms, password_hash from user where name = ?1",
                    [name],
                    |r| Ok((user_from_row(r)?, r.get::<_, String>(4)?)),
                )
                .optional()
                .map_err(StoreError::db(format!("looking up user {name:?}")))?
        } else {
            None
        };
        let pw = password
            .as_bytes()
            .get(..MAX_PASSWORD_BYTES)
            .unwrap_or(password.as_bytes());
        match row {
            Some((user, hash)) => Ok(Argon2::default()
                .verify_password(pw, hash.as_str())
                .ok()
                .map(|()| user)),
            None => {
                let dummy = self.dummy_hash()?;
                let _ = Argon2::default().verify_password(pw, dummy.as_str());
                Ok(None)
            }
        }
    }

    fn dummy_hash(&self) -> Result<&String, StoreError> {
        if let Some(h) = self.inner.dummy_hash.get() {
            return Ok(h);
        }
        let random = hex::encode(random_bytes::<16>()?);
        let h = hash_password("(none)", &random)?;
        Ok(self.inner.dummy_hash.get_or_init(|| h))
    }

    /// Starts a session for `user_id` lasting `ttl_ms`.
    pub fn create_session(
        &self,
        user_id: i64,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<NewSession, StoreError> {
        let token = hex::encode(random_bytes::<32>()?);
        let csrf_token = hex::encode(random_bytes::<32>()?);
        let expires_ms = now_ms.saturating_add(ttl_ms.max(1));
        let ctx = || format!("creating a session for user {user_id}");
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::db(ctx()))?;
        let exists: Option<i64> = tx
            .query_row("select id from user where id = ?1", [user_id], |r| r.get(0))
            .optional()
            .map_err(StoreError::db(ctx()))?;
        if exists.is_none() {
            return Err(StoreError::UnknownUserId { id: user_id });
        }
        // Opportunistic cleanup keeps the table small without a timer.
        tx.execute("delete from session where expires_ms <= ?1", [now_ms])
            .map_err(StoreError::db(ctx()))?;
        tx.execute(
            "insert into session (token_sha256, user_id, csrf_token, created_ms, expires_ms) values (?1, ?2, ?3, ?4, ?5)",
            params![token_sha256(&token), user_id, csrf_token, now_ms, expires_ms],
        )
        .map_err(StoreError::db(ctx()))?;
        tx.commit().map_err(StoreError::db(ctx()))?;
        Ok(NewSession {
            token,
            csrf_token,
            expires_ms,
        })
    }

    /// The session of a cookie's token; `None` if unknown or expired.
    pub fn session(&self, token: &str, now_ms: i64) -> Result<Option<Session>, StoreError> {
        if token.len() != 64 {
            return Ok(None);
        }
        self.db()
            .query_row(
                "select u.id, u.name, u.role, u.created_ms, s.csrf_token, s.expires_ms
                 from session s join user u on u.id = s.user_id
                 where s.token_sha256 = ?1 and s.expires_ms > ?2",
                params![token_sha256(token), now_ms],
                |r| {
                    Ok(Session {
                        user: user_from_row(r)?,
                        csrf_token: r.get(4)?,
                        expires_ms: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(StoreError::db("looking up a session"))
    }

    /// Ends a session (logout). Unknown tokens are not an error.
    pub fn delete_session(&self, token: &str) -> Result<(), StoreError> {
        self.db()
            .execute(
                "delete from session where token_sha256 = ?1",
                [token_sha256(token)],
            )
            .map_err(StoreError::db("deleting a session"))?;
        Ok(())
    }

    /// Deletes expired sessions; returns how many.
    pub fn purge_expired_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
        let n = self
            .db()
            .execute("delete from session where expires_ms <= ?1", [now_ms])
            .map_err(StoreError::db("purging expired sessions"))?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestStore;

    #[test]
    fn user_names_and_passwords_are_checked() {
        let t = TestStore::new();
        for bad in ["", "a b", "../x", "é", &"a".repeat(65)] {
            assert!(
                matches!(
                    t.store.add_user(bad, "long enough pw", Role::Viewer),
                    Err(StoreError::InvalidUserName { .. })
                ),
                "{bad:?}"
            );
        }
        for weak in ["", "short", "123456789", "          "] {
            assert!(
                matches!(
                    t.store.add_user("ana", weak, Role::Viewer),
                    Err(StoreError::WeakPassword { .. })
                ),
                "{weak:?}"
            );
        }
        assert!(
            t.store.list_users().expect("list").is_empty(),
            "no default user, nothing half-added"
        );
        let u = t
            .store
            .add_user("ana.b-1_X", "correct horse", Role::Admin)
            .expect("add");
        assert_eq!(u.role, Role::Admin);
        assert!(matches!(
            t.store
                .add_user("ana.b-1_X", "another password", Role::Viewer),
            Err(StoreError::UserExists { .. })
        ));
        assert_eq!(t.store.list_users().expect("list"), vec![u]);
    }

    #[test]
    fn verify_password_right_wrong_unknown() {
        let t = TestStore::new();
        let u = t
            .store
            .add_user("ana", "correct horse", Role::Viewer)
            .expect("add");
        assert_eq!(
            t.store
                .verify_password("ana", "correct horse")
                .expect("verify"),
            Some(u)
        );
        assert_eq!(
            t.store
                .verify_password("ana", "wrong horse!")
                .expect("verify"),
            None
        );
        assert_eq!(
            t.store
                .verify_password("bob", "correct horse")
                .expect("verify"),
            None
        );
        assert_eq!(
            t.store.verify_password("../bob", "x").expect("verify"),
            None
        );
        let hash: String = t
            .store
            .db()
            .query_row("select password_hash from user", [], |r| r.get(0))
            .expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
    }

    #[test]
    fn passwd_ends_sessions_and_remove_cascades() {
        let t = TestStore::new();
        let ana = t
            .store
            .add_user("ana", "correct horse", Role::Admin)
            .expect("add");
        let bob = t
            .store
            .add_user("bob", "battery staple", Role::Viewer)
            .expect("add");
        let s1 = t
            .store
            .create_session(ana.id, 1_000, 60_000)
            .expect("session");
        let s2 = t
            .store
            .create_session(bob.id, 1_000, 60_000)
            .expect("session");
        assert!(t.store.session(&s1.token, 2_000).expect("lookup").is_some());

        t.store
            .set_password("ana", "new password!")
            .expect("passwd");
        assert!(
            t.store.session(&s1.token, 2_000).expect("lookup").is_none(),
            "passwd ends sessions"
        );
        assert!(t
            .store
            .verify_password("ana", "correct horse")
            .expect("v")
            .is_none());
        assert!(t
            .store
            .verify_password("ana", "new password!")
            .expect("v")
            .is_some());
        assert!(matches!(
            t.store.set_password("zed", "new password!"),
            Err(StoreError::UnknownUser { .. })
        ));

        assert!(t.store.session(&s2.token, 2_000).expect("lookup").is_some());
        assert!(t.store.remove_user("bob").expect("remove"));
        assert!(!t.store.remove_user("bob").expect("remove again"));
        let n: i64 = t
            .store
            .db()
            .query_row("select count(*) from session", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 0, "sessions cascade with the user");
        assert!(t.store.session(&s2.token, 2_000).expect("lookup").is_none());
        assert!(matches!(
            t.store.create_session(bob.id, 1, 1),
            Err(StoreError::UnknownUserId { .. })
        ));
    }

    #[test]
    fn sessions_expire_are_random_and_hashed_at_rest() {
        let t = TestStore::new();
        let ana = t
            .store
            .add_user("ana", "correct horse", Role::Viewer)
            .expect("add");
        let s = t
            .store
            .create_session(ana.id, 1_000, 10_000)
            .expect("session");
        assert_eq!(s.token.len(), 64);
        assert_eq!(s.csrf_token.len(), 64);
        assert_ne!(s.token, s.csrf_token);
        assert_eq!(s.expires_ms, 11_000);
        let got = t
            .store
            .session(&s.token, 10_999)
            .expect("lookup")
            .expect("live");
        assert_eq!(got.user, ana);
        assert_eq!(got.csrf_token, s.csrf_token);
        assert!(
            t.store.session(&s.token, 11_000).expect("lookup").is_none(),
            "expired"
        );
        assert!(
            t.store
                .session(&"0".repeat(64), 1_000)
                .expect("lookup")
                .is_none(),
            "unknown"
        );
        assert!(t.store.session("short", 1_000).expect("lookup").is_none());
        let other = t
            .store
            .create_session(ana.id, 1_000, 10_000)
            .expect("session");
        assert_ne!(other.token, s.token);

        // Checkpoint the WAL so the file holds everything, then look for
        // the raw token anywhere in the database files.
        t.store
            .db()
            .execute_batch("pragma wal_checkpoint(truncate)")
            .expect("checkpoint");
        let mut bytes = std::fs::read(&t.cfg.db_path).expect("db file");
        if let Ok(wal) = std::fs::read(t.cfg.db_path.with_extension("db-wal")) {
            bytes.extend(wal);
        }
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&other.token), "raw token stored");
        let hashed = Sha256::digest(other.token.as_bytes());
        assert!(
            bytes.windows(32).any(|w| w == hashed.as_slice()),
            "hash stored"
        );

        t.store.delete_session(&other.token).expect("logout");
        assert!(t
            .store
            .session(&other.token, 1_000)
            .expect("lookup")
            .is_none());
        t.store
            .delete_session("whatever")
            .expect("unknown token is fine");
        assert_eq!(t.store.purge_expired_sessions(20_000).expect("purge"), 1);
    }
}
