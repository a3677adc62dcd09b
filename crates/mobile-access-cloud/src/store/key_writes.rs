//! Group commit of key issuance: the writes of every `POST /v1/me/keys` request waiting at one
//! moment (device binding, issued credentials, audit entry) go to the database in one
//! transaction, written by one task (a few at once on PostgreSQL, see [`POSTGRES_WRITERS`]).
//!
//! Why: SQLite has one writer. With each request in its own transaction, concurrent issuances
//! queued on SQLite's busy handler, which sleeps up to 100 ms between tries: a p99 of 400–615 ms
//! at 8 phones, while the commits themselves took a millisecond. One writer never waits for the
//! lock, and one commit (one fsync) serves every request that arrived meanwhile. PostgreSQL
//! gains the shared commit too.
//!
//! A batch is written by a few multi-row statements (one per table). When any request of it
//! cannot be written as asked (a suspended key, a wallet pass's key, a member gone meanwhile),
//! that transaction rolls back and the batch is written again one savepoint per request: the
//! refused request rolls back to its savepoint, and the others commit. A request whose caller
//! stopped waiting before its turn is left out; once its turn came, its writes are all in the
//! transaction or none are.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sqlx::{AnyPool, Connection};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{
    Actor, Backend, RowExt, audit,
    bulk::{self, Param},
    keys::{issued_locks, record_issued},
    revocation::record_signed_at,
};
use crate::{Error, Refusal, Result, api::IssuedCredential, crypto};

/// Requests written in one transaction at most: a longer queue waits for the next commit.
const MAX_BATCH: usize = 256;

/// Writers on PostgreSQL: batches committed at once, each holding a pooled connection while it
/// writes (a quarter of the smallest default pool, so reads always find connections).
pub(super) const POSTGRES_WRITERS: usize = 2;

/// What one key issuance writes once its credentials are signed.
#[derive(Debug)]
pub(super) struct IssuanceWrite {
    /// The member's organization.
    pub org_id: String,
    /// The member.
    pub member_id: String,
    /// The phone's uncompressed P-256 key: the device binding's key.
    pub device_key: Vec<u8>,
    /// The issuance time.
    pub now: u32,
    /// What was signed.
    pub credentials: Vec<IssuedCredential>,
    /// The organization's revocation epoch they were signed at.
    pub epoch: u32,
    /// The audit entry's detail, without the binding (added here once known).
    pub detail: Value,
    /// The time the revocation list handed out with these keys is signed at, when it must be
    /// recorded first ([`super::revocation::ListState::at`]). Recorded here, by the writer:
    /// on SQLite a write of its own in each request waited on the writer's lock.
    pub list_signed_at: Option<u32>,
}

struct Pending {
    write: IssuanceWrite,
    /// The binding's id (the mobile key's credential id), or why this request failed.
    reply: oneshot::Sender<Result<String>>,
}

/// The queue of issuance writes, and the tasks draining it. Cheap to clone; the tasks end when
/// every clone is gone.
#[derive(Debug, Clone)]
pub(super) struct KeyWriter {
    queue: mpsc::UnboundedSender<Pending>,
    load: Arc<Load>,
}

/// What the writers have done so far, counted as they go.
#[derive(Debug, Default)]
struct Load {
    writers: usize,
    batches: AtomicU64,
    requests: AtomicU64,
    busy_nanos: AtomicU64,
}

/// How much the key writers have written and how long they were busy since the server started
/// (`/metrics`, `benches/cloud.rs`). Why it is measured: every issuance waits for its batch's
/// commit, and one writer (on SQLite) commits one batch at a time; when the writers are busy
/// nearly all the time, the requests queue on them, and keys a second rise only with what makes
/// a batch shorter (fewer pages written, or a core free sooner on a saturated machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyWriterLoad {
    /// Writer tasks: one on SQLite, a few on PostgreSQL.
    pub writers: usize,
    /// Batches taken from the queue, each one transaction (or none when every caller had gone).
    pub batches: u64,
    /// Issuance requests in those batches.
    pub requests: u64,
    /// Time the writers spent on their batches, summed over the writers.
    pub busy: Duration,
}

