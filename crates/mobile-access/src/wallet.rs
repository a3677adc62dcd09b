//! Wallet passes from the app's side: whether to offer "Add to Wallet" (every unmet prerequisite,
//! so the app can say what is missing), and the self-service add, which returns the provisioning
//! payload the iOS app hands to the wallet.
//!
//! The pass is not the Key Button's: its key lives in the iPhone's secure element, the wallet
//! presents it by NFC tap with no app running, and it never unlocks hands-free. The SDK keeps no
//! copy of it and the [`crate::KeyButton`] never uses it.
//!
//! In a real deployment the payload is signed as a PKPass and handed to PassKit's access-pass
//! provisioning flow, which needs Apple entitlements; here it is the cloud's JSON object as is.

use serde::{Deserialize, Serialize};

use crate::{CloudClient, CloudConfig, IssuedCredential, Result, TrustAnchor};

/// What the app knows about the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletDevice {
    /// iOS version, e.g. "17.4".
    pub ios_version: String,
    /// The app's version, e.g. "46.2".
    pub app_version: String,
}

/// The cloud's answer: eligible, or every prerequisite that is not met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletEligibility {
    /// Offer "Add to Wallet".
    pub eligible: bool,
    /// Codes: `sso_mfa`, `wallet_pass_subscription`, `eligible_reader`, `ios_version`, `app_version`.
    pub unmet: Vec<String>,
    /// One sentence per unmet prerequisite, to show.
    pub messages: Vec<String>,
}

/// The devices the wallet reports for an add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWalletPass {
    /// iOS version.
    pub ios_version: String,
    /// The app's version.
    pub app_version: String,
    /// The iPhone's device identifier.
    pub iphone_device_id: String,
    /// The pass's secure-element public key: uncompressed P-256, hex.
    pub secure_element_public_key: String,
    /// The paired Apple Watch, if any.
    pub watch_device_id: Option<String>,
    /// Whether the watch was unlocked during the add.
    pub watch_unlocked: bool,
}

/// A pass's devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletPassDevices {
    /// The iPhone.
    pub iphone: String,
    /// The bound Apple Watch.
    pub watch: Option<String>,
}

/// A pass as recorded by the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletPass {
    /// Pass id.
    pub id: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Where it is active.
    pub devices: WalletPassDevices,
    /// Lock ids it opens (empty: no permission yet).
    pub locks: Vec<u32>,
}

/// What the app hands to the wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletProvisioning {
    /// Format tag.
    pub format: String,
    /// Shown on the pass.
    pub organization: String,
    /// Shown on the pass.
    pub member_name: String,
    /// The credentials the pass presents, bound to the secure-element key.
    pub credentials: Vec<IssuedCredential>,
    /// Keys the pass checks readers against.
    pub trust_anchors: Vec<TrustAnchor>,
    /// Always `tap`.
    pub unlock: String,
}

/// The answer to an add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletPassAdded {
    /// The pass.
    pub pass: WalletPass,
    /// `none`, `bound`, or `add_again` (the watch was locked: add the pass again with it unlocked).
    pub watch: String,
    /// Passes this add replaced on the previous iPhone (and its watch).
    pub superseded: Vec<String>,
    /// What to tell the member.
    pub notes: Vec<String>,
    /// The payload for the wallet.
    pub provisioning: WalletProvisioning,
}

/// The app's wallet pass calls for one member.
#[derive(Debug, Clone)]
pub struct WalletPasses {
    cloud: CloudClient,
}

impl WalletPasses {
    /// Calls for the member with `token`.
    pub fn new(config: CloudConfig, token: impl Into<String>) -> Result<Self> {
        Ok(Self { cloud: CloudClient::new(config, token)? })
    }

    /// Whether to offer "Add to Wallet" on this device, with every unmet prerequisite.
    pub async fn eligibility(&self, device: &WalletDevice) -> Result<WalletEligibility> {
        let body = serde_json::to_value(device).map_err(|e| crate::Error::InvalidResponse(e.to_string()))?;
        self.cloud.call(crate::http::HttpMethod::Post, "/v1/me/wallet/eligibility", Some(body), None).await
    }

    /// Adds a pass for the member (no administrator involved) and returns the payload for the
    /// wallet. Refused with the cloud's `wallet_not_eligible` while a prerequisite is unmet.
    pub async fn add(&self, pass: &NewWalletPass) -> Result<WalletPassAdded> {
        let body = serde_json::to_value(pass).map_err(|e| crate::Error::InvalidResponse(e.to_string()))?;
        self.cloud.call(crate::http::HttpMethod::Post, "/v1/me/wallet/passes", Some(body), None).await
    }
}
