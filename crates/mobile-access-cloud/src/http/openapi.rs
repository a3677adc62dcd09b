//! The OpenAPI 3.1 document served at `GET /openapi.json`, built from [`super::OPERATIONS`]
//! and the schemas below (which mirror [`crate::api`]).

use serde_json::{Map, Value, json};

use super::{OPERATIONS, QueryKind};
use crate::api::{
    CommandKind, CommandOutcome, CredentialKind, CredentialStatus, DEFAULT_PAGE_LIMIT, DEFAULT_TAP_RSSI_THRESHOLD,
    DEFAULT_TX_POWER, MAX_PAGE_LIMIT, MailState, MemberStatus, ReaderMode, RemoteUnlock, Role, UnlockMethod,
    WalletPrerequisite, WatchBinding,
};
use crate::input::{self, TextRule};

fn s(kind: &str, description: &str) -> Value {
    json!({"type": kind, "description": description})
}

fn hex(bytes: usize, description: &str) -> Value {
    json!({"type": "string", "pattern": format!("^[0-9a-f]{{{}}}$", bytes * 2), "description": description})
}

/// Hex as the server reads it: either case.
fn hex_in(bytes: usize, description: &str) -> Value {
    json!({"type": "string", "pattern": format!("^[0-9a-fA-F]{{{}}}$", bytes * 2), "description": description})
}

/// An uncompressed P-256 public key in hex; one that is not a point on the curve is a 422.
fn p256_key(description: &str) -> Value {
    json!({"type": "string", "pattern": "^04[0-9a-fA-F]{128}$", "description": description})
}

/// A text field following `rule` (see [`crate::input`]).
fn text(rule: TextRule, description: &str) -> Value {
    let mut schema =
        json!({"type": "string", "minLength": rule.min, "maxLength": rule.max, "description": description});
    if rule.not_blank {
        set(&mut schema, "pattern", json!(input::NOT_BLANK));
    }
    schema
}