/// Counts a batch's time as busy when dropped (also when the writer task is cancelled).
struct Busy<'a> {
    load: &'a Load,
    started: Instant,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.load.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl KeyWriter {
    /// Starts `writers` writers on the current tokio runtime, each taking the requests waiting
    /// when it is free. SQLite wants one (it has one writer lock; a second would only wait on
    /// it). PostgreSQL commits several transactions at once, and one writer left every request
    /// waiting on the round trips of the whole batch before it.
    pub(super) fn start(pool: AnyPool, backend: Backend, writers: usize) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel::<Pending>();
        let waiting = Arc::new(Mutex::new(waiting));
        let writers = writers.max(1);
        let load = Arc::new(Load { writers, ..Load::default() });
        for _ in 0..writers {
            let (pool, waiting, load) = (pool.clone(), waiting.clone(), load.clone());
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&waiting).await {
                    let _busy = Busy { load: &load, started: Instant::now() };
                    load.batches.fetch_add(1, Ordering::Relaxed);
                    load.requests.fetch_add(u64::try_from(batch.len()).unwrap_or(u64::MAX), Ordering::Relaxed);
                    write_batch(&pool, backend, batch).await;
                }
            });
        }
        Self { queue, load }
    }

    /// The writers' work so far.
    pub(super) fn load(&self) -> KeyWriterLoad {
        KeyWriterLoad {
            writers: self.load.writers,
            batches: self.load.batches.load(Ordering::Relaxed),
            requests: self.load.requests.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.load.busy_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Queues `write` and waits for the commit that includes it. Dropping the future before
    /// its batch starts leaves nothing written.
    pub(super) async fn write(&self, write: IssuanceWrite) -> Result<String> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { write, reply }).map_err(|_| Error::Internal("the key writer has stopped"))?;
        answer.await.map_err(|_| Error::Internal("the key writer stopped before writing"))?
    }
}

/// The requests waiting now (at least one, waiting for it), at most [`MAX_BATCH`]; `None` once
/// every sender is gone. Sorted by member and device key, so that concurrent batches lock the
/// rows they share in one order and never deadlock.
async fn next_batch(waiting: &Mutex<mpsc::UnboundedReceiver<Pending>>) -> Option<Vec<Pending>> {
    let mut waiting = waiting.lock().await;
    let mut batch = vec![waiting.recv().await?];
    while batch.len() < MAX_BATCH {
        match waiting.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    drop(waiting);
    batch.sort_by(|a, b| (&a.write.member_id, &a.write.device_key).cmp(&(&b.write.member_id, &b.write.device_key)));
    Some(batch)
}

/// How a batch's writes went to the database (what the tests check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// A few multi-row statements for the whole batch.
    Together,
    /// One savepoint per request: a request was refused on its row, or a statement failed.
    OneByOne,
    /// Nothing: every caller had gone, no connection, or no signed time recorded.
    NotAtAll,
}

/// Records the batch's signed times, then writes the rest in one transaction and answers each
/// request: all at once when every request's row lets it ([`write_together`]), else request by
/// request ([`write_one_by_one`]).
async fn write_batch(pool: &AnyPool, backend: Backend, batch: Vec<Pending>) -> Written {
    // Callers that gave up before their turn: nothing of theirs is written.
    let batch: Vec<Pending> = batch.into_iter().filter(|p| !p.reply.is_closed()).collect();
    if batch.is_empty() {
        return Written::NotAtAll;
    }
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(%error, requests = batch.len(), "no connection for the issued keys");
            for pending in batch {
                let _ = pending.reply.send(Err(Error::Internal("the commit of the issued keys failed")));
            }
            return Written::NotAtAll;
        }
    };
    let batch = record_signed_times(&mut conn, batch).await;
    if batch.is_empty() {
        return Written::NotAtAll;
    }
    match write_together(&mut conn, backend, &batch).await {
        Ok(bindings) => {
            for (pending, binding) in batch.into_iter().zip(bindings) {
                let _ = pending.reply.send(Ok(binding));
            }
            Written::Together
        }
        Err(error) => {
            // Rolled back whole; the slow path finds which request it was and writes the rest.
            tracing::debug!(%error, requests = batch.len(), "writing the issued keys request by request");
            write_one_by_one(&mut conn, batch).await;
            Written::OneByOne
        }
    }
}

