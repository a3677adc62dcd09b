//! The JSON the HTTP API speaks: the contract in [`mobile_access_api`], shared with the SDK and
//! the reader (and checked against the OpenAPI document), plus what only the cloud uses.

pub use mobile_access_api::*;

/// What creating an organization needs (CLI and library; there is no HTTP route for it).
#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    /// Display name.
    pub name: String,
    /// When the integration was created; now if `None`. Before 2023-12-01 the default unlock
    /// method is `native`, from then on `branded_app`.
    pub created_at: Option<u32>,
    /// Overrides the default unlock method.
    pub unlock_method: Option<UnlockMethod>,
}
