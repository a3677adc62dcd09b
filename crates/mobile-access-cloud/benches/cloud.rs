//! `cargo bench -p mobile-access-cloud`: the cloud's throughput on SQLite and PostgreSQL side by
//! side (PostgreSQL when `DATABASE_URL` points at one), over real HTTP on loopback.
//!
//! - keys (credentials) issued per second through `POST /v1/me/keys` (rights check, signing,
//!   device binding, audit entry) by 8 and by 64 concurrent phones, with p50 and p99 latency, the
//!   ratio to the bare credential signing rate measured in the same run, and the share of the
//!   time the key writers were busy with how many issuances each commit held (near 100 %: the
//!   requests queue on the commits); next to them, the
//!   rate of `GET /healthz` by 64 clients, the most any request gets from this machine's HTTP
//!   stack and load generator (which share the server's cores);
//! - the time to sync 100 000 members with their access groups through
//!   `PUT /v1/integration/members` (10 calls of 10 000), and to re-sync them unchanged;
//! - `GET /healthz` latency (p50/p99) on a quiet server and during a flood of 16 concurrent
//!   wrong-password logins for one member (rate limits off: this measures the password hashing
//!   being kept off the request threads, not the limits refusing the flood).
//!
//! Rate limits are off throughout: the figures are the server's capacity.
//!
//! `MOBILE_ACCESS_BENCH=keys` measures key issuance alone (for profiling it); the default
//! measures and prints everything.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use mobile_access_cloud::{Backend, KeyWriterLoad, Limits};
use mobile_access_protocol::{
    CredentialBody, CredentialId, DeviceSigner, KeyId, LockId, MemberId, OrgId, OrganizationKey, SoftwareDeviceKey,
    Timestamp, Validity,
};
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, BEFORE_DECEMBER_2023, Cloud, device};

/// Concurrent phones asking for keys, each its own member.
const PHONES: [usize; 2] = [8, 64];

/// How much to measure: `cargo bench` passes `--bench` and gets the real figures; `cargo test
/// --all-targets` runs this binary too, and then a small smoke run only checks it works.
#[derive(Clone, Copy)]
struct Scale {
    members: usize,
    batch: usize,
    issue_for: Duration,
    keys_only: bool,
}

impl Scale {
    fn from_args() -> Self {
        let keys_only = std::env::var("MOBILE_ACCESS_BENCH").is_ok_and(|only| only == "keys");
        if std::env::args().any(|a| a == "--bench") {
            Self { members: 100_000, batch: 10_000, issue_for: Duration::from_secs(3), keys_only }
        } else {
            Self { members: 2_000, batch: 1_000, issue_for: Duration::from_millis(300), keys_only }
        }
    }
}

