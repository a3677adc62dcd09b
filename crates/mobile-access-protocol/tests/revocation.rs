//! The signed revocation list: its encoding round-trips, bad bytes are refused, only a trusted
//! and newer list changes a reader, and a reader that applied one refuses the revoked
//! credential in full and fast exchanges alike.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_protocol::{
    CredentialId, Error, KeyId, MAX_REVOKED, OrgId, REVOCATION_LIST_MAX_LEN, REVOCATION_LIST_MIN_LEN, Reason,
    RevocationList, SignedRevocationList, Timestamp, framing,
    phone::Exchange,
    reader::{Connection, ExchangeKind, ListOutcome, Responder},
};
use proptest::prelude::*;
use support::*;

fn list(sequence: u32, min_epoch: u32, revoked: Vec<CredentialId>) -> RevocationList {
    RevocationList { org: OrgId([0; 8]), org_key: KeyId([0; 4]), sequence, issued_at: NOW, min_epoch, revoked }
}

fn sorted_ids() -> impl Strategy<Value = Vec<CredentialId>> {
    proptest::collection::btree_set(any::<[u8; 16]>(), 0..=MAX_REVOKED)
        .prop_map(|set| set.into_iter().map(CredentialId).collect())
}

proptest! {
    #[test]
    fn a_signed_list_round_trips_and_verifies(
        sequence in any::<u32>(), issued in any::<u32>(), epoch in any::<u32>(), revoked in sorted_ids(),
    ) {
        let org = org_key([3; 8]);
        let mut unsigned = list(sequence, epoch, revoked);
        unsigned.issued_at = Timestamp(issued);
        let signed = unsigned.clone().sign(&org).unwrap();
        let bytes = signed.encoded();
        prop_assert!(bytes.len() >= REVOCATION_LIST_MIN_LEN && bytes.len() <= REVOCATION_LIST_MAX_LEN);
        prop_assert!(bytes.len() <= framing::MAX_MESSAGE_LEN, "always fits one framed message");
        prop_assert!(SignedRevocationList::is_revocation_list(bytes));
        let decoded = SignedRevocationList::decode(bytes).unwrap();
        prop_assert_eq!(&decoded, &signed);
        prop_assert!(decoded.verify(&org.public()));
        prop_assert_eq!(decoded.list().sequence, sequence);
        prop_assert_eq!(&decoded.list().revoked, &unsigned.revoked);
        prop_assert!(!decoded.verify(&org_key([4; 8]).public()), "another organization's key");
    }

    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(decoded) = SignedRevocationList::decode(&bytes) {
            prop_assert_eq!(decoded.encoded(), &bytes[..]);
        }
    }

    #[test]
    fn every_bit_flip_breaks_the_signature_or_the_decoding(index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let org = org_key([3; 8]);
        let signed = list(7, 2, vec![CredentialId([1; 16]), CredentialId([2; 16])]).sign(&org).unwrap();
        let mut bytes = signed.encoded().to_vec();
        let i = index.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(decoded) = SignedRevocationList::decode(&bytes) {
            prop_assert!(!decoded.verify(&org.public()));
        }
    }
}

/// A distinct credential id per `n`, ascending with it.
fn id(n: u16) -> CredentialId {
    let mut bytes = [0u8; 16];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    CredentialId(bytes)
}

#[test]
fn bad_bytes_are_refused_with_typed_errors() {
    let org = org_key([3; 8]);
    let signed = list(1, 0, vec![CredentialId([1; 16])]).sign(&org).unwrap();
    let bytes = signed.encoded();
    assert!(matches!(SignedRevocationList::decode(&bytes[..bytes.len() - 1]), Err(Error::Truncated { .. })));
    assert!(matches!(SignedRevocationList::decode(&[bytes, &[0]].concat()), Err(Error::TrailingBytes { .. })));
    let mut wrong_type = bytes.to_vec();
    wrong_type[1] = 0x01;
    assert_eq!(SignedRevocationList::decode(&wrong_type), Err(Error::UnknownMessageType(0x01)));
    let mut wrong_version = bytes.to_vec();
    wrong_version[0] = 9;
    assert!(matches!(SignedRevocationList::decode(&wrong_version), Err(Error::UnsupportedVersion { .. })));
    assert!(matches!(SignedRevocationList::decode(&vec![0; REVOCATION_LIST_MAX_LEN + 1]), Err(Error::TooLarge { .. })));
    // Unsorted or repeated ids are not the canonical encoding; too many do not fit.
    assert!(list(1, 0, vec![CredentialId([2; 16]), CredentialId([1; 16])]).sign(&org).is_err());
    assert!(list(1, 0, vec![CredentialId([2; 16]), CredentialId([2; 16])]).sign(&org).is_err());
    let too_many = (0..=MAX_REVOKED as u16).map(id).collect();
    assert!(matches!(list(1, 0, too_many).sign(&org), Err(Error::TooLarge { .. })));
    let mut declared_too_many = bytes.to_vec();
    declared_too_many[26..28].copy_from_slice(&(MAX_REVOKED as u16 + 1).to_be_bytes());
    assert!(matches!(SignedRevocationList::decode(&declared_too_many), Err(Error::TooLarge { .. })));
}

