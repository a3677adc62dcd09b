//! Each security and performance property of the exchange that docs/protocol.md promises,
//! shown by what the phone and the reader conclude.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{collections::HashSet, time::Duration};

use mobile_access_protocol::{
    Credential, Error, MessageType, OrgId, OrganizationKey, ReaderTime, Reason, SoftwareDeviceKey, Timestamp, Validity,
    framing::packet_count,
    phone::Exchange,
    reader::{Connection, ExchangeKind, NONCE_GRACE, NONCE_LIFETIME},
};
use support::*;

#[test]
fn a_reader_provisioned_before_the_key_was_issued_grants_with_no_network() {
    let org = org_key([1; 8]);
    // The reader exists first and is never told about the credential.
    let mut door = reader(&org, 1, 10);
    let phone = phone(&org, 7, &[10, 11]);
    let ends = full(&phone, &phone.device, &mut door, NOW);
    let (reason, secret) = ends.phone.unwrap();
    assert_eq!(reason, Reason::Granted);
    let decision = ends.reader.unwrap();
    assert_eq!(decision.reason, Reason::Granted);
    assert_eq!(decision.member, Some(phone.credential.body().member));
    // And the next tap needs only what both sides kept.
    let fast_ends = fast(&secret.unwrap(), &phone.credential, &mut door, NOW.plus(60));
    assert_eq!(fast_ends.phone.unwrap(), Reason::Granted);
    assert_eq!(fast_ends.reader.unwrap().kind, ExchangeKind::Fast);
}

#[test]
fn round_trips_and_att_packets_at_mtu_185() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let phone = phone(&org, 7, &[10]);
    let ends = full(&phone, &phone.device, &mut door, NOW);
    let secret = ends.phone.as_ref().unwrap().1.clone().unwrap();
    // Full: two writes, two notifications, each at most 2 packets.
    for direction in [Direction::ToReader, Direction::ToPhone] {
        let messages = ends.air.from(direction);
        assert_eq!(messages.len(), 2, "{direction:?}");
        for message in messages {
            assert!(packet_count(message.len(), 185).unwrap() <= 2, "{} bytes", message.len());
        }
    }
    // Fast: one write, one notification, one packet each (the hello is the same for both).
    let ends = fast(&secret, &phone.credential, &mut door, NOW);
    assert_eq!(ends.phone.unwrap(), Reason::Granted);
    for direction in [Direction::ToReader, Direction::ToPhone] {
        let messages = ends.air.from(direction);
        assert_eq!(messages.len(), 1);
        assert_eq!(packet_count(messages[0].len(), 185).unwrap(), 1);
    }
    // The same holds for every message type, whatever the credential's size.
    for kind in MessageType::ALL {
        let limit = if matches!(
            kind,
            MessageType::Hello | MessageType::FastResult | MessageType::FullResult | MessageType::Rejected
        ) {
            1
        } else {
            2
        };
        assert!(packet_count(kind.encoded_len(), 185).unwrap() <= limit, "{kind:?}");
    }
}

#[test]
fn a_recorded_fast_request_replayed_to_the_same_reader_is_refused() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let phone = phone(&org, 7, &[10]);
    let secret = enrol(&phone, &mut door, NOW);
    let recorded = fast(&secret, &phone.credential, &mut door, NOW);
    assert_eq!(recorded.phone.unwrap(), Reason::Granted);
    let request = recorded.air.from(Direction::ToReader)[0].to_vec();
    let rng = rng();
    let at = |ms: u64| ReaderTime {
        wall: NOW,
        monotonic: Duration::from_secs(u64::from(NOW.0)) + Duration::from_millis(ms),
    };
    // Right away (its nonce is still accepted as the previous one): not taken as a fast request
    // again; the reader starts a full exchange, which only the phone's device key can finish.
    let replay = door.handle(&mut Connection::default(), &request, at(100), &rng);
    assert!(went_full(&replay), "a replay is never answered fast");
    // After another unlock rotated the nonce twice over: stale, likewise.
    assert_eq!(fast(&secret, &phone.credential, &mut door, NOW).phone.unwrap(), Reason::Granted);
    let replay = door.handle(&mut Connection::default(), &request, at(200), &rng);
    assert!(went_full(&replay));
    // After the nonce lifetime with no traffic at all: stale as well.
    let mut quiet = reader(&org, 2, 10);
    let secret = enrol(&phone, &mut quiet, NOW);
    let recorded = fast(&secret, &phone.credential, &mut quiet, NOW);
    let request = recorded.air.from(Direction::ToReader)[0].to_vec();
    quiet.advertisement(NOW.plus(31), &rng).unwrap();
    quiet.advertisement(NOW.plus(62), &rng).unwrap();
    let replay = quiet.handle(&mut Connection::default(), &request, NOW.plus(62), &rng);
    assert!(went_full(&replay));
}

