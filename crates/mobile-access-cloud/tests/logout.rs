//! Logging out over real HTTP: `POST /v1/logout` revokes the session token it is called with;
//! every later request with it is 401, the member's other sessions keep working.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use reqwest::Method;
use serde_json::json;
use support::BEFORE_DECEMBER_2023;

#[tokio::test]
async fn a_logged_out_session_is_refused_and_the_member_s_other_sessions_are_not() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Org", BEFORE_DECEMBER_2023, None).await;
        let phone = cloud.member(&org.integration_token, "m", &[]).await;
        let tablet = cloud.member(&org.integration_token, "m", &[]).await;
        cloud.get(&phone, "/v1/me/access").await.ok();

        cloud.empty(Method::POST, &phone, "/v1/logout").await.expect(204, "");
        cloud.get(&phone, "/v1/me/access").await.expect(401, "unauthorized");
        cloud.empty(Method::POST, &phone, "/v1/logout").await.expect(401, "unauthorized");
        cloud.get(&tablet, "/v1/me/access").await.ok();

        // A session from a password login ends the same way.
        let invitation = support::invitation_token(cloud.handle.store(), "m@example.com").await;
        let accept = json!({"token": invitation, "password": "a good password"});
        let session = cloud.call(Method::POST, None, "/v1/invitations/accept", Some(accept)).await.ok();
        let token = session["token"].as_str().unwrap();
        cloud.get(token, "/v1/me/access").await.ok();
        cloud.empty(Method::POST, token, "/v1/logout").await.expect(204, "");
        cloud.get(token, "/v1/me/access").await.expect(401, "unauthorized");

        // Only member sessions log out: an admin token is not ended by calling it.
        cloud.empty(Method::POST, &org.admin_token, "/v1/logout").await.expect(403, "forbidden");
        let audit = cloud.get(&org.admin_token, "/v1/admin/audit-log").await.ok();
        let ended = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "session.ended").count();
        assert_eq!(ended, 2);
    });
}
