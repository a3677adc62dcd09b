//! A reader's connection to the cloud while it is online: it polls its configuration (the
//! signed revocation list and time) and uploads the attempts in its audit log, each with a
//! stable event id (`<boot id>-<sequence>`), remembering what the cloud acknowledged so an
//! upload after an interruption re-sends only what may not have arrived, and the cloud keeps
//! each attempt once whatever is re-sent.
//!
//! HTTP runs on the link's own runtime in real time, like the SDK's cloud client, so a radio
//! simulated on a paused clock never times out a request.
//!
//! The link also carries remote unlocks ([`ReaderLink::serve_commands`], in `commands`): a long
//! poll the cloud answers the moment a member asks to open the reader's door.
//!
//! One link serves every kind of reader: the virtual reader on the simulated radio and the BlueZ
//! reader both hand it their [`Reader`] through [`SharedReader`].

mod commands;

use std::{sync::Mutex, time::Duration};

use mobile_access_api::{EventUpload, ReaderSync, UploadReport, UploadedEvent};
use mobile_access_protocol::reader::{ExchangeKind, ListOutcome};
use serde_json::Value;

use crate::{AuditEntry, Error, Outcome, Provisioning, Reader, Result, hex};

/// A running reader whose logic the link reads and updates: the radio task holds the same
/// [`Reader`], so every access goes through its lock (and publishes the feedback it produced).
pub trait SharedReader {
    /// Runs `f` on the reader with the current instant on the reader's own clock source (the
    /// virtual reader runs on the simulated radio's clock).
    fn with_reader<R>(&self, f: impl FnOnce(&mut Reader, std::time::Instant) -> R) -> R;
}

/// How long an ordinary request may take before the link gives up on it (and retries later).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Most events per upload request (the cloud's limit).
const UPLOAD_CHUNK: usize = 1000;

/// The reader's reason for a cloud reason code (wallet passes' revocations).
fn reason_code(code: &str) -> Option<mobile_access_protocol::Reason> {
    use mobile_access_protocol::Reason;
    match code {
        "pass_suspended" => Some(Reason::PassSuspended),
        "pass_deleted" => Some(Reason::PassDeleted),
        "pass_superseded" => Some(Reason::PassSuperseded),
        _ => None,
    }
}

struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// One reader's link to the cloud.
pub struct ReaderLink {
    runtime: Runtime,
    http: reqwest::Client,
    base_url: Mutex<String>,
    token: String,
    acked: Mutex<Option<(u64, u64)>>,
}

impl std::fmt::Debug for ReaderLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderLink").finish_non_exhaustive()
    }
}

fn cloud_error(error: impl std::fmt::Display) -> Error {
    Error::Cloud(error.to_string())
}

/// An HTTP failure without its URL (a command poll's carries the nonces announced: long, and
/// nothing a log reader needs).
fn http_error(error: reqwest::Error) -> Error {
    Error::Cloud(error.without_url().to_string())
}

/// One audit entry in the cloud's upload format, with its stable id. An RSSI the reader could
/// not measure is left out, never sent as a made-up number.
pub fn event(boot: u64, sequence: u64, entry: &AuditEntry) -> UploadedEvent {
    let (outcome, reason) = match entry.outcome {
        Outcome::Granted => ("granted", None),
        Outcome::Refused(reason) => ("refused", Some(reason)),
        Outcome::Interrupted(reason) => ("interrupted", Some(reason)),
    };
    UploadedEvent {
        event_id: format!("{boot:016x}-{sequence}"),
        at: entry.at.0,
        outcome: outcome.to_owned(),
        reason: reason.map(|r| format!("{r:?}").to_lowercase()),
        exchange: Some(
            match entry.exchange {
                ExchangeKind::Full => "full",
                ExchangeKind::Fast => "fast",
            }
            .to_owned(),
        ),
        credential_id: entry.credential.map(|c| c.to_string()),
        member_id: entry.member.map(|m| m.to_string()),
        reader_id: None,
        rssi: entry.rssi,
    }
}

