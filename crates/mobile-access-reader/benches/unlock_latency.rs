//! Tap-to-unlock latency on the simulated radio against the BLE floor, per radio profile and
//! exchange, and the reader's CPU time per unlock against the bare ring operations it performs.
//!
//! `cargo bench -p mobile-access-reader --bench unlock_latency`. The floors are derived in
//! docs/performance.md; the simulated times are means over many runs, each starting the scan
//! at a different phase of the reader's advertising.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use mobile_access_ble::sim::{FloorExchange, Position, RadioProfile};
use mobile_access_protocol::{
    Reason,
    phone::{Exchange, Step},
    reader::{Connection, ExchangeKind},
};
use mobile_access_reader::{DriftingClock, Feedback, Reader};
use ring::{
    aead, agreement, hkdf,
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};
use support::{NOW, TAP, World};

const RUNS: u64 = 60;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Virtual time from the start of the scan to the relay opening.
async fn timed_unlock(
    world: &World,
    phone: &mut support::Phone,
    reader: &mobile_access_reader::VirtualReader,
    expect: ExchangeKind,
) -> Duration {
    let mut feedback = reader.feedback();
    let started = tokio::time::Instant::now().into_std();
    let unlocked = phone.unlock().await.unwrap();
    assert_eq!(unlocked.exchange, expect);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let _ = world;
    loop {
        let event = feedback.try_recv().unwrap();
        if event.feedback == Feedback::RelayOpened {
            return event.at.duration_since(started);
        }
    }
}

