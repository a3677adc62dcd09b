//! The HTTP API: routes, body limits, error mapping, request logging.
//!
//! [`OPERATIONS`] lists every route with the role it requires; the OpenAPI document is built
//! from it and the authorization-matrix test walks it, so a route cannot be added without being
//! documented and tested.

mod extract;
pub mod openapi;
mod routes;

use std::time::Instant;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    middleware::{self, Next},
    response::Response,
    routing::{get, post, put},
};

use crate::{api::Role, store::Store};

/// Body limit of every route but the member sync.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Body limit of `PUT /v1/integration/members` (100 000 members fit).
pub const SYNC_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// One route as documented.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path with `{param}` placeholders.
    pub path: &'static str,
    /// The token role required; `None` for public routes.
    pub role: Option<Role>,
    /// One line for the document.
    pub summary: &'static str,
    /// Request body schema name.
    pub request: Option<&'static str>,
    /// Success status.
    pub status: u16,
    /// Success body schema name.
    pub response: Option<&'static str>,
    /// Business refusal codes (403) besides `forbidden`.
    pub refusals: &'static [&'static str],
}

const fn op(
    method: &'static str,
    path: &'static str,
    role: Option<Role>,
    summary: &'static str,
    request: Option<&'static str>,
    status: u16,
    response: Option<&'static str>,
) -> Operation {
    Operation { method, path, role, summary, request, status, response, refusals: &[] }
}

const ADMIN: Option<Role> = Some(Role::Admin);

