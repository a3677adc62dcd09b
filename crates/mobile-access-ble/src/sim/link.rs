//! One simulated connection: connection events, per-direction packet scheduling with capacity,
//! loss and link-layer retransmission, supervision timeout, injected faults, and delivery at
//! the virtual instant each packet goes over the air.

use std::{
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};

use tokio::{
    sync::{mpsc, oneshot, watch},
    time::Instant,
};

use super::{
    AirDirection, AirPacket, AirPdu, World,
    peripheral::{ConnectionId, Delivery, PeripheralEvent},
    rng::SimRng,
};
use crate::{DisconnectCause, Error, PeripheralId, Result};

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    ToPeripheral = 0,
    ToCentral = 1,
}

/// An ATT request from the central: each is answered by one ATT response in a later event.
#[derive(Debug)]
pub(crate) enum Request {
    Mtu,
    Discovery,
    Subscribe(u128),
    Write(u128, Vec<u8>),
}

#[derive(Debug)]
pub(crate) enum Pdu {
    Request(Request, oneshot::Sender<()>),
    Command(u128, Vec<u8>),
    Response(oneshot::Sender<()>),
    Notification(u128, Vec<u8>, oneshot::Sender<()>),
}

enum Item {
    Deliver(Pdu),
    Fail(DisconnectCause, #[allow(dead_code)] Pdu),
}

struct LinkState {
    anchor: Instant,
    mtu: u16,
    negotiated_mtu: u16,
    /// Per direction: the last event index used and how many packets it carries.
    next_to_peripheral: (u64, u32),
    next_to_central: (u64, u32),
    rng: SimRng,
    packets: u64,
    disconnect_before: Option<u64>,
    down: Option<DisconnectCause>,
    queues: Option<[mpsc::UnboundedSender<(Instant, Item)>; 2]>,
    subscriptions: Vec<(u128, mpsc::UnboundedSender<Vec<u8>>)>,
}

impl LinkState {
    fn next(&mut self, dir: Dir) -> &mut (u64, u32) {
        match dir {
            Dir::ToPeripheral => &mut self.next_to_peripheral,
            Dir::ToCentral => &mut self.next_to_central,
        }
    }
}

/// The state both ends of a connection share.
pub(crate) struct LinkShared {
    pub(crate) id: ConnectionId,
    pub(crate) peripheral: PeripheralId,
    pub(crate) central: usize,
    world: Arc<World>,
    peripheral_events: mpsc::UnboundedSender<PeripheralEvent>,
    down_signal: watch::Sender<bool>,
    state: Mutex<LinkState>,
}

impl LinkShared {
    /// Opens a connection whose first connection event is at `anchor`.
    pub(crate) fn establish(
        world: Arc<World>,
        id: ConnectionId,
        central: usize,
        peripheral: PeripheralId,
        peripheral_events: mpsc::UnboundedSender<PeripheralEvent>,
        anchor: Instant,
        disconnect_before: Option<u64>,
    ) -> Arc<Self> {
        let (to_peripheral, rx_peripheral) = mpsc::unbounded_channel();
        let (to_central, rx_central) = mpsc::unbounded_channel();
        let (down_signal, _) = watch::channel(false);
        let negotiated_mtu = world.profile.mtu.clamp(mobile_access_protocol::framing::MIN_MTU, 517);
        let link = Arc::new(Self {
            id,
            peripheral,
            central,
            peripheral_events,
            down_signal,
            state: Mutex::new(LinkState {
                anchor,
                mtu: mobile_access_protocol::framing::MIN_MTU,
                negotiated_mtu,
                next_to_peripheral: (0, 0),
                next_to_central: (0, 0),
                rng: SimRng::new(world.seed, 0x11_0000 + id.0),
                packets: 0,
                disconnect_before,
                down: None,
                queues: Some([to_peripheral, to_central]),
                subscriptions: Vec::new(),
            }),
            world,
        });
        for (dir, rx) in [(Dir::ToPeripheral, rx_peripheral), (Dir::ToCentral, rx_central)] {
            tokio::spawn(run_queue(Arc::downgrade(&link), dir, rx, link.down_signal.subscribe()));
        }
        link
    }

    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn world(&self) -> &World {
        &self.world
    }

