//! Wallet passes for the iOS app: whether to offer "Add to Wallet", and the self-service add
//! returning the payload the app hands to PassKit. A thin forwarder to
//! [`mobile_access::WalletPasses`].

use std::sync::Arc;

use mobile_access::{
    CredentialStatus, NewWalletPass, WalletDevice, WalletEligibility, WalletPass, WalletPassDevices,
    WalletPrerequisite, WatchBinding,
};

use crate::{KeyButtonConfig, MobileAccessError, runtime};

#[uniffi::remote(Record)]
pub struct WalletDevice {
    pub ios_version: String,
    pub app_version: String,
}

#[uniffi::remote(Enum)]
pub enum WalletPrerequisite {
    SsoMfa,
    Subscription,
    EligibleReader,
    IosVersion,
    AppVersion,
}

#[uniffi::remote(Enum)]
pub enum CredentialStatus {
    Active,
    Suspended,
}

#[uniffi::remote(Enum)]
pub enum WatchBinding {
    NoWatch,
    Bound,
    AddAgain,
}

#[uniffi::remote(Record)]
pub struct WalletEligibility {
    pub eligible: bool,
    pub unmet: Vec<WalletPrerequisite>,
    pub messages: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct NewWalletPass {
    pub ios_version: String,
    pub app_version: String,
    pub iphone_device_id: String,
    pub secure_element_public_key: String,
    pub watch_device_id: Option<String>,
    pub watch_unlocked: bool,
}

#[uniffi::remote(Record)]
pub struct WalletPassDevices {
    pub iphone: String,
    pub watch: Option<String>,
}

#[uniffi::remote(Record)]
pub struct WalletPass {
    pub id: String,
    pub member_id: String,
    pub status: CredentialStatus,
    pub devices: WalletPassDevices,
    pub locks: Vec<u32>,
    pub added_at: u32,
}

/// The answer to an add, with the wallet's payload as the JSON document the app hands over.
#[derive(Debug, Clone, uniffi::Record)]
pub struct WalletPassAdded {
    /// The pass as the cloud recorded it.
    pub pass: WalletPass,
    /// Where the watch stands: none paired, bound, or add again (it was locked: add the pass
    /// again with it unlocked).
    pub watch: WatchBinding,
    /// Passes this add replaced on the previous iPhone (and its watch).
    pub superseded: Vec<String>,
    /// What to tell the member.
    pub notes: Vec<String>,
    /// The provisioning payload for the wallet (JSON).
    pub provisioning_payload: String,
}

/// The member's wallet-pass calls.
#[derive(Debug, uniffi::Object)]
pub struct WalletPasses {
    inner: Arc<mobile_access::WalletPasses>,
}

#[uniffi::export]
impl WalletPasses {
    /// Wallet calls for the member of `config` (its cloud URL and member token), through the
    /// app's HTTP stack when `transport` is given (required in a phone build without its own).
    #[uniffi::constructor(default(transport = None))]
    pub fn new(
        config: Arc<KeyButtonConfig>,
        transport: Option<Arc<dyn crate::HttpTransport>>,
    ) -> Result<Arc<Self>, MobileAccessError> {
        crate::startup::require()?;
        let core = config.to_core(crate::transport::shared(transport));
        let inner = mobile_access::WalletPasses::new(core.cloud, core.member_token)?;
        Ok(Arc::new(Self { inner: Arc::new(inner) }))
    }

    /// Whether to offer "Add to Wallet" on this device; lists every unmet prerequisite.
    pub async fn eligibility(
        &self,
        device: mobile_access::WalletDevice,
    ) -> Result<mobile_access::WalletEligibility, MobileAccessError> {
        let inner = Arc::clone(&self.inner);
        runtime::run(async move { Ok(inner.eligibility(&device).await?) }).await
    }

    /// Adds a pass for the member (no administrator involved).
    pub async fn add(&self, pass: NewWalletPass) -> Result<WalletPassAdded, MobileAccessError> {
        let inner = Arc::clone(&self.inner);
        runtime::run(async move {
            let added = inner.add(&pass).await?;
            let provisioning_payload = serde_json::to_string(&added.provisioning)
                .map_err(|e| MobileAccessError::internal(format!("provisioning payload: {e}")))?;
            Ok(WalletPassAdded {
                pass: added.pass,
                watch: added.watch,
                superseded: added.superseded,
                notes: added.notes,
                provisioning_payload,
            })
        })
        .await
    }
}
