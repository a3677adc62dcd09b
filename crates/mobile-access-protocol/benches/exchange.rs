//! What each step of the unlock exchange costs, next to the bare ring operations it performs,
//! so the protocol's own overhead (encoding, copying, state) shows as a ratio.
//!
//! `cargo bench -p mobile-access-protocol`. Steps: the phone building each request, the reader
//! verifying it (and answering), the phone verifying the answer; fast and full exchanges.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mobile_access_protocol::{
    Credential, CredentialBody, CredentialId, DeviceSigner, KeyId, LockId, MemberId, Nonce, OrgId, OrganizationKey,
    ReaderId, ReaderKey, SoftwareDeviceKey, Timestamp, Validity,
    phone::{Exchange, FastSecret},
    reader::{Connection, ReaderConfig, Responder},
};
use ring::{
    aead, agreement, hkdf,
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};

const NOW: Timestamp = Timestamp(1_800_000_000);

struct World {
    rng: SystemRandom,
    org: OrganizationKey,
    device: SoftwareDeviceKey,
    credential: Credential,
    reader: Responder,
}

/// A reader that knows `sessions` phones, the bench's phone being the least recently used, and
/// that phone's fast secret.
fn world(sessions: usize) -> (World, FastSecret) {
    let rng = SystemRandom::new();
    let org = OrganizationKey::generate(OrgId([1; 8]), &rng).unwrap();
    let key = ReaderKey::generate(&rng).unwrap();
    let certificate = org.certify_reader(ReaderId([2; 8]), LockId(10), key.public());
    let mut config = ReaderConfig::new(certificate, key, vec![org.public()]);
    config.session_capacity = sessions.max(1);
    let reader = Responder::new(config, NOW, &rng).unwrap();
    let device = SoftwareDeviceKey::generate(&rng).unwrap();
    let credential = issue(&org, &device, &rng);
    let mut world = World { rng, org, device, credential, reader };
    let secret = world.enrol(&world.credential.clone(), &SoftwareDeviceKey::from_pkcs8(world.device.pkcs8()).unwrap());
    for _ in 1..sessions {
        let other = SoftwareDeviceKey::generate(&world.rng).unwrap();
        let credential = issue(&world.org, &other, &world.rng);
        world.enrol(&credential, &other);
    }
    (world, secret)
}

fn issue(org: &OrganizationKey, device: &SoftwareDeviceKey, rng: &SystemRandom) -> Credential {
    org.issue(CredentialBody {
        id: CredentialId::random(rng).unwrap(),
        org: OrgId([0; 8]),
        org_key: KeyId([0; 4]),
        member: MemberId([3; 16]),
        device_key: device.public_key(),
        validity: Validity { not_before: Timestamp(NOW.0 - 60), not_after: NOW.plus(86_400) },
        revocation_epoch: 0,
        locks: vec![LockId(10)],
        owner_verified: false,
    })
    .unwrap()
}

impl World {
    fn enrol(&mut self, credential: &Credential, device: &SoftwareDeviceKey) -> FastSecret {
        let mut connection = Connection::default();
        let (exchange, hello) = Exchange::start(ReaderId([2; 8]), Nonce([0; 8]), None, &self.rng).unwrap();
        let reply = self.reader.handle(&mut connection, &hello, NOW, &self.rng);
        let (awaiting, auth) =
            exchange.on_reader_hello(&reply.bytes, &[self.org.public()], credential, device).unwrap();
        let reply = self.reader.handle(&mut connection, &auth, NOW, &self.rng);
        awaiting.on_result(&reply.bytes).unwrap().fast_secret.unwrap()
    }
}

/// Times `routine` over `iters` runs, each after an untimed `setup`; both get the reader.
fn timed<S, T>(
    iters: u64,
    reader: &mut Responder,
    mut setup: impl FnMut(&mut Responder) -> S,
    mut routine: impl FnMut(&mut Responder, S) -> T,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let input = setup(reader);
        let start = Instant::now();
        std::hint::black_box(routine(reader, input));
        total += start.elapsed();
    }
    total
}