    pub(crate) fn mtu(&self) -> u16 {
        self.state().mtu
    }

    pub(crate) fn down(&self) -> Option<DisconnectCause> {
        self.state().down
    }

    pub(crate) fn disconnected(&self) -> Error {
        Error::Disconnected {
            peripheral: self.peripheral.clone(),
            cause: self.down().unwrap_or(DisconnectCause::Unknown),
        }
    }

    /// Schedules `pdu` for the first connection event strictly after `now` in which its
    /// direction has room, retransmitting lost attempts at the following events.
    fn send(&self, dir: Dir, pdu: Pdu, now: Instant) {
        let profile = &self.world.profile;
        let in_range = self.world.link_in_range(self.central, &self.peripheral);
        let loss = self.world.packet_loss();
        let mut state = self.state();
        if state.down.is_some() {
            return; // dropping the pdu fails its waiter
        }
        let index = state.packets;
        state.packets += 1;
        let item = if state.disconnect_before == Some(index) {
            (now, Item::Fail(DisconnectCause::Injected, pdu))
        } else {
            let ci = profile.connection_interval;
            let (last, used) = *state.next(dir);
            let mut k = event_after(state.anchor, ci, now).max(last);
            if k == last && used >= profile.packets_per_event.max(1) {
                k += 1;
            }
            let first = k;
            let mut failed = None;
            while !in_range || state.rng.chance(loss) {
                k += 1;
                if ci.saturating_mul((k - first) as u32) >= profile.supervision_timeout {
                    failed = Some(DisconnectCause::SupervisionTimeout);
                    break;
                }
            }
            *state.next(dir) = if k == last { (k, used + 1) } else { (k, 1) };
            let at = event_time(state.anchor, ci, k);
            match failed {
                Some(cause) => (at, Item::Fail(cause, pdu)),
                None => (at, Item::Deliver(pdu)),
            }
        };
        if let Some(queues) = &state.queues
            && let Some(queue) = queues.get(dir as usize)
        {
            let _ = queue.send(item);
        }
    }

    /// An ATT request from the central, resolved when its response arrived.
    pub(crate) async fn request(&self, request: Request) -> Result<()> {
        let (done, waiter) = oneshot::channel();
        self.send(Dir::ToPeripheral, Pdu::Request(request, done), Instant::now());
        waiter.await.map_err(|_| self.disconnected())
    }

    /// An ATT write command from the central.
    pub(crate) fn command(&self, characteristic: u128, value: Vec<u8>) -> Result<()> {
        if self.down().is_some() {
            return Err(self.disconnected());
        }
        self.send(Dir::ToPeripheral, Pdu::Command(characteristic, value), Instant::now());
        Ok(())
    }

    /// Registers the central's receiver for notifications on `characteristic`.
    pub(crate) fn subscribe(&self, characteristic: u128, values: mpsc::UnboundedSender<Vec<u8>>) {
        self.state().subscriptions.push((characteristic, values));
    }

    /// A notification from the peripheral.
    pub(crate) fn notify(&self, characteristic: u128, value: Vec<u8>) -> Result<Delivery> {
        let max = usize::from(self.mtu()) - 3;
        if value.len() > max {
            return Err(Error::PayloadTooLarge { len: value.len(), max });
        }
        if self.down().is_some() {
            return Err(self.disconnected());
        }
        let (done, waiter) = oneshot::channel();
        self.send(Dir::ToCentral, Pdu::Notification(characteristic, value, done), Instant::now());
        Ok(Delivery { done: waiter })
    }

    /// Ends the connection for both sides (idempotent).
    pub(crate) fn drop_link(&self, cause: DisconnectCause) {
        let mut state = self.state();
        if state.down.is_some() {
            return;
        }
        state.down = Some(cause);
        state.queues = None;
        state.subscriptions.clear();
        drop(state);
        self.down_signal.send_replace(true);
        tracing::debug!(connection = self.id.0, peripheral = %self.peripheral, %cause, "simulated link down");
        let _ = self.peripheral_events.send(PeripheralEvent::Disconnected { connection: self.id, cause });
    }