/// Every route of the API.
pub const OPERATIONS: &[Operation] = &[
    op("GET", "/healthz", None, "Liveness and database reachability", None, 200, Some("Health")),
    op("GET", "/openapi.json", None, "This document", None, 200, None),
    Operation {
        refusals: &["password_login_disabled", "not_confirmed"],
        ..op("POST", "/v1/login", None, "Native login (refused under branded_app)", Some("Login"), 200, Some("Token"))
    },
    Operation {
        refusals: &["password_login_disabled"],
        ..op(
            "POST",
            "/v1/invitations/accept",
            None,
            "A native user confirms by setting a password",
            Some("AcceptInvitation"),
            200,
            Some("Token"),
        )
    },
    op("GET", "/v1/me/access", Some(Role::Member), "What the Key Button needs", None, 200, Some("Access")),
    Operation {
        refusals: &["module_disabled", "not_confirmed", "no_access_group", "credential_suspended"],
        ..op(
            "POST",
            "/v1/me/keys",
            Some(Role::Member),
            "Check rights and sign credentials for a device key",
            Some("KeyRequest"),
            200,
            Some("KeyBundle"),
        )
    },
    op(
        "PUT",
        "/v1/integration/members",
        Some(Role::Integration),
        "Bulk idempotent upsert of members and their access groups",
        Some("MemberSync"),
        200,
        Some("SyncReport"),
    ),
    op(
        "POST",
        "/v1/integration/members/{external_id}/session",
        Some(Role::Integration),
        "A member session token for the branded app",
        None,
        201,
        Some("Token"),
    ),
    op(
        "GET",
        "/v1/admin/organization",
        ADMIN,
        "The organization and its trust anchor",
        None,
        200,
        Some("Organization"),
    ),
    op("GET", "/v1/admin/settings", ADMIN, "Integration settings", None, 200, Some("Settings")),
    op(
        "PATCH",
        "/v1/admin/settings",
        ADMIN,
        "Change integration settings",
        Some("SettingsPatch"),
        200,
        Some("Settings"),
    ),
    op("GET", "/v1/admin/doors", ADMIN, "Doors with their readers", None, 200, Some("DoorPage")),
    op("POST", "/v1/admin/doors", ADMIN, "Create a door", Some("NewDoor"), 201, Some("Door")),
    op(
        "POST",
        "/v1/admin/doors/{door_id}/readers",
        ADMIN,
        "Provision a reader (returns its secret once)",
        Some("NewReader"),
        201,
        Some("Provisioning"),
    ),
    op("GET", "/v1/admin/access-groups", ADMIN, "Access groups", None, 200, Some("AccessGroupPage")),
    op(
        "POST",
        "/v1/admin/access-groups",
        ADMIN,
        "Create an access group",
        Some("NewAccessGroup"),
        201,
        Some("AccessGroup"),
    ),
    op("GET", "/v1/admin/users", ADMIN, "Access users with status and managed flag", None, 200, Some("UserPage")),
    op("GET", "/v1/admin/users/{member_id}", ADMIN, "One access user", None, 200, Some("User")),
    Operation {
        refusals: &["password_login_disabled"],
        ..op("POST", "/v1/admin/users/{member_id}/invitation", ADMIN, "(Re)send a native invitation", None, 204, None)
    },
    op(
        "POST",
        "/v1/admin/users/{member_id}/credentials",
        ADMIN,
        "Register a key fob or card",
        Some("NewCredential"),
        201,
        Some("Credential"),
    ),
    op("GET", "/v1/admin/credentials", ADMIN, "Mobile keys, key fobs and cards", None, 200, Some("CredentialPage")),
    op("POST", "/v1/admin/credentials/{credential_id}/suspend", ADMIN, "Suspend a credential", None, 204, None),
    op("POST", "/v1/admin/credentials/{credential_id}/resume", ADMIN, "Reactivate a credential", None, 204, None),
    op("DELETE", "/v1/admin/credentials/{credential_id}", ADMIN, "Delete a credential", None, 204, None),
    op(
        "GET",
        "/v1/admin/users/{member_id}/audit-log",
        ADMIN,
        "A user's audit history, across recreations by a switch-over",
        None,
        200,
        Some("AuditPage"),
    ),
    op(
        "GET",
        "/v1/admin/switch-over/preview",
        ADMIN,
        "What switching the unlock method would do (changes nothing)",
        None,
        200,
        Some("SwitchPreview"),
    ),
    op(
        "POST",
        "/v1/admin/switch-over",
        ADMIN,
        "Switch the unlock method: a resumable job (native → branded app recreates unconfirmed users)",
        Some("StartSwitch"),
        202,
        Some("SwitchJob"),
    ),
    op(
        "GET",
        "/v1/admin/switch-over",
        ADMIN,
        "The latest switch-over job and its progress",
        None,
        200,
        Some("SwitchJob"),
    ),
    op(
        "GET",
        "/v1/reader/config",
        Some(Role::Reader),
        "What an online reader polls: the signed revocation list and time",
        None,
        200,
        Some("ReaderSync"),
    ),
    op(
        "POST",
        "/v1/reader/events",
        Some(Role::Reader),
        "Upload the reader's recorded attempts (stable ids, kept once)",
        Some("EventUpload"),
        200,
        Some("UploadReport"),
    ),
    op(
        "POST",
        "/v1/me/events",
        Some(Role::Member),
        "Upload the app's unlock results recorded offline (stable ids, kept once)",
        Some("EventUpload"),
        200,
        Some("UploadReport"),
    ),
    op(
        "POST",
        "/v1/me/wallet/eligibility",
        Some(Role::Member),
        "Every unmet wallet pass prerequisite for this organization and device",
        Some("WalletDevice"),
        200,
        Some("WalletEligibility"),
    ),
    Operation {
        refusals: &["wallet_not_eligible", "credential_suspended"],
        ..op(
            "POST",
            "/v1/me/wallet/passes",
            Some(Role::Member),
            "Add a wallet pass (self-service): binding and the payload for the wallet",
            Some("NewWalletPass"),
            201,
            Some("WalletPassAdded"),
        )
    },
    op(
        "GET",
        "/v1/me/wallet/passes",
        Some(Role::Member),
        "The member's wallet passes",
        None,
        200,
        Some("WalletPassPage"),
    ),
    op("GET", "/v1/admin/wallet-passes", ADMIN, "Wallet passes with their devices", None, 200, Some("WalletPassPage")),
    op("POST", "/v1/admin/wallet-passes/{pass_id}/suspend", ADMIN, "Suspend a wallet pass", None, 204, None),
    op("POST", "/v1/admin/wallet-passes/{pass_id}/resume", ADMIN, "Reactivate a wallet pass", None, 204, None),
    op("DELETE", "/v1/admin/wallet-passes/{pass_id}", ADMIN, "Delete a wallet pass", None, 204, None),
    op("GET", "/v1/admin/outbox", ADMIN, "Queued emails", None, 200, Some("OutboxPage")),
    op("GET", "/v1/admin/audit-log", ADMIN, "Audit log", None, 200, Some("AuditPage")),
];

