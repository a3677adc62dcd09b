//! The reader's hardening: what it keeps across restarts (revocation list, sequence, epoch, clock
//! floor, tamper state, audit sequence and unacknowledged events), how a damaged state file is
//! refused, how far signed time may move its clock, what its audit log records and keeps, and a
//! range reader's maximum distance.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::{collections::HashMap, time::Instant};

use mobile_access_protocol::{
    Credential, CredentialBody, CredentialId, DeviceSigner, KeyId, LockId, MemberId, OrgId, OrganizationKey, ReaderId,
    Reason, RevocationList, SoftwareDeviceKey, Timestamp, UnlockMode, Validity,
    phone::{Exchange, FastSecret, Step},
    reader::{Connection, ExchangeKind, ListOutcome},
};
use mobile_access_reader::{
    AuditEntry, DriftingClock, Error, FileStateStore, MAX_SIGNED_TIME_LEAD, MemoryStateStore, Mode, Outcome,
    Provisioning, Reader, ReaderState, ReaderStateStore,
};
use proptest::prelude::*;
use ring::rand::SystemRandom;

const NOW: Timestamp = Timestamp(1_800_000_000);
const CLOSE: i16 = -40;

struct Site {
    org: OrganizationKey,
    provisioning: Provisioning,
}

struct Phone {
    trust: mobile_access_protocol::OrganizationPublicKey,
    device: SoftwareDeviceKey,
    credential: Credential,
    secret: Option<FastSecret>,
}

impl Site {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let org = OrganizationKey::generate(OrgId([7; 8]), &rng).unwrap();
        let provisioning = Provisioning::generate(&org, ReaderId([1; 8]), LockId(42), "Main entrance", &rng).unwrap();
        Self { org, provisioning }
    }

    fn phone(&self) -> Phone {
        let rng = SystemRandom::new();
        let device = SoftwareDeviceKey::generate(&rng).unwrap();
        let body = CredentialBody {
            id: CredentialId::random(&rng).unwrap(),
            org: OrgId([0; 8]),
            org_key: KeyId([0; 4]),
            member: MemberId([9; 16]),
            device_key: device.public_key(),
            validity: Validity { not_before: Timestamp(NOW.0 - 86_400), not_after: NOW.plus(30 * 86_400) },
            revocation_epoch: 0,
            locks: vec![LockId(42)],
            owner_verified: false,
        };
        Phone { trust: self.org.public(), credential: self.org.issue(body).unwrap(), device, secret: None }
    }

    fn list(&self, sequence: u32, issued_at: Timestamp, min_epoch: u32, revoked: Vec<CredentialId>) -> Vec<u8> {
        let mut revoked = revoked;
        revoked.sort();
        let list =
            RevocationList { org: OrgId([0; 8]), org_key: KeyId([0; 4]), sequence, issued_at, min_epoch, revoked };
        list.sign(&self.org).unwrap().encoded().to_vec()
    }

    fn reader(&self, store: &MemoryStateStore, start: Instant) -> Result<Reader, Error> {
        Reader::restore(&self.provisioning, DriftingClock::new(start, NOW, 0), start, Box::new(store.clone()))
    }
}

/// A full exchange (or a fast one if the phone holds a secret); the decision is concluded.
fn unlock(reader: &mut Reader, phone: &mut Phone, now: Instant) -> Reason {
    unlock_at(reader, phone, CLOSE, now)
}