/// Builds a fast request against the reader's current advertisement (untimed set-up).
fn fast_request(
    reader: &mut Responder,
    secret: &FastSecret,
    credential: &Credential,
    rng: &SystemRandom,
) -> (Exchange, Vec<u8>) {
    let advertisement = reader.advertisement(NOW, rng).unwrap();
    Exchange::start(advertisement.reader, advertisement.nonce, Some((secret, credential)), rng).unwrap()
}

fn fast(c: &mut Criterion) {
    let mut group = c.benchmark_group("fast");
    let (mut w, secret) = world(1);
    let advertisement = w.reader.advertisement(NOW, &w.rng).unwrap();
    group.bench_function("phone_builds_request", |b| {
        b.iter(|| {
            Exchange::start(advertisement.reader, advertisement.nonce, Some((&secret, &w.credential)), &w.rng).unwrap()
        })
    });
    group.bench_function("reader_verifies_and_answers", |b| {
        b.iter_custom(|iters| {
            let World { reader, rng, credential, .. } = &mut w;
            timed(
                iters,
                reader,
                |reader| fast_request(reader, &secret, credential, rng).1,
                |reader, request| reader.handle(&mut Connection::default(), &request, NOW, rng),
            )
        })
    });
    group.bench_function("phone_verifies_answer", |b| {
        b.iter_custom(|iters| {
            let World { reader, rng, credential, org, device } = &mut w;
            timed(
                iters,
                reader,
                |reader| {
                    let (exchange, request) = fast_request(reader, &secret, credential, rng);
                    (exchange, reader.handle(&mut Connection::default(), &request, NOW, rng).bytes)
                },
                |_, (exchange, answer)| exchange.on_reply(&answer, &[org.public()], credential, device).unwrap(),
            )
        })
    });
    // Worst case for trial decryption: a phone the reader does not know, with 256 sessions held.
    let (mut crowded, _) = world(256);
    let (stranger, stranger_secret) = world(1);
    group.bench_function("reader_tries_256_sessions_for_unknown_phone", |b| {
        b.iter_custom(|iters| {
            let (reader, rng) = (&mut crowded.reader, &crowded.rng);
            timed(
                iters,
                reader,
                |reader| fast_request(reader, &stranger_secret, &stranger.credential, rng).1,
                |reader, request| reader.handle(&mut Connection::default(), &request, NOW, rng),
            )
        })
    });
    group.finish();
}

fn full(c: &mut Criterion) {
    let mut group = c.benchmark_group("full");
    let (mut w, _) = world(1);
    group.bench_function("phone_builds_hello", |b| {
        b.iter(|| Exchange::start(ReaderId([2; 8]), Nonce([0; 8]), None, &w.rng).unwrap())
    });
    group.bench_function("reader_answers_hello", |b| {
        b.iter_custom(|iters| {
            let (reader, rng) = (&mut w.reader, &w.rng);
            timed(
                iters,
                reader,
                |_| Exchange::start(ReaderId([2; 8]), Nonce([0; 8]), None, rng).unwrap().1,
                |reader, hello| reader.handle(&mut Connection::default(), &hello, NOW, rng),
            )
        })
    });
    group.bench_function("phone_verifies_reader_and_builds_auth", |b| {
        b.iter_custom(|iters| {
            let World { reader, rng, org, device, credential } = &mut w;
            timed(
                iters,
                reader,
                |reader| {
                    let (exchange, hello) = Exchange::start(ReaderId([2; 8]), Nonce([0; 8]), None, rng).unwrap();
                    (exchange, reader.handle(&mut Connection::default(), &hello, NOW, rng).bytes)
                },
                |_, (exchange, reader_hello)| {
                    exchange.on_reader_hello(&reader_hello, &[org.public()], credential, device).unwrap()
                },
            )
        })
    });
    group.bench_function("reader_verifies_auth_and_answers", |b| {
        b.iter_custom(|iters| {
            let World { reader, rng, org, device, credential } = &mut w;
            timed(
                iters,
                reader,
                |reader| {
                    let mut connection = Connection::default();
                    let (exchange, hello) = Exchange::start(ReaderId([2; 8]), Nonce([0; 8]), None, rng).unwrap();
                    let reply = reader.handle(&mut connection, &hello, NOW, rng);
                    let (_, auth) =
                        exchange.on_reader_hello(&reply.bytes, &[org.public()], credential, device).unwrap();
                    (connection, auth)
                },
                |reader, (mut connection, auth)| reader.handle(&mut connection, &auth, NOW, rng),
            )
        })
    });
    group.bench_function("phone_verifies_answer", |b| {
        b.iter_custom(|iters| {
            let World { reader, rng, org, device, credential } = &mut w;
            timed(
                iters,
                reader,
                |reader| {
                    let mut connection = Connection::default();
                    let (exchange, hello) = Exchange::start(ReaderId([2; 8]), Nonce([0; 8]), None, rng).unwrap();
                    let reply = reader.handle(&mut connection, &hello, NOW, rng);
                    let (awaiting, auth) =
                        exchange.on_reader_hello(&reply.bytes, &[org.public()], credential, device).unwrap();
                    (awaiting, reader.handle(&mut connection, &auth, NOW, rng).bytes)
                },
                |_, (awaiting, answer)| awaiting.on_result(&answer).unwrap(),
            )
        })
    });
    group.finish();
}

