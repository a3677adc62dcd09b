//! The database, and every operation the cloud performs on it. HTTP handlers and CLI commands
//! both call these methods, so each rule lives in exactly one place.
//!
//! One query set serves SQLite and PostgreSQL through `sqlx::Any`: placeholders are `$1`-style
//! (SQLite reads `$N` as positional too), flags are integer 0/1 and times Unix seconds on both,
//! and the two dialects differ only in their migration files. Every write transaction starts
//! with a write, so SQLite takes its write lock up front and waits for it instead of failing to
//! upgrade a read lock.

mod audit;
mod bulk;
mod coalesce;
mod console;
mod credentials;
mod device_keys;
mod doors;
mod groups;
mod key_writes;
mod keys;
mod mail;
mod members;
mod organizations;
mod readers;
mod remote;

pub use remote::{ANSWER_WAIT, MAX_POLL_WAIT, ONLINE_SECS};
mod retention;
mod revocation;
mod signing_keys;
mod switch;
mod tokens;
mod wallet;

use std::{borrow::Cow, future::Future, pin::Pin, time::SystemTime};

use sqlx::{
    AnyPool, Row,
    any::{AnyPoolOptions, AnyRow},
    error::BoxDynError,
    migrate::{Migration, MigrationSource, MigrationType, Migrator},
};

pub use self::{
    audit::Actor,
    console::{AuditFilter, ConsoleAdmin, StoredSession, UserSearch},
    key_writes::KeyWriterLoad,
    mail::QueuedMail,
    readers::READER_POLL_SECS,
    retention::Pruned,
    switch::DEFAULT_SWITCH_BATCH,
    tokens::Caller,
};
use crate::{Config, Error, Result, config::SQLITE_FILE, crypto::MasterKey, passwords::Passwords};

/// Readers of each coalesced read (see `coalesce`): a read runs while the next one gathers.
const COALESCED_READERS: usize = 2;

const MASTER_KEY_CHECK: &str = "master_key_check";
const MASTER_KEY_CHECK_PLAINTEXT: &[u8] = b"mobile-access master key check";

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The embedded migrations of one dialect.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