/// The harvest attack: a keyless fake reader copies the genuine reader's id and current nonce into
/// its own advertisement, collects the phone's fast request and delivers it later. It opens the
/// door only within the nonce's lifetime and grace (one second in all, monotonic time, whatever
/// the reader's wall clock does): a live relay, not a stored request.
#[test]
fn a_fast_request_captured_by_a_fake_reader_is_useless_one_second_after_its_nonce_appeared() {
    let org = org_key([1; 8]);
    let phone = phone(&org, 7, &[10]);
    let rng = rng();
    let base = Duration::from_secs(u64::from(NOW.0) + 10);
    let at = |ms: u64, wall: Timestamp| ReaderTime { wall, monotonic: base + Duration::from_millis(ms) };
    assert!(NONCE_LIFETIME + NONCE_GRACE <= Duration::from_secs(1), "the stated capture window");
    // `None`: the reader no longer takes it as a fast request (it starts a full exchange).
    for (delay_ms, wall, expected) in [
        (300, NOW, Some(Reason::Granted)),
        (999, NOW, Some(Reason::Granted)),
        (1_000, NOW, None),
        (59_000, NOW, None),
        // The wall clock set back an hour does not stop the nonce from rotating.
        (1_000, Timestamp(NOW.0 - 3_600), None),
    ] {
        let mut door = reader(&org, 1, 10);
        let secret = enrol(&phone, &mut door, NOW);
        // The genuine reader advertises; its nonce rotates every 500 ms of monotonic time.
        let first = door.advertisement(at(0, NOW), &rng).unwrap();
        let advertised = door.advertisement(at(500, NOW), &rng).unwrap();
        assert_ne!(first.nonce, advertised.nonce, "rotates on the monotonic clock");
        let (_, captured) =
            Exchange::start(advertised.reader, advertised.nonce, Some((&secret, &phone.credential)), &rng).unwrap();
        // The genuine reader keeps advertising in the meantime, as it does every 20 ms.
        let mut t = 500;
        while t < 500 + delay_ms {
            door.advertisement(at(t, wall), &rng).unwrap();
            t += 20;
        }
        let reply = door.handle(&mut Connection::default(), &captured, at(500 + delay_ms, wall), &rng);
        assert_eq!(
            reply.decision.as_ref().map(|d| d.reason),
            expected,
            "delivered {delay_ms} ms after its nonce appeared"
        );
        if expected.is_none() {
            assert!(went_full(&reply));
        }
    }
}

#[test]
fn a_recorded_fast_request_replayed_to_another_reader_is_refused() {
    let org = org_key([1; 8]);
    let mut first = reader(&org, 1, 10);
    let mut second = reader(&org, 2, 10);
    let phone = phone(&org, 7, &[10]);
    let secret = enrol(&phone, &mut first, NOW);
    enrol(&phone, &mut second, NOW); // the phone is known to both
    let recorded = fast(&secret, &phone.credential, &mut first, NOW);
    let request = recorded.air.from(Direction::ToReader)[0].to_vec();
    let replay = second.handle(&mut Connection::default(), &request, NOW, &rng());
    assert!(went_full(&replay), "another reader cannot open it: it starts a full exchange");
}

#[test]
fn a_recorded_full_exchange_replayed_is_refused() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let phone = phone(&org, 7, &[10]);
    let recorded = full(&phone, &phone.device, &mut door, NOW);
    assert_eq!(recorded.reader_reason(), Some(Reason::Granted));
    let sent = recorded.air.from(Direction::ToReader);
    for target in [&mut door, &mut reader(&org, 2, 10)] {
        let mut connection = Connection::default();
        let rng = rng();
        let hello = target.handle(&mut connection, sent[0], NOW, &rng);
        assert!(hello.decision.is_none(), "the reader answers the hello with a fresh key");
        let auth = target.handle(&mut connection, sent[1], NOW, &rng);
        assert_eq!(auth.decision.unwrap().reason, Reason::Malformed);
    }
}