/// Likewise, with the reader hearing the phone at `rssi` dBm.
fn unlock_at(reader: &mut Reader, phone: &mut Phone, rssi: i16, now: Instant) -> Reason {
    let rng = SystemRandom::new();
    let mut connection = Connection::default();
    let advertisement = reader.advertisement(now).unwrap();
    let fast = phone.secret.as_ref().map(|secret| (secret, &phone.credential));
    let (exchange, hello) = Exchange::start(advertisement.reader, advertisement.nonce, fast, &rng).unwrap();
    let answer = reader.handle(&mut connection, &hello, Some(rssi), now);
    let trust = [phone.trust];
    let step = match exchange.on_reply(&answer.bytes, &trust, &phone.credential, &phone.device) {
        Ok(step) => step,
        Err(mobile_access_protocol::Error::UnverifiedRejection(reason)) => {
            reader.conclude(answer.pending.unwrap(), true, now);
            return reason;
        }
        Err(e) => panic!("{e}"),
    };
    let mut outcome = match step {
        Step::Done(outcome) => {
            reader.conclude(answer.pending.unwrap(), true, now);
            outcome
        }
        Step::Authenticate(awaiting, auth) => {
            let answer = reader.handle(&mut connection, &auth, Some(rssi), now);
            reader.conclude(answer.pending.unwrap(), true, now);
            awaiting.on_result(&answer.bytes).unwrap()
        }
    };
    if let Some(secret) = outcome.fast_secret.take() {
        phone.secret = Some(secret);
    }
    outcome.reason
}

fn site() -> Site {
    Site::new()
}

#[test]
fn a_restarted_reader_still_refuses_what_was_revoked_and_an_older_list() {
    let site = site();
    let store = MemoryStateStore::new();
    let start = Instant::now();
    let mut ada = site.phone();
    let mut grace = site.phone();
    let mut reader = site.reader(&store, start).unwrap();
    assert_eq!(unlock(&mut reader, &mut ada, start), Reason::Granted);
    let revoke_ada = site.list(5, NOW, 0, vec![ada.credential.body().id]);
    assert_eq!(reader.apply_revocation_list(&revoke_ada, start).unwrap(), ListOutcome::Applied);
    drop(reader);

    // Power cycle: the same store, a fresh process.
    let mut reader = site.reader(&store, start).unwrap();
    assert_eq!(reader.revocation_sequence(), 5);
    ada.secret = None;
    assert_eq!(unlock(&mut reader, &mut ada, start), Reason::Revoked, "the revocation survived the reboot");
    assert_eq!(unlock(&mut reader, &mut grace, start), Reason::Granted, "nobody else is affected");
    let older = site.list(4, NOW, 0, vec![]);
    assert_eq!(reader.apply_revocation_list(&older, start).unwrap(), ListOutcome::NotNewer);
    assert_eq!(unlock(&mut reader, &mut site.phone(), start), Reason::Granted);
}

#[test]
fn a_restarted_reader_keeps_a_raised_epoch_and_its_tamper_state() {
    let site = site();
    let store = MemoryStateStore::new();
    let start = Instant::now();
    let mut reader = site.reader(&store, start).unwrap();
    reader.set_revocation_epoch(3);
    reader.trip_tamper();
    drop(reader);
    let mut reader = site.reader(&store, start).unwrap();
    assert!(reader.is_tampered(), "prying the reader off and power-cycling it does not reset tamper");
    reader.reset_tamper();
    assert_eq!(unlock(&mut reader, &mut site.phone(), start), Reason::Revoked, "epoch 0 < 3");
    drop(reader);
    let reader = site.reader(&store, start).unwrap();
    assert!(!reader.is_tampered());
}

#[test]
fn a_restarted_reader_clock_never_reads_earlier_than_it_knew() {
    let site = site();
    let store = MemoryStateStore::new();
    let start = Instant::now();
    let mut reader = site.reader(&store, start).unwrap();
    let ahead = NOW.plus(3_600);
    assert_eq!(reader.apply_revocation_list(&site.list(1, ahead, 0, vec![]), start).unwrap(), ListOutcome::Applied);
    drop(reader);
    // The real-time clock lost its time (reads NOW again) over the reboot.
    let reader = site.reader(&store, start).unwrap();
    assert!(reader.clock().now(start) >= ahead, "the clock floor lifted a reset clock");
}

