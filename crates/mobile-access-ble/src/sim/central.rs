//! The phone's side of the simulated radio.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::{
    sync::{broadcast, mpsc},
    time::Instant,
};

use super::{
    Fault, Position, World,
    link::{LinkShared, Request},
    peripheral::ConnectionId,
};
use crate::{
    AdapterState, Central, DisconnectCause, Error, Link, Notifications, PeripheralId, Result, Rssi, ScanFilter,
    ScanStream, WriteType,
};

/// Unit of BLE connection timing (transmit window offsets and intervals are multiples of it).
const UNIT: Duration = Duration::from_micros(1250);

/// A simulated phone. Implements [`Central`]; also lets a test move it and switch its adapter.
#[derive(Clone)]
pub struct SimCentral {
    world: Arc<World>,
    index: usize,
}

impl std::fmt::Debug for SimCentral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCentral").field("index", &self.index).finish_non_exhaustive()
    }
}

impl SimCentral {
    pub(crate) fn new(world: Arc<World>, index: usize) -> Self {
        Self { world, index }
    }

    /// Moves the phone.
    pub fn move_to(&self, position: Position) {
        if let Some(c) = self.world.state().centrals.get_mut(self.index) {
            c.position = position;
        }
    }

    /// Where the phone is.
    pub fn position(&self) -> Position {
        self.world.state().centrals.get(self.index).map(|c| c.position).unwrap_or_default()
    }

    /// Switches the phone's Bluetooth off, revokes the app's permission, and so on.
    pub fn set_adapter_state(&self, adapter: AdapterState) {
        if let Some(c) = self.world.state().centrals.get_mut(self.index) {
            c.adapter = adapter;
            if adapter != AdapterState::PoweredOn {
                c.scan = None;
            }
        }
    }

    /// From now on this phone's stack reports `peripheral` without an RSSI
    /// ([`Rssi::UNKNOWN`]), in scans and on links, while it still measures every other
    /// peripheral (and `peripheral` still measures the phone): a host stack holding no RSSI for
    /// one advertiser, as btleplug on BlueZ reports a device whose RSSI BlueZ has not set, or
    /// one advertisement reported with 127 ("not available"). For controllers that never
    /// report one, see [`RadioProfile::without_rssi`](super::RadioProfile::without_rssi).
    pub fn report_unknown_rssi_for(&self, peripheral: &PeripheralId) {
        if let Some(c) = self.world.state().centrals.get_mut(self.index) {
            c.rssi_unknown.insert(peripheral.clone());
        }
    }

    /// Forgets the GATT layouts the phone's OS cached (as after a Bluetooth reset).
    pub fn forget_gatt_cache(&self) {
        if let Some(c) = self.world.state().centrals.get_mut(self.index) {
            c.gatt_cache.clear();
        }
    }

    fn adapter(&self) -> AdapterState {
        self.world.state().centrals.get(self.index).map_or(AdapterState::Unavailable, |c| c.adapter)
    }

    fn adverts(&self, peripheral: &PeripheralId) -> Result<broadcast::Receiver<()>> {
        let state = self.world.state();
        let p = state.peripherals.iter().find(|p| &p.config.id == peripheral);
        p.map(|p| p.adverts.subscribe()).ok_or_else(|| Error::NotFound(peripheral.clone()))
    }

    /// Takes the faults armed for `peripheral`, its event sender and whether the GATT layout
    /// is cached, and numbers the new connection.
    fn prepare(
        &self,
        peripheral: &PeripheralId,
    ) -> Result<(Vec<Fault>, mpsc::UnboundedSender<crate::sim::PeripheralEvent>, bool, ConnectionId)> {
        let mut state = self.world.state();
        let cached = state.centrals.get(self.index).is_some_and(|c| c.gatt_cache.contains(peripheral));
        state.next_connection += 1;
        let id = ConnectionId(state.next_connection);
        let p = state.peripherals.iter_mut().find(|p| &p.config.id == peripheral);
        let p = p.ok_or_else(|| Error::NotFound(peripheral.clone()))?;
        Ok((std::mem::take(&mut p.faults), p.events.clone(), cached, id))
    }

    fn remember_gatt(&self, peripheral: &PeripheralId) {
        if let Some(c) = self.world.state().centrals.get_mut(self.index) {
            c.gatt_cache.insert(peripheral.clone());
        }
    }