    fn deliver(&self, dir: Dir, pdu: Pdu, at: Instant) {
        if self.down().is_some() {
            return;
        }
        let record = |direction, pdu| {
            self.world.record(AirPacket {
                at,
                connection: self.id,
                peripheral: self.peripheral.clone(),
                direction,
                pdu,
            })
        };
        match (dir, pdu) {
            (Dir::ToPeripheral, Pdu::Request(request, done)) => {
                match request {
                    Request::Mtu => {
                        let mut state = self.state();
                        state.mtu = state.negotiated_mtu;
                        drop(state);
                        record(AirDirection::ToPeripheral, AirPdu::Control("exchange MTU"));
                    }
                    Request::Discovery => record(AirDirection::ToPeripheral, AirPdu::Control("discovery")),
                    Request::Subscribe(characteristic) => {
                        record(AirDirection::ToPeripheral, AirPdu::Control("enable notifications"));
                        let _ = self
                            .peripheral_events
                            .send(PeripheralEvent::Subscribed { connection: self.id, characteristic });
                    }
                    Request::Write(characteristic, value) => self.write_arrived(characteristic, value, true, &record),
                }
                self.send(Dir::ToCentral, Pdu::Response(done), at);
            }
            (Dir::ToPeripheral, Pdu::Command(characteristic, value)) => {
                self.write_arrived(characteristic, value, false, &record)
            }
            (Dir::ToCentral, Pdu::Response(done)) => {
                record(AirDirection::ToCentral, AirPdu::Control("response"));
                let _ = done.send(());
            }
            (Dir::ToCentral, Pdu::Notification(characteristic, value, done)) => {
                record(AirDirection::ToCentral, AirPdu::Notification { characteristic, value: value.clone() });
                let state = self.state();
                for (_, subscriber) in state.subscriptions.iter().filter(|(c, _)| *c == characteristic) {
                    let _ = subscriber.send(value.clone());
                }
                drop(state);
                let _ = done.send(());
            }
            (dir, pdu) => tracing::warn!(?dir, ?pdu, "simulated PDU in the wrong direction dropped"),
        }
    }

    fn write_arrived(
        &self,
        characteristic: u128,
        value: Vec<u8>,
        with_response: bool,
        record: &dyn Fn(AirDirection, AirPdu),
    ) {
        record(AirDirection::ToPeripheral, AirPdu::Write { characteristic, value: value.clone(), with_response });
        let rssi = self.world.rssi_at_peripheral(self.central, &self.peripheral);
        let _ =
            self.peripheral_events.send(PeripheralEvent::Write { connection: self.id, characteristic, value, rssi });
    }
}

/// Index of the first connection event strictly after `now` (event 0 is at `anchor`).
pub(crate) fn event_after(anchor: Instant, ci: Duration, now: Instant) -> u64 {
    if now < anchor {
        return 0;
    }
    let elapsed = now.duration_since(anchor).as_nanos();
    let ci = ci.as_nanos().max(1);
    (elapsed / ci) as u64 + 1
}

fn event_time(anchor: Instant, ci: Duration, k: u64) -> Instant {
    anchor + ci.saturating_mul(u32::try_from(k).unwrap_or(u32::MAX))
}

async fn run_queue(
    link: Weak<LinkShared>,
    dir: Dir,
    mut queue: mpsc::UnboundedReceiver<(Instant, Item)>,
    mut down: watch::Receiver<bool>,
) {
    while let Some((at, item)) = queue.recv().await {
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            _ = down.wait_for(|down| *down) => return,
        }
        let Some(link) = link.upgrade() else { return };
        match item {
            Item::Deliver(pdu) => link.deliver(dir, pdu, at),
            Item::Fail(cause, _) => link.drop_link(cause),
        }
    }
}