/// The ring operations the steps are made of, alone.
fn ring_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring");
    let rng = SystemRandom::new();
    let message = [7u8; 256];
    let ed = Ed25519KeyPair::from_seed_unchecked(&[1; 32]).unwrap();
    let ed_sig = ed.sign(&message);
    let ed_public = signature::UnparsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref().to_vec());
    group.bench_function("ed25519_sign", |b| b.iter(|| ed.sign(&message)));
    group.bench_function("ed25519_verify", |b| b.iter(|| ed_public.verify(&message, ed_sig.as_ref()).unwrap()));
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let ec_sig = ec.sign(&rng, &message).unwrap();
    let ec_public =
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, ec.public_key().as_ref().to_vec());
    group.bench_function("ecdsa_p256_sign", |b| b.iter(|| ec.sign(&rng, &message).unwrap()));
    group.bench_function("ecdsa_p256_verify", |b| b.iter(|| ec_public.verify(&message, ec_sig.as_ref()).unwrap()));
    let peer = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
    let peer_public = peer.compute_public_key().unwrap().as_ref().to_vec();
    group.bench_function("x25519_keygen", |b| {
        b.iter(|| {
            let key = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
            key.compute_public_key().unwrap()
        })
    });
    group.bench_function("x25519_keygen_and_agree", |b| {
        b.iter(|| {
            let key = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
            let _ = key.compute_public_key().unwrap();
            let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, &peer_public);
            agreement::agree_ephemeral(key, &peer, |shared| shared.len()).unwrap()
        })
    });
    // A fast exchange's key derivation: one extract, two 32-byte expands.
    group.bench_function("hkdf_sha256_extract_2x_expand32", |b| {
        b.iter(|| {
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[1; 53]).extract(&[2; 32]);
            let mut out = [[0u8; 32]; 2];
            for (label, out) in [&b"request"[..], b"response"].iter().zip(&mut out) {
                prk.expand(&[label], &aead::AES_256_GCM).unwrap().fill(out).unwrap();
            }
            out
        })
    });
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &[3; 32]).unwrap());
    for len in [1usize, 331] {
        group.bench_function(BenchmarkId::new("aes256gcm_seal", len), |b| {
            b.iter(|| {
                let mut buffer = vec![0u8; len];
                key.seal_in_place_append_tag(
                    aead::Nonce::assume_unique_for_key([0; 12]),
                    aead::Aad::empty(),
                    &mut buffer,
                )
                .unwrap();
                buffer
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = fast, full, ring_ops
}
criterion_main!(benches);
