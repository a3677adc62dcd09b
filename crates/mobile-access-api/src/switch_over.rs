//! Switching the unlock method: its preview and its job.

use serde::{Deserialize, Serialize};

use crate::{UnlockMethod, User};

/// `GET /v1/admin/switch-over/preview?to=`: what switching the unlock method would do.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchPreviewQuery {
    /// The method to switch to.
    pub to: Option<UnlockMethod>,
    /// Users listed per page (1 to 1000, default 100).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub after: Option<String>,
}

/// The preview of a switch: nothing has changed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchPreview {
    /// The current method.
    pub from: UnlockMethod,
    /// The method previewed.
    pub to: UnlockMethod,
    /// Users that will be deleted and recreated as confirmed, managed users (native → branded app).
    pub users_to_recreate: u32,
    /// Users left as they are.
    pub users_untouched: u32,
    /// Access group memberships the recreated users carry over.
    pub memberships_kept: u32,
    /// Key fobs the recreated users carry over.
    pub key_fobs_kept: u32,
    /// Cards the recreated users carry over.
    pub cards_kept: u32,
    /// Users that will get an invitation to set a password (branded app → native).
    pub invitations: u32,
    /// Welcome emails the switch will queue (the new method's default unless overridden).
    pub welcome_emails: u32,
    /// A page of the users to recreate (or invite), by member id.
    pub users: Vec<User>,
    /// Cursor of the next page of `users`.
    pub next: Option<String>,
}

/// `POST /v1/admin/switch-over`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StartSwitch {
    /// The method to switch to.
    pub unlock_method: UnlockMethod,
    /// Overrides the new method's default welcome email setting.
    #[serde(default)]
    pub welcome_email: Option<bool>,
}

/// A switch-over job and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchJob {
    /// Job id.
    pub id: String,
    /// The method switched to.
    pub target: UnlockMethod,
    /// `running` or `done`.
    pub state: String,
    /// Users the job works on.
    pub total: u32,
    /// Users finished.
    pub done: u32,
    /// When it started.
    pub created_at: u32,
    /// When it finished.
    pub finished_at: Option<u32>,
}