/// Sets `key` of the object `schema`.
fn set(schema: &mut Value, key: &str, value: Value) {
    if let Some(object) = schema.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

/// An integer within `low..=high`.
fn int(low: i64, high: i64, description: &str) -> Value {
    json!({"type": "integer", "minimum": low, "maximum": high, "description": description})
}

/// An unsigned 32-bit integer (times, counts).
fn u32_int(description: &str) -> Value {
    int(0, i64::from(u32::MAX), description)
}

/// `schema`, or `null` (an `Option` the server reads as absent).
fn or_null(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// Request bodies: their types refuse unknown fields (`deny_unknown_fields`), so the document
/// closes them too.
const REQUESTS: &[&str] = &[
    "Login",
    "AcceptInvitation",
    "KeyRequest",
    "SettingsPatch",
    "NewDoor",
    "DoorPatch",
    "NewReader",
    "NewAccessGroup",
    "MemberSync",
    "SyncedMember",
    "EventUpload",
    "UploadedEvent",
    "StartSwitch",
    "NewCredential",
    "WalletDevice",
    "NewWalletPass",
    "RemoteUnlockRequest",
    "Proximity",
    "CommandResult",
];

fn one_of(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn nullable(kind: &str, description: &str) -> Value {
    json!({"type": [kind, "null"], "description": description})
}

/// An object whose listed properties are all required except those named in `optional`.
fn object(properties: &[(&str, Value)], optional: &[&str]) -> Value {
    let required: Vec<&str> = properties.iter().map(|(n, _)| *n).filter(|n| !optional.contains(n)).collect();
    let props: Map<String, Value> = properties.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
    json!({"type": "object", "required": required, "properties": props})
}

fn page(item: &str) -> Value {
    object(&[("items", array(r(item))), ("next", nullable("string", "cursor for ?after=, null on the last page"))], &[])
}

fn schemas() -> Value {
    let unlock = one_of(UnlockMethod::TEXTS, "how members unlock");
    let status = one_of(MemberStatus::TEXTS, "only confirmed users get mobile keys");
    let mode = one_of(ReaderMode::TEXTS, "tap: the phone must touch the reader; range: anywhere in radio range");
    let anchor = object(&[("org", hex(8, "organization id")), ("public_key", hex(32, "Ed25519 public key"))], &[]);
    let reader_facts = object(
        &[
            ("reader_id", hex(8, "as advertised")),
            ("model", s("string", "e.g. Reader Pro 2.1")),
            ("mode", mode.clone()),
            ("tamper_protection", s("boolean", "")),
            ("tap_rssi_threshold", s("integer", "dBm at tap distance")),
            ("tx_power", s("integer", "dBm at 1 m")),
        ],
        &[],
    );
    let settings_fields = [
        ("unlock_method", unlock.clone()),
        ("invitation_mail", s("boolean", "queue an access email each time a user gains an access group")),
        ("welcome_email", s("boolean", "queue a welcome email for new users (default on under native only)")),
        ("mobile_access_enabled", s("boolean", "the branded app's mobile access module")),
        ("key_validity_secs", s("integer", "lifetime of issued mobile keys; default 86400, 60 to 2592000")),
        ("sso_mfa", s("boolean", "single sign-on with multi-factor authentication (a wallet pass prerequisite)")),
        (
            "wallet_pass_subscription",
            s("boolean", "the wallet pass subscription is active (a wallet pass prerequisite)"),
        ),
        ("remote_unlock", one_of(RemoteUnlock::TEXTS, "whether members may unlock over the network (default off)")),
        ("hands_free", s("boolean", "whether members may unlock hands-free at doors that allow it (default off)")),
    ];
    let (shortest, longest) = input::KEY_VALIDITY_SECS;
    let settings_patch: Vec<(&str, Value)> = settings_fields
        .iter()
        .map(|(name, schema)| {
            let schema = if *name == "key_validity_secs" {
                int(shortest.into(), longest.into(), "lifetime of issued mobile keys")
            } else {
                schema.clone()
            };
            (*name, or_null(schema))
        })
        .collect();
    let settings_names: Vec<&str> = settings_fields.iter().map(|(n, _)| *n).collect();
    let mut organization = vec![
        ("id", hex(8, "organization id")),
        ("name", s("string", "")),
        ("created_at", s("integer", "integration creation date (before 2023-12-01: native by default)")),
        ("revocation_epoch", s("integer", "")),
        ("trust_anchor", r("TrustAnchor")),
    ];
    organization.extend(settings_fields.iter().cloned());
    let token =
        object(&[("token", s("string", "bearer token")), ("expires_at", nullable("integer", ""))], &["expires_at"]);
    let credential_kind = one_of(CredentialKind::TEXTS, "wallet passes are added by members");
    let mut schemas = json!({
        "Error": object(&[("error", object(&[("code", s("string", "stable code")), ("message", s("string", ""))], &[]))], &[]),
        "Health": object(&[("status", s("string", "ok"))], &[]),
        "TrustAnchor": anchor,
        "ReaderFacts": reader_facts,
        "Settings": object(&settings_fields, &[]),
        "SettingsPatch": object(&settings_patch, &settings_names),
        "Organization": object(&organization, &[]),
        "Token": token,
        "Login": object(
            &[("email", s("string", "")), ("password", s("string", "")), ("org_id", or_null(hex(8, "only if the email is in several organizations")))],
            &["org_id"],
        ),
        "AcceptInvitation": object(&[("token", s("string", "from the welcome email")), ("password", text(input::PASSWORD, "the new password"))], &[]),
        "Access": object(
            &[
                ("member_id", hex(16, "")),
                ("name", s("string", "")),
                ("mobile_access_enabled", s("boolean", "")),
                ("access_groups", array(s("string", "group name"))),
                ("has_access_group", s("boolean", "the Key Button is shown only with an access group")),
                ("status", status.clone()),
                ("managed", s("boolean", "")),
                ("unlock_method", unlock.clone()),
                ("key_validity_secs", s("integer", "")),
                ("remote_unlock", one_of(RemoteUnlock::TEXTS, "whether doors open over the network: off, allowed, proximity_required")),
                ("hands_free", s("boolean", "whether doors that allow it open hands-free")),
            ],
            &[],
        ),
        "KeyRequest": object(
            &[
                ("device_public_key", p256_key("the phone's device key")),
                ("owner_public_key", or_null(p256_key("the phone's owner key (released by its OS only after biometric or passcode); doors requiring owner verification get credentials bound to it"))),
            ],
            &["owner_public_key"],
        ),
        "IssuedCredential": object(
            &[
                ("id", hex(16, "credential id")),
                ("credential", s("string", "hex of the protocol's Credential encoding")),
                ("not_before", s("integer", "")),
                ("not_after", s("integer", "")),
                ("locks", array(s("integer", "lock id"))),
                ("owner_verified", s("boolean", "bound to the owner key, for doors requiring owner verification")),
            ],
            &[],
        ),
        "Door": object(
            &[
                ("id", s("string", "")),
                ("name", s("string", "")),
                ("lock", s("integer", "protocol lock id")),
                ("readers", array(r("ReaderFacts"))),
                ("owner_verification", s("boolean", "opening requires owner verification (biometric or passcode) on the phone")),
                ("hands_free", s("boolean", "members may open it hands-free where the organization allows it")),
            ],
            &[],
        ),
        "KeyBundle": object(
            &[
                ("credentials", array(r("IssuedCredential"))),
                ("trust_anchors", array(r("TrustAnchor"))),
                ("doors", array(r("Door"))),
                ("server_time", s("integer", "")),
                ("revocation_list", s("string", "hex of the protocol's SignedRevocationList, signed now; write it to every reader tapped")),
            ],
            &[],
        ),
        "ReaderSync": object(
            &[
                ("reader_id", hex(8, "")),
                ("revocation_list", s("string", "hex of the protocol's SignedRevocationList, signed now")),
                ("server_time", s("integer", "")),
                ("poll_secs", s("integer", "poll again after this many seconds")),
                ("revocation_reasons", json!({"type": "object", "additionalProperties": {"type": "string"}, "description": "why listed credentials were revoked, by credential id"})),
                ("owner_verification", s("boolean", "the door requires owner verification: accept only owner-key credentials")),
            ],
            &[],
        ),
        "UploadedEvent": object(
            &[
                ("event_id", text(input::EVENT_ID, "stable id; kept once")),
                ("at", u32_int("when it happened")),
                ("outcome", text(input::OUTCOME, "granted, refused, interrupted; apps: unlocked, failed")),
                ("reason", or_null(text(input::EVENT_WORD, ""))),
                ("exchange", or_null(text(input::EVENT_WORD, "full or fast"))),
                ("credential_id", or_null(hex_in(16, ""))),
                ("member_id", or_null(hex_in(16, ""))),
                ("reader_id", or_null(hex_in(8, ""))),
                ("rssi", or_null(int(i16::MIN.into(), i16::MAX.into(), "dBm as the reader heard the phone; null when not measured"))),
            ],
            &["reason", "exchange", "credential_id", "member_id", "reader_id", "rssi"],
        ),
        "EventUpload": object(&[("events", max_items(array(r("UploadedEvent")), input::MAX_EVENTS_PER_UPLOAD))], &[]),
        "UploadReport": object(&[("accepted", s("integer", "")), ("duplicates", s("integer", ""))], &[]),
        "SwitchPreview": object(
            &[
                ("from", unlock.clone()),
                ("to", unlock.clone()),
                ("users_to_recreate", s("integer", "not_confirmed users deleted and recreated confirmed")),
                ("users_untouched", s("integer", "")),
                ("memberships_kept", s("integer", "")),
                ("key_fobs_kept", s("integer", "")),
                ("cards_kept", s("integer", "")),
                ("invitations", s("integer", "users invited to set a password (to native)")),
                ("welcome_emails", s("integer", "")),
                ("users", array(r("User"))),
                ("next", nullable("string", "cursor for ?after=")),
            ],
            &[],
        ),
        "StartSwitch": object(
            &[("unlock_method", unlock.clone()), ("welcome_email", or_null(s("boolean", "overrides the new method's default")))],
            &["welcome_email"],
        ),
        "SwitchJob": object(
            &[
                ("id", s("string", "")),
                ("target", unlock.clone()),
                ("state", one_of(&["running", "done"], "")),
                ("total", s("integer", "")),
                ("done", s("integer", "")),
                ("created_at", s("integer", "")),
                ("finished_at", nullable("integer", "")),
            ],
            &[],
        ),
        "SyncedMember": synced_member(),
        "MemberSync": object(&[("members", max_items(array(r("SyncedMember")), input::MAX_MEMBERS_PER_SYNC))], &[]),
        "SyncReport": object(
            &[
                ("created", s("integer", "")),
                ("updated", s("integer", "")),
                ("unchanged", s("integer", "")),
                ("removed", s("integer", "")),
                ("welcome_emails", s("integer", "")),
                ("access_emails", s("integer", "")),
            ],
            &[],
        ),
        "NewDoor": object(
            &[
                ("name", text(input::NAME, "")),
                ("owner_verification", s("boolean", "opening requires owner verification; default false")),
                ("hands_free", s("boolean", "members may open it hands-free; default false")),
            ],
            &["owner_verification", "hands_free"],
        ),
        "NewReader": object(
            &[
                ("model", text(input::NAME, "")),
                ("mode", mode.clone()),
                ("tamper_protection", s("boolean", "")),
                ("tap_rssi_threshold", or_null(range(input::TAP_RSSI_THRESHOLD, &format!("dBm, default {DEFAULT_TAP_RSSI_THRESHOLD}")))),
                ("tx_power", or_null(range(input::TX_POWER, &format!("dBm at 1 m, default {DEFAULT_TX_POWER}")))),
                ("relay_open_ms", or_null(range(input::RELAY_OPEN_MS, "default 5000"))),
            ],
            &["tap_rssi_threshold", "tx_power", "relay_open_ms"],
        ),
        "Provisioning": object(
            &[
                ("reader_id", hex(8, "")),
                ("lock", s("integer", "")),
                ("door_name", s("string", "")),
                ("model", s("string", "")),
                ("mode", mode),
                ("tap_rssi_threshold", s("integer", "")),
                ("tx_power", s("integer", "")),
                ("tamper_protection", s("boolean", "")),
                ("owner_verification", s("boolean", "the door requires owner verification")),
                ("relay_open_ms", s("integer", "")),
                ("reader_key_seed", hex(32, "SECRET, returned once")),
                ("certificate", s("string", "hex of the protocol's ReaderCertificate encoding")),
                ("trust_anchors", array(r("TrustAnchor"))),
                ("revocation_epoch", s("integer", "")),
                ("reader_token", s("string", "SECRET, returned once: the reader's bearer token for /v1/reader/*")),
            ],
            &[],
        ),
        "NewAccessGroup": object(&[("name", text(input::NAME, "")), ("door_ids", array(s("string", "door id")))], &["door_ids"]),
        "AccessGroup": object(&[("id", s("string", "")), ("name", s("string", "")), ("door_ids", array(s("string", "")))], &[]),
        "User": object(
            &[
                ("member_id", hex(16, "")),
                ("external_id", nullable("string", "")),
                ("name", s("string", "")),
                ("email", s("string", "")),
                ("status", status),
                ("managed", s("boolean", "")),
                ("access_groups", array(s("string", "group name"))),
                ("created_at", s("integer", "")),
            ],
            &[],
        ),
        "NewCredential": object(&[("kind", one_of(&["key_fob", "card"], "")), ("number", text(input::NUMBER, "printed number"))], &[]),
        "Credential": object(
            &[
                ("id", s("string", "")),
                ("member_id", hex(16, "")),
                ("kind", credential_kind),
                ("status", one_of(CredentialStatus::TEXTS, "")),
                ("device_public_key", nullable("string", "mobile keys")),
                ("number", nullable("string", "fobs and cards")),
                ("created_at", s("integer", "")),
                ("last_issued_at", nullable("integer", "")),
            ],
            &[],
        ),
        "OutboxMail": object(
            &[
                ("id", s("integer", "")),
                ("member_id", s("string", "")),
                ("kind", one_of(&["welcome", "invitation", "access"], "")),
                ("recipient", s("string", "")),
                ("subject", s("string", "")),
                ("created_at", s("integer", "")),
                ("state", one_of(MailState::TEXTS, "failed: refused for good or every attempt failed")),
                ("attempts", s("integer", "delivery attempts so far")),
                ("next_attempt_at", nullable("integer", "while queued: when the next attempt is due")),
                ("sent_at", nullable("integer", "when the SMTP server accepted it")),
                ("last_error", nullable("string", "why the last attempt failed")),
            ],
            &[],
        ),
        "AuditEntry": object(
            &[
                ("id", s("integer", "")),
                ("at", s("integer", "")),
                ("actor", s("string", "admin, integration, member:<id>, operator")),
                ("action", s("string", "")),
                ("subject", s("string", "")),
                ("detail", json!({"type": "object"})),
            ],
            &[],
        ),
        "DoorPage": page("Door"),
        "AccessGroupPage": page("AccessGroup"),
        "UserPage": page("User"),
        "CredentialPage": page("Credential"),
        "OutboxPage": page("OutboxMail"),
        "AuditPage": page("AuditEntry"),
    });
    let door_patch = object(
        &[
            ("name", or_null(text(input::NAME, ""))),
            ("owner_verification", or_null(s("boolean", "opening requires owner verification"))),
            ("hands_free", or_null(s("boolean", "members may open it hands-free"))),
        ],
        &["name", "owner_verification", "hands_free"],
    );
    for more in [wallet_schemas(), remote_schemas(), json!({ "DoorPatch": door_patch })] {
        if let (Some(all), Value::Object(more)) = (schemas.as_object_mut(), more) {
            all.extend(more);
        }
    }
    for name in REQUESTS {
        if let Some(schema) = schemas.get_mut(*name) {
            set(schema, "additionalProperties", json!(false));
        }
    }
    schemas
}

/// Remote unlock's bodies: the member's request and answer, the reader's commands and results.
fn remote_schemas() -> Value {
    json!({
        "Proximity": object(
            &[
                ("reader_id", hex_in(8, "the reader heard")),
                ("nonce", hex_in(8, "the nonce it advertised")),
            ],
            &[],
        ),
        "MemberDoor": object(
            &[
                ("door_id", s("string", "what POST /v1/me/doors/{door_id}/unlock takes")),
                ("name", s("string", "")),
                ("reader_online", s("boolean", "a reader of the door polled lately: a remote unlock can reach it")),
            ],
            &[],
        ),
        "MemberDoors": object(
            &[
                ("remote_unlock", one_of(RemoteUnlock::TEXTS, "the organization's policy")),
                ("doors", array(r("MemberDoor"))),
            ],
            &[],
        ),
        "RemoteUnlockRequest": object(
            &[("proximity", or_null(r("Proximity")))],
            &["proximity"],
        ),
        "RemoteUnlockResult": object(
            &[
                ("door_id", s("string", "")),
                ("door_name", s("string", "")),
                ("reader_id", hex(8, "the reader that opened the door")),
                ("opened_at", u32_int("when the reader reported the relay open")),
                ("took_ms", u32_int("from the request to the reader's answer")),
            ],
            &[],
        ),
        "ReaderCommand": object(
            &[
                ("command_id", hex(16, "answer with POST /v1/reader/commands/{command_id}/result")),
                ("kind", one_of(CommandKind::TEXTS, "what to do")),
                ("member_id", hex(16, "who asked")),
                ("issued_at", u32_int("")),
                ("valid_for_ms", u32_int("act on it only within this many ms of receiving it; each command id once")),
            ],
            &[],
        ),
        "ReaderCommands": object(&[("commands", array(r("ReaderCommand")))], &[]),
        "CommandResult": object(&[("outcome", one_of(CommandOutcome::TEXTS, "what the reader did"))], &[]),
    })
}

fn max_items(mut schema: Value, most: usize) -> Value {
    set(&mut schema, "maxItems", json!(most));
    schema
}

fn range<T: Into<i64>>((low, high): (T, T), description: &str) -> Value {
    int(low.into(), high.into(), description)
}

fn version(description: &str) -> Value {
    json!({"type": "string", "pattern": input::VERSION_PATTERN, "description": description})
}

/// A member in a sync: `name` and `email` are required, and checked, unless `removed` is true.
fn synced_member() -> Value {
    let name = text(input::NAME, "required unless removed");
    let email = json!({
        "type": "string", "minLength": 1, "maxLength": input::EMAIL.max, "pattern": input::EMAIL_PATTERN,
        "description": "required unless removed",
    });
    let mut member = object(
        &[
            ("external_id", text(input::EXTERNAL_ID, "the platform's id; key of the upsert")),
            ("name", s("string", "required unless removed")),
            ("email", s("string", "required unless removed")),
            ("access_groups", array(s("string", "group name"))),
            ("removed", s("boolean", "delete this member")),
        ],
        &["name", "email", "access_groups", "removed"],
    );
    set(&mut member, "if", json!({"properties": {"removed": {"const": true}}, "required": ["removed"]}));
    set(&mut member, "else", json!({"required": ["name", "email"], "properties": {"name": name, "email": email}}));
    member
}

/// Wallet passes' schemas.
fn wallet_schemas() -> Value {
    json!({
        "WalletDevice": object(&[("ios_version", version("e.g. 17.4")), ("app_version", version("e.g. 46.2"))], &[]),
        "WalletEligibility": object(
            &[
                ("eligible", s("boolean", "true when nothing is unmet")),
                ("unmet", array(one_of(WalletPrerequisite::TEXTS, "an unmet prerequisite"))),
                ("messages", array(s("string", "one sentence per unmet prerequisite"))),
            ],
            &[],
        ),
        "NewWalletPass": object(
            &[
                ("ios_version", version("")),
                ("app_version", version("")),
                ("iphone_device_id", text(input::DEVICE_ID, "")),
                ("secure_element_public_key", p256_key("the pass's key in the iPhone's secure element")),
                ("watch_device_id", or_null(text(input::DEVICE_ID, "the paired Apple Watch, if any"))),
                ("watch_unlocked", s("boolean", "whether the watch was unlocked during the add (default false)")),
            ],
            &["watch_device_id", "watch_unlocked"],
        ),
        "WalletPass": object(
            &[
                ("id", s("string", "pass id")),
                ("member_id", s("string", "")),
                ("status", one_of(CredentialStatus::TEXTS, "")),
                ("devices", object(&[("iphone", s("string", "")), ("watch", nullable("string", "bound watch"))], &[])),
                ("locks", array(s("integer", "lock id"))),
                ("added_at", s("integer", "")),
            ],
            &[],
        ),
        "WalletPassAdded": object(
            &[
                ("pass", r("WalletPass")),
                ("watch", one_of(WatchBinding::TEXTS, "add_again: the watch was locked; add the pass again with it unlocked")),
                ("superseded", array(s("string", "passes this add replaced"))),
                ("notes", array(s("string", "what to tell the member"))),
                ("provisioning", object(
                    &[
                        ("format", s("string", "mobile-access/wallet-pass/v1")),
                        ("organization", s("string", "")),
                        ("member_name", s("string", "")),
                        ("credentials", array(r("IssuedCredential"))),
                        ("trust_anchors", array(r("TrustAnchor"))),
                        ("unlock", s("string", "tap: the only method a pass supports")),
                    ],
                    &[],
                )),
            ],
            &[],
        ),
        "WalletPassPage": page("WalletPass"),
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": r("Error")}}})
}

/// 429, with the header that says when to come back.
fn rate_limited_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"Retry-After": {
            "description": "whole seconds to wait before trying again (at least 1)",
            "schema": {"type": "integer", "minimum": 1},
        }},
        "content": {"application/json": {"schema": r("Error")}},
    })
}

/// The query parameters of `query`, as its [`crate::api`] type reads them.
fn query_parameters(query: QueryKind) -> Vec<Value> {
    let limit = format!("at most this many items, {}..{} (default {})", 1, MAX_PAGE_LIMIT, DEFAULT_PAGE_LIMIT);
    let mut parameters = vec![
        json!({"name": "limit", "in": "query", "description": limit,
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_LIMIT}}),
        json!({"name": "after", "in": "query", "description": "the `next` cursor of the previous page",
        "schema": if query == QueryKind::Sequence {
            json!({"type": "string", "pattern": input::SEQUENCE_CURSOR_PATTERN})
        } else {
            json!({"type": "string"})
        }}),
    ];
    if query == QueryKind::CommandPoll {
        return vec![
            json!({"name": "wait_secs", "in": "query", "description": "hold the poll open this long while no command waits (default 25)",
                   "schema": {"type": "integer", "minimum": 0, "maximum": crate::store::MAX_POLL_WAIT.as_secs()}}),
            json!({"name": "nonces", "in": "query",
                   "description": "the nonces a phone may hear from the reader until its next poll, comma-separated (hex, 8 bytes each)",
                   "schema": {"type": "string", "pattern": format!("^[0-9a-fA-F]{{16}}(,[0-9a-fA-F]{{16}}){{0,{}}}$", crate::api::MAX_ANNOUNCED_NONCES - 1)}}),
        ];
    }
    if query == QueryKind::SwitchPreview {
        let to = one_of(UnlockMethod::TEXTS, "the method to switch to (default: the other one)");
        parameters.insert(0, json!({"name": "to", "in": "query", "schema": to}));
    }
    parameters
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut responses = Map::new();
        let success = match op.response {
            Some(schema) => json!({"description": "success", "content": {"application/json": {"schema": r(schema)}}}),
            None => json!({"description": "success"}),
        };
        responses.insert(op.status.to_string(), success);
        if op.request.is_some() || op.path.contains('{') || op.query.is_some() {
            responses.insert(
                "400".into(),
                error_response(
                    "invalid_request, invalid_json; invalid_request also for any string (body, path id, query, \
                     cursor) holding the NUL character U+0000",
                ),
            );
        }
        if op.role.is_some() {
            responses.insert("401".into(), error_response("unauthorized: missing or unknown token"));
            responses.insert(
                "426".into(),
                error_response(
                    "app_update_required: the User-Agent names a mobile-access SDK older than the cloud's \
                     --min-sdk-version",
                ),
            );
        }
        if op.path == "/v1/login" {
            responses.insert(
                "401".into(),
                error_response(
                    "invalid_credentials: the one answer, in the same time, for an unknown email, a wrong password \
                     and a user who cannot log in with a password",
                ),
            );
        }
        if matches!(op.path, "/healthz" | "/readyz" | "/openapi.json") {
            if op.path == "/readyz" {
                responses.insert(
                    "503".into(),
                    error_response("not_ready: the database does not answer or a migration is not applied"),
                );
            }
        } else if op.role.is_some() || op.request.is_some() {
            let why = if op.role.is_some() {
                "rate_limited: too many requests from this address or this caller, or too many failed \
                 authentications from this address"
            } else {
                "rate_limited: too many requests or failed authentications from this address, or failed logins \
                 for this email"
            };
            responses.insert("429".into(), rate_limited_response(why));
        }
        // Any request can outlast the server's request timeout (`Timeouts::request`).
        let timeout = "timeout: the request took longer than the server's request timeout (its handler may still \
                       have finished: read before retrying a write)";
        let unavailable = match responses.get("503").and_then(|r| r["description"].as_str()) {
            Some(other) => format!("{other}; {timeout}"),
            None => timeout.to_owned(),
        };
        responses.insert("503".into(), error_response(&unavailable));
        let mut forbidden = Vec::new();
        if op.role.is_some() {
            forbidden.push("forbidden (wrong role)");
        }
        forbidden.extend(op.refusals);
        if !forbidden.is_empty() {
            responses.insert("403".into(), error_response(&forbidden.join(", ")));
        }
        if op.path.contains('{') {
            responses.insert("404".into(), error_response("not_found (also for other organizations' ids)"));
        }
        for (status, why) in op.errors {
            let why = match responses.get(&status.to_string()).and_then(|r| r["description"].as_str()) {
                Some(other) => format!("{other}; {why}"),
                None => (*why).to_owned(),
            };
            responses.insert(status.to_string(), error_response(&why));
        }
        if op.request.is_some() {
            responses.insert("413".into(), error_response("payload_too_large"));
            responses.insert("415".into(), error_response("unsupported_media_type"));
        }
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(op.summary));
        operation.insert("responses".into(), Value::Object(responses));
        operation.insert("x-role".into(), json!(op.role.map(Role::as_str)));
        if let Some(role) = op.role {
            operation.insert("security".into(), json!([{ format!("{role}_token"): [] }]));
        }
        if let Some(schema) = op.request {
            let body = json!({"required": true, "content": {"application/json": {"schema": r(schema)}}});
            operation.insert("requestBody".into(), body);
        }
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(op.query.map(query_parameters).unwrap_or_default());
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if let Value::Object(path) = paths.entry(op.path.to_owned()).or_insert_with(|| json!({})) {
            path.insert(op.method.to_lowercase(), Value::Object(operation));
        }
    }
    let bearer = json!({"type": "http", "scheme": "bearer"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mobile-access cloud",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Members, access groups, doors and readers, integration settings and key issuance. \
                Errors are {\"error\":{\"code\",\"message\"}}; bytes are lowercase hex; times are Unix seconds.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "admin_token": bearer, "integration_token": bearer, "member_token": bearer, "reader_token": bearer,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use std::collections::BTreeSet;

    use serde::{Deserialize, de};

    use super::*;
    use crate::api;

    /// The field names a `Deserialize` struct reads, as serde's derive declares them: a
    /// deserializer that records what `deserialize_struct` is asked for, then stops.
    struct FieldProbe(Option<&'static [&'static str]>);

    impl<'de> de::Deserializer<'de> for &mut FieldProbe {
        type Error = de::value::Error;

        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    fn fields<T: for<'de> Deserialize<'de>>() -> BTreeSet<&'static str> {
        let mut probe = FieldProbe(None);
        let _ = T::deserialize(&mut probe);
        probe.0.expect("a struct").iter().copied().collect()
    }

    /// Every schema names exactly the fields of the type the server reads or writes, and a
    /// request schema is closed exactly when its type refuses unknown fields: the document and
    /// the server cannot drift apart on a field.
    #[test]
    fn every_schema_has_the_fields_of_its_type() {
        let document = document();
        let schemas = &document["components"]["schemas"];
        let types: Vec<(&str, BTreeSet<&str>)> = vec![
            ("Settings", fields::<api::Settings>()),
            ("SettingsPatch", fields::<api::SettingsPatch>()),
            ("TrustAnchor", fields::<api::TrustAnchor>()),
            ("ReaderFacts", fields::<api::ReaderFacts>()),
            ("Token", fields::<api::TokenResponse>()),
            ("Login", fields::<api::Login>()),
            ("AcceptInvitation", fields::<api::AcceptInvitation>()),
            ("Access", fields::<api::Access>()),
            ("KeyRequest", fields::<api::KeyRequest>()),
            ("IssuedCredential", fields::<api::IssuedCredential>()),
            ("Door", fields::<api::Door>()),
            ("KeyBundle", fields::<api::KeyBundle>()),
            ("ReaderSync", fields::<api::ReaderSync>()),
            ("UploadedEvent", fields::<api::UploadedEvent>()),
            ("EventUpload", fields::<api::EventUpload>()),
            ("UploadReport", fields::<api::UploadReport>()),
            ("Proximity", fields::<api::Proximity>()),
            ("MemberDoor", fields::<api::MemberDoor>()),
            ("MemberDoors", fields::<api::MemberDoors>()),
            ("RemoteUnlockRequest", fields::<api::RemoteUnlockRequest>()),
            ("RemoteUnlockResult", fields::<api::RemoteUnlockResult>()),
            ("ReaderCommand", fields::<api::ReaderCommand>()),
            ("ReaderCommands", fields::<api::ReaderCommands>()),
            ("CommandResult", fields::<api::CommandResult>()),
            ("SwitchPreview", fields::<api::SwitchPreview>()),
            ("StartSwitch", fields::<api::StartSwitch>()),
            ("SwitchJob", fields::<api::SwitchJob>()),
            ("SyncedMember", fields::<api::SyncedMember>()),
            ("MemberSync", fields::<api::MemberSync>()),
            ("SyncReport", fields::<api::SyncReport>()),
            ("NewDoor", fields::<api::NewDoor>()),
            ("NewReader", fields::<api::NewReader>()),
            ("Provisioning", fields::<api::Provisioning>()),
            ("NewAccessGroup", fields::<api::NewAccessGroup>()),
            ("AccessGroup", fields::<api::AccessGroup>()),
            ("User", fields::<api::User>()),
            ("NewCredential", fields::<api::NewCredential>()),
            ("Credential", fields::<api::CredentialInfo>()),
            ("OutboxMail", fields::<api::OutboxMail>()),
            ("AuditEntry", fields::<api::AuditEntry>()),
            ("WalletDevice", fields::<api::WalletDevice>()),
            ("WalletEligibility", fields::<api::WalletEligibility>()),
            ("NewWalletPass", fields::<api::NewWalletPass>()),
            ("WalletPass", fields::<api::WalletPass>()),
            ("WalletPassAdded", fields::<api::WalletPassAdded>()),
            ("UserPage", fields::<api::Page<api::User>>()),
        ];
        for (name, fields) in types {
            let schema = &schemas[name];
            let documented: BTreeSet<&str> = schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}"))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(documented, fields, "{name}: the document's properties against the type's fields");
            let closed = schema["additionalProperties"] == json!(false);
            assert_eq!(closed, REQUESTS.contains(&name), "{name}: closed in the document, open in the type or back");
        }
    }

    /// Query parameters: what `PageQuery` and `SwitchPreviewQuery` read, and nothing else.
    #[test]
    fn query_parameters_are_the_fields_of_the_query_types() {
        for (kind, wanted) in [
            (QueryKind::Page, fields::<api::PageQuery>()),
            (QueryKind::Sequence, fields::<api::PageQuery>()),
            (QueryKind::SwitchPreview, fields::<api::SwitchPreviewQuery>()),
            (QueryKind::CommandPoll, fields::<api::CommandPollQuery>()),
        ] {
            let documented: BTreeSet<String> =
                query_parameters(kind).iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
            let wanted: BTreeSet<String> = wanted.iter().map(|f| (*f).to_owned()).collect();
            assert_eq!(documented, wanted, "{kind:?}");
        }
    }
}