/// Credentials signed per second by `OrganizationKey::issue` alone (encoding + Ed25519).
fn bare_signing_rate(scale: Scale) -> f64 {
    let rng = ring::rand::SystemRandom::new();
    let key = OrganizationKey::generate(OrgId([1; 8]), &rng).unwrap();
    let device = SoftwareDeviceKey::generate(&rng).unwrap();
    let body = CredentialBody {
        id: CredentialId([7; 16]),
        org: OrgId([0; 8]),
        org_key: KeyId([0; 4]),
        member: MemberId([3; 16]),
        device_key: device.public_key(),
        validity: Validity { not_before: Timestamp(1), not_after: Timestamp(86_401) },
        revocation_epoch: 0,
        locks: vec![LockId(1), LockId(2), LockId(3)],
        owner_verified: false,
    };
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < scale.issue_for {
        for _ in 0..100 {
            std::hint::black_box(key.issue(body.clone()).unwrap());
        }
        n += 100;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// What a number of concurrent clients got: keys (or answers) per second, and latency.
struct Rate {
    clients: usize,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// What the key writers did while phones asked for keys: the share of the time they were busy
/// (all of it: they set the rate) and how many issuances each commit held.
struct WriterUse {
    busy: f64,
    per_commit: f64,
}

impl WriterUse {
    fn between(before: KeyWriterLoad, after: KeyWriterLoad, elapsed: Duration) -> Self {
        let busy = (after.busy - before.busy).as_secs_f64() / (elapsed.as_secs_f64() * after.writers as f64);
        let per_commit = (after.requests - before.requests) as f64 / (after.batches - before.batches).max(1) as f64;
        Self { busy, per_commit }
    }
}

struct Figures {
    issuance: Vec<(Rate, WriterUse)>,
    /// `GET /healthz` by as many clients as the most phones.
    floor: Rate,
    sync_secs: f64,
    resync_secs: f64,
}

/// What the load generator reads of a key bundle: how many credentials it holds.
#[derive(serde::Deserialize)]
struct Issued {
    credentials: Vec<serde::de::IgnoredAny>,
}

/// One phone per token, each asking for keys for its own device key again and again for `during`.
async fn issue_keys(cloud: &Cloud, tokens: &[String], during: Duration) -> Rate {
    let url = cloud.url("/v1/me/keys");
    // Built once: the load generator shares the server's cores, so it does as little as it can.
    let phones: Vec<(String, Vec<u8>)> = tokens
        .iter()
        .map(|token| {
            let (_, public) = device();
            (token.clone(), serde_json::to_vec(&json!({"device_public_key": public})).unwrap())
        })
        .collect();
    hammer(
        phones.len(),
        during,
        move |http, i| {
            let (token, body) = &phones[i];
            http.post(&url)
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        },
        |bytes| serde_json::from_slice::<Issued>(bytes).unwrap().credentials.len(),
    )
    .await
}

/// The same number of clients asking `GET /healthz` (no database, no signing, through every
/// middleware) for `during`: what this machine's HTTP and load generator allow at most, next to
/// which the issuance figures read.
async fn http_floor(cloud: &Cloud, clients: usize, during: Duration) -> Rate {
    let url = cloud.url("/healthz");
    hammer(clients, during, move |http, _| http.get(&url), |_| 1).await
}

/// `clients` tasks, each sending its request (`request(client, its index)`) again and again
/// for `during`, every answer a 200; the things `count`ed in the answers per second, and the
/// latency percentiles.
///
/// The load generator runs on a runtime and HTTP client of its own, on threads of its own, as a
/// separate client process would: sharing the server's runtime, its tasks queued among the
/// server's and delayed the key writer's every step.
async fn hammer(
    clients: usize,
    during: Duration,
    request: impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
    count: fn(&[u8]) -> usize,
) -> Rate {
    let generator = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("load-generator")
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let http = reqwest::Client::new();
            let request = std::sync::Arc::new(request);
            let started = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|i| {
                    let (http, request) = (http.clone(), request.clone());
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        let mut counted = 0usize;
                        while started.elapsed() < during {
                            let t = Instant::now();
                            let response = request(&http, i).send().await.unwrap();
                            assert_eq!(response.status(), 200);
                            counted += count(&response.bytes().await.unwrap());
                            latencies.push(t.elapsed());
                        }
                        (counted, latencies)
                    })
                })
                .collect();
            let mut counted = 0;
            let mut latencies = Vec::new();
            for task in tasks {
                let (n, l) = task.await.unwrap();
                counted += n;
                latencies.extend(l);
            }
            (counted as f64 / started.elapsed().as_secs_f64(), latencies)
        })
    });
    let (per_sec, mut latencies) = tokio::task::spawn_blocking(move || generator.join().unwrap()).await.unwrap();
    latencies.sort();
    let at = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    Rate { clients, per_sec, p50_ms: at(50), p99_ms: at(99) }
}

