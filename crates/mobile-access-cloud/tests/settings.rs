//! Each integration setting, by what a user sees: their status, the emails in the outbox, and
//! whether login and key download are allowed.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_cloud::api::UnlockMethod;
use reqwest::Method;
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, BEFORE_DECEMBER_2023, Cloud, device};

async fn outbox(cloud: &Cloud, admin: &str) -> Vec<Value> {
    cloud.get(admin, "/v1/admin/outbox").await.ok()["items"].as_array().unwrap().clone()
}

async fn user(cloud: &Cloud, admin: &str, external_id: &str) -> Value {
    let users = cloud.get(admin, "/v1/admin/users").await.ok();
    users["items"].as_array().unwrap().iter().find(|u| u["external_id"] == external_id).unwrap().clone()
}

#[tokio::test]
async fn the_default_unlock_method_depends_on_when_the_integration_was_created() {
    on_every_backend!(|cloud| {
        for (created_at, method, welcome) in [
            (1_701_388_799, "native", true),
            (1_701_388_800, "branded_app", false),
            (BEFORE_DECEMBER_2023, "native", true),
        ] {
            let org = cloud.org("Org", created_at, None).await;
            let settings = cloud.get(&org.admin_token, "/v1/admin/settings").await.ok();
            assert_eq!(
                settings,
                json!({"unlock_method": method, "invitation_mail": false, "welcome_email": welcome,
                       "mobile_access_enabled": true, "key_validity_secs": 86400,
                       "sso_mfa": false, "wallet_pass_subscription": false, "remote_unlock": "off",
                       "hands_free": false}),
                "created at {created_at}"
            );
        }
    });
}

#[tokio::test]
async fn native_users_start_unconfirmed_and_confirm_through_their_invitation() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Native", BEFORE_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "Members", &[&door]).await;
        let session = cloud.member(integration, "nat", &["Members"]).await;

        let listed = user(&cloud, admin, "nat").await;
        assert_eq!((listed["status"].as_str(), listed["managed"].as_bool()), (Some("not_confirmed"), Some(false)));
        let access = cloud.get(&session, "/v1/me/access").await.ok();
        assert_eq!(access["status"], "not_confirmed");
        assert_eq!(access["unlock_method"], "native");
        let (_, public) = device();
        let refusal = cloud.post(&session, "/v1/me/keys", json!({"device_public_key": public})).await;
        let body = refusal.expect(403, "not_confirmed");
        assert!(body["error"]["message"].as_str().unwrap().contains("invitation"));

        // The welcome email is on by default and carries the invitation.
        let mails = outbox(&cloud, admin).await;
        assert_eq!(mails.len(), 1);
        assert_eq!(
            (mails[0]["kind"].as_str(), mails[0]["recipient"].as_str()),
            (Some("invitation"), Some("nat@example.com"))
        );
        assert!(!mails[0].to_string().contains("ma_inv_"), "the admin outbox shows no token: {}", mails[0]);
        let invitation = support::invitation_token(cloud.handle.store(), "nat@example.com").await;

        let login = json!({"email": "nat@example.com", "password": "a good password"});
        // Not confirmed: to a guesser, the same answer as a wrong password (the invitation says why).
        cloud.call(Method::POST, None, "/v1/login", Some(login.clone())).await.expect(401, "invalid_credentials");
        let short = json!({"token": invitation, "password": "short"});
        cloud.call(Method::POST, None, "/v1/invitations/accept", Some(short)).await.expect(400, "invalid_request");
        let accept = json!({"token": invitation, "password": "a good password"});
        let token = cloud.call(Method::POST, None, "/v1/invitations/accept", Some(accept.clone())).await.ok();
        assert!(token["token"].as_str().unwrap().starts_with("ma_mem_"));
        cloud.call(Method::POST, None, "/v1/invitations/accept", Some(accept)).await.expect(404, "not_found");

        assert_eq!(user(&cloud, admin, "nat").await["status"], "confirmed");
        let wrong = json!({"email": "nat@example.com", "password": "not the password"});
        cloud.call(Method::POST, None, "/v1/login", Some(wrong)).await.expect(401, "invalid_credentials");
        let logged_in = cloud.call(Method::POST, None, "/v1/login", Some(login)).await.ok();
        let member = logged_in["token"].as_str().unwrap();
        cloud.post(member, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        let unknown = json!({"email": "nobody@example.com", "password": "whatever1"});
        cloud.call(Method::POST, None, "/v1/login", Some(unknown)).await.expect(401, "invalid_credentials");
    });
}