const SQLITE_MIGRATIONS: Embedded = Embedded(&[
    (1, "schema", include_str!("../../migrations/sqlite/0001_schema.sql")),
    (2, "lifecycle", include_str!("../../migrations/sqlite/0002_lifecycle.sql")),
    (3, "wallet", include_str!("../../migrations/sqlite/0003_wallet.sql")),
    (4, "signed_time", include_str!("../../migrations/sqlite/0004_signed_time.sql")),
    (5, "login_email", include_str!("../../migrations/sqlite/0005_login_email.sql")),
    (6, "epoch_exempt", include_str!("../../migrations/sqlite/0006_epoch_exempt.sql")),
    (7, "mail_delivery", include_str!("../../migrations/sqlite/0007_mail_delivery.sql")),
    (8, "retention", include_str!("../../migrations/sqlite/0008_retention.sql")),
    (9, "console", include_str!("../../migrations/sqlite/0009_console.sql")),
    (10, "console_sessions", include_str!("../../migrations/sqlite/0010_console_sessions.sql")),
    (11, "remote_unlock", include_str!("../../migrations/sqlite/0011_remote_unlock.sql")),
    (12, "owner_verification", include_str!("../../migrations/sqlite/0012_owner_verification.sql")),
    (13, "hands_free", include_str!("../../migrations/sqlite/0013_hands_free.sql")),
    (14, "issuance_indexes", include_str!("../../migrations/sqlite/0014_issuance_indexes.sql")),
]);
const POSTGRES_MIGRATIONS: Embedded = Embedded(&[
    (1, "schema", include_str!("../../migrations/postgres/0001_schema.sql")),
    (2, "lifecycle", include_str!("../../migrations/postgres/0002_lifecycle.sql")),
    (3, "wallet", include_str!("../../migrations/postgres/0003_wallet.sql")),
    (4, "signed_time", include_str!("../../migrations/postgres/0004_signed_time.sql")),
    (5, "login_email", include_str!("../../migrations/postgres/0005_login_email.sql")),
    (6, "epoch_exempt", include_str!("../../migrations/postgres/0006_epoch_exempt.sql")),
    (7, "mail_delivery", include_str!("../../migrations/postgres/0007_mail_delivery.sql")),
    (8, "retention", include_str!("../../migrations/postgres/0008_retention.sql")),
    (9, "console", include_str!("../../migrations/postgres/0009_console.sql")),
    (10, "console_sessions", include_str!("../../migrations/postgres/0010_console_sessions.sql")),
    (11, "remote_unlock", include_str!("../../migrations/postgres/0011_remote_unlock.sql")),
    (12, "owner_verification", include_str!("../../migrations/postgres/0012_owner_verification.sql")),
    (13, "hands_free", include_str!("../../migrations/postgres/0013_hands_free.sql")),
    (14, "issuance_indexes", include_str!("../../migrations/postgres/0014_issuance_indexes.sql")),
]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(*version, Cow::Borrowed(*description), MigrationType::Simple, Cow::Borrowed(*sql), false)
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The database plus the master key that seals its secrets. Cheap to clone; holds no other
/// state the database does not decide (the key writer only batches this process's writes; the
/// signing keys are kept only as unsealed from the bytes read on each use, the signed revocation
/// lists only for the second, sequence and epoch read on each use), so any number of server
/// replicas can share one PostgreSQL database.
///
/// One `Arc` inside: every request clones the store a few times (the router's state, its
/// extractors), and one reference count is all a clone touches.
#[derive(Debug, Clone)]
pub struct Store(std::sync::Arc<StoreParts>);

/// What a [`Store`] holds.
#[derive(Debug)]
pub struct StoreParts {
    pool: AnyPool,
    master: MasterKey,
    backend: Backend,
    passwords: Passwords,
    /// Key issuance's group commit: one writer, one transaction per batch of waiting requests.
    key_writer: key_writes::KeyWriter,
    /// Authentication's token reads, coalesced (see `coalesce`).
    token_reads: coalesce::Coalesced<Vec<u8>, sqlx::any::AnyRow>,
    /// Key issuance's reads of rights and doors, coalesced (see `coalesce`), by organization
    /// and member.
    issuance_reads: coalesce::Coalesced<(String, String), keys::IssuanceRows>,
    /// The organizations' signing keys, unsealed once (see `signing_keys`).
    signing_keys: std::sync::Arc<signing_keys::SigningKeys>,
    /// The device keys found valid, checked once each (see `device_keys`).
    device_keys: std::sync::Arc<device_keys::DeviceKeys>,
    /// Remote unlock's wakeups of waiting readers and members (see `remote`).
    wakeups: std::sync::Arc<remote::Wakeups>,
    /// The revocation lists signed this second (see `revocation::SignedLists`).
    signed_lists: std::sync::Arc<revocation::SignedLists>,
}

impl std::ops::Deref for Store {
    type Target = StoreParts;

    fn deref(&self) -> &StoreParts {
        &self.0
    }
}

impl Store {
    /// Connects (creating the data directory and SQLite file if needed), applies migrations,
    /// loads or creates the master key and checks it is the one the database was sealed with.
    pub async fn open(config: &Config) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let url = match &config.database_url {
            Some(url) => url.clone(),
            None => {
                create_dir(&config.data_dir)?;
                format!("sqlite://{}?mode=rwc", config.data_dir.join(SQLITE_FILE).display())
            }
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::invalid("the database URL must start with postgres:// or sqlite://"));
        };
        let master = match &config.master_key {
            Some(key) => key.clone(),
            None => {
                create_dir(&config.data_dir)?;
                MasterKey::load_or_create(&config.data_dir)?
            }
        };
        // A pooled connection is checked before each use in case its server went away
        // (PostgreSQL restarted, a proxy dropped it). A SQLite connection is this process's own
        // handle on a file, with nothing to go away: its check was only one more hand-off to the
        // connection's thread on every acquire (no gain in keys/s was measurable without it).
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .test_before_acquire(backend == Backend::Postgres)
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; the mode persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        let migrations = match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        Migrator::new(migrations).await?.run(&pool).await?;
        let passwords = Passwords::new(config.password_concurrency)?;
        let writers = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => key_writes::POSTGRES_WRITERS,
        };
        let key_writer = key_writes::KeyWriter::start(pool.clone(), backend, writers);
        let reads = pool.clone();
        let token_reads = coalesce::Coalesced::start(COALESCED_READERS, "api tokens", move |hashes| {
            tokens::read_tokens(reads.clone(), backend, hashes)
        });
        let reads = pool.clone();
        let issuance_reads = coalesce::Coalesced::start(COALESCED_READERS, "issuance facts", move |members| {
            keys::read_issuance_facts(reads.clone(), backend, members)
        });
        let store = Self(std::sync::Arc::new(StoreParts {
            pool,
            master,
            backend,
            passwords,
            key_writer,
            token_reads,
            issuance_reads,
            signing_keys: Default::default(),
            device_keys: Default::default(),
            wakeups: Default::default(),
            signed_lists: Default::default(),
        }));
        store.check_master_key().await?;
        tracing::info!(backend = ?backend, "database ready");
        Ok(store)
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How much the key writers have written, and how long they were busy (see
    /// [`KeyWriterLoad`]).
    pub fn key_writer_load(&self) -> KeyWriterLoad {
        self.key_writer.load()
    }

    /// The connection pool, for callers that need raw access (benchmarks, test fixtures).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Ready to serve: the database answers and every migration of this build is applied
    /// (another replica may have the database on an older or newer schema).
    pub async fn readiness(&self) -> Result<()> {
        // `WHERE success` reads the flag on both (a BOOLEAN in PostgreSQL, an integer in SQLite).
        let applied: Vec<i64> = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| Error::NotReady(format!("the database does not answer: {e}")))?
            .iter()
            .map(|row| row.int("version"))
            .collect::<Result<_>>()
            .map_err(|e| Error::NotReady(format!("the migration table is unreadable: {e}")))?;
        let wanted = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.0,
            Backend::Postgres => POSTGRES_MIGRATIONS.0,
        };
        for (version, description, _) in wanted {
            if !applied.contains(version) {
                return Err(Error::NotReady(format!("migration {version} ({description}) is not applied")));
            }
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Fails with a clear error at start-up, instead of on the first key issued, when the
    /// master key differs from the one the database's secrets were sealed with.
    async fn check_master_key(&self) -> Result<()> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(MASTER_KEY_CHECK)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let sealed: Vec<u8> = row.try_get("value")?;
                match self.master.open(MASTER_KEY_CHECK, &sealed) {
                    Ok(plain) if plain == MASTER_KEY_CHECK_PLAINTEXT => Ok(()),
                    _ => Err(Error::MasterKey(
                        "this is not the master key the database was created with; replicas sharing a database \
                         must share the key (set the environment variable on every replica)"
                            .to_owned(),
                    )),
                }
            }
            None => {
                let sealed = self.master.seal(MASTER_KEY_CHECK, MASTER_KEY_CHECK_PLAINTEXT)?;
                sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                    .bind(MASTER_KEY_CHECK)
                    .bind(sealed)
                    .execute(&self.pool)
                    .await?;
                Box::pin(self.check_master_key()).await
            }
        }
    }
}

