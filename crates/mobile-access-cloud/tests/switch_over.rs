//! The switch from native unlocking to the branded app on 1,000 users of mixed status, with the
//! CLI running the job killed (SIGKILL, so mid-transaction too) several times: nobody lost, no
//! membership, fob or card lost, no duplicate, every recreated user confirmed and able to unlock,
//! nothing done twice. And the switch back, whose behaviour is defined and documented.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use mobile_access_cloud::{
    Actor, Backend, Config, Store,
    api::{
        KeyRequest, MemberSync, NewAccessGroup, NewCredential, NewDoor, NewOrganization, NewReader, PageQuery,
        ReaderMode, SwitchPreviewQuery, SyncedMember, UnlockMethod, User,
    },
    hex,
};
use mobile_access_protocol::{
    Credential, OrgId, OrganizationPublicKey, ReaderCertificate, ReaderId, ReaderKey, Reason, Timestamp, UnlockMode,
    phone::Exchange,
    reader::{Connection, ReaderConfig, Responder},
};
use sqlx::Row;
use support::{BEFORE_DECEMBER_2023, device};

const USERS: usize = 1_000;

struct World {
    store: Store,
    config: Config,
    org: String,
    reader: mobile_access_cloud::api::Provisioning,
    _dir: tempfile::TempDir,
    pg: Option<String>,
}

async fn world(backend: Backend) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.max_connections = 4;
    let mut pg = None;
    if backend == Backend::Postgres {
        let (url, name) = support::fresh_postgres_database().await;
        config.database_url = Some(url);
        pg = Some(name);
    }
    let store = Store::open(&config).await.unwrap();
    let op = Actor::Operator;
    let org = store
        .create_organization(NewOrganization {
            name: "Coworking".into(),
            created_at: Some(BEFORE_DECEMBER_2023),
            unlock_method: None,
        })
        .await
        .unwrap()
        .organization
        .id;
    let mut doors = Vec::new();
    for name in ["Main", "Studio", "Roof"] {
        doors.push(
            store
                .create_door(&org, &op, &NewDoor { name: name.into(), owner_verification: false, hands_free: false })
                .await
                .unwrap()
                .id,
        );
    }
    let new_reader = NewReader {
        model: "Reader Pro 2.1".into(),
        mode: ReaderMode::Range,
        tamper_protection: true,
        tap_rssi_threshold: None,
        tx_power: None,
        relay_open_ms: None,
    };
    let reader = store.provision_reader(&org, &op, &doors[0], &new_reader).await.unwrap();
    for (i, group) in ["Members", "Studio", "Roof"].iter().enumerate() {
        let new = NewAccessGroup { name: (*group).into(), door_ids: vec![doors[i].clone(), doors[0].clone()] };
        store.create_access_group(&org, &op, &new).await.unwrap();
    }
    World { store, config, org, reader, _dir: dir, pg }
}

/// Groups of user `i`: none for every 10th, else a mix.
fn groups_of(i: usize) -> Vec<String> {
    let all = ["Members", "Studio", "Roof"];
    if i.is_multiple_of(10) {
        return Vec::new();
    }
    all.iter().enumerate().filter(|(g, _)| (i >> g) & 1 == 1 || *g == 0).map(|(_, n)| (*n).to_owned()).collect()
}

async fn populate(w: &World) {
    let members = (0..USERS)
        .map(|i| SyncedMember {
            external_id: format!("ext-{i:04}"),
            name: format!("User {i}"),
            email: format!("user{i}@example.com"),
            access_groups: groups_of(i),
            removed: false,
        })
        .collect();
    w.store.sync_members(&w.org, &Actor::Integration, &MemberSync { members }).await.unwrap();
    let users = all_users(&w.store, &w.org).await;
    // 40 % confirmed their native invitation (fixture: the status and a password, as accepting does).
    for user in users.iter().filter(|u| index(u) % 5 < 2) {
        sqlx::query("UPDATE members SET status = 'confirmed', password_hash = $1 WHERE id = $2")
            .bind(vec![1u8; 32])
            .bind(&user.member_id)
            .execute(w.store.pool())
            .await
            .unwrap();
    }
    for user in &users {
        let i = index(user);
        if i.is_multiple_of(3) {
            let fob = NewCredential { kind: mobile_access_cloud::api::CredentialKind::KeyFob, number: format!("F{i}") };
            w.store.create_credential(&w.org, &Actor::Admin, &user.member_id, &fob).await.unwrap();
        }
        if i.is_multiple_of(7) {
            let card = NewCredential { kind: mobile_access_cloud::api::CredentialKind::Card, number: format!("C{i}") };
            w.store.create_credential(&w.org, &Actor::Admin, &user.member_id, &card).await.unwrap();
        }
        if i % 50 == 1 {
            // A branded-app session, and history under the old member id.
            w.store
                .create_member_session(&w.org, &Actor::Integration, user.external_id.as_deref().unwrap())
                .await
                .unwrap();
        }
    }
}

