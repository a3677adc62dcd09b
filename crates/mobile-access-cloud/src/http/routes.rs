//! The handlers: each authenticates by its extractor, then calls one [`Store`] method.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    AppState,
    extract::{
        AdminCaller, ApiJson, ApiQuery, ClientAddr, Id, IntegrationCaller, MemberCaller, MemberSession, ReaderCaller,
    },
};
use crate::{
    Error, Result,
    api::{
        AcceptInvitation, CommandPollQuery, CommandResult, CredentialStatus, DoorPatch, EventUpload, KeyRequest, Login,
        MemberSync, NewAccessGroup, NewCredential, NewDoor, NewReader, NewWalletPass, Page, PageQuery,
        RemoteUnlockRequest, SettingsPatch, StartSwitch, SwitchPreviewQuery, WalletDevice,
    },
    crypto,
    store::{Actor, DEFAULT_SWITCH_BATCH, MAX_POLL_WAIT, Store},
};

fn page<T>(items: Vec<T>) -> Page<T> {
    Page { items, next: None }
}

fn created(value: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

pub(super) async fn healthz(State(store): State<Store>) -> Result<Json<serde_json::Value>> {
    sqlx::query("SELECT 1").execute(store.pool()).await?;
    Ok(Json(json!({"status": "ok"})))
}

/// Ready to serve: the database answers and every migration this build knows is applied. An
/// orchestrator sends traffic only to ready replicas; `/healthz` only says the process lives.
pub(super) async fn readyz(State(store): State<Store>) -> Result<Json<serde_json::Value>> {
    store.readiness().await?;
    Ok(Json(json!({"status": "ready"})))
}

pub(super) async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

/// Login, behind the failed-authentication limits of the client's address and of the email.
pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response> {
    let email = crypto::normalize_email(&body.email);
    state.refuse_spent_failures(ip, Some(&email))?;
    match state.store.login(&body).await {
        Err(Error::InvalidCredentials) => {
            state.count_failure(ip, Some(&email));
            Err(Error::InvalidCredentials)
        }
        other => Ok(Json(other?).into_response()),
    }
}

/// Accepting an invitation: an unknown invitation token counts as a failed authentication.
pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    ApiJson(body): ApiJson<AcceptInvitation>,
) -> Result<Response> {
    state.refuse_spent_failures(ip, None)?;
    match state.store.accept_invitation(&body).await {
        Err(Error::NotFound(what)) => {
            state.count_failure(ip, None);
            Err(Error::NotFound(what))
        }
        other => Ok(Json(other?).into_response()),
    }
}

