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

use crate::{CloudClient, CloudConfig, NewWalletPass, Result, WalletDevice, WalletEligibility, WalletPassAdded};

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