#[test]
fn a_copied_credential_without_the_device_key_is_refused() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let victim = phone(&org, 7, &[10]);
    let thief = SoftwareDeviceKey::generate(&rng()).unwrap();
    let ends = full(&victim, &thief, &mut door, NOW);
    assert_eq!(ends.reader_reason(), Some(Reason::DeviceProofFailed));
    let (reason, secret) = ends.phone.unwrap();
    assert_eq!(reason, Reason::DeviceProofFailed);
    assert!(secret.is_none(), "no fast secret for a refused phone");
    assert_eq!(door.session_count(), 0);
}

#[test]
fn scope_time_revocation_and_signer_each_refused_with_a_distinct_reason() {
    let org = org_key([1; 8]);
    let device = SoftwareDeviceKey::generate(&rng()).unwrap();
    let with = |org: &OrganizationKey, locks: &[u32], validity: Validity, epoch: u32| Phone {
        credential: org.issue(body(&device, 7, locks, validity, epoch)).unwrap(),
        device: SoftwareDeviceKey::from_pkcs8(device.pkcs8()).unwrap(),
        trust: vec![org.public()],
    };
    let later = Validity { not_before: NOW.plus(DAY), not_after: NOW.plus(2 * DAY) };
    let past = Validity { not_before: Timestamp(NOW.0 - 2 * DAY), not_after: NOW };
    // Same organization id, but a key the reader was never given (as after a compromised-key rotation).
    let rogue = OrganizationKey::generate(OrgId([1; 8]), &rng()).unwrap();
    let mut rogue_phone = with(&rogue, &[10], week(), 1);
    rogue_phone.trust = vec![org.public()];
    let forged = {
        let genuine = with(&org, &[10], week(), 1);
        let mut bytes = genuine.credential.encoded().to_vec();
        *bytes.last_mut().unwrap() ^= 1;
        Phone { credential: Credential::decode(&bytes).unwrap(), ..genuine }
    };
    let cases = [
        (with(&org, &[11, 12], week(), 1), Reason::WrongLock),
        (with(&org, &[10], later, 1), Reason::NotYetValid),
        (with(&org, &[10], past, 1), Reason::Expired),
        (with(&org, &[10], week(), 0), Reason::Revoked),
        (rogue_phone, Reason::WrongOrganizationKey),
        (forged, Reason::BadCredentialSignature),
    ];
    let mut seen = HashSet::new();
    for (phone, expected) in cases {
        let mut door = reader(&org, 1, 10);
        door.set_min_epoch(1);
        let ends = full(&phone, &phone.device, &mut door, NOW);
        assert_eq!(ends.reader_reason(), Some(expected));
        // The phone gets the reason authenticated, so it can show it.
        assert_eq!(ends.phone.unwrap().0, expected);
        assert!(seen.insert(expected as u8), "reason codes must be distinct");
    }
    // The control: the same reader grants a credential that is in scope, in time and current.
    let mut door = reader(&org, 1, 10);
    door.set_min_epoch(1);
    let good = with(&org, &[10], week(), 1);
    assert_eq!(full(&good, &good.device, &mut door, NOW).reader_reason(), Some(Reason::Granted));
}

