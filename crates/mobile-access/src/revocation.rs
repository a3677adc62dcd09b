//! Carrying the organization's signed revocation list to readers.
//!
//! The cloud signs a fresh list with every key download (its `issued_at` is the signed time);
//! it is stored with the keys. After a reader's authenticated answer, which says which list
//! sequence it holds, the phone hands over its list if it is newer: sealed under that exchange's
//! keys and padded to a size class (`mobile_access_protocol::phone::Outcome::list_delivery`), in
//! the same connection, after the door's decision (no extra round trip, no answer). So a reader
//! that is offline learns of revocations from the next member who taps, a reader whose clock
//! lags is moved forward by the signed time, and nobody listening sees anything that tells one
//! phone's taps from another's. Only a list that verifies under the keys' own trust anchors is
//! carried.

use mobile_access_protocol::SignedRevocationList;

use crate::keyring::Keys;

/// The list to carry, if the keys came with one that decodes and verifies.
pub(crate) fn carried_list(keys: &Keys) -> Option<SignedRevocationList> {
    let bytes = hex::decode(&keys.bundle().revocation_list).ok()?;
    let list = SignedRevocationList::decode(&bytes).ok()?;
    keys.trust().iter().any(|anchor| list.verify(anchor)).then_some(list)
}
