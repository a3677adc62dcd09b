//! The peripheral's side of the simulated radio: what a virtual reader configures, the events
//! it receives and the handle it answers through.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Position, link::LinkShared};
use crate::{DisconnectCause, PeripheralId, Result, Rssi};

/// What a simulated peripheral looks like on the air.
#[derive(Debug, Clone, PartialEq)]
pub struct PeripheralConfig {
    /// Its identifier (what scans report and connects name).
    pub id: PeripheralId,
    /// Where it is.
    pub position: Position,
    /// Its calibrated RSSI at 1 m, dBm (what the reader advertises as TX power).
    pub power_at_1m: f64,
    /// Service UUIDs it advertises (what scan filters match).
    pub services: Vec<u128>,
    /// Characteristics of its GATT database a central may write to or subscribe to.
    pub characteristics: Vec<u128>,
}

/// Supplies the advertising data for each advertising event, so a peripheral can change what
/// it advertises (a rotating nonce) between events.
pub trait Advertiser: Send + Sync + 'static {
    /// The legacy advertising data (at most 31 bytes) for the event happening now.
    fn advertising_data(&self) -> Vec<u8>;
}

/// Identifies one connection on the simulated radio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// What happens to a peripheral, in order.
#[derive(Debug)]
pub enum PeripheralEvent {
    /// A central connected; answer it through the handle.
    Connected(SimConnection),
    /// The central enabled notifications on a characteristic.
    Subscribed {
        /// Which connection.
        connection: ConnectionId,
        /// Which characteristic.
        characteristic: u128,
    },
    /// The central wrote a value (with or without response).
    Write {
        /// Which connection.
        connection: ConnectionId,
        /// Which characteristic.
        characteristic: u128,
        /// The ATT value.
        value: Vec<u8>,
        /// The central's signal strength as this peripheral received the write (unknown on a
        /// radio whose controllers report none).
        rssi: Rssi,
    },
    /// The connection ended.
    Disconnected {
        /// Which connection.
        connection: ConnectionId,
        /// Why.
        cause: DisconnectCause,
    },
}

/// The peripheral's events, as returned when it is added to the radio.
#[derive(Debug)]
pub struct PeripheralEvents {
    pub(crate) events: mpsc::UnboundedReceiver<PeripheralEvent>,
}

impl PeripheralEvents {
    /// The next event; `None` once the peripheral was removed from the radio.
    pub async fn next(&mut self) -> Option<PeripheralEvent> {
        self.events.recv().await
    }
}

/// The peripheral's handle on one connection.
#[derive(Clone)]
pub struct SimConnection {
    pub(crate) link: Arc<LinkShared>,
}

impl std::fmt::Debug for SimConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConnection").field("id", &self.id()).finish()
    }
}

/// Resolves once a notification was delivered to the central (acknowledged by its link layer),
/// or the connection ended first. A reader uses it to act only on answers the phone received.
#[derive(Debug)]
pub struct Delivery {
    pub(crate) done: oneshot::Receiver<()>,
}

impl Delivery {
    /// True if the notification reached the central.
    pub async fn delivered(self) -> bool {
        self.done.await.is_ok()
    }
}

impl SimConnection {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.link.id
    }

    /// The negotiated ATT MTU.
    pub fn mtu(&self) -> u16 {
        self.link.mtu()
    }

    /// Queues a notification (at most `mtu() - 3` bytes) for the next connection event.
    pub fn notify(&self, characteristic: u128, value: Vec<u8>) -> Result<Delivery> {
        self.link.notify(characteristic, value)
    }

    /// Closes the connection from the peripheral's side.
    pub fn disconnect(&self) {
        self.link.drop_link(DisconnectCause::PeerTerminated);
    }
}