#[test]
fn a_fake_reader_learns_nothing_and_cannot_fake_success() {
    let org = org_key([1; 8]);
    let phone = phone(&org, 7, &[10]);
    // A reader certified by another organization, by a rogue key of ours, or advertising as a
    // reader it holds a (copied) certificate for but no key.
    let other_org = org_key([2; 8]);
    let rogue_key = OrganizationKey::generate(OrgId([1; 8]), &rng()).unwrap();
    let genuine = reader(&org, 1, 10);
    let impostors = [reader(&other_org, 1, 10), reader(&rogue_key, 1, 10), {
        let key = mobile_access_protocol::ReaderKey::generate(&rng()).unwrap();
        let config = mobile_access_protocol::reader::ReaderConfig::new(
            genuine.config().certificate.clone(),
            key,
            vec![org.public()],
        );
        mobile_access_protocol::reader::Responder::new(config, NOW, &rng()).unwrap()
    }];
    for mut impostor in impostors {
        let ends = full(&phone, &phone.device, &mut impostor, NOW);
        assert!(matches!(ends.phone, Err(Error::ReaderNotGenuine(_))), "{:?}", ends.phone);
        assert_eq!(ends.air.from(Direction::ToReader).len(), 1, "the phone sent nothing after its hello");
    }
    // A genuine certificate of another reader of the organization than the one advertised.
    let mut door = reader(&org, 2, 10);
    let (exchange, hello) =
        Exchange::start(mobile_access_protocol::ReaderId([1; 8]), mobile_access_protocol::Nonce([0; 8]), None, &rng())
            .unwrap();
    let reply = door.handle(&mut Connection::default(), &hello, NOW, &rng());
    let refused = exchange.on_reader_hello(&reply.bytes, &phone.trust, &phone.credential, &phone.device);
    assert!(matches!(refused, Err(Error::ReaderNotGenuine(_))));

    // An attacker who recorded a genuine "granted" answer replays it to fake success.
    let mut door = reader(&org, 1, 10);
    let secret = enrol(&phone, &mut door, NOW);
    let granted = fast(&secret, &phone.credential, &mut door, NOW);
    let old_answer = granted.air.from(Direction::ToPhone)[0].to_vec();
    let faked = fast_tampered(&secret, &phone.credential, &mut door, NOW, &mut |index, bytes| {
        if index == 1 {
            bytes.clone_from(&old_answer);
        }
    });
    assert_eq!(faked.phone.unwrap_err(), Error::AnswerNotAuthentic);
    let full_answer = full(&phone, &phone.device, &mut door, NOW).air.from(Direction::ToPhone)[1].to_vec();
    let faked = full_tampered(&phone, &phone.device, &mut door, NOW, &mut |index, bytes| {
        if index == 3 {
            bytes.clone_from(&full_answer);
        }
    });
    assert_eq!(faked.phone.unwrap_err(), Error::AnswerNotAuthentic);
    // A clear refusal is never proof, and a clear "granted" does not even decode.
    let clear_grant = [1u8, MessageType::Rejected as u8, Reason::Granted as u8];
    assert!(mobile_access_protocol::Message::decode(&clear_grant).is_err());
}

/// All 8-byte windows of `bytes`.
fn windows(bytes: &[u8]) -> HashSet<&[u8]> {
    bytes.windows(8).collect()
}

#[test]
fn nothing_on_the_air_identifies_the_member_or_links_two_unlocks() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let alice = phone(&org, 7, &[10]);
    // Bob is a member of the same organization with keys to the same door, and a bigger key.
    let bob = phone(&org, 8, &[3, 4, 5, 6, 10, 11, 12, 13, 14, 15]);
    let bob_secret = enrol(&bob, &mut door, NOW);
    let first_full = full(&alice, &alice.device, &mut door, NOW);
    let second_full = full(&alice, &alice.device, &mut door, NOW);
    // Each full exchange replaces the phone's session at this reader.
    let secret = second_full.phone.unwrap().1.unwrap();
    let first_fast = fast(&secret, &alice.credential, &mut door, NOW);
    let second_fast = fast(&secret, &alice.credential, &mut door, NOW);
    assert_eq!(first_fast.phone, Ok(Reason::Granted));
    assert_eq!(second_fast.phone, Ok(Reason::Granted));
    let unlocks = [first_full.air, second_full.air, first_fast.air, second_fast.air];
    let identifying = [
        alice.credential.body().member.0.to_vec(),
        alice.credential.body().id.0.to_vec(),
        alice.credential.body().device_key.0.to_vec(),
        // The organization's signature over it, unique to this credential.
        alice.credential.encoded()[alice.credential.encoded().len() - 64..].to_vec(),
    ];
    for air in &unlocks {
        for (_, message) in &air.messages {
            for secret_bytes in &identifying {
                assert!(windows(message).is_disjoint(&windows(secret_bytes)), "member-identifying bytes on the air");
            }
        }
    }
    // What the phone sends shares no 8 bytes between two unlocks (full-full, fast-fast).
    for pair in [(&unlocks[0], &unlocks[1]), (&unlocks[2], &unlocks[3])] {
        for a in pair.0.from(Direction::ToReader) {
            for b in pair.1.from(Direction::ToReader) {
                assert!(
                    windows(a).is_disjoint(&windows(b)),
                    "two unlocks share phone bytes: {:?}",
                    windows(a).intersection(&windows(b)).collect::<Vec<_>>()
                );
            }
        }
    }
    // Lengths do not tell members apart either.
    let bob_fast = fast(&bob_secret, &bob.credential, &mut door, NOW);
    assert_eq!(bob_fast.phone, Ok(Reason::Granted));
    let bob_fast = bob_fast.air;
    let bob_full = full(&bob, &bob.device, &mut door, NOW).air;
    let lengths = |air: &Air| air.messages.iter().map(|(_, m)| m.len()).collect::<Vec<_>>();
    assert_eq!(lengths(&unlocks[0]), lengths(&bob_full));
    assert_eq!(lengths(&unlocks[2]), lengths(&bob_fast));
    // Nor does the first message tell whether the phone met this reader before: a hello with a
    // fast request and one without have the same type and length, and (at a fake reader that
    // copied the genuine one's id and nonce) nothing to tell them apart but a key it lacks.
    let first = |air: &Air| air.from(Direction::ToReader)[0].to_vec();
    for known in [&unlocks[2], &unlocks[3], &bob_fast] {
        for unknown in [&unlocks[0], &unlocks[1], &bob_full] {
            assert_eq!(first(known).len(), first(unknown).len());
            assert_eq!(first(known)[..2], first(unknown)[..2], "one message type");
        }
    }
}