    fn characteristics(&self, peripheral: &PeripheralId) -> Vec<u128> {
        let state = self.world.state();
        let p = state.peripherals.iter().find(|p| &p.config.id == peripheral);
        p.map(|p| p.config.characteristics.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Central for SimCentral {
    async fn adapter_state(&self) -> AdapterState {
        self.adapter()
    }

    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream> {
        self.adapter().ready()?;
        let (events, receiver) = mpsc::channel(ScanStream::CAPACITY);
        if let Some(c) = self.world.state().centrals.get_mut(self.index) {
            c.scan = Some(super::Scan { filter, started: Instant::now(), events });
        }
        Ok(ScanStream::new(receiver))
    }

    async fn stop_scan(&self) -> Result<()> {
        if let Some(c) = self.world.state().centrals.get_mut(self.index) {
            c.scan = None;
        }
        Ok(())
    }

    async fn connect(&self, peripheral: &PeripheralId) -> Result<Box<dyn Link>> {
        self.adapter().ready()?;
        let mut adverts = self.adverts(peripheral)?;
        let deadline = Instant::now() + self.world.profile.connect_timeout;
        loop {
            match tokio::time::timeout_at(deadline, adverts.recv()).await {
                Err(_) => return Err(Error::Timeout("connect")),
                Ok(Err(broadcast::error::RecvError::Closed)) => return Err(Error::NotFound(peripheral.clone())),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) | Ok(Ok(())) => {}
            }
            if self.world.connect_attempt(self.index, peripheral) {
                break;
            }
        }
        let (mut faults, events, cached, id) = self.prepare(peripheral)?;
        if let Some(i) = faults.iter().position(|f| *f == Fault::FailConnect) {
            faults.remove(i);
            self.requeue(peripheral, faults);
            return Err(Error::ConnectionFailed(peripheral.clone()));
        }
        let disconnect_before = faults
            .iter()
            .position(|f| matches!(f, Fault::DisconnectBeforePacket(_)))
            .map(|i| faults.remove(i))
            .and_then(|f| match f {
                Fault::DisconnectBeforePacket(n) => Some(n),
                Fault::FailConnect => None,
            });
        self.requeue(peripheral, faults);
        let ci = self.world.profile.connection_interval;
        let offset_units = {
            let units = (ci.as_nanos() / UNIT.as_nanos()).max(1) as u64;
            super::SimRng::new(self.world.seed, 0x22_0000 + id.0).next_u64() % units
        };
        let anchor = Instant::now() + UNIT + UNIT.saturating_mul(offset_units as u32);
        let link = LinkShared::establish(
            self.world.clone(),
            id,
            self.index,
            peripheral.clone(),
            events.clone(),
            anchor,
            disconnect_before,
        );
        let _ = events.send(crate::sim::PeripheralEvent::Connected(crate::sim::SimConnection { link: link.clone() }));
        let link = SimLink { link, characteristics: self.characteristics(peripheral) };
        link.link.request(Request::Mtu).await?;
        if !cached {
            for _ in 0..self.world.profile.discovery_transactions {
                link.link.request(Request::Discovery).await?;
            }
            self.remember_gatt(peripheral);
        }
        Ok(Box::new(link))
    }
}

impl SimCentral {
    fn requeue(&self, peripheral: &PeripheralId, faults: Vec<Fault>) {
        if let Some(p) = self.world.state().peripherals.iter_mut().find(|p| &p.config.id == peripheral) {
            p.faults.splice(0..0, faults);
        }
    }
}

/// The phone's end of a simulated connection. Dropping it disconnects.
pub struct SimLink {
    link: Arc<LinkShared>,
    characteristics: Vec<u128>,
}

impl std::fmt::Debug for SimLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLink").field("connection", &self.link.id).finish_non_exhaustive()
    }
}

impl SimLink {
    fn check(&self, characteristic: u128) -> Result<()> {
        if self.link.down().is_some() {
            return Err(self.link.disconnected());
        }
        if !self.characteristics.contains(&characteristic) {
            return Err(Error::CharacteristicNotFound(characteristic));
        }
        Ok(())
    }
}

#[async_trait]
impl Link for SimLink {
    fn peripheral(&self) -> &PeripheralId {
        &self.link.peripheral
    }

    fn mtu(&self) -> u16 {
        self.link.mtu()
    }

    async fn write(&self, characteristic: u128, value: &[u8], kind: WriteType) -> Result<()> {
        self.check(characteristic)?;
        let max = usize::from(self.mtu()) - 3;
        if value.len() > max {
            return Err(Error::PayloadTooLarge { len: value.len(), max });
        }
        match kind {
            WriteType::WithoutResponse => self.link.command(characteristic, value.to_vec()),
            WriteType::WithResponse => self.link.request(Request::Write(characteristic, value.to_vec())).await,
        }
    }

    async fn notifications(&self, characteristic: u128) -> Result<Notifications> {
        self.check(characteristic)?;
        let (values, receiver) = mpsc::unbounded_channel();
        self.link.subscribe(characteristic, values);
        self.link.request(Request::Subscribe(characteristic)).await?;
        Ok(Notifications::new(receiver))
    }

    async fn rssi(&self) -> Result<Rssi> {
        if self.link.down().is_some() {
            return Err(self.link.disconnected());
        }
        self.link
            .world()
            .rssi_at_central(self.link.central, &self.link.peripheral)
            .ok_or_else(|| Error::NotFound(self.link.peripheral.clone()))
    }

    async fn disconnect(&self) -> Result<()> {
        self.link.drop_link(DisconnectCause::LocalTerminated);
        Ok(())
    }
}

impl Drop for SimLink {
    fn drop(&mut self) {
        self.link.drop_link(DisconnectCause::LocalTerminated);
    }
}