/// Rows per `RETURNING` statement (the device bindings): a few hundred parameters.
const BINDINGS_PER_STATEMENT: usize = 64;

/// The whole batch in one transaction of a few multi-row statements, whatever its size: the
/// device bindings, the issued credentials, the audit entries. Why: one statement per write and
/// a savepoint per request made a batch of 64 issuances 320 statements, each a hand-off to
/// SQLite's worker thread or a round trip to PostgreSQL; the writes then cost more than all the
/// rest of an issuance together.
///
/// Fails, rolling back everything, when any request cannot be written as asked (its binding is
/// suspended or backs a wallet pass, its member went away); the caller then writes the batch
/// request by request. Returns each request's binding id, in the batch's order.
async fn write_together(conn: &mut sqlx::AnyConnection, backend: Backend, batch: &[Pending]) -> Result<Vec<String>> {
    let mut tx = Connection::begin(conn).await?;
    // One row per phone, in member and key order (concurrent batches on PostgreSQL then lock
    // the rows they share in one order): a phone asking twice within one batch gets one
    // binding, at its latest time.
    let mut phones: BTreeMap<(&str, &[u8]), &IssuanceWrite> = BTreeMap::new();
    for write in batch.iter().map(|p| &p.write) {
        let kept = phones.entry((&write.member_id, &write.device_key)).or_insert(write);
        if write.now > kept.now {
            *kept = write;
        }
    }
    let phones: Vec<&IssuanceWrite> = phones.into_values().collect();
    let mut bindings: BTreeMap<(String, Vec<u8>), String> = BTreeMap::new();
    for chunk in phones.chunks(BINDINGS_PER_STATEMENT) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", bulk::placeholders(backend, i * 8 + 1, 8))).collect();
        // Only an active mobile key's row is updated, and so returned: a missing row is a refusal.
        let sql = format!(
            "INSERT INTO credentials (id, org_id, member_id, kind, status, device_public_key, created_at, last_issued_at) \
             VALUES {} ON CONFLICT (member_id, device_public_key) DO UPDATE SET last_issued_at = excluded.last_issued_at \
             WHERE credentials.kind = 'mobile_key' AND credentials.status = 'active' \
             RETURNING id, member_id, device_public_key",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for write in chunk {
            query = query
                .bind(crypto::random_id::<16>()?)
                .bind(&write.org_id)
                .bind(&write.member_id)
                .bind("mobile_key")
                .bind("active")
                .bind(write.device_key.clone())
                .bind(i64::from(write.now))
                .bind(i64::from(write.now));
        }
        let rows = query.fetch_all(&mut *tx).await?;
        if rows.len() != chunk.len() {
            return Err(Error::Conflict("a device binding in the batch is not an active mobile key".to_owned()));
        }
        for row in rows {
            bindings.insert((row.text("member_id")?, row.bytes("device_public_key")?), row.text("id")?);
        }
    }
    let ids: Vec<String> = batch
        .iter()
        .map(|p| {
            bindings
                .get(&(p.write.member_id.clone(), p.write.device_key.clone()))
                .cloned()
                .ok_or(Error::Internal("a request of the batch has no binding"))
        })
        .collect::<Result<_>>()?;

    let issued = batch
        .iter()
        .zip(&ids)
        .flat_map(|(p, binding)| {
            p.write.credentials.iter().map(move |c| {
                vec![
                    Param::Text(c.id.clone()),
                    Param::Text(binding.clone()),
                    Param::Int(i64::from(c.not_before)),
                    Param::Int(i64::from(c.not_after)),
                    Param::Int(i64::from(p.write.epoch)),
                    Param::Text(issued_locks(c)),
                ]
            })
        })
        .collect();
    let target = "issued_credentials (id, credential_id, not_before, not_after, revocation_epoch, locks)";
    bulk::insert_rows(&mut tx, backend, target, issued).await?;

    let at = i64::from(super::now());
    let entries = batch
        .iter()
        .zip(&ids)
        .map(|(p, binding)| {
            vec![
                Param::Text(p.write.org_id.clone()),
                Param::Int(at),
                Param::Text(Actor::Member(p.write.member_id.clone()).text()),
                Param::Text("keys.issued".to_owned()),
                Param::Text(p.write.member_id.clone()),
                Param::Text(audit_detail(binding, &p.write.detail).to_string()),
            ]
        })
        .collect();
    bulk::insert_rows(&mut tx, backend, "audit_log (org_id, at, actor, action, subject, detail)", entries).await?;
    tx.commit().await?;
    Ok(ids)
}