#[test]
fn a_fast_exchange_never_extends_what_the_full_one_proved() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let phone = phone(&org, 7, &[10]);
    let secret = enrol(&phone, &mut door, NOW);
    let expiry = phone.credential.body().validity.not_after;
    // Expiry still applies on fast taps.
    assert_eq!(fast(&secret, &phone.credential, &mut door, expiry).phone.unwrap(), Reason::Expired);
    // So does revocation.
    door.set_min_epoch(1);
    assert_eq!(fast(&secret, &phone.credential, &mut door, NOW).phone.unwrap(), Reason::Revoked);
    // A renewed credential cannot ride on the old secret: it must go through a full exchange.
    let renewed = org.issue(body(&phone.device, 7, &[10], week(), 1)).unwrap();
    let ends = fast(&secret, &renewed, &mut door, NOW);
    assert_eq!(ends.phone.unwrap_err(), Error::FastSecretMismatch);
    assert!(ends.air.messages.is_empty(), "nothing was sent");
    let renewed_phone = Phone { credential: renewed, ..phone };
    let new_secret = enrol(&renewed_phone, &mut door, NOW);
    assert_eq!(fast(&new_secret, &renewed_phone.credential, &mut door, NOW).phone.unwrap(), Reason::Granted);
}

/// Every way of damaging one message: each truncation, a one-byte extension, each bit flip.
fn damaged(original: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..original.len()).map(|len| original[..len].to_vec()).collect();
    out.push([original, &[0]].concat());
    for bit in 0..original.len() * 8 {
        let mut flipped = original.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        out.push(flipped);
    }
    out
}

#[test]
fn every_truncation_extension_and_bit_flip_of_every_message_is_refused() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let phone = phone(&org, 7, &[10]);
    let secret = enrol(&phone, &mut door, NOW);
    let template = full(&phone, &phone.device, &mut door, NOW).air;
    // Full exchange: messages 0 (Hello), 1 (ReaderHello), 2 (FullAuth), 3 (FullResult).
    for (index, (direction, original)) in template.messages.iter().enumerate() {
        for bad in damaged(original) {
            let ends = full_tampered(&phone, &phone.device, &mut door, NOW, &mut |i, bytes| {
                if i == index {
                    bytes.clone_from(&bad);
                }
            });
            match direction {
                // The phone never concludes anything from a damaged exchange...
                Direction::ToPhone => assert!(ends.phone.is_err(), "message {index} damaged: {:?}", ends.phone),
                // ...and the reader never opens on a damaged request.
                Direction::ToReader => {
                    assert_ne!(ends.reader_reason(), Some(Reason::Granted), "message {index}");
                    assert!(ends.phone.is_err());
                }
            }
        }
    }
    let template = fast(&secret, &phone.credential, &mut door, NOW).air;
    for (index, (direction, original)) in template.messages.iter().enumerate() {
        for bad in damaged(original) {
            let ends = fast_tampered(&secret, &phone.credential, &mut door, NOW, &mut |i, bytes| {
                if i == index {
                    bytes.clone_from(&bad);
                }
            });
            if *direction == Direction::ToReader {
                assert_ne!(ends.reader_reason(), Some(Reason::Granted));
            }
            assert!(ends.phone.is_err(), "fast message {index} damaged: {:?}", ends.phone);
        }
    }
}

