//! Remote unlock, the phone's side: the member's doors as the cloud lists them, opening one over
//! the network (the cloud commands the door's online reader), and the tap's fallback to it when
//! Bluetooth fails, only where the organization allows it.
//!
//! Where the organization requires proof that the phone is at the door, the proof is a reader's
//! advertisement heard over Bluetooth moments before: its reader id and nonce, which the reader
//! announced to the cloud. A tap keeps the last reader it heard ([`Heard`]); a remote unlock
//! uses it while fresh and otherwise listens for the door's readers itself. With Bluetooth off
//! there is no proof, and the cloud refuses ([`Error::ProximityRequired`]).

use std::time::Duration;

use mobile_access_api::{Proximity, RemoteUnlock};
use mobile_access_ble::ScanFilter;
use mobile_access_protocol::ReaderId;
use tracing::{info, warn};

use crate::{
    Error, KeyButton, KeyButtonState, Phase, PhaseTimings, Result, TapOutcome, TapReport,
    account::{Account, Call},
    button::UnlockPath,
    unlock::{Heard, Held, ours},
};

/// How long a heard advertisement serves as proof. The cloud accepts nonces the reader announced
/// with its last two polls (about 25 s apart), so a few seconds is always safe; an older one is
/// heard again.
const HEARD_FRESH: Duration = Duration::from_secs(5);

/// One of the member's doors, as the cloud lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDoor {
    /// The door's id (for [`KeyButton::unlock_remotely`]).
    pub id: String,
    /// The account (organization) it belongs to.
    pub account: String,
    /// Its name, to show.
    pub name: String,
    /// True if one of its readers is online: a remote unlock can reach it now.
    pub reader_online: bool,
}

/// The member's doors and the organization's remote unlock policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDoors {
    /// Whether, and how, doors open over the network, in the account the button was created
    /// with (each account's is in its access: [`KeyButton::accounts`]).
    pub policy: RemoteUnlock,
    /// Account by account, each by name.
    pub doors: Vec<RemoteDoor>,
}

/// Errors after which a tap may still open the door over the network: the radio failed or found
/// no reader. Not a reader's refusal (it decided), not the cloud's (it would refuse again).
pub(crate) fn may_fall_back(error: &Error) -> bool {
    matches!(
        error,
        Error::BluetoothOff
            | Error::BluetoothUnauthorized
            | Error::BluetoothUnavailable
            | Error::LocationServicesOff
            | Error::Bluetooth(_)
            | Error::NoReaderFound
            | Error::Timeout { phase: Phase::Scan | Phase::Connect | Phase::Exchange }
    )
}