fn create_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { context: format!("creating {}", dir.display()), source })
}

/// The current time as the protocol's `u32` Unix seconds.
pub fn now() -> u32 {
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Typed column access with errors that say which column was wrong.
trait RowExt {
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn flag(&self, column: &str) -> Result<bool>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>>;
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>>;
    fn time(&self, column: &str) -> Result<u32>;
    fn u32(&self, column: &str) -> Result<u32>;
}

impl RowExt for AnyRow {
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn flag(&self, column: &str) -> Result<bool> {
        Ok(self.int(column)? != 0)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>> {
        Ok(self.try_get(column)?)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(column)?)
    }
    fn time(&self, column: &str) -> Result<u32> {
        self.u32(column)
    }
    fn u32(&self, column: &str) -> Result<u32> {
        let value = self.int(column)?;
        u32::try_from(value).map_err(|_| Error::Corrupt(format!("{column} = {value} is out of range")))
    }
}

/// A flag as stored.
fn flag(value: bool) -> i64 {
    i64::from(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use sqlx::Connection as _;

    use super::*;

    /// Migration 14 rebuilds `issued_credentials` on SQLite (its primary key changes): every
    /// credential survives with all it held, and uploaded events stay unique.
    #[tokio::test]
    async fn the_issuance_index_migration_keeps_every_issued_credential() {
        let dir = tempfile::tempdir().unwrap();
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("before.db").display());
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        // The rows below stand alone: no organization, member or binding behind them.
        sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut conn).await.unwrap();
        let before = Embedded(&SQLITE_MIGRATIONS.0[..13]);
        assert_eq!(before.0.last().unwrap().0, 13);
        Migrator::new(before).await.unwrap().run(&mut conn).await.unwrap();
        let issued = [("c1", "b1", 10, 20, 0, "1,2"), ("c2", "b1", 11, 21, 1, "3"), ("c3", "b2", 12, 22, 7, "")];
        for (id, binding, not_before, not_after, epoch, locks) in issued {
            sqlx::query(
                "INSERT INTO issued_credentials (id, credential_id, not_before, not_after, revocation_epoch, locks) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(binding)
            .bind(not_before)
            .bind(not_after)
            .bind(epoch)
            .bind(locks)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        let audit = "INSERT INTO audit_log (org_id, at, actor, action, subject, detail, event_id) \
                     VALUES ('o', 1, 'a', 'x', 's', '{}', $1) ON CONFLICT DO NOTHING";
        sqlx::query(audit).bind("r:e1").execute(&mut conn).await.unwrap();

        Migrator::new(SQLITE_MIGRATIONS).await.unwrap().run(&mut conn).await.unwrap();
        let rows = sqlx::query(
            "SELECT id, credential_id, not_before, not_after, revocation_epoch, locks FROM issued_credentials ORDER BY id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let after: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.text("id").unwrap(),
                    r.text("credential_id").unwrap(),
                    r.int("not_before").unwrap(),
                    r.int("not_after").unwrap(),
                    r.int("revocation_epoch").unwrap(),
                    r.text("locks").unwrap(),
                )
            })
            .collect();
        let expected: Vec<_> = issued
            .iter()
            .map(|(a, b, c, d, e, f)| ((*a).to_owned(), (*b).to_owned(), *c, *d, *e, (*f).to_owned()))
            .collect();
        assert_eq!(after, expected);
        let again = sqlx::query(audit).bind("r:e1").execute(&mut conn).await.unwrap();
        assert_eq!(again.rows_affected(), 0, "an uploaded event is kept once");
        let none = sqlx::query(audit).bind(None::<String>).execute(&mut conn).await.unwrap();
        let other = sqlx::query(audit).bind(None::<String>).execute(&mut conn).await.unwrap();
        assert_eq!((none.rows_affected(), other.rows_affected()), (1, 1), "entries without an event id");
    }
}