mod random_exchanges {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// A reader that announced its nonces (to the cloud, the proof of proximity a remote
        /// unlock checks) advertises exactly those, in order, however time passes and exchanges
        /// rotate them; once they run out it draws fresh ones, none of them announced; and a fast
        /// exchange under an announced nonce grants as under any other.
        #[test]
        fn a_reader_advertises_the_nonces_it_announced_in_order(
            count in 1usize..12,
            steps in proptest::collection::vec((0u64..1_500, any::<bool>()), 1..24),
        ) {
            let org = org_key([3; 8]);
            let phone = phone(&org, 5, &[10]);
            let rng = rng();
            let mut door = reader(&org, 1, 10);
            let mut now = Timestamp(NOW.0);
            let secret = enrol(&phone, &mut door, now);
            let announced = door.announce_nonces(count, &rng).unwrap();
            let current = door.advertisement(now, &rng).unwrap().nonce;
            let position = announced.iter().position(|n| *n == current).unwrap();
            prop_assert_eq!(announced.len() - position - 1, count, "current then `count` upcoming");
            let mut seen = vec![current];
            for (advance_ms, exchange) in steps {
                now = Timestamp(now.0 + u32::try_from(advance_ms / 1000).unwrap());
                if exchange {
                    let ends = fast(&secret, &phone.credential, &mut door, now);
                    prop_assert_eq!(ends.reader.map(|d| d.reason), Some(Reason::Granted));
                }
                let nonce = door.advertisement(now, &rng).unwrap().nonce;
                if seen.last() != Some(&nonce) {
                    seen.push(nonce);
                }
            }
            // Rotations between two looks are not seen: what is seen must be a subsequence of
            // the announced order, then only fresh nonces.
            let mut at = position;
            let mut ran_out = false;
            for nonce in &seen[1..] {
                match announced.iter().position(|n| n == nonce) {
                    Some(i) => {
                        prop_assert!(!ran_out && i > at, "advertised in announced order");
                        at = i;
                    }
                    None => ran_out = true,
                }
            }
            prop_assert!(!ran_out || door.upcoming_nonces() == 0, "fresh nonces only once none is left");
            prop_assert_eq!(door.upcoming_nonces() == 0, at == announced.len() - 1 || ran_out);
        }

        /// Any valid credential at a reader of one of its locks, at any moment of its validity,
        /// unlocks through a full and then a fast exchange.
        #[test]
        fn the_exchange_succeeds_for_random_valid_inputs(
            org_id in any::<[u8; 8]>(),
            locks in proptest::collection::btree_set(any::<u32>(), 1..=mobile_access_protocol::MAX_LOCKS),
            pick in any::<proptest::sample::Index>(),
            not_before in 0u32..u32::MAX / 2,
            span in 1u32..10 * DAY,
            at in any::<proptest::sample::Index>(),
            epoch in 0u32..1000,
            min_epoch in any::<proptest::sample::Index>(),
            reader_id in any::<u8>(),
        ) {
            let org = org_key(org_id);
            let locks: Vec<u32> = locks.into_iter().collect();
            let lock = locks[pick.index(locks.len())];
            let mut door = reader(&org, reader_id, lock);
            door.set_min_epoch(min_epoch.index(epoch as usize + 1) as u32);
            let device = SoftwareDeviceKey::generate(&rng()).unwrap();
            let validity = Validity { not_before: Timestamp(not_before), not_after: Timestamp(not_before + span) };
            let credential = org.issue(body(&device, 1, &locks, validity, epoch)).unwrap();
            let phone = Phone { device, credential, trust: vec![org.public()] };
            let now = Timestamp(not_before + at.index(span as usize) as u32);
            let secret = enrol(&phone, &mut door, now);
            prop_assert_eq!(fast(&secret, &phone.credential, &mut door, now).phone, Ok(Reason::Granted));
        }
    }
}
