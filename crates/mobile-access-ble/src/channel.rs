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
        Ok(Self { link, replies, reassembler: Reassembler::new() })
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
