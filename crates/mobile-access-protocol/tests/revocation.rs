//! The signed revocation list: its encoding round-trips, bad bytes are refused, only a trusted
//! and newer list changes a reader, and a reader that applied one refuses the revoked
//! credential in full and fast exchanges alike.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_protocol::{
    CredentialId, Error, KeyId, MAX_REVOKED, OrgId, REVOCATION_LIST_MAX_LEN, REVOCATION_LIST_MIN_LEN, Reason,
    RevocationList, SignedRevocationList, Timestamp, framing,
    reader::{ExchangeKind, ListOutcome},
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
    let too_many = (0..=MAX_REVOKED as u8).map(|i| CredentialId([i; 16])).collect();
    assert!(matches!(list(1, 0, too_many).sign(&org), Err(Error::TooLarge { .. })));
    let mut declared_too_many = bytes.to_vec();
    declared_too_many[26] = (MAX_REVOKED + 1) as u8;
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