fn index(user: &User) -> usize {
    user.external_id.as_ref().unwrap().trim_start_matches("ext-").parse().unwrap()
}

async fn all_users(store: &Store, org: &str) -> Vec<User> {
    let mut query = PageQuery { limit: Some(1000), after: None };
    let mut out = Vec::new();
    loop {
        let page = store.users(org, &query).await.unwrap();
        out.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
}

/// external id → (sorted credential kind:number).
async fn credentials_by_external_id(store: &Store) -> BTreeMap<String, BTreeSet<String>> {
    let rows =
        sqlx::query("SELECT m.external_id, c.kind, c.number FROM credentials c JOIN members m ON m.id = c.member_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows {
        let external: String = row.try_get("external_id").unwrap();
        let kind: String = row.try_get("kind").unwrap();
        let number: Option<String> = row.try_get("number").unwrap();
        out.entry(external).or_default().insert(format!("{kind}:{}", number.unwrap_or_default()));
    }
    out
}

async fn count(store: &Store, sql: &str, org: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).bind(org).fetch_one(store.pool()).await.unwrap()
}

fn cli(config: &Config, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mobile-access-cloud"));
    command.arg("--data-dir").arg(&config.data_dir).args(args).env("RUST_LOG", "warn").env_remove("DATABASE_URL");
    if let Some(url) = &config.database_url {
        command.arg("--database-url").arg(url);
    }
    command
}