#[test]
fn a_reader_refuses_a_revoked_credential_in_full_and_fast_exchanges_once_it_has_the_list() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let revoked = phone(&org, 7, &[10]);
    let other = phone(&org, 8, &[10]);
    let secret = enrol(&revoked, &mut door, NOW);
    assert_eq!(fast(&secret, &revoked.credential, &mut door, NOW.plus(1)).phone.unwrap(), Reason::Granted);

    let signed = list(1, 0, vec![revoked.credential.body().id]).sign(&org).unwrap();
    assert_eq!(door.apply_revocation_list(&signed), ListOutcome::Applied);
    assert_eq!(door.revocation_sequence(), 1);
    let ends = fast(&secret, &revoked.credential, &mut door, NOW.plus(2));
    assert_eq!(ends.phone.unwrap(), Reason::Revoked);
    assert_eq!(ends.reader.unwrap().kind, ExchangeKind::Fast);
    let ends = full(&revoked, &revoked.device, &mut door, NOW.plus(3));
    assert_eq!(ends.phone.unwrap().0, Reason::Revoked);
    let ends = full(&other, &other.device, &mut door, NOW.plus(4));
    assert_eq!(ends.phone.unwrap().0, Reason::Granted, "other members still open the door");
}

#[test]
fn only_a_newer_list_signed_by_the_reader_s_organization_is_applied() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let member = phone(&org, 7, &[10]);
    let id = member.credential.body().id;
    let forged = list(9, 0, vec![id]).sign(&org_key([2; 8])).unwrap();
    assert_eq!(door.apply_revocation_list(&forged), ListOutcome::Untrusted);
    assert_eq!(door.revocation_sequence(), 0);

    let newer = list(5, 0, vec![id]).sign(&org).unwrap();
    assert_eq!(door.apply_revocation_list(&newer), ListOutcome::Applied);
    // An older list (an earlier one replayed by a phone that has not refreshed) changes nothing.
    let older = list(4, 0, vec![]).sign(&org).unwrap();
    assert_eq!(door.apply_revocation_list(&older), ListOutcome::NotNewer);
    assert_eq!(door.apply_revocation_list(&newer), ListOutcome::NotNewer);
    assert_eq!(full(&member, &member.device, &mut door, NOW).phone.unwrap().0, Reason::Revoked);

    // A later list that lifts the revocation but raises the epoch: the id is no longer listed,
    // the epoch refuses every credential issued before it.
    let lifted = list(6, 1, vec![]).sign(&org).unwrap();
    assert_eq!(door.apply_revocation_list(&lifted), ListOutcome::Applied);
    assert_eq!(door.config().min_epoch, 1);
    assert_eq!(full(&member, &member.device, &mut door, NOW).phone.unwrap().0, Reason::Revoked);
    // The epoch never falls.
    let lower = list(7, 0, vec![]).sign(&org).unwrap();
    assert_eq!(door.apply_revocation_list(&lower), ListOutcome::Applied);
    assert_eq!(door.config().min_epoch, 1);
}

/// A full exchange run by hand up to the reader's hello: the phone's state (which knows, from the
/// signed hello, what list the reader holds), its FullAuth, and the reader's connection.
fn hello_answered(
    phone: &Phone,
    door: &mut Responder,
) -> (mobile_access_protocol::phone::FullAwaitingResult, Vec<u8>, Connection) {
    let rng = rng();
    let mut connection = Connection::default();
    let advertised = door.advertisement(NOW, &rng).unwrap();
    let (exchange, hello) = Exchange::start(advertised.reader, advertised.nonce, None, &rng).unwrap();
    let reader_hello = door.handle(&mut connection, &hello, NOW, &rng);
    let (awaiting, auth) =
        exchange.on_reader_hello(&reader_hello.bytes, &phone.trust, &phone.credential, &phone.device).unwrap();
    (awaiting, auth, connection)
}

