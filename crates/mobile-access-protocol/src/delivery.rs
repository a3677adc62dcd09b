//! Handing the revocation list to a reader after it proved itself (message type
//! [`LIST_DELIVERY_TYPE`], phone → reader, never answered).
//!
//! A list written in the clear before the request would be a per-phone identifier: the cloud
//! signs a list per key download, so one phone carries the same bytes for most of a day and
//! anyone listening could link its taps across doors. So the phone sends it only after an
//! authenticated answer (which proves the reader genuine and tells which list sequence it
//! holds), only when its own list is newer, sealed under a single-use key of that exchange, and
//! zero-padded to a size class (32, 64, … [`MAX_REVOKED`] ids) so its length says little more
//! than how many revocations the organization has.

use crate::{
    Error, PROTOCOL_VERSION, Result,
    message::TAG_LEN,
    revocation::{MAX_REVOKED, SignedRevocationList, revocation_list_len},
    schedule::{self, Secret},
};

/// The type byte of a sealed revocation list.
pub const LIST_DELIVERY_TYPE: u8 = 0x22;
/// The smallest size class, in ids.
const SMALLEST_CLASS: usize = 32;
/// The largest delivery: a full list, sealed.
pub const LIST_DELIVERY_MAX_LEN: usize = 2 + revocation_list_len(MAX_REVOKED) + TAG_LEN;

const HEADER: [u8; 2] = [PROTOCOL_VERSION, LIST_DELIVERY_TYPE];

/// The size class of a list with `count` ids: the padded plaintext length.
fn padded_len(count: usize) -> usize {
    revocation_list_len(count.max(SMALLEST_CLASS).next_power_of_two().min(MAX_REVOKED))
}

/// True if `bytes` claim to be a sealed revocation list (version and type byte).
pub fn is_list_delivery(bytes: &[u8]) -> bool {
    bytes.get(..2) == Some(&HEADER[..])
}

/// Seals `list` under `key` (the exchange's list key), padded to its size class.
pub(crate) fn seal(key: &Secret, list: &SignedRevocationList) -> Result<Vec<u8>> {
    let encoded = list.encoded();
    let mut plaintext = Vec::with_capacity(padded_len(list.list().revoked.len()));
    plaintext.extend_from_slice(encoded);
    plaintext.resize(padded_len(list.list().revoked.len()), 0);
    let sealed = schedule::seal(key, &HEADER, &plaintext)?;
    Ok([&HEADER[..], &sealed].concat())
}

/// Opens what [`seal`] made: the list, once its ciphertext authenticated and its padding is
/// exactly its size class of zeros.
pub(crate) fn open(key: &Secret, bytes: &[u8]) -> Result<SignedRevocationList> {
    if bytes.len() > LIST_DELIVERY_MAX_LEN {
        return Err(Error::TooLarge { what: "list delivery", got: bytes.len(), max: LIST_DELIVERY_MAX_LEN });
    }
    let sealed =
        bytes.strip_prefix(&HEADER[..]).ok_or(Error::UnknownMessageType(bytes.get(1).copied().unwrap_or(0)))?;
    let plain = schedule::open(key, &HEADER, sealed).ok_or(Error::NotAuthentic("list delivery"))?;
    unpad(&plain)
}

/// Reads a padded list (what a delivery decrypts to): exactly one signed list, then zeros up
/// to its size class. Public for the fuzz target; the reader reaches it only through [`open`].
#[doc(hidden)]
pub fn unpad(plain: &[u8]) -> Result<SignedRevocationList> {
    let count = SignedRevocationList::declared_count(plain).ok_or(Error::Truncated {
        what: "list delivery",
        needed: revocation_list_len(0),
        got: plain.len(),
    })?;
    if count > MAX_REVOKED || plain.len() != padded_len(count) {
        return Err(Error::NonCanonical("list delivery padded to the wrong size class"));
    }
    let (list, padding) = plain.split_at(revocation_list_len(count));
    if padding.iter().any(|&b| b != 0) {
        return Err(Error::NonCanonical("list delivery padding is not zero"));
    }
    SignedRevocationList::decode(list)
}