/// Logging out: the session token the member called with stops working at once.
pub(super) async fn logout(State(store): State<Store>, session: MemberSession) -> Result<StatusCode> {
    store.end_session(&session.caller, &session.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn me_access(State(store): State<Store>, MemberCaller(caller): MemberCaller) -> Result<Response> {
    Ok(Json(store.member_access(&caller.org_id, caller.member()?).await?).into_response())
}

pub(super) async fn me_keys(
    State(state): State<AppState>,
    MemberCaller(caller): MemberCaller,
    ApiJson(body): ApiJson<KeyRequest>,
) -> Result<Response> {
    let bundle = state.store.issue_keys(&caller.org_id, caller.member()?, &body).await?;
    state.background.metrics.keys_issued(bundle.credentials.len());
    Ok(Json(bundle).into_response())
}

pub(super) async fn sync_members(
    State(store): State<Store>,
    IntegrationCaller(caller): IntegrationCaller,
    ApiJson(body): ApiJson<MemberSync>,
) -> Result<Response> {
    Ok(Json(store.sync_members(&caller.org_id, &Actor::from(&caller), &body).await?).into_response())
}

pub(super) async fn member_session(
    State(store): State<Store>,
    IntegrationCaller(caller): IntegrationCaller,
    Id(external_id): Id,
) -> Result<Response> {
    Ok(created(store.create_member_session(&caller.org_id, &Actor::from(&caller), &external_id).await?))
}

pub(super) async fn organization(State(store): State<Store>, AdminCaller(caller): AdminCaller) -> Result<Response> {
    Ok(Json(store.organization(&caller.org_id).await?).into_response())
}

pub(super) async fn settings(State(store): State<Store>, AdminCaller(caller): AdminCaller) -> Result<Response> {
    Ok(Json(store.organization(&caller.org_id).await?.settings).into_response())
}

pub(super) async fn patch_settings(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<SettingsPatch>,
) -> Result<Response> {
    Ok(Json(store.update_settings(&caller.org_id, &Actor::Admin, &body).await?).into_response())
}

pub(super) async fn doors(State(store): State<Store>, AdminCaller(caller): AdminCaller) -> Result<Response> {
    Ok(Json(page(store.doors(&caller.org_id).await?)).into_response())
}

pub(super) async fn create_door(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<NewDoor>,
) -> Result<Response> {
    Ok(created(store.create_door(&caller.org_id, &Actor::Admin, &body).await?))
}

pub(super) async fn update_door(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(door_id): Id,
    ApiJson(body): ApiJson<DoorPatch>,
) -> Result<Response> {
    Ok(Json(store.update_door(&caller.org_id, &Actor::Admin, &door_id, &body).await?).into_response())
}

pub(super) async fn provision_reader(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(door_id): Id,
    ApiJson(body): ApiJson<NewReader>,
) -> Result<Response> {
    Ok(created(store.provision_reader(&caller.org_id, &Actor::Admin, &door_id, &body).await?))
}

pub(super) async fn access_groups(State(store): State<Store>, AdminCaller(caller): AdminCaller) -> Result<Response> {
    Ok(Json(page(store.access_groups(&caller.org_id).await?)).into_response())
}

pub(super) async fn create_access_group(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<NewAccessGroup>,
) -> Result<Response> {
    Ok(created(store.create_access_group(&caller.org_id, &Actor::Admin, &body).await?))
}

pub(super) async fn users(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response> {
    Ok(Json(store.users(&caller.org_id, &query).await?).into_response())
}

pub(super) async fn user(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(member_id): Id,
) -> Result<Response> {
    Ok(Json(store.user(&caller.org_id, &member_id).await?).into_response())
}

pub(super) async fn send_invitation(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(member_id): Id,
) -> Result<StatusCode> {
    store.send_invitation(&caller.org_id, &Actor::Admin, &member_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn create_credential(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(member_id): Id,
    ApiJson(body): ApiJson<NewCredential>,
) -> Result<Response> {
    Ok(created(store.create_credential(&caller.org_id, &Actor::Admin, &member_id, &body).await?))
}

pub(super) async fn credentials(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response> {
    Ok(Json(store.credentials(&caller.org_id, &query).await?).into_response())
}

pub(super) async fn suspend_credential(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(id): Id,
) -> Result<StatusCode> {
    store.set_credential_status(&caller.org_id, &Actor::Admin, &id, CredentialStatus::Suspended).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn resume_credential(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(id): Id,
) -> Result<StatusCode> {
    store.set_credential_status(&caller.org_id, &Actor::Admin, &id, CredentialStatus::Active).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn delete_credential(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(id): Id,
) -> Result<StatusCode> {
    store.delete_credential(&caller.org_id, &Actor::Admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn outbox(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response> {
    Ok(Json(store.outbox(&caller.org_id, &query).await?).into_response())
}

pub(super) async fn audit_log(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response> {
    Ok(Json(store.audit_log(&caller.org_id, &query).await?).into_response())
}

pub(super) async fn reader_config(State(store): State<Store>, ReaderCaller(caller): ReaderCaller) -> Result<Response> {
    Ok(Json(store.reader_sync(&caller.org_id, caller.reader()?).await?).into_response())
}

pub(super) async fn reader_commands(
    State(state): State<AppState>,
    ReaderCaller(caller): ReaderCaller,
    ApiQuery(query): ApiQuery<CommandPollQuery>,
) -> Result<Response> {
    let wait = Duration::from_secs(query.wait_secs.map_or(MAX_POLL_WAIT.as_secs(), u64::from));
    if wait > MAX_POLL_WAIT {
        return Err(Error::invalid(format!("wait_secs must be at most {}", MAX_POLL_WAIT.as_secs())));
    }
    let closing = state.background.closing();
    let commands = state.store.reader_commands(caller.reader()?, wait, query.nonces.as_deref(), &closing).await?;
    Ok(Json(commands).into_response())
}

pub(super) async fn command_result(
    State(store): State<Store>,
    ReaderCaller(caller): ReaderCaller,
    Id(command_id): Id,
    ApiJson(body): ApiJson<CommandResult>,
) -> Result<StatusCode> {
    store.command_result(&caller.org_id, caller.reader()?, &command_id, body.outcome).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn me_doors(State(store): State<Store>, MemberCaller(caller): MemberCaller) -> Result<Response> {
    Ok(Json(store.doors_for_member(&caller.org_id, caller.member()?).await?).into_response())
}

pub(super) async fn unlock_door(
    State(store): State<Store>,
    MemberCaller(caller): MemberCaller,
    Id(door_id): Id,
    ApiJson(body): ApiJson<RemoteUnlockRequest>,
) -> Result<Response> {
    Ok(Json(store.unlock_remotely(&caller.org_id, caller.member()?, &door_id, &body).await?).into_response())
}

pub(super) async fn reader_events(
    State(store): State<Store>,
    ReaderCaller(caller): ReaderCaller,
    ApiJson(body): ApiJson<EventUpload>,
) -> Result<Response> {
    Ok(Json(store.upload_events(&caller.org_id, &Actor::from(&caller), &body).await?).into_response())
}

pub(super) async fn me_events(
    State(store): State<Store>,
    MemberCaller(caller): MemberCaller,
    ApiJson(body): ApiJson<EventUpload>,
) -> Result<Response> {
    Ok(Json(store.upload_events(&caller.org_id, &Actor::from(&caller), &body).await?).into_response())
}

pub(super) async fn switch_preview(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    ApiQuery(query): ApiQuery<SwitchPreviewQuery>,
) -> Result<Response> {
    Ok(Json(store.preview_switch(&caller.org_id, &query).await?).into_response())
}

pub(super) async fn start_switch(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<StartSwitch>,
) -> Result<Response> {
    let job = state.store.start_switch(&caller.org_id, &Actor::Admin, &body).await?;
    if job.state == "running" {
        super::run_switch_in_background(
            &state.background,
            state.store.clone(),
            caller.org_id.clone(),
            job.id.clone(),
            DEFAULT_SWITCH_BATCH,
        );
    }
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

pub(super) async fn switch_status(State(store): State<Store>, AdminCaller(caller): AdminCaller) -> Result<Response> {
    let job = store.last_switch(&caller.org_id).await?.ok_or(Error::NotFound("switch job"))?;
    Ok(Json(job).into_response())
}

pub(super) async fn user_history(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(member_id): Id,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response> {
    Ok(Json(store.user_history(&caller.org_id, &member_id, &query).await?).into_response())
}

pub(super) async fn me_wallet_eligibility(
    State(store): State<Store>,
    MemberCaller(caller): MemberCaller,
    ApiJson(body): ApiJson<WalletDevice>,
) -> Result<Response> {
    caller.member()?;
    Ok(Json(store.wallet_eligibility(&caller.org_id, &body).await?).into_response())
}

pub(super) async fn me_add_wallet_pass(
    State(store): State<Store>,
    MemberCaller(caller): MemberCaller,
    ApiJson(body): ApiJson<NewWalletPass>,
) -> Result<Response> {
    Ok(created(store.add_wallet_pass(&caller.org_id, caller.member()?, &body).await?))
}

pub(super) async fn me_wallet_passes(
    State(store): State<Store>,
    MemberCaller(caller): MemberCaller,
) -> Result<Response> {
    Ok(Json(page(store.wallet_passes(&caller.org_id, Some(caller.member()?)).await?)).into_response())
}

pub(super) async fn wallet_passes(State(store): State<Store>, AdminCaller(caller): AdminCaller) -> Result<Response> {
    Ok(Json(page(store.wallet_passes(&caller.org_id, None).await?)).into_response())
}

pub(super) async fn suspend_wallet_pass(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(id): Id,
) -> Result<StatusCode> {
    store.set_wallet_pass_status(&caller.org_id, &Actor::Admin, &id, CredentialStatus::Suspended).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn resume_wallet_pass(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(id): Id,
) -> Result<StatusCode> {
    store.set_wallet_pass_status(&caller.org_id, &Actor::Admin, &id, CredentialStatus::Active).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn delete_wallet_pass(
    State(store): State<Store>,
    AdminCaller(caller): AdminCaller,
    Id(id): Id,
) -> Result<StatusCode> {
    store.delete_wallet_pass(&caller.org_id, &Actor::Admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn no_route() -> Error {
    Error::NoRoute
}

pub(super) async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