/// The list travels only after the reader proved itself (its signed hello, which says what list
/// it holds), only when the reader is behind, sealed to that one exchange, once, and before
/// the credential so the reader judges it with the list applied.
#[test]
fn a_list_is_handed_over_sealed_only_to_a_reader_that_proved_itself_and_is_behind() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let member = phone(&org, 7, &[10]);
    let revoked = phone(&org, 8, &[10]);
    let list = list(3, 0, vec![revoked.credential.body().id]).sign(&org).unwrap();

    let (awaiting, auth, mut connection) = hello_answered(&revoked, &mut door);
    let sealed = awaiting.list_delivery(&list).unwrap().expect("the reader is behind: hand it over");
    assert!(mobile_access_protocol::is_list_delivery(&sealed));
    // Nothing of the list is readable on the air.
    assert!(!sealed.windows(16).any(|w| w == revoked.credential.body().id.0), "revoked ids in the clear");
    assert!(!sealed.windows(64).any(|w| w == &list.encoded()[list.encoded().len() - 64..]), "signature in the clear");
    // Another exchange cannot open it, nor a damaged copy.
    let (_, _, mut other) = hello_answered(&member, &mut door);
    assert!(door.open_list_delivery(&mut other, &sealed).is_err());
    let mut damaged = sealed.clone();
    damaged[40] ^= 1;
    let (_, _, mut third) = hello_answered(&member, &mut door);
    assert!(door.open_list_delivery(&mut third, &damaged).is_err());
    // Its own exchange opens it, once, and the credential that follows is judged with it.
    let opened = door.open_list_delivery(&mut connection, &sealed).unwrap();
    assert_eq!(door.apply_revocation_list(&opened), ListOutcome::Applied);
    assert!(door.open_list_delivery(&mut connection, &sealed).is_err(), "a second delivery in one exchange");
    let result = door.handle(&mut connection, &auth, NOW, &rng());
    assert_eq!(awaiting.on_result(&result.bytes).unwrap().reason, Reason::Revoked, "refused in this very tap");
    // Now the reader's hello says it is up to date: nothing more to carry.
    let (awaiting, _, _) = hello_answered(&member, &mut door);
    assert_eq!(awaiting.list_delivery(&list).unwrap(), None);
    let (awaiting, auth, mut connection) = hello_answered(&member, &mut door);
    let result = door.handle(&mut connection, &auth, NOW, &rng());
    let outcome = awaiting.on_result(&result.bytes).unwrap();
    assert_eq!(outcome.reason, Reason::Granted);
    assert_eq!(outcome.reader_list_sequence, 3, "the answer says which list the reader holds");
}

/// Lists are padded to size classes: two phones with lists of 1 and 20 ids send the same
/// number of bytes, so the length does not tell them apart.
#[test]
fn a_handed_over_list_s_length_is_its_size_class_not_its_count() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let member = phone(&org, 7, &[10]);
    let short = list(3, 0, vec![id(1)]).sign(&org).unwrap();
    let longer = list(4, 0, (1..=20).map(id).collect()).sign(&org).unwrap();
    let (awaiting, _, _) = hello_answered(&member, &mut door);
    let a = awaiting.list_delivery(&short).unwrap().unwrap();
    let b = awaiting.list_delivery(&longer).unwrap().unwrap();
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b);
}

/// Revocation scales: a list of 1,000 revoked credentials (an organization of 10,000 members
/// whose people leave over a year, wallet passes included) is signed, handed over in one
/// sealed message and applied; every other member still opens the door.
#[test]
fn a_thousand_revoked_credentials_travel_in_one_list_and_revoke_nobody_else() {
    let org = org_key([1; 8]);
    let mut door = reader(&org, 1, 10);
    let member = phone(&org, 7, &[10]);
    let leaver = phone(&org, 8, &[10]);
    let mut ids: Vec<CredentialId> = (0..999).map(id).collect();
    ids.push(leaver.credential.body().id);
    ids.sort();
    let signed = list(7, 0, ids).sign(&org).unwrap();
    assert_eq!(signed.list().revoked.len(), 1000);
    let (awaiting, _, mut connection) = hello_answered(&member, &mut door);
    let sealed = awaiting.list_delivery(&signed).unwrap().unwrap();
    assert!(sealed.len() <= framing::MAX_MESSAGE_LEN);
    // What a phone writes for it at MTU 185, once per reader that is behind.
    println!(
        "a 1,000-id list handed over: {} bytes, {} ATT packets at MTU 185",
        sealed.len(),
        framing::packet_count(sealed.len(), 185).unwrap()
    );
    let opened = door.open_list_delivery(&mut connection, &sealed).unwrap();
    assert_eq!(door.apply_revocation_list(&opened), ListOutcome::Applied);
    assert_eq!(full(&leaver, &leaver.device, &mut door, NOW).phone.unwrap().0, Reason::Revoked);
    assert_eq!(full(&member, &member.device, &mut door, NOW).phone.unwrap().0, Reason::Granted);
}