/// The API as an axum router over `store`.
pub fn router(store: Store) -> Router {
    use routes::*;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/v1/login", post(login))
        .route("/v1/invitations/accept", post(accept_invitation))
        .route("/v1/me/access", get(me_access))
        .route("/v1/me/keys", post(me_keys))
        .route("/v1/integration/members", put(sync_members).layer(DefaultBodyLimit::max(SYNC_BODY_LIMIT)))
        .route("/v1/integration/members/{external_id}/session", post(member_session))
        .route("/v1/admin/organization", get(organization))
        .route("/v1/admin/settings", get(settings).patch(patch_settings))
        .route("/v1/admin/doors", get(doors).post(create_door))
        .route("/v1/admin/doors/{door_id}/readers", post(provision_reader))
        .route("/v1/admin/access-groups", get(access_groups).post(create_access_group))
        .route("/v1/admin/users", get(users))
        .route("/v1/admin/users/{member_id}", get(user))
        .route("/v1/admin/users/{member_id}/invitation", post(send_invitation))
        .route("/v1/admin/users/{member_id}/credentials", post(create_credential))
        .route("/v1/admin/credentials", get(credentials))
        .route("/v1/admin/credentials/{credential_id}/suspend", post(suspend_credential))
        .route("/v1/admin/credentials/{credential_id}/resume", post(resume_credential))
        .route("/v1/admin/credentials/{credential_id}", axum::routing::delete(delete_credential))
        .route("/v1/admin/users/{member_id}/audit-log", get(user_history))
        .route("/v1/admin/switch-over/preview", get(switch_preview))
        .route("/v1/admin/switch-over", get(switch_status).post(start_switch))
        .route("/v1/reader/config", get(reader_config))
        .route("/v1/reader/events", post(reader_events))
        .route("/v1/me/events", post(me_events))
        .route("/v1/me/wallet/eligibility", post(me_wallet_eligibility))
        .route("/v1/me/wallet/passes", get(me_wallet_passes).post(me_add_wallet_pass))
        .route("/v1/admin/wallet-passes", get(wallet_passes))
        .route("/v1/admin/wallet-passes/{pass_id}/suspend", post(suspend_wallet_pass))
        .route("/v1/admin/wallet-passes/{pass_id}/resume", post(resume_wallet_pass))
        .route("/v1/admin/wallet-passes/{pass_id}", axum::routing::delete(delete_wallet_pass))
        .route("/v1/admin/outbox", get(outbox))
        .route("/v1/admin/audit-log", get(audit_log))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(log_request))
        .with_state(store)
}

/// Runs a switch-over job to its end on the current runtime. A failure (the database went
/// away) leaves the job `running`: the next start of the server, or the CLI, resumes it.
pub fn run_switch_in_background(store: Store, org_id: String, job_id: String, batch: usize) {
    tokio::spawn(async move {
        let result = store
            .run_switch(&org_id, &job_id, batch, |job| {
                tracing::info!(job = %job.id, done = job.done, total = job.total, "switch-over progress");
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(job = %job_id, %error, "switch-over interrupted; it resumes at the next start");
        }
    });
}

/// Logs method, path, status and latency. Never headers (tokens) or bodies (passwords, keys).
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let micros = started.elapsed().as_micros();
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), micros, "request");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), micros, "request");
    }
    response
}
