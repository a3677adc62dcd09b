//! The HTTP API: routes, body limits, rate limits, error mapping, request logging.
//!
//! Every request runs in its own task ([`Background`]), detached from its connection: a client
//! that disconnects drops only the connection, never a handler halfway through a database
//! transaction (sqlx 0.8 can return a connection to the pool still inside a transaction when a
//! future holding one is dropped). Shutdown waits for those tasks.
//!
//! [`OPERATIONS`] lists every route with the role it requires; the OpenAPI document is built
//! from it and the authorization-matrix test walks it, so a route cannot be added without being
//! documented and tested.

mod console;
mod extract;
mod observe;
pub mod openapi;
mod routes;

use std::{future::Future, net::IpAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRef, Request, State},
    http::Extensions,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument as _;

pub use self::observe::REQUEST_ID;
pub(crate) use self::observe::metrics_router;
use crate::{
    Error,
    api::Role,
    limits::{Limiters, Limits},
    metrics::Metrics,
    proxy::Cidr,
    store::Store,
};

/// Work that outlives the request or connection that started it: detached request handlers and
/// switch-over jobs. Shutdown cancels `stop` (jobs end after their current batch) and waits for
/// the tracker to empty.
#[derive(Debug, Clone, Default)]
pub struct Background {
    tracker: TaskTracker,
    stop: CancellationToken,
    /// Cancelled the moment shutdown starts, before in-flight requests drain: what ends the
    /// requests that would otherwise wait on (readers' long polls).
    closing: CancellationToken,
    /// The server's metrics, here because jobs report their progress to them too.
    metrics: Arc<Metrics>,
}

impl Background {
    /// A background reporting to these metrics.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Self {
        Self { metrics, ..Self::default() }
    }

    /// The signal that shutdown has started (the server's listeners stop accepting on it).
    pub(crate) fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    /// Tells jobs to stop after their current batch and waits up to `grace` for every task.
    /// Returns false if some were still running then.
    pub async fn finish(&self, grace: std::time::Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }

    /// Runs a periodic job (mail delivery, retention) until shutdown: `job` gets the stop signal
    /// and ends its loop when it fires, after the unit of work in hand.
    pub(crate) fn spawn_job<F>(&self, job: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(job(self.stop.clone()));
    }
}

/// What every handler and extractor can reach. One `Arc` inside: each middleware and extractor
/// of a request clones the state, and a clone of its parts one by one (a dozen reference counts
/// and two cancellation tokens' locks, shared by every core) was a measurable part of a key
/// issuance's time.
#[derive(Debug, Clone)]
pub struct AppState(Arc<StateParts>);

impl std::ops::Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

/// What an [`AppState`] holds.
#[derive(Debug)]
pub struct StateParts {
    store: Store,
    limits: Limiters,
    background: Background,
    request_timeout: Duration,
    trusted_proxies: Arc<[Cidr]>,
    min_sdk_version: Option<crate::sdk_version::SdkVersion>,
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

/// The client's address, when the server was started with connection info (as [`crate::spawn`]
/// does): the peer, or behind a trusted proxy the address it forwarded for; limits keyed by
/// address do not apply without it.
fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions.get::<observe::ClientAddress>().map(|observe::ClientAddress(ip)| *ip)
}

/// Body limit of every route but the member sync.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Body limit of `PUT /v1/integration/members` (100 000 members fit).
pub const SYNC_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Body limit of event uploads: the most events an upload may carry
/// ([`crate::input::MAX_EVENTS_PER_UPLOAD`]) fit at their longest, every character escaped
/// (about 3 KB each), so an upload the document allows is never refused for its size.
pub const EVENTS_BODY_LIMIT: usize = 4 * 1024 * 1024;

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
    /// Other error answers this route gives besides those every route of its kind gives
    /// (400, 401, 403, 404, 413, 415, 429, 503): status and what it means.
    pub errors: &'static [(u16, &'static str)],
    /// The query string the route reads, if any (any other parameter is a 400).
    pub query: Option<QueryKind>,
}

/// The query strings the API reads, each deserialized into its [`crate::api`] type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `?limit=&after=`: [`crate::api::PageQuery`], `after` an id.
    Page,
    /// `?limit=&after=`: [`crate::api::PageQuery`], `after` a sequence number
    /// ([`crate::input::SEQUENCE_CURSOR_PATTERN`]).
    Sequence,
    /// `?to=&limit=&after=`: [`crate::api::SwitchPreviewQuery`].
    SwitchPreview,
    /// `?wait_secs=&nonces=`: [`crate::api::CommandPollQuery`].
    CommandPoll,
}

/// 409 of routes that revoke credentials: readers hold a bounded revocation list.
const REVOCATION_FULL: (u16, &str) =
    (409, "conflict: the revocation list is full of unexpired wallet passes; nothing changed");