#[tokio::test]
async fn branded_app_users_are_confirmed_and_managed_and_cannot_log_in_with_a_password() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Branded", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "Members", &[&door]).await;
        let session = cloud.member(integration, "bra", &["Members"]).await;

        let listed = user(&cloud, admin, "bra").await;
        assert_eq!((listed["status"].as_str(), listed["managed"].as_bool()), (Some("confirmed"), Some(true)));
        assert!(outbox(&cloud, admin).await.is_empty(), "no welcome email by default under the branded app");
        let login = json!({"email": "bra@example.com", "password": "anything at all"});
        // No password to check: the same answer as a wrong one, so nobody learns the user exists.
        cloud.call(Method::POST, None, "/v1/login", Some(login)).await.expect(401, "invalid_credentials");
        let access = cloud.get(&session, "/v1/me/access").await.ok();
        assert_eq!(
            access,
            json!({"member_id": listed["member_id"], "name": "bra", "mobile_access_enabled": true,
                   "access_groups": ["Members"], "has_access_group": true, "status": "confirmed", "managed": true,
                   "unlock_method": "branded_app", "key_validity_secs": 86400, "remote_unlock": "off",
                   "hands_free": false})
        );
        let (_, public) = device();
        cloud.post(&session, "/v1/me/keys", json!({"device_public_key": public})).await.ok();

        // Turning the welcome email on sends one, without an invitation (nothing to confirm).
        cloud.patch(admin, "/v1/admin/settings", json!({"welcome_email": true})).await.ok();
        cloud.member(integration, "second", &[]).await;
        let mails = outbox(&cloud, admin).await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0]["kind"], "welcome");
        let body = support::mail_body(cloud.handle.store(), "second@example.com", "welcome").await;
        assert!(body.contains("Open the app") && !body.contains("ma_inv_"), "{body}");
    });
}

#[tokio::test]
async fn invitation_mail_queues_an_access_email_each_time_a_user_gains_a_group() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Mail", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        cloud.group(admin, "A", &[]).await;
        cloud.group(admin, "B", &[]).await;
        let sync = |groups: Vec<&str>| json!({"members": [{"external_id": "x", "name": "X", "email": "x@example.com", "access_groups": groups}]});
        let access_mails = |mails: &[Value]| -> Vec<String> {
            mails.iter().filter(|m| m["kind"] == "access").map(|m| m["subject"].as_str().unwrap().to_owned()).collect()
        };

        cloud.put(integration, "/v1/integration/members", sync(vec!["A"])).await.ok();
        assert!(access_mails(&outbox(&cloud, admin).await).is_empty(), "off by default");

        cloud.patch(admin, "/v1/admin/settings", json!({"invitation_mail": true})).await.ok();
        cloud.put(integration, "/v1/integration/members", sync(vec!["A", "B"])).await.ok();
        assert_eq!(access_mails(&outbox(&cloud, admin).await), ["You now have access to B"]);
        cloud.put(integration, "/v1/integration/members", sync(vec!["A", "B"])).await.ok();
        assert_eq!(access_mails(&outbox(&cloud, admin).await).len(), 1, "no new group, no new email");
        cloud.put(integration, "/v1/integration/members", sync(vec!["A"])).await.ok();
        cloud.put(integration, "/v1/integration/members", sync(vec!["A", "B"])).await.ok();
        assert_eq!(access_mails(&outbox(&cloud, admin).await).len(), 2, "regaining a group is gaining it");
        let report = cloud
            .put(integration, "/v1/integration/members", json!({"members": [{"external_id": "y", "name": "Y", "email": "y@example.com", "access_groups": ["A", "B"]}]}))
            .await
            .ok();
        assert_eq!(report["access_emails"], 2);
        assert_eq!(access_mails(&outbox(&cloud, admin).await).len(), 4);
    });
}

#[tokio::test]
async fn switching_to_the_branded_app_keeps_unconfirmed_users_refused_and_confirms_new_ones() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Switch", BEFORE_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "Members", &[&door]).await;
        let old = cloud.member(integration, "old", &["Members"]).await;
        let settings = cloud.patch(admin, "/v1/admin/settings", json!({"unlock_method": "branded_app"})).await.ok();
        assert_eq!(settings["welcome_email"], false, "the welcome email follows the method's default");
        let new = cloud.member(integration, "new", &["Members"]).await;

        let (_, public) = device();
        let body =
            cloud.post(&old, "/v1/me/keys", json!({"device_public_key": public})).await.expect(403, "not_confirmed");
        assert!(body["error"]["message"].as_str().unwrap().contains("branded app"));
        cloud.post(&new, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        assert_eq!(user(&cloud, admin, "old").await["status"], "not_confirmed");
        assert_eq!(user(&cloud, admin, "new").await["status"], "confirmed");

        // The old user's invitation no longer works: passwords are off under the branded app.
        let invitation = support::invitation_token(cloud.handle.store(), "old@example.com").await;
        let accept = json!({"token": invitation, "password": "a good password"});
        cloud
            .call(Method::POST, None, "/v1/invitations/accept", Some(accept))
            .await
            .expect(403, "password_login_disabled");
        let member_id = user(&cloud, admin, "old").await["member_id"].as_str().unwrap().to_owned();
        cloud
            .empty(Method::POST, admin, &format!("/v1/admin/users/{member_id}/invitation"))
            .await
            .expect(403, "password_login_disabled");
    });
}