/// Runs the CLI and kills it (SIGKILL) once it printed `after_lines` progress lines; returns
/// the progress lines seen.
fn run_and_kill(config: &Config, args: &[&str], after_lines: usize) -> Vec<String> {
    let mut child = cli(config, args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.starts_with("switch-over") {
            seen.push(line);
            if seen.len() >= after_lines {
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    seen
}

fn done_of(line: &str) -> usize {
    line.split(": ").nth(1).unwrap().split(" / ").next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn switching_to_the_branded_app_survives_kills_and_loses_nobody() {
    for backend in support::backends() {
        eprintln!("backend: {backend:?}");
        let w = world(backend).await;
        populate(&w).await;
        let before = all_users(&w.store, &w.org).await;
        assert_eq!(before.len(), USERS);
        let groups_before: BTreeMap<String, Vec<String>> =
            before.iter().map(|u| (u.external_id.clone().unwrap(), u.access_groups.clone())).collect();
        let credentials_before = credentials_by_external_id(&w.store).await;
        let unconfirmed: BTreeSet<String> = before
            .iter()
            .filter(|u| u.status == mobile_access_cloud::api::MemberStatus::NotConfirmed)
            .map(|u| u.member_id.clone())
            .collect();
        let confirmed_ids: BTreeSet<String> =
            before.iter().map(|u| u.member_id.clone()).filter(|id| !unconfirmed.contains(id)).collect();
        assert_eq!(unconfirmed.len(), 600);
        let access_mails =
            count(&w.store, "SELECT COUNT(*) FROM outbox WHERE org_id = $1 AND kind = 'access'", &w.org).await;
        let old_sessions: Vec<String> = before
            .iter()
            .filter(|u| index(u) % 50 == 1 && unconfirmed.contains(&u.member_id))
            .map(|u| u.member_id.clone())
            .collect();

        // The preview lists exactly who will be recreated, and changes nothing.
        let preview = w
            .store
            .preview_switch(
                &w.org,
                &SwitchPreviewQuery { to: Some(UnlockMethod::BrandedApp), limit: Some(1000), after: None },
            )
            .await
            .unwrap();
        assert_eq!((preview.users_to_recreate, preview.users_untouched), (600, 400));
        let listed: BTreeSet<String> = preview.users.iter().map(|u| u.member_id.clone()).collect();
        assert_eq!(listed, unconfirmed);
        let memberships: usize =
            before.iter().filter(|u| unconfirmed.contains(&u.member_id)).map(|u| u.access_groups.len()).sum();
        assert_eq!(preview.memberships_kept as usize, memberships);
        let fobs = before.iter().filter(|u| unconfirmed.contains(&u.member_id) && index(u).is_multiple_of(3)).count();
        let cards = before.iter().filter(|u| unconfirmed.contains(&u.member_id) && index(u).is_multiple_of(7)).count();
        assert_eq!((preview.key_fobs_kept as usize, preview.cards_kept as usize), (fobs, cards));
        assert_eq!(preview.welcome_emails, 0, "the branded app's default: no welcome email");
        assert_eq!(w.store.organization(&w.org).await.unwrap().settings.unlock_method, UnlockMethod::Native);
        assert_eq!(all_users(&w.store, &w.org).await, before);

        // Killed three times at increasing points, then resumed to the end.
        let org = w.org.as_str();
        let seen =
            run_and_kill(&w.config, &["switch", "start", "--org", org, "--to", "branded-app", "--batch", "40"], 3);
        assert_eq!(seen.len(), 3, "{seen:?}");
        let seen = run_and_kill(&w.config, &["switch", "resume", "--org", org, "--batch", "40"], 4);
        assert!(done_of(&seen[0]) >= 80, "resumed where it was killed: {seen:?}");
        let seen =
            run_and_kill(&w.config, &["switch", "start", "--org", org, "--to", "branded-app", "--batch", "25"], 5);
        assert!(done_of(&seen[0]) > 80 && done_of(&seen[0]) < 600, "starting again resumes: {seen:?}");
        let running = w.store.running_switch(&w.org).await.unwrap().unwrap();
        assert!(running.done < 600);
        let output = cli(&w.config, &["switch", "resume", "--org", org]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let job: mobile_access_cloud::api::SwitchJob = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!((job.state.as_str(), job.done, job.total), ("done", 600, 600));
        // Running it twice is harmless.
        let output = cli(&w.config, &["switch", "start", "--org", org, "--to", "branded-app"]).output().unwrap();
        assert!(output.status.success());
        let again: mobile_access_cloud::api::SwitchJob = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(again.id, job.id);

        // Nobody lost, nobody duplicated, everyone confirmed.
        let after = all_users(&w.store, &w.org).await;
        assert_eq!(after.len(), USERS);
        let emails: BTreeSet<&str> = after.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(emails.len(), USERS, "no duplicate email");
        assert!(after.iter().all(|u| u.status == mobile_access_cloud::api::MemberStatus::Confirmed));
        let groups_after: BTreeMap<String, Vec<String>> =
            after.iter().map(|u| (u.external_id.clone().unwrap(), u.access_groups.clone())).collect();
        assert_eq!(groups_after, groups_before, "every membership kept");
        assert_eq!(credentials_by_external_id(&w.store).await, credentials_before, "every fob and card kept");
        let after_ids: BTreeSet<String> = after.iter().map(|u| u.member_id.clone()).collect();
        assert!(confirmed_ids.is_subset(&after_ids), "confirmed users untouched");
        let recreated: Vec<&User> = after.iter().filter(|u| !confirmed_ids.contains(&u.member_id)).collect();
        assert_eq!(recreated.len(), 600);
        assert!(recreated.iter().all(|u| u.managed && !unconfirmed.contains(&u.member_id)));
        // Nothing done twice.
        let recreations =
            count(&w.store, "SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND action = 'member.recreated'", &w.org)
                .await;
        assert_eq!(recreations, 600);
        assert_eq!(count(&w.store, "SELECT COUNT(*) FROM member_lineage WHERE org_id = $1", &w.org).await, 600);
        // No access email for groups they already had; no welcome email under the new default.
        assert_eq!(
            count(&w.store, "SELECT COUNT(*) FROM outbox WHERE org_id = $1 AND kind = 'access'", &w.org).await,
            access_mails
        );
        assert_eq!(
            count(&w.store, "SELECT COUNT(*) FROM outbox WHERE org_id = $1 AND kind = 'welcome'", &w.org).await,
            0
        );
        // History stays linked: the session opened under the old id shows in the new user's history.
        let lineage: HashMap<String, String> = sqlx::query("SELECT old_member_id, new_member_id FROM member_lineage")
            .fetch_all(w.store.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.try_get("old_member_id").unwrap(), r.try_get("new_member_id").unwrap()))
            .collect();
        for old in &old_sessions {
            let history = w.store.user_history(&w.org, &lineage[old], &PageQuery::default()).await.unwrap();
            let actions: Vec<&str> = history.items.iter().map(|e| e.action.as_str()).collect();
            assert!(actions.contains(&"session.created") && actions.contains(&"member.recreated"), "{actions:?}");
        }

        // Every recreated user with a group unlocks from the branded app.
        let signed_time = mobile_access_cloud::store::now();
        let mut responder = responder(&w.reader, Timestamp(signed_time));
        let rng = ring::rand::SystemRandom::new();
        let mut unlocked = 0;
        for user in recreated.iter().filter(|u| !u.access_groups.is_empty()) {
            let (key, public) = device();
            let bundle = w
                .store
                .issue_keys(&w.org, &user.member_id, &KeyRequest { device_public_key: public, owner_public_key: None })
                .await
                .unwrap();
            if unlocked < 20 {
                let anchor = OrganizationPublicKey::new(
                    OrgId(hex::decode_array(&bundle.trust_anchors[0].org).unwrap()),
                    hex::decode_array(&bundle.trust_anchors[0].public_key).unwrap(),
                );
                let credential = Credential::decode(&hex::decode(&bundle.credentials[0].credential).unwrap()).unwrap();
                let mut connection = Connection::default();
                let reader_id = ReaderId(hex::decode_array(&w.reader.reader_id).unwrap());
                let (exchange, hello) =
                    Exchange::start(reader_id, mobile_access_protocol::Nonce([0; 8]), None, &rng).unwrap();
                let now = Timestamp(bundle.server_time);
                let reader_hello = responder.handle(&mut connection, &hello, now, &rng);
                let (awaiting, auth) =
                    exchange.on_reader_hello(&reader_hello.bytes, &[anchor], &credential, &key).unwrap();
                let result = responder.handle(&mut connection, &auth, now, &rng);
                assert_eq!(awaiting.on_result(&result.bytes).unwrap().reason, Reason::Granted);
            }
            unlocked += 1;
        }
        assert_eq!(unlocked, recreated.iter().filter(|u| !u.access_groups.is_empty()).count());
        assert!(unlocked > 500);
        // The branded app's sessions opened before the switch still work for the recreated user.
        let token_owner: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE role = 'member' AND member_id IN (SELECT new_member_id FROM member_lineage)")
            .fetch_one(w.store.pool())
            .await
            .unwrap();
        assert_eq!(token_owner as usize, old_sessions.len());

        w.store.close().await;
        if let Some(name) = &w.pg {
            support::drop_postgres_database(name).await;
        }
    }
}

fn responder(p: &mobile_access_cloud::api::Provisioning, now: Timestamp) -> Responder {
    let certificate = ReaderCertificate::decode(&hex::decode(&p.certificate).unwrap()).unwrap();
    let key = ReaderKey::from_seed(hex::decode_array(&p.reader_key_seed).unwrap()).unwrap();
    let trust = p
        .trust_anchors
        .iter()
        .map(|a| {
            OrganizationPublicKey::new(
                OrgId(hex::decode_array(&a.org).unwrap()),
                hex::decode_array(&a.public_key).unwrap(),
            )
        })
        .collect();
    let mut config = ReaderConfig::new(certificate, key, trust);
    config.mode = UnlockMode::Range;
    Responder::new(config, now, &ring::rand::SystemRandom::new()).unwrap()
}

#[tokio::test]
async fn switching_back_to_native_keeps_everyone_confirmed_and_invites_them_to_set_a_password() {
    use reqwest::Method;
    use serde_json::json;
    on_every_backend!(|cloud| {
        let org = cloud.org("Back", support::AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "G", &[&door]).await;
        let token = cloud.member(integration, "m1", &["G"]).await;
        cloud.member(integration, "m2", &[]).await;
        let before = cloud.get(admin, "/v1/admin/users").await.ok();

        let preview = cloud.get(admin, "/v1/admin/switch-over/preview?to=native").await.ok();
        assert_eq!((preview["users_to_recreate"].as_u64(), preview["invitations"].as_u64()), (Some(0), Some(2)));
        assert_eq!(preview["welcome_emails"], 2, "native's default: welcome emails on");
        let job = cloud.post(admin, "/v1/admin/switch-over", json!({"unlock_method": "native"})).await.expect(202, "");
        let mut status = job;
        for _ in 0..100 {
            if status["state"] == "done" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            status = cloud.get(admin, "/v1/admin/switch-over").await.ok();
        }
        assert_eq!((status["state"].as_str(), status["done"].as_u64()), (Some("done"), Some(2)));

        // Nobody deleted or downgraded; the mobile key keeps working.
        let after = cloud.get(admin, "/v1/admin/users").await.ok();
        assert_eq!(after["items"], before["items"]);
        let (_, public) = device();
        cloud.post(&token, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        // Native login needs the password set through the invitation.
        let email = "m1@example.com";
        let login = json!({"email": email, "password": "correct horse"});
        cloud.call(Method::POST, None, "/v1/login", Some(login.clone())).await.expect(401, "invalid_credentials");
        let invitation_token = support::invitation_token(cloud.handle.store(), email).await;
        let accept = json!({"token": invitation_token, "password": "correct horse"});
        cloud.call(Method::POST, None, "/v1/invitations/accept", Some(accept)).await.ok();
        cloud.call(Method::POST, None, "/v1/login", Some(login)).await.ok();
        // Asking again changes nothing.
        let again =
            cloud.post(admin, "/v1/admin/switch-over", json!({"unlock_method": "native"})).await.expect(202, "");
        assert_eq!(again["id"], status["id"]);
    });
}