impl KeyButton {
    /// The member's doors as each account's cloud lists them (one request each), each with
    /// whether a remote unlock can reach it now, and the first account's policy. Fails when the
    /// first account's listing does; another account's failure leaves its doors out (logged).
    pub async fn remote_doors(&self) -> Result<RemoteDoors> {
        let accounts = self.all_accounts();
        let listings = crate::account::each_at_once(
            accounts
                .iter()
                .map(|account| Box::pin(account.cloud.doors()) as Call<'_, Result<mobile_access_api::MemberDoors>>)
                .collect(),
        )
        .await;
        let mut policy = RemoteUnlock::Off;
        let mut doors = Vec::new();
        for (index, (account, listed)) in accounts.iter().zip(listings).enumerate() {
            let listed = match listed {
                Ok(listed) => listed,
                Err(error) if index == 0 => return Err(error),
                Err(error) => {
                    warn!(account = %account.id, %error, "doors not listed");
                    continue;
                }
            };
            if index == 0 {
                policy = listed.remote_unlock;
            }
            doors.extend(listed.doors.into_iter().map(|door| RemoteDoor {
                id: door.door_id,
                account: account.id.clone(),
                name: door.name,
                reader_online: door.reader_online,
            }));
        }
        Ok(RemoteDoors { policy, doors })
    }

    /// Opens `door_id` over the network, because the member chose it (Bluetooth off, or the
    /// door is out of range): the cloud tells the door's online reader to open and answers once
    /// it did. One flow at a time, as taps are. Where the organization requires proximity, the
    /// phone first listens for the door's reader (see the module docs).
    ///
    /// Errors: [`Error::RemoteUnlockOff`], [`Error::ProximityRequired`], [`Error::ReaderOffline`]
    /// (the door stayed shut), and the cloud's usual ones.
    pub async fn unlock_remotely(&self, door_id: &str) -> Result<TapReport> {
        self.exclusively(self.remote_flow(door_id)).await
    }

    /// After a tap failed with `error` ([`may_fall_back`]): opens the door over the network if
    /// the organization allows it and the door is known (the one chosen, the one heard, or the
    /// key's only door), with the heard reader as proof where required. Otherwise, or if that
    /// fails too, the tap's own error stands: it says what the member can fix.
    pub(crate) async fn fall_back(&self, only: Option<&str>, error: Error) -> Result<TapReport> {
        let heard = self.fresh_heard(only);
        let door = match (only, &heard) {
            (Some(door), _) => Some(door.to_owned()),
            (None, Some(heard)) => Some(heard.reader.door_id.clone()),
            (None, None) => self.only_door(),
        };
        let Some(door) = door else { return Err(error) };
        // The policy of the organization whose door it is.
        let policy = self
            .account_of_door(&door)
            .and_then(|account| account.access())
            .map_or(RemoteUnlock::Off, |access| access.remote_unlock);
        match policy {
            RemoteUnlock::Off => return Err(error),
            RemoteUnlock::ProximityRequired if heard.is_none() => return Err(error),
            RemoteUnlock::Allowed | RemoteUnlock::ProximityRequired => {}
        }
        info!(%error, "Bluetooth could not open the door; falling back to remote unlock");
        match self.remote_flow(&door).await {
            Ok(report) => Ok(report),
            Err(remote) => {
                warn!(%remote, "remote unlock failed too");
                Err(error)
            }
        }
    }

    async fn remote_flow(&self, door_id: &str) -> Result<TapReport> {
        let requests_before = self.http_requests();
        // Real time: this flow is the network's, whatever clock the radio runs on.
        let started = std::time::Instant::now();
        // The organization whose door it is: asked, and told, alone. A door no cached key
        // lists is asked of the first account (its cloud knows the member's doors).
        let account = self
            .account_of_door(door_id)
            .or_else(|| self.primary())
            .ok_or_else(|| Error::UnknownDoor(door_id.to_owned()))?;
        self.set_flow_account(&account);
        let policy = account.access().map(|access| access.remote_unlock);
        let mut heard = self.fresh_heard(Some(door_id));
        if heard.is_none() && policy == Some(RemoteUnlock::ProximityRequired) {
            self.set_state(KeyButtonState::Searching);
            heard = self.hear(&account, door_id).await;
        }
        let scan = started.elapsed();
        self.set_state(KeyButtonState::Unlocking);
        let proximity = heard.as_ref().map(|heard| Proximity {
            reader_id: heard.reader.id.to_string(),
            nonce: heard.advertisement.nonce.to_string(),
        });
        let opened = account.cloud.unlock_door(door_id, proximity).await?;
        let reader = hex::decode(&opened.reader_id)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .map(ReaderId)
            .ok_or_else(|| Error::InvalidResponse(format!("reader id {:?}", opened.reader_id)))?;
        let door = opened.door_name;
        info!(door = %door, took_ms = opened.took_ms, "door opened remotely");
        Ok(TapReport {
            outcome: TapOutcome::Unlocked,
            door,
            account: account.id.clone(),
            reader,
            path: UnlockPath::Remote,
            exchange: None,
            timings: PhaseTimings { scan, exchange: started.elapsed() - scan, ..PhaseTimings::default() },
            http_requests: self.http_requests() - requests_before,
            key_refreshed: false,
        })
    }

    /// The last reader heard, if heard within [`HEARD_FRESH`] (and at `door`, when given).
    fn fresh_heard(&self, door: Option<&str>) -> Option<Heard> {
        let heard = self.heard.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()?;
        (heard.at.elapsed() < HEARD_FRESH && door.is_none_or(|door| heard.reader.door_id == door)).then_some(heard)
    }

    /// Listens for a reader of `door_id` (one `account`'s cached key knows) for up to the scan
    /// timeout.
    async fn hear(&self, account: &std::sync::Arc<Account>, door_id: &str) -> Option<Heard> {
        let held = [Held { account: std::sync::Arc::clone(account), keys: account.keyring.keys().ok().flatten()? }];
        let mut scan = self.central.scan(ScanFilter::readers()).await.ok()?;
        let heard = tokio::time::timeout(self.timeouts.scan, async {
            while let Some(event) = scan.next().await {
                if let Some(target) = ours(&held, &event).filter(|t| t.reader.door_id == door_id) {
                    return Some(Heard::now(&target));
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let _ = self.central.stop_scan().await;
        if let Some(heard) = &heard {
            *self.heard.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(heard.clone());
        }
        heard
    }

    /// The member's only door, if the cached keys of all accounts open exactly one.
    fn only_door(&self) -> Option<String> {
        let keys: Vec<_> =
            self.all_accounts().iter().filter_map(|account| account.keyring.keys().ok().flatten()).collect();
        let mut doors = keys.iter().flat_map(|keys| keys.readers()).map(|r| r.door_id.as_str());
        let first = doors.next()?;
        doors.all(|door| door == first).then(|| first.to_owned())
    }
}