#[test]
fn audit_events_keep_their_ids_and_unacknowledged_ones_survive_a_restart() {
    let site = site();
    let store = MemoryStateStore::new();
    let start = Instant::now();
    let mut reader = site.reader(&store, start).unwrap();
    let boot = reader.boot_id();
    let mut phone = site.phone();
    for _ in 0..3 {
        assert_eq!(unlock(&mut reader, &mut phone, start), Reason::Granted);
    }
    reader.acknowledge_events(2, start).unwrap();
    drop(reader);

    let mut reader = site.reader(&store, start).unwrap();
    assert_eq!(reader.boot_id(), boot, "event ids are boot id + sequence: the boot id is kept");
    let pending: Vec<_> = reader.audit().unacknowledged().map(|(seq, e)| (seq, e.outcome)).collect();
    assert_eq!(pending, vec![(2, Outcome::Granted)], "the unacknowledged event survived, with its number");
    assert_eq!(reader.audit().next_sequence(), 3);
    // Fast secrets never touch the disk: after a reboot the phone is unknown, and the reader
    // answers its hello with a full exchange on the same connection.
    let stale = phone.secret.clone();
    assert_eq!(unlock(&mut reader, &mut phone, start), Reason::Granted);
    assert_ne!(phone.secret, stale, "the full exchange left a new secret");
    assert_eq!(reader.audit().since(0).map(|(seq, _)| seq).collect::<Vec<_>>(), vec![2, 3], "numbering continues");
}

#[test]
fn a_damaged_state_file_makes_the_reader_refuse_to_start_and_say_why() {
    let site = site();
    let store = MemoryStateStore::new();
    let start = Instant::now();
    let reader = site.reader(&store, start).unwrap();
    drop(reader);
    let good = store.bytes().unwrap();

    let mut flipped = good.clone();
    flipped[20] ^= 1;
    let torn = good[..good.len() / 2].to_vec();
    for (damage, why) in [(flipped, "checksum"), (torn, ""), (b"not a state".to_vec(), ""), (Vec::new(), "")] {
        store.set_bytes(Some(damage));
        match site.reader(&store, start) {
            Err(Error::StateDamaged(message)) => assert!(message.contains(why), "{message}"),
            other => panic!("a damaged state must refuse to start, got {other:?}"),
        }
    }

    // Another reader's state (a data directory copied between readers) is refused as well.
    let rng = SystemRandom::new();
    let other = Provisioning::generate(&site.org, ReaderId([2; 8]), LockId(43), "Back door", &rng).unwrap();
    store.set_bytes(Some(good));
    let foreign = Reader::restore(&other, DriftingClock::new(start, NOW, 0), start, Box::new(store.clone()));
    assert!(matches!(foreign, Err(Error::StateOfAnotherReader { .. })), "{foreign:?}");
}