#[tokio::test]
async fn native_without_welcome_email_confirms_through_an_invitation_the_admin_sends() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Quiet", BEFORE_DECEMBER_2023, Some(UnlockMethod::Native)).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        cloud.patch(admin, "/v1/admin/settings", json!({"welcome_email": false})).await.ok();
        cloud.member(integration, "q", &[]).await;
        assert!(outbox(&cloud, admin).await.is_empty());
        let member_id = user(&cloud, admin, "q").await["member_id"].as_str().unwrap().to_owned();
        cloud.empty(Method::POST, admin, &format!("/v1/admin/users/{member_id}/invitation")).await.expect(204, "");
        let mails = outbox(&cloud, admin).await;
        assert_eq!(mails[0]["kind"], "invitation");
        let invitation = support::invitation_token(cloud.handle.store(), "q@example.com").await;
        let accept = json!({"token": invitation, "password": "a good password"});
        cloud.call(Method::POST, None, "/v1/invitations/accept", Some(accept)).await.ok();
        assert_eq!(user(&cloud, admin, "q").await["status"], "confirmed");
        cloud
            .empty(Method::POST, admin, &format!("/v1/admin/users/{member_id}/invitation"))
            .await
            .expect(409, "conflict");
    });
}

#[tokio::test]
async fn the_module_switch_and_access_groups_gate_key_download() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Gate", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "Members", &[&door]).await;
        let with_group = cloud.member(integration, "with", &["Members"]).await;
        let without = cloud.member(integration, "without", &[]).await;
        let (_, public) = device();
        let keys = json!({"device_public_key": public});

        let access = cloud.get(&without, "/v1/me/access").await.ok();
        assert_eq!((access["has_access_group"].as_bool(), access["access_groups"].clone()), (Some(false), json!([])));
        cloud.post(&without, "/v1/me/keys", keys.clone()).await.expect(403, "no_access_group");

        cloud.patch(admin, "/v1/admin/settings", json!({"mobile_access_enabled": false})).await.ok();
        assert_eq!(cloud.get(&with_group, "/v1/me/access").await.ok()["mobile_access_enabled"], false);
        cloud.post(&with_group, "/v1/me/keys", keys.clone()).await.expect(403, "module_disabled");
        cloud.patch(admin, "/v1/admin/settings", json!({"mobile_access_enabled": true})).await.ok();
        cloud.post(&with_group, "/v1/me/keys", keys).await.ok();
    });
}

#[tokio::test]
async fn key_fobs_and_cards_work_under_both_methods_and_for_unconfirmed_users() {
    on_every_backend!(|cloud| {
        for (created_at, external_id, status) in
            [(BEFORE_DECEMBER_2023, "native_user", "not_confirmed"), (AFTER_DECEMBER_2023, "branded_user", "confirmed")]
        {
            let org = cloud.org("Fobs", created_at, None).await;
            let admin = &org.admin_token;
            cloud.member(&org.integration_token, external_id, &[]).await;
            let listed = user(&cloud, admin, external_id).await;
            assert_eq!(listed["status"], status);
            let member_id = listed["member_id"].as_str().unwrap();
            for kind in ["key_fob", "card"] {
                let created = cloud
                    .post(
                        admin,
                        &format!("/v1/admin/users/{member_id}/credentials"),
                        json!({"kind": kind, "number": "0042"}),
                    )
                    .await
                    .expect(201, "");
                assert_eq!((created["kind"].as_str(), created["status"].as_str()), (Some(kind), Some("active")));
            }
            let mobile = json!({"kind": "mobile_key", "number": "1"});
            cloud
                .post(admin, &format!("/v1/admin/users/{member_id}/credentials"), mobile)
                .await
                .expect(400, "invalid_request");
            let list = cloud.get(admin, "/v1/admin/credentials").await.ok();
            assert_eq!(list["items"].as_array().unwrap().len(), 2);
        }
    });
}