async fn simulate(profile: RadioProfile) -> [(ExchangeKind, &'static str, f64); 3] {
    let (mut fast, mut full, mut uncached) = (0.0, 0.0, 0.0);
    for run in 0..RUNS {
        let world = World::new(profile.clone(), run);
        let reader = world.reader(1, 42, Position::default());
        let mut phone = world.phone(TAP, &[42]);
        let pause = |k: u64| Duration::from_micros(6_000_000 + (run * 7_919 + k * 104_729) % 97_000);
        tokio::time::sleep(pause(1)).await;
        uncached += ms(timed_unlock(&world, &mut phone, &reader, ExchangeKind::Full).await);
        tokio::time::sleep(pause(2)).await;
        phone.secrets.clear();
        full += ms(timed_unlock(&world, &mut phone, &reader, ExchangeKind::Full).await);
        tokio::time::sleep(pause(3)).await;
        fast += ms(timed_unlock(&world, &mut phone, &reader, ExchangeKind::Fast).await);
    }
    let n = RUNS as f64;
    [
        (ExchangeKind::Fast, "fast", fast / n),
        (ExchangeKind::Full, "full", full / n),
        (ExchangeKind::Full, "full-uncached", uncached / n),
    ]
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn time_us(iterations: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    )
}

/// Median reader CPU time per unlock (both messages of a full exchange; the one of a fast).
fn reader_cpu(world: &World) -> (f64, f64) {
    let rng = SystemRandom::new();
    let start = Instant::now();
    let mut reader = Reader::new(&world.provisioning(1, 42), DriftingClock::new(start, NOW, 0), start).unwrap();
    let phone = world.phone(TAP, &[42]);
    let mut full_samples = Vec::new();
    let mut secret = None;
    for _ in 0..200 {
        let mut connection = Connection::default();
        let advertisement = reader.advertisement(start).unwrap();
        let (exchange, hello) = Exchange::start(reader.id(), advertisement.nonce, None, &rng).unwrap();
        let t = Instant::now();
        let answer = reader.handle(&mut connection, &hello, Some(-40), start);
        let first = t.elapsed();
        let (awaiting, auth) =
            exchange.on_reader_hello(&answer.bytes, &phone.trust, &phone.credential, &phone.device).unwrap();
        let t = Instant::now();
        let answer = reader.handle(&mut connection, &auth, Some(-40), start);
        full_samples.push((first + t.elapsed()).as_secs_f64() * 1e6);
        reader.conclude(answer.pending.unwrap(), true, start);
        let mut outcome = awaiting.on_result(&answer.bytes).unwrap();
        assert_eq!(outcome.reason, Reason::Granted);
        secret = outcome.fast_secret.take();
    }
    let secret = secret.unwrap();
    let mut fast_samples = Vec::new();
    for _ in 0..2000 {
        let advertisement = reader.advertisement(start).unwrap();
        let fast = Some((&secret, &phone.credential));
        let (exchange, request) = Exchange::start(reader.id(), advertisement.nonce, fast, &rng).unwrap();
        let t = Instant::now();
        let answer = reader.handle(&mut Connection::default(), &request, Some(-40), start);
        fast_samples.push(t.elapsed().as_secs_f64() * 1e6);
        reader.conclude(answer.pending.unwrap(), true, start);
        let Ok(Step::Done(outcome)) = exchange.on_reply(&answer.bytes, &phone.trust, &phone.credential, &phone.device)
        else {
            panic!("the reader answers a known phone fast");
        };
        assert_eq!(outcome.reason, Reason::Granted);
    }
    (median(full_samples), median(fast_samples))
}

/// Medians of the bare ring operations a reader performs.
fn ring_ops() -> Vec<(&'static str, f64)> {
    let rng = SystemRandom::new();
    let message = [7u8; 300];
    let ed = Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap();
    let ed_sig = ed.sign(&message);
    let ed_public = signature::UnparsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref().to_vec());
    let p256_pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let p256 =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, p256_pkcs8.as_ref(), &rng).unwrap();
    let p256_sig = p256.sign(&rng, &message).unwrap();
    let p256_public =
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p256.public_key().as_ref().to_vec());
    let peer = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
    let peer_public = peer.compute_public_key().unwrap();
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &[9; 32]).unwrap());
    vec![
        (
            "ed25519_sign",
            time_us(2000, || {
                let _ = ed.sign(&message);
            }),
        ),
        ("ed25519_verify", time_us(2000, || ed_public.verify(&message, ed_sig.as_ref()).unwrap())),
        ("p256_verify", time_us(2000, || p256_public.verify(&message, p256_sig.as_ref()).unwrap())),
        (
            "x25519_keygen_agree",
            time_us(2000, || {
                let mine = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
                let _ = mine.compute_public_key().unwrap();
                let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer_public.as_ref());
                agreement::agree_ephemeral(mine, &peer, |k| k[0]).unwrap();
            }),
        ),
        (
            "hkdf_sha256",
            time_us(2000, || {
                let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[1; 32]).extract(&[2; 32]);
                let mut out = [0u8; 32];
                prk.expand(&[b"info"], hkdf::HKDF_SHA256).unwrap().fill(&mut out).unwrap();
            }),
        ),
        (
            "aes256gcm_seal_64b",
            time_us(2000, || {
                let mut data = vec![0u8; 64];
                key.seal_in_place_append_tag(
                    aead::Nonce::assume_unique_for_key([0; 12]),
                    aead::Aad::empty(),
                    &mut data,
                )
                .unwrap();
            }),
        ),
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    for profile in RadioProfile::all() {
        let results = if quick { None } else { Some(runtime.block_on(simulate(profile.clone()))) };
        let Some(results) = results else { continue };
        for (_, name, sim) in results {
            let exchange = match name {
                "fast" => FloorExchange::Fast,
                "full" => FloorExchange::Full,
                _ => FloorExchange::FullUncached,
            };
            let floor = ms(profile.floor(exchange));
            println!(
                "profile={} exchange={name} adv_interval_ms={} conn_interval_ms={} mtu={} sim_ms={sim:.1} floor_ms={floor:.1} ratio={:.3}",
                profile.name,
                ms(profile.advertising_interval),
                ms(profile.connection_interval),
                profile.mtu,
                sim / floor,
            );
        }
    }
    if quick {
        return;
    }
    let world = runtime.block_on(async { World::new(RadioProfile::android(), 0) });
    let (full, fast) = runtime.block_on(async { reader_cpu(&world) });
    let ops = ring_ops();
    let op = |name: &str| ops.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, us)| *us);
    let full_ops = op("x25519_keygen_agree") + op("ed25519_sign") + op("ed25519_verify") + op("p256_verify");
    println!(
        "reader_cpu exchange=full reader_us={full:.1} bare_ring_us={full_ops:.1} (x25519 keygen+agree, ed25519 sign, ed25519 verify, p256 verify)"
    );
    println!(
        "reader_cpu exchange=fast reader_us={fast:.1} bare_ring_us={:.1} (hkdf, aes-256-gcm open+seal)",
        op("hkdf_sha256") * 2.0 + op("aes256gcm_seal_64b") * 2.0
    );
    for (name, us) in ops {
        println!("ring_op name={name} median_us={us:.2}");
    }
}