#[test]
fn the_file_store_writes_atomically_into_its_directory_and_restores() {
    let site = site();
    let dir = std::env::temp_dir().join(format!("mobile-access-reader-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let start = Instant::now();
    let open = || {
        let store = FileStateStore::new(&dir).unwrap();
        Reader::restore(&site.provisioning, DriftingClock::new(start, NOW, 0), start, Box::new(store))
    };
    let mut reader = open().unwrap();
    let revoked = CredentialId([5; 16]);
    reader.apply_revocation_list(&site.list(9, NOW, 2, vec![revoked]), start).unwrap();
    drop(reader);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, vec![std::ffi::OsString::from(FileStateStore::FILE_NAME)], "no temporary file left behind");
    let reader = open().unwrap();
    assert_eq!(reader.revocation_sequence(), 9);
    let state = reader.state(start);
    assert_eq!((state.revoked, state.min_epoch), (vec![revoked], 2));
    drop(reader);

    let path = dir.join(FileStateStore::FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(open(), Err(Error::StateDamaged(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_store_that_cannot_save_is_a_clear_error_at_start() {
    struct Broken;
    impl ReaderStateStore for Broken {
        fn load(&self) -> Result<Option<Vec<u8>>, Error> {
            Ok(None)
        }
        fn save(&mut self, _: &[u8]) -> Result<(), Error> {
            Err(Error::Storage("disk full".to_owned()))
        }
    }
    let site = site();
    let start = Instant::now();
    let result = Reader::restore(&site.provisioning, DriftingClock::new(start, NOW, 0), start, Box::new(Broken));
    assert!(matches!(result, Err(Error::Storage(_))));
}

#[test]
fn signed_time_moves_the_clock_by_at_most_its_bound_and_a_list_too_far_ahead_is_refused() {
    let site = site();
    let store = MemoryStateStore::new();
    let start = Instant::now();
    let mut reader = site.reader(&store, start).unwrap();
    let mut phone = site.phone();

    // One bad cloud clock, a year ahead: refused whole, the clock does not move, keys still work.
    let year_ahead = NOW.plus(365 * 86_400);
    let bad = site.list(1, year_ahead, 0, vec![]);
    assert_eq!(reader.apply_revocation_list(&bad, start).unwrap(), ListOutcome::TooFarAhead);
    assert_eq!(reader.apply_revocation_list(&bad, start).unwrap(), ListOutcome::TooFarAhead, "replay: same");
    assert_eq!(reader.clock().now(start), NOW);
    assert_eq!(reader.revocation_sequence(), 0);
    assert_eq!(unlock(&mut reader, &mut phone, start), Reason::Granted);

    // Just beyond the bound: refused too; at the bound: the clock moves, by exactly that.
    let beyond = site.list(2, NOW.plus(MAX_SIGNED_TIME_LEAD + 1), 0, vec![]);
    assert_eq!(reader.apply_revocation_list(&beyond, start).unwrap(), ListOutcome::TooFarAhead);
    let within = site.list(2, NOW.plus(MAX_SIGNED_TIME_LEAD), 0, vec![]);
    assert_eq!(reader.apply_revocation_list(&within, start).unwrap(), ListOutcome::Applied);
    assert_eq!(reader.clock().now(start), NOW.plus(MAX_SIGNED_TIME_LEAD));
    // Replaying it moves nothing further.
    assert_eq!(reader.apply_revocation_list(&within, start).unwrap(), ListOutcome::NotNewer);
    assert_eq!(reader.clock().now(start), NOW.plus(MAX_SIGNED_TIME_LEAD));
}

#[test]
fn a_junk_flood_never_pushes_genuine_entries_out_of_the_audit_log() {
    let site = site();
    let start = Instant::now();
    let mut reader = Reader::new(&site.provisioning, DriftingClock::new(start, NOW, 0), start).unwrap();
    let mut phone = site.phone();
    assert_eq!(unlock(&mut reader, &mut phone, start), Reason::Granted);
    for _ in 0..5_000 {
        let answer = reader.handle(&mut Connection::default(), b"junk", Some(CLOSE), start);
        reader.conclude(answer.pending.unwrap(), true, start);
    }
    let genuine: Vec<_> = reader.audit().entries().filter(|e| e.credential.is_some()).collect();
    assert_eq!(genuine.len(), 1, "the genuine grant is still there");
    assert_eq!(genuine[0].outcome, Outcome::Granted);
    assert!(reader.audit().dropped() >= 5_000 - 1024, "what was dropped is counted");
    assert_eq!(reader.audit().dropped_authenticated(), 0);
}

#[test]
fn a_credential_that_never_verified_names_no_member_in_the_record() {
    let site = site();
    let start = Instant::now();
    let mut reader = Reader::new(&site.provisioning, DriftingClock::new(start, NOW, 0), start).unwrap();
    // A credential signed by another organization's key that claims this organization.
    let rogue = OrganizationKey::generate(OrgId([7; 8]), &SystemRandom::new()).unwrap();
    let mut phone = site.phone();
    let body = phone.credential.body().clone();
    phone.credential = rogue.issue(body).unwrap();
    let reason = unlock(&mut reader, &mut phone, start);
    assert_ne!(reason, Reason::Granted);
    let entry = reader.audit().last().unwrap();
    assert_eq!((entry.credential, entry.member), (None, None), "{entry:?}");
}

fn entry_strategy() -> impl Strategy<Value = AuditEntry> {
    (
        any::<u32>(),
        any::<bool>(),
        proptest::option::of(any::<[u8; 16]>()),
        proptest::option::of(any::<[u8; 16]>()),
        // Unknown (None) or any measurement a radio can report.
        proptest::option::of((i16::MIN + 1)..=i16::MAX),
        0u8..3,
        proptest::sample::select(Reason::ALL.to_vec()),
    )
        .prop_map(|(at, fast, credential, member, rssi, tag, reason)| AuditEntry {
            at: Timestamp(at),
            exchange: if fast { ExchangeKind::Fast } else { ExchangeKind::Full },
            credential: credential.map(CredentialId),
            member: member.map(MemberId),
            rssi,
            outcome: match tag {
                0 => Outcome::Granted,
                1 => Outcome::Refused(reason),
                _ => Outcome::Interrupted(reason),
            },
        })
}

fn state_strategy() -> impl Strategy<Value = ReaderState> {
    (
        (any::<[u8; 8]>(), any::<[u8; 8]>(), any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>()),
        proptest::collection::btree_set(any::<[u8; 16]>(), 0..40),
        proptest::collection::vec(entry_strategy(), 0..20),
        proptest::collection::btree_map(any::<[u8; 16]>(), proptest::sample::select(Reason::ALL.to_vec()), 0..5),
        (any::<u32>(), any::<u32>(), any::<u32>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(
                (reader, org, boot, sequence, epoch, floor, tampered),
                revoked,
                events,
                reasons,
                (gap, ack, drop),
                owner,
            )| {
                let events: Vec<_> =
                    events.into_iter().enumerate().map(|(i, e)| (u64::from(gap) + i as u64, e)).collect();
                let next = u64::from(gap) + events.len() as u64 + 1;
                ReaderState {
                    reader: ReaderId(reader),
                    org: OrgId(org),
                    boot,
                    revocation_sequence: sequence,
                    revoked: revoked.into_iter().map(CredentialId).collect(),
                    min_epoch: epoch,
                    clock_floor: Timestamp(floor),
                    tampered,
                    audit_next: next,
                    audit_acknowledged: u64::from(ack).min(next),
                    audit_dropped: u64::from(drop),
                    audit_dropped_authenticated: u64::from(drop / 2),
                    events,
                    revocation_reasons: reasons.into_iter().map(|(id, r)| (CredentialId(id), r)).collect(),
                    owner_verification: owner,
                }
            },
        )
}

proptest! {
    #[test]
    fn the_state_encoding_round_trips(state in state_strategy()) {
        let bytes = state.encode();
        prop_assert_eq!(ReaderState::decode(&bytes).unwrap(), state);
    }

    #[test]
    fn every_bit_flip_or_truncation_of_a_state_file_is_refused(state in state_strategy(), at in any::<usize>(), bit in 0u8..8) {
        let bytes = state.encode();
        let at = at % bytes.len();
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << bit;
        prop_assert!(matches!(ReaderState::decode(&flipped), Err(Error::StateDamaged(_))));
        prop_assert!(matches!(ReaderState::decode(&bytes[..at]), Err(Error::StateDamaged(_))));
        let mut extended = bytes.clone();
        extended.push(0);
        prop_assert!(matches!(ReaderState::decode(&extended), Err(Error::StateDamaged(_))));
    }

    #[test]
    fn random_bytes_never_panic_the_state_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = ReaderState::decode(&bytes);
    }
}

#[test]
fn revocation_reasons_survive_a_restart() {
    let site = site();
    let store = MemoryStateStore::new();
    let start = Instant::now();
    let mut reader = site.reader(&store, start).unwrap();
    let id = CredentialId([3; 16]);
    reader.set_revocation_reasons(HashMap::from([(id, Reason::PassSuspended)]));
    drop(reader);
    let reader = site.reader(&store, start).unwrap();
    assert_eq!(reader.state(start).revocation_reasons, vec![(id, Reason::PassSuspended)]);
}

#[test]
fn setting_the_wall_clock_back_never_freezes_the_nonce() {
    let site = site();
    let start = Instant::now();
    let mut reader = Reader::new(&site.provisioning, DriftingClock::new(start, NOW, 0), start).unwrap();
    let first = reader.advertisement(start).unwrap().nonce;
    reader.set_time(start, Timestamp(NOW.0 - 86_400));
    let later = reader.advertisement(start + std::time::Duration::from_secs(2)).unwrap().nonce;
    assert_ne!(first, later, "nonces rotate on the reader's monotonic time");
}

fn range_reader(floor: Option<i8>) -> (Site, Reader, Instant) {
    let mut site = site();
    site.provisioning.mode = Mode::Range;
    site.provisioning.range_rssi_floor = floor;
    let start = Instant::now();
    let reader = Reader::new(&site.provisioning, DriftingClock::new(start, NOW, 0), start).unwrap();
    (site, reader, start)
}

#[test]
fn a_range_reader_with_a_maximum_distance_refuses_phones_beyond_it_and_advertises_it() {
    let (site, mut reader, start) = range_reader(Some(-70));
    let advertisement = reader.advertisement(start).unwrap();
    assert_eq!((advertisement.mode, advertisement.tap_rssi_threshold), (UnlockMode::Range, -70));
    let mut phone = site.phone();
    // 48 m away, heard at -90 dBm: refused, in both exchanges.
    assert_eq!(unlock_at(&mut reader, &mut phone, -90, start), Reason::NotCloseEnough);
    assert_eq!(reader.audit().last().unwrap().outcome, Outcome::Refused(Reason::NotCloseEnough));
    assert_eq!(unlock_at(&mut reader, &mut phone, -65, start), Reason::Granted);
    assert!(phone.secret.is_some());
    assert_eq!(unlock_at(&mut reader, &mut phone, -90, start), Reason::NotCloseEnough, "fast exchange too");
}

#[test]
fn a_range_reader_without_a_floor_opens_anywhere_in_radio_range_and_tap_readers_are_unchanged() {
    let (site, mut reader, start) = range_reader(None);
    assert_eq!(reader.advertisement(start).unwrap().tap_rssi_threshold, i8::MIN, "no maximum distance");
    assert_eq!(unlock_at(&mut reader, &mut site.phone(), -95, start), Reason::Granted);

    let site = Site::new();
    let mut tap = Reader::new(&site.provisioning, DriftingClock::new(start, NOW, 0), start).unwrap();
    assert_eq!(tap.advertisement(start).unwrap().tap_rssi_threshold, site.provisioning.tap_rssi_threshold);
    assert_eq!(unlock_at(&mut tap, &mut site.phone(), -70, start), Reason::NotCloseEnough);
    assert_eq!(unlock_at(&mut tap, &mut site.phone(), -40, start), Reason::Granted);
}

#[test]
fn the_range_floor_is_optional_in_the_provisioning_json() {
    let (site, _, _) = range_reader(Some(-72));
    let json = site.provisioning.to_json().unwrap();
    assert!(json.contains("\"range_rssi_floor\":-72"), "{json}");
    assert_eq!(Provisioning::from_json(&json).unwrap().range_rssi_floor, Some(-72));
    let without = Site::new().provisioning.to_json().unwrap();
    assert!(!without.contains("range_rssi_floor"), "absent when none: the cloud's contract is unchanged");
    assert_eq!(Provisioning::from_json(&without).unwrap().range_rssi_floor, None);
}