async fn measure(backend: Backend, scale: Scale) -> Figures {
    // The pool a server gets by default on this machine, not the tests' small one.
    let cloud = Cloud::start_with(backend, |config| {
        config.limits = Limits::off();
        config.max_connections = mobile_access_cloud::default_max_connections();
    })
    .await;
    let org = cloud.org("Bench", AFTER_DECEMBER_2023, None).await;
    let (admin, integration) = (&org.admin_token, &org.integration_token);
    let mut doors = Vec::new();
    for i in 0..3 {
        doors.push(cloud.door_with_reader(admin, &format!("Door {i}"), "tap").await.0);
    }
    let door_refs: Vec<&str> = doors.iter().map(String::as_str).collect();
    for g in 0..5 {
        cloud.group(admin, &format!("Group {g}"), &door_refs).await;
    }

    // Issuance: as many members as the most phones; each phone asks again and again.
    let mut tokens = Vec::new();
    for i in 0..PHONES[PHONES.len() - 1] {
        tokens.push(cloud.member(integration, &format!("issuer{i}"), &["Group 0"]).await);
    }
    let mut issuance = Vec::new();
    let store = cloud.handle.store();
    for phones in PHONES {
        let (before, started) = (store.key_writer_load(), Instant::now());
        let rate = issue_keys(&cloud, &tokens[..phones], scale.issue_for).await;
        issuance.push((rate, WriterUse::between(before, store.key_writer_load(), started.elapsed())));
    }
    let floor = http_floor(&cloud, PHONES[PHONES.len() - 1], scale.issue_for).await;
    if scale.keys_only {
        cloud.finish().await;
        return Figures { issuance, floor, sync_secs: f64::NAN, resync_secs: f64::NAN };
    }

    // Sync: 100 000 members, each in one or two of the five groups.
    let members: Vec<Value> = (0..scale.members)
        .map(|i| {
            let groups: Vec<String> = if i % 2 == 0 {
                vec![format!("Group {}", i % 5)]
            } else {
                vec!["Group 0".into(), format!("Group {}", 1 + i % 4)]
            };
            json!({"external_id": format!("member-{i:06}"), "name": format!("Member {i}"),
                   "email": format!("member{i}@example.com"), "access_groups": groups})
        })
        .collect();
    let mut sync_secs = 0.0;
    let mut resync_secs = 0.0;
    for (pass, total) in [(0, &mut sync_secs), (1, &mut resync_secs)] {
        let started = Instant::now();
        for (i, chunk) in members.chunks(scale.batch).enumerate() {
            let report = cloud.put(integration, "/v1/integration/members", json!({"members": chunk})).await.ok();
            let key = if pass == 0 { "created" } else { "unchanged" };
            assert_eq!(report[key].as_u64(), Some(chunk.len() as u64));
            eprint!("\r  {backend:?} sync pass {}: {} / {}", pass + 1, (i + 1) * scale.batch, scale.members);
        }
        *total = started.elapsed().as_secs_f64();
        eprintln!(" in {:.2} s", *total);
    }
    cloud.finish().await;
    Figures { issuance, floor, sync_secs, resync_secs }
}

/// `/healthz` p50 and p99 (ms) on a quiet server, then during the login flood; guesses answered.
struct Flood {
    quiet: (f64, f64),
    flooded: (f64, f64),
    guesses_per_sec: f64,
}

async fn healthz_percentiles(cloud: &Cloud, n: usize) -> (f64, f64) {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(cloud.http.get(cloud.url("/healthz")).send().await.unwrap().status(), 200);
        samples.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    samples.sort();
    let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)].as_secs_f64() * 1e3;
    (at(50), at(99))
}

