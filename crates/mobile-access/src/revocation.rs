//! Carrying the organization's signed revocation list to readers.
//!
//! The cloud signs a fresh list with every key download (its `issued_at` is the signed time);
//! it is stored with the keys. On every tap the phone writes it to the reader just before its
//! first request, in the same burst of write commands (no extra round trip, no answer), so a
//! reader that is offline learns of revocations from the next member who taps, and a reader
//! whose clock lags is moved forward by the signed time. Only a list that verifies under the
//! keys' own trust anchors is carried.

use mobile_access_ble::{Link, channel::MessageChannel};
use mobile_access_protocol::SignedRevocationList;

use crate::keyring::Keys;

/// The list to carry, if the keys came with one that decodes and verifies.
pub(crate) fn carried_list(keys: &Keys) -> Option<SignedRevocationList> {
    let bytes = hex::decode(&keys.bundle().revocation_list).ok()?;
    let list = SignedRevocationList::decode(&bytes).ok()?;
    keys.trust().iter().any(|anchor| list.verify(anchor)).then_some(list)
}

/// Opens the message channel with the revocation list (if any) ahead of `first_request`.
pub(crate) async fn open_channel(
    link: Box<dyn Link>,
    keys: &Keys,
    first_request: &[u8],
) -> mobile_access_ble::Result<MessageChannel> {
    match carried_list(keys) {
        Some(list) => MessageChannel::open_with(link, &[list.encoded(), first_request]).await,
        None => MessageChannel::open(link, first_request).await,
    }
}
