//! GATT framing: one protocol message cut into ATT writes/notifications of `MTU - 3` bytes and
//! put back together, for any ATT MTU from 23 to 517.
//!
//! Every fragment starts with a sequence byte: 0 for the first, then 1, 2, … 255, 1, 2, … (a
//! long message wraps past 255 but never back to 0, which always starts a new message).
//! Fragment 0 then carries the message's total length as a big-endian `u16`, so the receiver
//! refuses an oversized message before buffering it and knows exactly when the message is
//! complete.

use crate::{Error, Result};

/// Smallest ATT MTU (the Bluetooth default).
pub const MIN_MTU: u16 = 23;
/// Largest ATT MTU.
pub const MAX_MTU: u16 = 517;
/// Longest message the framing carries: a sealed revocation list of the most ids a list holds
/// (every exchange message fits one 512-byte attribute value).
pub const MAX_MESSAGE_LEN: usize = crate::delivery::LIST_DELIVERY_MAX_LEN;
const ATT_HEADER: usize = 3;
const FIRST_HEADER: usize = 3;
const NEXT_HEADER: usize = 1;

fn payload_len(mtu: u16) -> Result<usize> {
    if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
        return Err(Error::InvalidMtu(mtu));
    }
    Ok(usize::from(mtu) - ATT_HEADER)
}

/// How many ATT packets a message of `len` bytes needs at `mtu`.
pub fn packet_count(len: usize, mtu: u16) -> Result<usize> {
    let payload = payload_len(mtu)?;
    let first = payload - FIRST_HEADER;
    let next = payload - NEXT_HEADER;
    Ok(1 + len.saturating_sub(first).div_ceil(next))
}

/// Cuts `message` into ATT payloads for `mtu`.
pub fn fragment(message: &[u8], mtu: u16) -> Result<Vec<Vec<u8>>> {
    let payload = payload_len(mtu)?;
    if message.len() > MAX_MESSAGE_LEN {
        return Err(Error::TooLarge { what: "message", got: message.len(), max: MAX_MESSAGE_LEN });
    }
    let (first, rest) = message.split_at(message.len().min(payload - FIRST_HEADER));
    let total = (message.len() as u16).to_be_bytes();
    let mut out = vec![[&[0u8], &total[..], first].concat()];
    for (i, chunk) in rest.chunks(payload - NEXT_HEADER).enumerate() {
        out.push([&[continuation_seq(i)], chunk].concat());
    }
    Ok(out)
}

/// The sequence byte of the `index`th fragment after fragment 0: 1..=255, wrapping to 1.
fn continuation_seq(index: usize) -> u8 {
    (index % 255 + 1) as u8
}

/// Reassembles one message at a time from fragments in order.
///
/// On error the partial message is dropped and the reassembler is ready for a new fragment 0;
/// a fragment 0 arriving mid-message also starts over, so a sender that gave up on a message
/// (after a timeout, say) is never stuck behind it.
#[derive(Debug, Default)]
pub struct Reassembler {
    buffer: Vec<u8>,
    expected_total: Option<usize>,
    next_seq: u8,
}

impl Reassembler {
    /// A reassembler waiting for fragment 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one ATT payload. Returns the message once its last fragment arrived.
    pub fn push(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>> {
        let result = self.accept(fragment);
        if !matches!(result, Ok(None)) {
            *self = Self::default();
        }
        result
    }

    fn accept(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some((&seq, body)) = fragment.split_first() else {
            return Err(Error::Truncated { what: "fragment", needed: 1, got: 0 });
        };
        if seq == 0 && self.next_seq != 0 {
            // A new message began (the peer gave up on the previous one): start over.
            *self = Self::default();
        }
        if seq != self.next_seq {
            return Err(Error::FragmentSequence { expected: self.next_seq, got: seq });
        }
        let body = match self.expected_total {
            Some(_) => body,
            None => {
                let [hi, lo, body @ ..] = body else {
                    return Err(Error::Truncated { what: "first fragment", needed: FIRST_HEADER, got: fragment.len() });
                };
                let total = usize::from(u16::from_be_bytes([*hi, *lo]));
                if total > MAX_MESSAGE_LEN {
                    return Err(Error::TooLarge { what: "message", got: total, max: MAX_MESSAGE_LEN });
                }
                self.expected_total = Some(total);
                body
            }
        };
        let total = self.expected_total.unwrap_or_default();
        if self.buffer.len() + body.len() > total {
            return Err(Error::TrailingBytes {
                what: "fragmented message",
                extra: self.buffer.len() + body.len() - total,
            });
        }
        if body.is_empty() && total != 0 {
            return Err(Error::Truncated { what: "fragment", needed: 2, got: 1 });
        }
        self.buffer.extend_from_slice(body);
        self.next_seq = if self.next_seq == u8::MAX { 1 } else { self.next_seq + 1 };
        if self.buffer.len() == total {
            return Ok(Some(std::mem::take(&mut self.buffer)));
        }
        Ok(None)
    }
}
