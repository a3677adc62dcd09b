//! Whole protocol messages over a [`Link`]: requests fragmented onto the request
//! characteristic, replies reassembled from notifications on the response characteristic.

use mobile_access_protocol::{
    REQUEST_CHARACTERISTIC_UUID, RESPONSE_CHARACTERISTIC_UUID,
    framing::{self, Reassembler},
};

use crate::{DisconnectCause, Error, Link, Notifications, Result, WriteType};

/// A request/response channel to a reader over one connection.
///
/// Requests go out as ATT Write Commands, back to back: they fill one connection event instead
/// of costing one event per fragment plus one per acknowledgement, and the reader's reply is
/// the acknowledgement that matters. The link layer retransmits lost packets, so nothing is
/// lost silently: either the reply comes or the connection ends.
pub struct MessageChannel {
    link: Box<dyn Link>,
    replies: Notifications,
    reassembler: Reassembler,
    repeats: Repeats,
}

/// Drops a notification byte-identical to the one just before it.
///
/// BlueZ stores a notified value once per client that enabled notifications on the
/// characteristic, emitting it each time, so while a second program on the same adapter holds a
/// notification session every reply arrives twice (seen on the real-stack test: the phone read
/// its ReaderHello again where the FullResult belonged, while the reader had opened the door).
/// The protocol never sends the same fragment twice in a row (fragment 0 carries a message that
/// differs every time, continuations count up), so an exact repeat can only be such a copy.
#[derive(Debug, Default)]
struct Repeats {
    last: Option<Vec<u8>>,
}

impl Repeats {
    /// True if `fragment` repeats the previous one; remembers it either way.
    fn is_repeat(&mut self, fragment: &[u8]) -> bool {
        let repeat = self.last.as_deref() == Some(fragment);
        if !repeat {
            self.last = Some(fragment.to_vec());
        }
        repeat
    }
}

impl std::fmt::Debug for MessageChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageChannel").field("peripheral", self.link.peripheral()).finish_non_exhaustive()
    }
}

impl MessageChannel {
    /// Subscribes to replies and sends the first request in the same connection event: the
    /// subscription (a CCCD write request) and the request (write commands) are pipelined, so
    /// opening the channel costs no extra round trip.
    pub async fn open(link: Box<dyn Link>, first_request: &[u8]) -> Result<Self> {
        Self::open_with(link, &[first_request]).await
    }

    /// Like [`MessageChannel::open`], with several messages written back to back in that same
    /// burst (a one-way message such as a revocation list ahead of the request): none of them
    /// waits for the subscription's acknowledgement.
    pub async fn open_with(link: Box<dyn Link>, messages: &[&[u8]]) -> Result<Self> {
        let mut fragments = Vec::new();
        for message in messages {
            fragments.extend(framing::fragment(message, link.mtu())?);
        }
        let (replies, sent) =
            tokio::join!(link.notifications(RESPONSE_CHARACTERISTIC_UUID), write_fragments(link.as_ref(), &fragments));
        let replies = replies?;
        sent?;
        Ok(Self { link, replies, reassembler: Reassembler::new(), repeats: Repeats::default() })
    }

    /// Sends one request.
    pub async fn send(&self, request: &[u8]) -> Result<()> {
        let fragments = framing::fragment(request, self.link.mtu())?;
        write_fragments(self.link.as_ref(), &fragments).await
    }

    /// Waits for the next whole reply. Callers bound it with a timeout.
    pub async fn receive(&mut self) -> Result<Vec<u8>> {
        loop {
            let Some(fragment) = self.replies.next().await else {
                return Err(Error::Disconnected {
                    peripheral: self.link.peripheral().clone(),
                    cause: DisconnectCause::Unknown,
                });
            };
            if self.repeats.is_repeat(&fragment) {
                tracing::debug!(len = fragment.len(), "dropped a repeated notification");
                continue;
            }
            if let Some(message) = self.reassembler.push(&fragment)? {
                return Ok(message);
            }
        }
    }

    /// The link underneath.
    pub fn link(&self) -> &dyn Link {
        self.link.as_ref()
    }

    /// Ends the connection.
    pub async fn close(self) -> Result<()> {
        self.link.disconnect().await
    }
}

async fn write_fragments(link: &dyn Link, fragments: &[Vec<u8>]) -> Result<()> {
    for fragment in fragments {
        link.write(REQUEST_CHARACTERISTIC_UUID, fragment, WriteType::WithoutResponse).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Feeds `fragments` through the repeat filter and the reassembler, as `receive` does.
    fn received(fragments: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let (mut repeats, mut reassembler, mut out) = (Repeats::default(), Reassembler::new(), Vec::new());
        for fragment in fragments {
            if repeats.is_repeat(fragment) {
                continue;
            }
            if let Some(message) = reassembler.push(fragment).unwrap() {
                out.push(message);
            }
        }
        out
    }

    /// Every notification delivered twice (a second notification client on BlueZ): each reply
    /// still arrives once, whole, whether it takes one fragment or several.
    #[test]
    fn replies_notified_twice_arrive_once() {
        let hello: Vec<u8> = (0..=226u8).collect();
        let result: Vec<u8> = (100..123u8).collect();
        for mtu in [23, 185, 517] {
            let doubled: Vec<Vec<u8>> = [&hello, &result]
                .iter()
                .flat_map(|m| framing::fragment(m, mtu).unwrap())
                .flat_map(|f| [f.clone(), f])
                .collect();
            assert_eq!(received(&doubled), vec![hello.clone(), result.clone()], "MTU {mtu}");
        }
    }

    /// Without copies nothing is dropped, even two equal messages in a row.
    #[test]
    fn distinct_fragments_all_pass() {
        let message = vec![7u8; 400];
        let fragments: Vec<Vec<u8>> =
            [&message, &message].iter().flat_map(|m| framing::fragment(m, 185).unwrap()).collect();
        assert_eq!(received(&fragments), vec![message.clone(), message]);
    }
}
