//! Doors that require owner verification: only a credential bound to the phone's owner key
//! (which its OS releases only after biometric or passcode) opens them, and only in a full
//! exchange, so each opening carries a fresh signature by that key.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use mobile_access_protocol::{Credential, Error, Reason, SoftwareDeviceKey, reader::ExchangeKind};
use support::*;

/// A member's phone with both keys: the everyday device key and the owner key, each with its
/// credential for `locks`.
struct TwoKeys {
    everyday: Phone,
    owner: Phone,
}

fn two_keys(org: &mobile_access_protocol::OrganizationKey, locks: &[u32]) -> TwoKeys {
    let everyday = phone(org, 7, locks);
    let owner_key = SoftwareDeviceKey::generate(&rng()).unwrap();
    let mut body = body(&owner_key, 7, locks, week(), 0);
    body.owner_verified = true;
    let credential = org.issue(body).unwrap();
    TwoKeys { everyday, owner: Phone { device: owner_key, credential, trust: vec![org.public()] } }
}

fn verifying_reader(
    org: &mobile_access_protocol::OrganizationKey,
    lock: u32,
) -> mobile_access_protocol::reader::Responder {
    let mut reader = reader(org, 1, lock);
    reader.set_owner_verification(true);
    reader
}

#[test]
fn a_door_that_requires_owner_verification_refuses_the_everyday_key_with_an_answer_the_phone_can_trust() {
    let org = org_key([1; 8]);
    let phone = two_keys(&org, &[5]);
    let mut reader = verifying_reader(&org, 5);

    let ends = full(&phone.everyday, &phone.everyday.device, &mut reader, NOW);
    // Authenticated: the phone can say "verify it's you" and mean it.
    let (reason, secret) = ends.phone.unwrap();
    assert_eq!(reason, Reason::OwnerNotVerified);
    assert!(secret.is_none());
    let decision = ends.reader.unwrap();
    assert_eq!((decision.reason, decision.kind), (Reason::OwnerNotVerified, ExchangeKind::Full));
    // The reader read a genuine credential: the attempt names the member.
    assert_eq!(decision.member, Some(phone.everyday.credential.body().member));

    // The owner key's credential, signed by the owner key, opens it.
    let ends = full(&phone.owner, &phone.owner.device, &mut reader, NOW);
    assert_eq!(ends.reader_reason(), Some(Reason::Granted));
    assert_eq!(ends.phone.unwrap().0, Reason::Granted);
}

#[test]
fn every_opening_of_a_verified_door_is_a_full_exchange_with_a_fresh_owner_signature() {
    let org = org_key([1; 8]);
    let phone = two_keys(&org, &[5]);
    let mut reader = verifying_reader(&org, 5);
    let (reason, secret) = full(&phone.owner, &phone.owner.device, &mut reader, NOW).phone.unwrap();
    assert_eq!(reason, Reason::Granted);
    assert_eq!(reader.session_count(), 0, "a verified door keeps no fast session");
    // A phone that still offers the secret it derived gets a full exchange again: the fast
    // secret sits in storage any app process can read, and proves nobody was verified.
    let secret = secret.unwrap();
    let ends = fast(&secret, &phone.owner.credential, &mut reader, NOW);
    assert!(matches!(ends.phone, Err(Error::UnexpectedMessage(WENT_FULL))), "{:?}", ends.phone);
    assert_eq!(ends.reader, None);
}

#[test]
fn an_owner_credential_signed_by_any_other_key_proves_nothing() {
    let org = org_key([1; 8]);
    let phone = two_keys(&org, &[5]);
    let mut reader = verifying_reader(&org, 5);
    // The owner credential with the everyday key's signature: what malware holding the device
    // key, but not the owner's face or passcode, could send.
    let ends = full(&phone.owner, &phone.everyday.device, &mut reader, NOW);
    assert_eq!(ends.reader_reason(), Some(Reason::DeviceProofFailed));
    assert_eq!(ends.phone.unwrap().0, Reason::DeviceProofFailed);
}

#[test]
fn turning_verification_on_ends_the_fast_sessions_already_held() {
    let org = org_key([1; 8]);
    let phone = two_keys(&org, &[5]);
    let mut reader = reader(&org, 1, 5);
    let secret = enrol(&phone.everyday, &mut reader, NOW);
    assert_eq!(fast(&secret, &phone.everyday.credential, &mut reader, NOW).phone.unwrap(), Reason::Granted);

    reader.set_owner_verification(true);
    assert_eq!(reader.session_count(), 0);
    let ends = fast(&secret, &phone.everyday.credential, &mut reader, NOW);
    assert!(matches!(ends.phone, Err(Error::UnexpectedMessage(WENT_FULL))));
    assert_eq!(
        full(&phone.everyday, &phone.everyday.device, &mut reader, NOW).phone.unwrap().0,
        Reason::OwnerNotVerified
    );

    // And off again: the everyday key opens, and fast taps come back.
    reader.set_owner_verification(false);
    let secret = enrol(&phone.everyday, &mut reader, NOW);
    assert_eq!(fast(&secret, &phone.everyday.credential, &mut reader, NOW).phone.unwrap(), Reason::Granted);
}

#[test]
fn an_owner_credential_opens_doors_that_do_not_ask_for_verification_too() {
    let org = org_key([1; 8]);
    let phone = two_keys(&org, &[5]);
    let mut reader = reader(&org, 1, 5);
    assert_eq!(full(&phone.owner, &phone.owner.device, &mut reader, NOW).phone.unwrap().0, Reason::Granted);
}

#[test]
fn the_owner_flag_is_signed_and_its_reserved_neighbours_are_refused() {
    let org = org_key([1; 8]);
    let phone = two_keys(&org, &[5]);
    let encoded = phone.owner.credential.encoded().to_vec();
    let count_byte = encoded.len() - 64 - 4 - 1;
    assert_eq!(encoded[count_byte], 0x81, "one lock, owner flag");
    // Clearing the flag changes what was signed.
    let mut cleared = encoded.clone();
    cleared[count_byte] = 0x01;
    assert!(!Credential::decode(&cleared).unwrap().verify(&org.public()));
    // Reserved bits are not a second spelling of the same credential.
    for reserved in [0x20u8, 0x40] {
        let mut bytes = encoded.clone();
        bytes[count_byte] |= reserved;
        assert!(matches!(Credential::decode(&bytes), Err(Error::NonCanonical(_))), "{reserved:#x}");
    }
}
