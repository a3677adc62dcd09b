//! Apple Wallet, simulated: an iPhone (and maybe its Apple Watch) holding a wallet pass whose key
//! lives in the secure element, presenting it by NFC tap with no app running.
//!
//! What the machine lacks is simulated, nothing more: the secure element is a software P-256 key
//! that never leaves this type, and PassKit's provisioning is the cloud's JSON payload taken as
//! is. The exchange bytes are the protocol's, the same a phone's app sends over BLE.

use std::sync::Arc;

use mobile_access::WalletProvisioning;
use mobile_access_ble::sim::Position;
use mobile_access_protocol::{
    Credential, DeviceSigner, LockId, Message, Nonce, OrgId, OrganizationPublicKey, ReaderId, SoftwareDeviceKey,
    phone::{Exchange, FullAwaitingResult, Step},
};
use mobile_access_reader::{PassPresenter, TapResult, VirtualReader};
use ring::rand::SystemRandom;

use crate::world::{Error, Result};

/// A pass as the wallet stores it.
#[derive(Debug)]
struct StoredPass {
    credentials: Vec<Credential>,
    trust: Vec<OrganizationPublicKey>,
}

/// One wallet device: an iPhone or an Apple Watch.
#[derive(Debug)]
pub struct WalletDevice {
    /// Its device identifier.
    pub device_id: String,
    /// Where it is.
    pub position: Position,
    key: Arc<SoftwareDeviceKey>,
    pass: Option<Arc<StoredPass>>,
}

/// An iPhone with its wallet, and maybe a paired Apple Watch.
#[derive(Debug)]
pub struct Wallet {
    /// The iPhone.
    pub iphone: WalletDevice,
    /// The paired watch.
    pub watch: Option<WalletDevice>,
}

impl Wallet {
    /// A new iPhone (a fresh secure-element key), with a paired watch if `watch_id` is given.
    pub fn new(iphone_id: &str, watch_id: Option<&str>, position: Position) -> Result<Self> {
        let key = Arc::new(
            SoftwareDeviceKey::generate(&SystemRandom::new())
                .map_err(|e| Error::Reader(format!("secure element: {e}")))?,
        );
        let device = |id: &str| WalletDevice { device_id: id.to_owned(), position, key: Arc::clone(&key), pass: None };
        Ok(Self { iphone: device(iphone_id), watch: watch_id.map(device) })
    }

    /// The pass key's public half in hex: what the app sends to the cloud.
    pub fn secure_element_public_key(&self) -> String {
        hex::encode(self.iphone.key.public_key().0)
    }

    /// What the app sends the cloud to add this wallet's pass (`POST /v1/me/wallet-passes`), from
    /// a phone on `device`'s iOS and app versions, the watch unlocked or not.
    pub fn pass_request(
        &self,
        device: &mobile_access::WalletDevice,
        watch_unlocked: bool,
    ) -> mobile_access::NewWalletPass {
        mobile_access::NewWalletPass {
            ios_version: device.ios_version.clone(),
            app_version: device.app_version.clone(),
            iphone_device_id: self.iphone.device_id.clone(),
            secure_element_public_key: self.secure_element_public_key(),
            watch_device_id: self.watch.as_ref().map(|w| w.device_id.clone()),
            watch_unlocked,
        }
    }

    /// PassKit takes the provisioning payload: the pass lands on the iPhone, and on the watch
    /// only if it was unlocked (`watch_unlocked`).
    pub fn install(&mut self, payload: &WalletProvisioning, watch_unlocked: bool) -> Result<()> {
        let bad = |what: &str| Error::Demo(format!("provisioning payload: {what}"));
        let credentials = payload
            .credentials
            .iter()
            .map(|c| {
                hex::decode(&c.credential)
                    .ok()
                    .and_then(|b| Credential::decode(&b).ok())
                    .ok_or_else(|| bad("credential"))
            })
            .collect::<Result<Vec<_>>>()?;
        let trust = payload
            .trust_anchors
            .iter()
            .map(|a| {
                let org: [u8; 8] =
                    hex::decode(&a.org).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| bad("org"))?;
                let key: [u8; 32] = hex::decode(&a.public_key)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| bad("trust anchor"))?;
                Ok(OrganizationPublicKey::new(OrgId(org), key))
            })
            .collect::<Result<Vec<_>>>()?;
        let pass = Arc::new(StoredPass { credentials, trust });
        self.iphone.pass = Some(Arc::clone(&pass));
        if let Some(watch) = self.watch.as_mut().filter(|_| watch_unlocked) {
            watch.pass = Some(pass);
        }
        Ok(())
    }
}

impl WalletDevice {
    /// True if the wallet on this device holds the pass.
    pub fn has_pass(&self) -> bool {
        self.pass.is_some()
    }

    /// Holds the device against `reader`: an NFC tap, no app. `None` if the reader never noticed
    /// it (out of the NFC field, or no pass in this wallet: the wallet stays silent).
    pub fn tap(&self, reader: &VirtualReader) -> Option<TapResult> {
        let pass = self.pass.as_ref()?;
        let mut session = TapSession { pass, key: self.key.as_ref(), state: State::Idle };
        reader.nfc_tap(&mut session, self.position)
    }
}

enum State {
    Idle,
    Hello(Exchange),
    Awaiting(FullAwaitingResult),
    Done,
}

/// One tap: the wallet's half of the full exchange.
struct TapSession<'a> {
    pass: &'a StoredPass,
    key: &'a SoftwareDeviceKey,
    state: State,
}

impl TapSession<'_> {
    fn credential_for(&self, lock: LockId) -> Option<&Credential> {
        self.pass.credentials.iter().find(|c| c.body().opens(lock)).or(self.pass.credentials.first())
    }
}

impl PassPresenter for TapSession<'_> {
    fn select(&mut self, reader: ReaderId) -> Option<Vec<u8>> {
        if self.pass.credentials.is_empty() {
            return None;
        }
        // NFC has no advertisement: the hello's nonce is random, and a pass always runs the full
        // exchange (its key never leaves the wallet, so it holds no fast secret).
        let rng = SystemRandom::new();
        let (exchange, hello) = Exchange::start(reader, Nonce::random(&rng).ok()?, None, &rng).ok()?;
        self.state = State::Hello(exchange);
        Some(hello)
    }

    fn next(&mut self, answer: &[u8]) -> Option<Vec<u8>> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Hello(exchange) => {
                let lock = match Message::decode(answer).ok()? {
                    Message::ReaderHello { certificate, .. } => certificate.lock,
                    _ => return None,
                };
                let credential = self.credential_for(lock)?;
                let signer: &dyn DeviceSigner = self.key;
                match exchange.on_reply(answer, &self.pass.trust, credential, signer).ok()? {
                    Step::Authenticate(awaiting, auth) => {
                        self.state = State::Awaiting(awaiting);
                        Some(auth)
                    }
                    Step::Done(_) => None,
                }
            }
            State::Awaiting(awaiting) => {
                // The wallet shows nothing either way; the reader's light tells the member.
                let _ = awaiting.on_result(answer);
                None
            }
            State::Idle | State::Done => None,
        }
    }
}