impl ReaderLink {
    /// A link for the reader provisioned with `provisioning` (which must carry its token).
    pub fn new(base_url: &str, provisioning: &Provisioning) -> Result<Self> {
        let token = provisioning.reader_token.as_ref().ok_or_else(|| Error::Cloud("no reader token".to_owned()))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Cloud(format!("runtime: {e}")))?;
        let http = reqwest::Client::builder().no_proxy().build().map_err(cloud_error)?;
        Ok(Self {
            runtime: Runtime(Some(runtime)),
            http,
            base_url: Mutex::new(base_url.to_owned()),
            token: token.0.clone(),
            acked: Mutex::new(None),
        })
    }

    /// Points the link at a cloud that came back on another address.
    pub fn set_base_url(&self, base_url: &str) {
        *self.base_url.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = base_url.to_owned();
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        self.call_within(method, path, body, REQUEST_TIMEOUT).await
    }

    /// A call that fails with [`Error::Cloud`] after `timeout`: a cloud that vanished without
    /// closing the connection must not hold the reader's loops for ever.
    async fn call_within(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let runtime = self.runtime.0.as_ref().ok_or_else(|| Error::Cloud("runtime stopped".to_owned()))?;
        let url = format!("{}{path}", self.base_url.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut request = self.http.request(method, url).bearer_auth(&self.token).timeout(timeout);
        if let Some(body) = body {
            request = request.json(&body);
        }
        runtime
            .spawn(async move {
                let response = request.send().await.map_err(http_error)?;
                let status = response.status();
                let body: Value = response.json().await.map_err(http_error)?;
                if status.is_success() { Ok(body) } else { Err(Error::Cloud(format!("{status}: {body}"))) }
            })
            .await
            .map_err(cloud_error)?
    }

    /// Waits `period` of real time on the link's own runtime (the caller's clock may be a
    /// simulation's, paused or racing ahead).
    async fn pause(&self, period: Duration) {
        if let Some(runtime) = &self.runtime.0 {
            let _ = runtime.spawn(tokio::time::sleep(period)).await;
        }
    }

    /// One poll: fetches the signed revocation list and applies it to `reader`.
    pub async fn poll(&self, reader: &impl SharedReader) -> Result<ListOutcome> {
        let sync: ReaderSync =
            serde_json::from_value(self.call(reqwest::Method::GET, "/v1/reader/config", None).await?)
                .map_err(cloud_error)?;
        let bytes = hex::decode(&sync.revocation_list)
            .ok_or_else(|| Error::Cloud("the revocation list is not lowercase hex".to_owned()))?;
        let reasons = sync
            .revocation_reasons
            .iter()
            .filter_map(|(id, code)| {
                let id: [u8; 16] = hex::decode_array(id)?;
                Some((mobile_access_protocol::CredentialId(id), reason_code(code)?))
            })
            .collect();
        reader.with_reader(|r, now| {
            r.set_owner_verification(sync.owner_verification);
            r.set_revocation_reasons(reasons);
            r.apply_revocation_list(&bytes, now)
        })
    }

    /// The reader's events the cloud has not acknowledged yet (all of them after a reboot).
    pub fn pending(&self, reader: &impl SharedReader) -> Vec<UploadedEvent> {
        let (boot, audit) = reader.with_reader(|r, _| (r.boot_id(), r.audit().clone()));
        let from = match *self.acked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            Some((acked_boot, next)) if acked_boot == boot => next,
            _ => 0,
        };
        audit.since(from).map(|(sequence, entry)| event(boot, sequence, entry)).collect()
    }

    /// Uploads `events` as they are, acknowledging nothing: what a reader does when the answer
    /// may be lost on the way back.
    pub async fn send(&self, events: &[UploadedEvent]) -> Result<UploadReport> {
        let body = serde_json::to_value(EventUpload { events: events.to_vec() }).map_err(cloud_error)?;
        serde_json::from_value(self.call(reqwest::Method::POST, "/v1/reader/events", Some(body)).await?)
            .map_err(cloud_error)
    }

    /// Uploads everything not yet acknowledged, in chunks, acknowledging each chunk the cloud
    /// confirmed. An error leaves the rest pending for the next call.
    pub async fn upload(&self, reader: &impl SharedReader) -> Result<UploadReport> {
        let (boot, next) = reader.with_reader(|r, _| (r.boot_id(), r.audit().next_sequence()));
        let mut total = UploadReport { accepted: 0, duplicates: 0 };
        let pending = self.pending(reader);
        for chunk in pending.chunks(UPLOAD_CHUNK) {
            let report = self.send(chunk).await?;
            total.accepted += report.accepted;
            total.duplicates += report.duplicates;
        }
        *self.acked.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((boot, next));
        // The reader no longer keeps acknowledged attempts across restarts.
        if let Err(error) = reader.with_reader(|r, now| r.acknowledge_events(next, now)) {
            tracing::warn!(%error, "acknowledged attempts not saved");
        }
        Ok(total)
    }

    /// What an online reader runs: a poll and an upload every `period` (the cloud's
    /// `poll_secs`, 30 s), forever, on the caller's clock. Failures are logged and retried at the
    /// next period, so a revocation reaches the reader at most one period after it happened.
    pub async fn run(&self, reader: &impl SharedReader, period: std::time::Duration) {
        loop {
            match self.poll(reader).await {
                Ok(ListOutcome::Applied) => tracing::info!("revocation list applied"),
                Ok(outcome) => tracing::debug!(?outcome, "revocation list"),
                Err(error) => tracing::warn!(%error, "reader poll failed; retrying next period"),
            }
            if let Err(error) = self.upload(reader).await {
                tracing::warn!(%error, "reader upload failed; retrying next period");
            }
            tokio::time::sleep(period).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use mobile_access_protocol::{Reason, Timestamp};

    use super::*;

    fn entry(rssi: Option<i16>) -> AuditEntry {
        AuditEntry {
            at: Timestamp(1_800_000_000),
            exchange: ExchangeKind::Full,
            credential: None,
            member: None,
            rssi,
            outcome: Outcome::Refused(Reason::NotCloseEnough),
        }
    }

    #[test]
    fn an_unmeasured_rssi_is_uploaded_as_null_and_a_measured_one_as_dbm() {
        let wire = |event| serde_json::to_value(event).unwrap();
        let unmeasured = wire(event(7, 3, &entry(None)));
        assert_eq!(unmeasured["rssi"], Value::Null);
        assert!(unmeasured.as_object().unwrap().contains_key("rssi"), "the field is sent, as null");
        assert_eq!(unmeasured["reason"], "notcloseenough");
        assert_eq!(unmeasured["event_id"], "0000000000000007-3");
        assert_eq!(wire(event(7, 4, &entry(Some(-48))))["rssi"], -48);
    }
}
