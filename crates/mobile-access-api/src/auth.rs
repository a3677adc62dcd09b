//! Who a bearer token speaks for, and how members get one.

use serde::{Deserialize, Serialize};

use crate::text::text_enum;

text_enum!(
    /// Who a bearer token speaks for.
    Role {
        /// An administrator of one organization.
        Admin => "admin",
        /// The workspace platform's integration for one organization.
        Integration => "integration",
        /// One member.
        Member => "member",
        /// One reader (its token comes with its provisioning; it polls its configuration and
        /// uploads its audit log).
        Reader => "reader",
    }
);

/// A bearer token, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The token.
    pub token: String,
    /// When it stops working (Unix seconds), if it expires.
    pub expires_at: Option<u32>,
}

/// `POST /v1/login`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Needed only when the email belongs to users of several organizations.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// `POST /v1/invitations/accept`: a native user confirms by setting a password.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The invitation token from the welcome email.
    pub token: String,
    /// The new password (at least 8 characters).
    pub password: String,
}