const fn op(
    method: &'static str,
    path: &'static str,
    role: Option<Role>,
    summary: &'static str,
    request: Option<&'static str>,
    status: u16,
    response: Option<&'static str>,
) -> Operation {
    Operation { method, path, role, summary, request, status, response, refusals: &[], errors: &[], query: None }
}

/// A list route read with `?limit=&after=`.
const fn paged(operation: Operation) -> Operation {
    Operation { query: Some(QueryKind::Page), ..operation }
}

/// A list route read with `?limit=&after=`, `after` a sequence number.
const fn sequenced(operation: Operation) -> Operation {
    Operation { query: Some(QueryKind::Sequence), ..operation }
}

const ADMIN: Option<Role> = Some(Role::Admin);

/// Every route of the API.
pub const OPERATIONS: &[Operation] = &[
    op("GET", "/healthz", None, "Liveness and database reachability", None, 200, Some("Health")),
    op(
        "GET",
        "/readyz",
        None,
        "Readiness: the database is reachable and every migration is applied (503 otherwise)",
        None,
        200,
        Some("Health"),
    ),
    op("GET", "/openapi.json", None, "This document", None, 200, None),
    Operation {
        refusals: &["password_login_disabled", "not_confirmed"],
        ..op("POST", "/v1/login", None, "Native login (refused under branded_app)", Some("Login"), 200, Some("Token"))
    },
    Operation {
        refusals: &["password_login_disabled"],
        errors: &[(404, "not_found: no such invitation (unknown, used or expired token)")],
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
        errors: &[
            (409, "conflict: this device key backs a wallet pass, not a mobile key"),
            (422, "invalid_key: the device key is not a point on P-256"),
        ],
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
    Operation {
        errors: &[
            (422, "unknown_access_groups: the sync names groups that do not exist"),
            (422, "duplicate_external_id: the sync lists one external_id twice"),
            REVOCATION_FULL,
        ],
        ..op(
            "PUT",
            "/v1/integration/members",
            Some(Role::Integration),
            "Bulk idempotent upsert of members and their access groups",
            Some("MemberSync"),
            200,
            Some("SyncReport"),
        )
    },
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
    Operation {
        errors: &[(409, "conflict: the organization has no lock ids left")],
        ..op("POST", "/v1/admin/doors", ADMIN, "Create a door", Some("NewDoor"), 201, Some("Door"))
    },
    op(
        "PATCH",
        "/v1/admin/doors/{door_id}",
        ADMIN,
        "Rename a door or change its settings",
        Some("DoorPatch"),
        200,
        Some("Door"),
    ),
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
    Operation {
        errors: &[
            (409, "conflict: an access group with this name exists"),
            (422, "unknown_doors: door ids not in this organization"),
        ],
        ..op(
            "POST",
            "/v1/admin/access-groups",
            ADMIN,
            "Create an access group",
            Some("NewAccessGroup"),
            201,
            Some("AccessGroup"),
        )
    },
    paged(op(
        "GET",
        "/v1/admin/users",
        ADMIN,
        "Access users with status and managed flag",
        None,
        200,
        Some("UserPage"),
    )),
    op("GET", "/v1/admin/users/{member_id}", ADMIN, "One access user", None, 200, Some("User")),
    Operation {
        refusals: &["password_login_disabled"],
        errors: &[(409, "conflict: the user is already confirmed and has a password")],
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
    paged(op(
        "GET",
        "/v1/admin/credentials",
        ADMIN,
        "Mobile keys, key fobs and cards",
        None,
        200,
        Some("CredentialPage"),
    )),
    Operation {
        errors: &[REVOCATION_FULL],
        ..op("POST", "/v1/admin/credentials/{credential_id}/suspend", ADMIN, "Suspend a credential", None, 204, None)
    },
    op("POST", "/v1/admin/credentials/{credential_id}/resume", ADMIN, "Reactivate a credential", None, 204, None),
    Operation {
        errors: &[REVOCATION_FULL],
        ..op("DELETE", "/v1/admin/credentials/{credential_id}", ADMIN, "Delete a credential", None, 204, None)
    },
    sequenced(op(
        "GET",
        "/v1/admin/users/{member_id}/audit-log",
        ADMIN,
        "A user's audit history, across recreations by a switch-over",
        None,
        200,
        Some("AuditPage"),
    )),
    Operation {
        query: Some(QueryKind::SwitchPreview),
        ..op(
            "GET",
            "/v1/admin/switch-over/preview",
            ADMIN,
            "What switching the unlock method would do (changes nothing)",
            None,
            200,
            Some("SwitchPreview"),
        )
    },
    Operation {
        errors: &[(409, "conflict: a switch-over is already running")],
        ..op(
            "POST",
            "/v1/admin/switch-over",
            ADMIN,
            "Switch the unlock method: a resumable job (native → branded app recreates unconfirmed users)",
            Some("StartSwitch"),
            202,
            Some("SwitchJob"),
        )
    },
    Operation {
        errors: &[(404, "not_found: no switch-over was ever started")],
        ..op(
            "GET",
            "/v1/admin/switch-over",
            ADMIN,
            "The latest switch-over job and its progress",
            None,
            200,
            Some("SwitchJob"),
        )
    },
    op(
        "GET",
        "/v1/reader/config",
        Some(Role::Reader),
        "What an online reader polls: the signed revocation list and time",
        None,
        200,
        Some("ReaderSync"),
    ),
    Operation {
        query: Some(QueryKind::CommandPoll),
        ..op(
            "GET",
            "/v1/reader/commands",
            Some(Role::Reader),
            "Long poll for commands (remote unlock): answered as soon as one waits, or empty after wait_secs",
            None,
            200,
            Some("ReaderCommands"),
        )
    },
    Operation {
        errors: &[
            (404, "not_found: this reader was never given a command with that id"),
            (409, "conflict: the command was already decided otherwise (the member stopped waiting)"),
        ],
        ..op(
            "POST",
            "/v1/reader/commands/{command_id}/result",
            Some(Role::Reader),
            "What the reader did with a command",
            Some("CommandResult"),
            204,
            None,
        )
    },
    op(
        "GET",
        "/v1/me/doors",
        Some(Role::Member),
        "The member's doors, and whether each can be opened remotely now",
        None,
        200,
        Some("MemberDoors"),
    ),
    Operation {
        refusals: &[
            "module_disabled",
            "not_confirmed",
            "remote_unlock_off",
            "proximity_required",
            "owner_verification_required",
        ],
        errors: &[
            (404, "not_found: not one of the member's doors"),
            (409, "reader_unavailable: the door's reader is offline or did not confirm in time; the door stays shut"),
        ],
        ..op(
            "POST",
            "/v1/me/doors/{door_id}/unlock",
            Some(Role::Member),
            "Remote unlock: the door's online reader opens within a second",
            Some("RemoteUnlockRequest"),
            200,
            Some("RemoteUnlockResult"),
        )
    },
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
        errors: &[
            (409, "conflict: this secure-element key already backs a credential"),
            REVOCATION_FULL,
            (422, "invalid_key: the secure-element key is not a point on P-256"),
        ],
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
    Operation {
        errors: &[REVOCATION_FULL],
        ..op("POST", "/v1/admin/wallet-passes/{pass_id}/suspend", ADMIN, "Suspend a wallet pass", None, 204, None)
    },
    op("POST", "/v1/admin/wallet-passes/{pass_id}/resume", ADMIN, "Reactivate a wallet pass", None, 204, None),
    Operation {
        errors: &[REVOCATION_FULL],
        ..op("DELETE", "/v1/admin/wallet-passes/{pass_id}", ADMIN, "Delete a wallet pass", None, 204, None)
    },
    sequenced(op(
        "GET",
        "/v1/admin/outbox",
        ADMIN,
        "Emails and their delivery (never their bodies: invitations carry tokens)",
        None,
        200,
        Some("OutboxPage"),
    )),
    sequenced(op("GET", "/v1/admin/audit-log", ADMIN, "Audit log", None, 200, Some("AuditPage"))),
    // Last: the authorization test walks this table in order, and logging out ends its member's session.
    op(
        "POST",
        "/v1/logout",
        Some(Role::Member),
        "End the session: the token called with stops working",
        None,
        204,
        None,
    ),
];

/// The API as an axum router over `store`, with the default limits.
pub fn router(store: Store) -> Router {
    router_with(store, &Limits::default(), Background::default())
}

/// The API over `store` with these limits; detached handlers and jobs run on `background`.
pub fn router_with(store: Store, limits: &Limits, background: Background) -> Router {
    router_for(store, &Options { limits: *limits, ..Options::default() }, background)
}

/// How a router serves, beyond its store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rate limits.
    pub limits: Limits,
    /// Past this, a request is answered `503 timeout` (its handler runs on).
    pub request_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` is believed (see [`crate::proxy`]).
    pub trusted_proxies: Vec<Cidr>,
    /// The oldest SDK served (see [`crate::sdk_version`]).
    pub min_sdk_version: Option<crate::sdk_version::SdkVersion>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            request_timeout: crate::Timeouts::default().request,
            trusted_proxies: Vec::new(),
            min_sdk_version: None,
        }
    }
}

/// The API over `store` as `options` say; detached handlers and jobs run on `background`.
pub fn router_for(store: Store, options: &Options, background: Background) -> Router {
    use routes::*;
    let state = AppState(Arc::new(StateParts {
        store,
        limits: Limiters::new(&options.limits),
        background,
        request_timeout: options.request_timeout,
        trusted_proxies: options.trusted_proxies.clone().into(),
        min_sdk_version: options.min_sdk_version,
    }));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/invitations/accept", post(accept_invitation))
        .route("/v1/me/access", get(me_access))
        .route("/v1/me/keys", post(me_keys))
        .route("/v1/integration/members", put(sync_members).layer(DefaultBodyLimit::max(SYNC_BODY_LIMIT)))
        .route("/v1/integration/members/{external_id}/session", post(member_session))
        .route("/v1/admin/organization", get(organization))
        .route("/v1/admin/settings", get(settings).patch(patch_settings))
        .route("/v1/admin/doors", get(doors).post(create_door))
        .route("/v1/admin/doors/{door_id}", axum::routing::patch(update_door))
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
        .route("/v1/reader/commands", get(reader_commands))
        .route("/v1/reader/commands/{command_id}/result", post(command_result))
        .route("/v1/me/doors", get(me_doors))
        .route("/v1/me/doors/{door_id}/unlock", post(unlock_door))
        .route("/v1/reader/events", post(reader_events).layer(DefaultBodyLimit::max(EVENTS_BODY_LIMIT)))
        .route("/v1/me/events", post(me_events).layer(DefaultBodyLimit::max(EVENTS_BODY_LIMIT)))
        .route("/v1/me/wallet/eligibility", post(me_wallet_eligibility))
        .route("/v1/me/wallet/passes", get(me_wallet_passes).post(me_add_wallet_pass))
        .route("/v1/admin/wallet-passes", get(wallet_passes))
        .route("/v1/admin/wallet-passes/{pass_id}/suspend", post(suspend_wallet_pass))
        .route("/v1/admin/wallet-passes/{pass_id}/resume", post(resume_wallet_pass))
        .route("/v1/admin/wallet-passes/{pass_id}", axum::routing::delete(delete_wallet_pass))
        .route("/v1/admin/outbox", get(outbox))
        .route("/v1/admin/audit-log", get(audit_log))
        .merge(console::router(&state))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), detach))
        .layer(middleware::from_fn_with_state(state.clone(), limit_address))
        .layer(middleware::from_fn_with_state(state.clone(), observe::client))
        .layer(middleware::from_fn_with_state(state.clone(), observe::time_limit))
        .layer(middleware::from_fn_with_state(state.clone(), observe::record))
        .layer(middleware::from_fn(observe::request_id))
        .with_state(state)
}

/// Runs a switch-over job on the current runtime until it ends or shutdown stops it after a
/// batch. Either way, or on a failure (the database went away), a job left `running` is resumed
/// by the next start of the server, or by the CLI.
pub fn run_switch_in_background(background: &Background, store: Store, org_id: String, job_id: String, batch: usize) {
    let stop = background.stop.clone();
    let metrics = background.metrics.clone();
    background.tracker.spawn(async move {
        let _running = metrics.switch_job_started();
        // Where the job stands, so the first batch counts too (a resumed job did some before).
        let mut done = store.switch_job(&org_id, &job_id).await.ok().map(|job| job.done);
        let result = store
            .run_switch_until(
                &org_id,
                &job_id,
                batch,
                |job| {
                    tracing::info!(job = %job.id, done = job.done, total = job.total, "switch-over progress");
                    let before = done.replace(job.done).unwrap_or(job.done);
                    metrics.switch_users_done(u64::from(job.done.saturating_sub(before)));
                },
                || stop.is_cancelled(),
            )
            .await;
        match result {
            Ok(job) if job.state == "running" => tracing::info!(job = %job_id, "switch-over paused for shutdown"),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(job = %job_id, %error, "switch-over interrupted; it resumes at the next start");
            }
        }
    });
}

/// Runs the rest of the request in its own task, so a client that goes away cannot cancel a
/// handler mid-transaction, and a panicking handler becomes a 500 instead of a lost connection.
async fn detach(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.background.tracker.spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(_) => Error::Internal("the request handler panicked").into_response(),
    }
}

/// The per-address limit, checked before any work. Probes are exempt: an orchestrator must be
/// able to tell a busy server from a dead one.
async fn limit_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let probe = matches!(request.uri().path(), "/healthz" | "/readyz");
    if !probe
        && let Some(ip) = client_ip(request.extensions())
        && let Err(retry_after) = state.limits.address.admit(&ip)
    {
        return Error::RateLimited { retry_after }.into_response();
    }
    next.run(request).await
}