/// The batch one savepoint per request: a request refused on its row (a suspended key, a wallet
/// pass's key) or failing on the database rolls back to its savepoint, and the others commit.
async fn write_one_by_one(conn: &mut sqlx::AnyConnection, batch: Vec<Pending>) {
    let mut outcomes = Vec::with_capacity(batch.len());
    let committed = async {
        let mut tx = Connection::begin(&mut *conn).await?;
        for pending in &batch {
            let mut savepoint = Connection::begin(&mut *tx).await?;
            let outcome = write_one(&mut savepoint, &pending.write).await;
            if outcome.is_ok() {
                savepoint.commit().await?;
            } else {
                savepoint.rollback().await?;
            }
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    }
    .await;
    match committed {
        Ok(()) => {
            for (pending, outcome) in batch.into_iter().zip(outcomes) {
                let _ = pending.reply.send(outcome);
            }
        }
        Err(error) => {
            tracing::error!(%error, requests = batch.len(), "the batched commit of issued keys failed");
            for pending in batch {
                let _ = pending.reply.send(Err(Error::Internal("the commit of the issued keys failed")));
            }
        }
    }
}

/// Records, for each organization in `batch`, the latest time its requests sign a revocation
/// list at, each in its own statement before the keys' transaction (an organization row stays
/// unlocked while the keys are written). The requests of an organization whose record failed
/// are answered with the error and left out, nothing of theirs written; the rest are returned.
async fn record_signed_times(conn: &mut sqlx::AnyConnection, batch: Vec<Pending>) -> Vec<Pending> {
    let mut latest: Vec<(&str, u32)> = Vec::new();
    for write in batch.iter().map(|p| &p.write) {
        let Some(at) = write.list_signed_at else { continue };
        match latest.iter_mut().find(|(org, _)| *org == write.org_id) {
            Some((_, kept)) => *kept = (*kept).max(at),
            None => latest.push((&write.org_id, at)),
        }
    }
    let mut failed = Vec::new();
    for (org_id, at) in latest {
        if let Err(error) = record_signed_at(conn, org_id, at).await {
            tracing::error!(%error, org = org_id, "recording a revocation list's signed time failed");
            failed.push(org_id.to_owned());
        }
    }
    if failed.is_empty() {
        return batch;
    }
    let (refused, kept): (Vec<Pending>, Vec<Pending>) =
        batch.into_iter().partition(|p| failed.contains(&p.write.org_id));
    for pending in refused {
        let _ = pending.reply.send(Err(Error::Internal("recording the revocation list's signed time failed")));
    }
    kept
}

/// One request's writes: the device binding (created, or its `last_issued_at` moved), the
/// issued credentials under it, the audit entry. Refused when the binding is not an active
/// mobile key.
async fn write_one(conn: &mut sqlx::AnyConnection, write: &IssuanceWrite) -> Result<String> {
    let row = sqlx::query(
        "INSERT INTO credentials (id, org_id, member_id, kind, status, device_public_key, created_at, last_issued_at) \
         VALUES ($1, $2, $3, 'mobile_key', 'active', $4, $5, $5) \
         ON CONFLICT (member_id, device_public_key) DO UPDATE SET last_issued_at = excluded.last_issued_at \
         RETURNING id, status, kind",
    )
    .bind(crypto::random_id::<16>()?)
    .bind(&write.org_id)
    .bind(&write.member_id)
    .bind(write.device_key.clone())
    .bind(i64::from(write.now))
    .fetch_one(&mut *conn)
    .await?;
    if row.text("kind")? != "mobile_key" {
        // A wallet pass's key never becomes a mobile key: a pass is presented by NFC tap only.
        return Err(Error::Conflict("this device key backs a wallet pass, not a mobile key".to_owned()));
    }
    if row.text("status")? != "active" {
        return Err(Error::refused(
            Refusal::CredentialSuspended,
            "an administrator suspended the mobile key of this device",
        ));
    }
    let binding = row.text("id")?;
    record_issued(conn, &binding, &write.credentials, write.epoch).await?;
    let actor = Actor::Member(write.member_id.clone());
    let detail = audit_detail(&binding, &write.detail);
    audit::record(conn, &write.org_id, &actor, "keys.issued", &write.member_id, detail).await?;
    Ok(binding)
}

/// The `keys.issued` audit entry's detail: the binding, then what the request recorded.
fn audit_detail(binding: &str, recorded: &Value) -> Value {
    let mut detail = json!({ "mobile_key": binding });
    if let (Some(all), Value::Object(rest)) = (detail.as_object_mut(), recorded.clone()) {
        all.extend(rest);
    }
    detail
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use sqlx::Connection as _;

    use super::*;
    use crate::{
        Config, MasterKey,
        api::{MemberSync, NewOrganization, PageQuery, SyncedMember, UnlockMethod},
        hex,
        store::Store,
    };

    /// A fresh store on SQLite, and on PostgreSQL too when `DATABASE_URL` points at one (a new
    /// database each, dropped by the caller through the returned name).
    async fn stores(dir: &std::path::Path) -> Vec<(Store, Option<String>)> {
        let mut config = Config::ephemeral(dir);
        config.master_key = Some(MasterKey::generate().unwrap());
        let mut stores = vec![(Store::open(&config).await.unwrap(), None)];
        if let Ok(admin_url) = std::env::var("DATABASE_URL")
            && admin_url.starts_with("postgres")
        {
            sqlx::any::install_default_drivers();
            let name = format!("ma_unit_{}", hex::encode(&crypto::random_array::<6>().unwrap()));
            let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            config.database_url = Some(format!("{base}/{name}"));
            stores.push((Store::open(&config).await.unwrap(), Some(name)));
        }
        stores
    }

    async fn drop_database(name: Option<String>) {
        if let (Some(name), Ok(admin_url)) = (name, std::env::var("DATABASE_URL")) {
            let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
        }
    }

    /// An organization with members `names`; its id and their member ids.
    async fn org_with_members(store: &Store, names: &[&str]) -> (String, Vec<String>) {
        let new = NewOrganization {
            name: "Batch".to_owned(),
            created_at: None,
            unlock_method: Some(UnlockMethod::BrandedApp),
        };
        let org = store.create_organization(new).await.unwrap().organization.id;
        let members = names
            .iter()
            .map(|n| SyncedMember {
                external_id: (*n).to_owned(),
                name: (*n).to_owned(),
                email: format!("{n}@example.com"),
                access_groups: vec![],
                removed: false,
            })
            .collect();
        store.sync_members(&org, &Actor::Integration, &MemberSync { members }).await.unwrap();
        let users = store.users(&org, &PageQuery::default()).await.unwrap().items;
        let ids = names
            .iter()
            .map(|n| users.iter().find(|u| u.external_id.as_deref() == Some(*n)).unwrap().member_id.clone())
            .collect();
        (org, ids)
    }

    fn write(org_id: &str, member_id: &str, device: u8) -> IssuanceWrite {
        let credential = IssuedCredential {
            id: hex::encode(&crypto::random_array::<16>().unwrap()),
            credential: "00".to_owned(),
            not_before: 1,
            not_after: u32::MAX,
            locks: vec![1],
            owner_verified: false,
        };
        IssuanceWrite {
            org_id: org_id.to_owned(),
            member_id: member_id.to_owned(),
            device_key: vec![device; 65],
            now: 1_000,
            credentials: vec![credential],
            epoch: 0,
            detail: json!({}),
            list_signed_at: None,
        }
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query(sql).fetch_one(store.pool()).await.unwrap().int("n").unwrap()
    }

    #[tokio::test]
    async fn a_failing_request_leaves_the_rest_of_its_batch_written() {
        let dir = tempfile::tempdir().unwrap();
        for (store, pg) in stores(dir.path()).await {
            let (org, members) = org_with_members(&store, &["ann", "bob"]).await;
            let mut pending = Vec::new();
            let mut answers = Vec::new();
            // Between two good requests: one for a member that does not exist (a foreign key
            // the database refuses mid-batch).
            for w in [write(&org, &members[0], 1), write(&org, &"ff".repeat(16), 2), write(&org, &members[1], 3)] {
                let (reply, answer) = oneshot::channel();
                pending.push(Pending { write: w, reply });
                answers.push(answer);
            }
            assert_eq!(write_batch(&store.pool, store.backend(), pending).await, Written::OneByOne);
            let mut outcomes = Vec::new();
            for answer in answers {
                outcomes.push(answer.await.unwrap());
            }
            assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
            assert!(matches!(outcomes[1], Err(Error::Database(_))), "{outcomes:?}");
            assert_ne!(outcomes[0].as_ref().unwrap(), outcomes[2].as_ref().unwrap());
            assert_eq!(count(&store, "SELECT COUNT(*) AS n FROM credentials").await, 2);
            assert_eq!(count(&store, "SELECT COUNT(*) AS n FROM issued_credentials").await, 2);
            let audits = "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'keys.issued'";
            assert_eq!(count(&store, audits).await, 2);

            // A refusal on the row (the key is suspended) rolls back that request alone,
            // including the `last_issued_at` its upsert moved.
            sqlx::query("UPDATE credentials SET status = 'suspended' WHERE member_id = $1")
                .bind(&members[0])
                .execute(store.pool())
                .await
                .unwrap();
            let (reply, refused) = oneshot::channel();
            let (reply2, granted) = oneshot::channel();
            let mut again = write(&org, &members[0], 1);
            again.now = 2_000;
            let pending =
                vec![Pending { write: again, reply }, Pending { write: write(&org, &members[1], 4), reply: reply2 }];
            assert_eq!(write_batch(&store.pool, store.backend(), pending).await, Written::OneByOne);
            let refused = refused.await.unwrap().unwrap_err();
            assert!(matches!(refused, Error::Refused { refusal: Refusal::CredentialSuspended, .. }), "{refused:?}");
            granted.await.unwrap().unwrap();
            let moved = "SELECT COUNT(*) AS n FROM credentials WHERE last_issued_at = 2000";
            assert_eq!(count(&store, moved).await, 0);
            assert_eq!(count(&store, "SELECT COUNT(*) AS n FROM issued_credentials").await, 3);
            store.close().await;
            drop_database(pg).await;
        }
    }

    #[tokio::test]
    async fn a_request_abandoned_before_its_batch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for (store, pg) in stores(dir.path()).await {
            let (org, members) = org_with_members(&store, &["ann", "bob"]).await;
            let (gone, answer_dropped) = oneshot::channel();
            drop(answer_dropped);
            let (reply, answer) = oneshot::channel();
            let pending = vec![
                Pending { write: write(&org, &members[0], 1), reply: gone },
                Pending { write: write(&org, &members[1], 2), reply },
            ];
            assert_eq!(write_batch(&store.pool, store.backend(), pending).await, Written::Together);
            answer.await.unwrap().unwrap();
            let ann = format!("SELECT COUNT(*) AS n FROM credentials WHERE member_id = '{}'", members[0]);
            assert_eq!(count(&store, &ann).await, 0);
            assert_eq!(count(&store, "SELECT COUNT(*) AS n FROM issued_credentials").await, 1);
            store.close().await;
            drop_database(pg).await;
        }
    }

    #[tokio::test]
    async fn a_clean_batch_is_written_together_and_a_phone_asking_twice_gets_one_binding() {
        let dir = tempfile::tempdir().unwrap();
        for (store, pg) in stores(dir.path()).await {
            // More phones than one statement's rows, so the statements are split too.
            let names: Vec<String> = (0..BINDINGS_PER_STATEMENT + 6).map(|i| format!("m{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let (org, members) = org_with_members(&store, &refs).await;
            let mut pending = Vec::new();
            let mut answers = Vec::new();
            let mut push = |w: IssuanceWrite| {
                let (reply, answer) = oneshot::channel();
                pending.push(Pending { write: w, reply });
                answers.push(answer);
            };
            for member in &members {
                push(write(&org, member, 1));
            }
            // The first member's phone asks again within the same batch, a second later, and
            // signs two credentials this time.
            let mut again = write(&org, &members[0], 1);
            again.now = 1_001;
            let mut second = again.credentials[0].clone();
            second.id = hex::encode(&crypto::random_array::<16>().unwrap());
            again.credentials.push(second);
            push(again);
            assert_eq!(write_batch(&store.pool, store.backend(), pending).await, Written::Together);
            let mut bindings = Vec::new();
            for answer in answers {
                bindings.push(answer.await.unwrap().unwrap());
            }
            let phones = members.len() as i64;
            assert_eq!(bindings[0], bindings[members.len()], "one phone, one binding");
            assert_eq!(bindings.iter().collect::<std::collections::HashSet<_>>().len(), members.len());
            assert_eq!(count(&store, "SELECT COUNT(*) AS n FROM credentials").await, phones);
            let latest = "SELECT COUNT(*) AS n FROM credentials WHERE last_issued_at = 1001";
            assert_eq!(count(&store, latest).await, 1);
            assert_eq!(count(&store, "SELECT COUNT(*) AS n FROM issued_credentials").await, phones + 2);
            let audits = "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'keys.issued'";
            assert_eq!(count(&store, audits).await, phones + 1);
            // Each request's audit entry names its own binding, and its own member.
            let entry =
                sqlx::query("SELECT subject, detail FROM audit_log WHERE action = 'keys.issued' ORDER BY id LIMIT 1")
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
            let detail: Value = serde_json::from_str(&entry.text("detail").unwrap()).unwrap();
            let subject = entry.text("subject").unwrap();
            let i = members.iter().position(|m| *m == subject).unwrap();
            assert_eq!(detail["mobile_key"], json!(bindings[i]));

            // A second batch for the same phones moves their bindings, adding none.
            let (reply, answer) = oneshot::channel();
            let mut later = write(&org, &members[1], 1);
            later.now = 2_000;
            assert_eq!(
                write_batch(&store.pool, store.backend(), vec![Pending { write: later, reply }]).await,
                Written::Together
            );
            assert_eq!(answer.await.unwrap().unwrap(), bindings[1]);
            assert_eq!(count(&store, "SELECT COUNT(*) AS n FROM credentials").await, phones);
            store.close().await;
            drop_database(pg).await;
        }
    }

    /// The columns of each index on `table`, sorted, and whether each is partial (has `WHERE`).
    async fn indexes(store: &Store, table: &str) -> Vec<(Vec<String>, bool)> {
        let sql = match store.backend() {
            Backend::Sqlite => {
                "SELECT il.name AS idx, ii.name AS col, il.partial AS partial \
                 FROM pragma_index_list($1) il JOIN pragma_index_info(il.name) ii ORDER BY il.name, ii.seqno"
            }
            Backend::Postgres => {
                "SELECT i.relname::text AS idx, a.attname::text AS col, \
                   CASE WHEN x.indpred IS NULL THEN 0 ELSE 1 END AS partial \
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) ON true \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                 WHERE t.relname = $1 ORDER BY i.relname, k.n"
            }
        };
        let rows = sqlx::query(sql).bind(table).fetch_all(store.pool()).await.unwrap();
        let mut found: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
        for row in rows {
            let index = found.entry(row.text("idx").unwrap()).or_insert((Vec::new(), row.flag("partial").unwrap()));
            index.0.push(row.text("col").unwrap());
        }
        let mut found: Vec<_> = found.into_values().collect();
        found.sort();
        found
    }

    /// Each index entry an issuance adds at a random place is a page its batch's commit writes,
    /// and those commits set the rate of issuance (ARCHITECTURE.md, "Key issuance commits in
    /// groups"). A credential enters one such index (its binding's, with its id: the lookups of
    /// revocation and passes and the uniqueness share it) and the append-only expiry index; a
    /// `keys.issued` entry stays out of the uploaded events' index, which holds only entries with
    /// an event id.
    #[tokio::test]
    async fn an_issuance_enters_few_indexes() {
        let dir = tempfile::tempdir().unwrap();
        for (store, pg) in stores(dir.path()).await {
            let cols = |c: &[&str]| c.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
            assert_eq!(
                indexes(&store, "issued_credentials").await,
                vec![(cols(&["credential_id", "id"]), false), (cols(&["not_after"]), false)],
                "{:?}",
                store.backend()
            );
            let audit = indexes(&store, "audit_log").await;
            let events = audit.iter().find(|(c, _)| *c == cols(&["org_id", "event_id"])).unwrap();
            assert!(events.1, "the events' index on {:?} holds entries without an event id", store.backend());
            store.close().await;
            drop_database(pg).await;
        }
    }
}
