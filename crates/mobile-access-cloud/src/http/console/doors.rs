//! Doors and readers: each door's readers with their model, mode, tamper protection, whether
//! they are online (polled within the last three poll periods) and when they were last in touch,
//! and their recent attempts, green when the door opened and red with the reason when not.

use askama::Template;
use axum::{extract::State, response::Response};

use super::{
    ConsoleError, render,
    session::Admin,
    view::{EntryRow, Nav, when},
};
use crate::{
    http::AppState,
    store::{AuditFilter, READER_POLL_SECS, now},
};

/// A reader is online while its polls keep coming: it polls every `READER_POLL_SECS`, and two
/// missed polls in a row make it offline.
const ONLINE_WITHIN_SECS: u32 = 3 * READER_POLL_SECS;
/// Attempts shown per reader.
const RECENT_ATTEMPTS: u32 = 10;

struct ReaderView {
    id: String,
    model: String,
    mode: String,
    tamper_protection: bool,
    online: bool,
    last_contact: String,
    attempts: Vec<EntryRow>,
}

struct DoorView {
    name: String,
    lock: u32,
    readers: Vec<ReaderView>,
}

#[derive(Template)]
#[template(path = "console/doors.html")]
struct DoorsPage {
    nav: Nav,
    doors: Vec<DoorView>,
}

pub(super) async fn page(State(state): State<AppState>, admin: Admin) -> Result<Response, ConsoleError> {
    let org = admin.org();
    let contacts = state.store.reader_contacts(org).await?;
    let at = now();
    let mut doors = Vec::new();
    for door in state.store.doors(org).await? {
        let mut readers = Vec::new();
        for reader in door.readers {
            let filter = AuditFilter {
                actor: Some(format!("reader:{}", reader.reader_id)),
                action: Some("reader.attempt".to_owned()),
                limit: Some(RECENT_ATTEMPTS),
                ..AuditFilter::default()
            };
            let attempts = state.store.search_audit(org, &filter).await?.items.iter().map(EntryRow::new).collect();
            let last = contacts.get(&reader.reader_id).copied().flatten();
            readers.push(ReaderView {
                online: last.is_some_and(|t| at.saturating_sub(t) <= ONLINE_WITHIN_SECS),
                last_contact: last.map_or_else(|| "never".to_owned(), when),
                id: reader.reader_id,
                model: reader.model,
                mode: reader.mode.to_string(),
                tamper_protection: reader.tamper_protection,
                attempts,
            });
        }
        doors.push(DoorView { name: door.name, lock: door.lock, readers });
    }
    render(&DoorsPage { nav: Nav::new(&admin, &state, "doors").await?, doors })
}