async fn login_flood(backend: Backend, scale: Scale) -> Flood {
    let cloud = Cloud::start_with(backend, |config| config.limits = Limits::off()).await;
    let org = cloud.org("Flood", BEFORE_DECEMBER_2023, None).await;
    cloud.member(&org.integration_token, "victim", &[]).await;
    let invitation = support::invitation_token(cloud.handle.store(), "victim@example.com").await;
    let accept = json!({"token": invitation, "password": "the real password"});
    cloud.call(reqwest::Method::POST, None, "/v1/invitations/accept", Some(accept)).await.ok();

    let samples = if scale.members < 100_000 { 20 } else { 200 };
    let quiet = healthz_percentiles(&cloud, samples).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let guessers: Vec<_> = (0..16)
        .map(|i| {
            let (http, url, stop) = (cloud.http.clone(), cloud.url("/v1/login"), stop.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let guess = json!({"email": "victim@example.com", "password": format!("guess {i} {n}")});
                    assert_eq!(http.post(&url).json(&guess).send().await.unwrap().status(), 401);
                    n += 1;
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let flooded = healthz_percentiles(&cloud, samples).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut guesses = 0;
    for guesser in guessers {
        guesses += guesser.await.unwrap();
    }
    let guesses_per_sec = guesses as f64 / started.elapsed().as_secs_f64();
    cloud.finish().await;
    Flood { quiet, flooded, guesses_per_sec }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let scale = Scale::from_args();
    let signing = bare_signing_rate(scale);
    let mut rows = Vec::new();
    for backend in support::backends() {
        eprintln!("measuring {backend:?}…");
        rows.push((backend, runtime.block_on(measure(backend, scale))));
    }
    let mut floods = Vec::new();
    for backend in support::backends().into_iter().filter(|_| !scale.keys_only) {
        eprintln!("login flood on {backend:?}…");
        floods.push((backend, runtime.block_on(login_flood(backend, scale))));
    }
    println!();
    println!("bare credential signing (OrganizationKey::issue, 3 locks): {signing:.0} /s");
    println!(
        "{:<10} {:>7} {:>10} {:>15} {:>9} {:>9} {:>12} {:>11}",
        "backend", "phones", "keys/s", "÷ bare signing", "p50 ms", "p99 ms", "writer busy", "per commit"
    );
    for (backend, f) in &rows {
        for (i, writer) in &f.issuance {
            println!(
                "{:<10} {:>7} {:>10.0} {:>14.1}% {:>9.2} {:>9.2} {:>11.0}% {:>11.1}",
                format!("{backend:?}"),
                i.clients,
                i.per_sec,
                100.0 * i.per_sec / signing,
                i.p50_ms,
                i.p99_ms,
                100.0 * writer.busy,
                writer.per_commit
            );
        }
    }
    for (backend, f) in &rows {
        println!(
            "{:<10} {:>7} {:>10.0} {:>14.1}% {:>9.2} {:>9.2}   <- GET /healthz requests/s: this machine's HTTP floor",
            format!("{backend:?}"),
            f.floor.clients,
            f.floor.per_sec,
            100.0 * f.floor.per_sec / signing,
            f.floor.p50_ms,
            f.floor.p99_ms
        );
    }
    if rows.len() < 2 {
        println!("!!! PostgreSQL SKIPPED: DATABASE_URL is not set to postgres://…; only SQLite was measured !!!");
    }
    println!(
        "{:<10} {:>22} {:>22}",
        "backend",
        format!("sync {}k members (s)", scale.members / 1000),
        "re-sync unchanged (s)"
    );
    for (backend, f) in &rows {
        println!("{:<10} {:>22.2} {:>22.2}", format!("{backend:?}"), f.sync_secs, f.resync_secs);
    }
    println!(
        "{:<10} {:>24} {:>36} {:>12}",
        "backend", "healthz p50/p99 ms quiet", "during 16 concurrent wrong logins", "guesses/s"
    );
    for (backend, f) in &floods {
        println!(
            "{:<10} {:>24} {:>36} {:>12.0}",
            format!("{backend:?}"),
            format!("{:.2} / {:.2}", f.quiet.0, f.quiet.1),
            format!("{:.2} / {:.2}", f.flooded.0, f.flooded.1),
            f.guesses_per_sec
        );
    }
    println!("each phone count for {:.1} s; sync in calls of {} members", scale.issue_for.as_secs_f64(), scale.batch);
    if scale.members < 100_000 {
        println!("(smoke run under cargo test: run `cargo bench -p mobile-access-cloud` for the figures)");
    }
}
