//! Rate limits as a client meets them: 429 with `Retry-After`, per client address, per member
//! or token, and far stricter on failed authentication; and the wait it names is the real one.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::Duration;

use mobile_access_cloud::{Limits, Rate};
use reqwest::StatusCode;
use serde_json::json;
use support::{BEFORE_DECEMBER_2023, Cloud};

/// Status, `Retry-After` in seconds (if any) and error code of one request.
async fn send(request: reqwest::RequestBuilder) -> (u16, Option<u64>, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, retry_after, body["error"]["code"].as_str().unwrap_or("").to_owned())
}

fn only(limits: Limits) -> impl FnOnce(&mut mobile_access_cloud::Config) {
    move |config| config.limits = limits
}

#[tokio::test]
async fn token_guesses_are_answered_429_once_the_addresss_failure_budget_is_spent() {
    for backend in support::backends() {
        // The default limits: 60 failures at once, one a second after that.
        let cloud = Cloud::start(backend).await;
        let (mut unauthorized, mut limited) = (0, 0);
        for n in 0..300 {
            let guess = cloud.http.get(cloud.url("/v1/me/access")).bearer_auth(format!("ma_mem_{n:064x}"));
            match send(guess).await {
                (401, None, code) if code == "unauthorized" => unauthorized += 1,
                (429, Some(wait), code) if code == "rate_limited" && wait >= 1 => limited += 1,
                other => panic!("unexpected answer to a guess: {other:?}"),
            }
        }
        eprintln!("{backend:?}: 300 token guesses: {unauthorized} answered 401, {limited} answered 429");
        assert!((60..=70).contains(&unauthorized), "{unauthorized} guesses were checked");
        // A real token from the same address is refused too until the budget refills…
        let org = cloud.org("Org", BEFORE_DECEMBER_2023, None).await;
        let (status, wait, _) =
            send(cloud.http.get(cloud.url("/v1/admin/settings")).bearer_auth(&org.admin_token)).await;
        assert_eq!(status, 429);
        // …and admitted after the wait it was told.
        tokio::time::sleep(Duration::from_secs(wait.unwrap())).await;
        let (status, ..) = send(cloud.http.get(cloud.url("/v1/admin/settings")).bearer_auth(&org.admin_token)).await;
        assert_eq!(status, 200);
        // Probes are never limited.
        assert_eq!(send(cloud.http.get(cloud.url("/healthz"))).await.0, 200);
        cloud.finish().await;
    }
}

#[tokio::test]
async fn wrong_passwords_for_one_email_are_limited_from_any_address() {
    for backend in support::backends() {
        // One every 10 s after 3: logins are slow (a password hash each), so the budget must not
        // refill while the test guesses.
        let limits = Limits { failures_per_email: Some(Rate::new(0.1, 3)), ..Limits::off() };
        let cloud = Cloud::start_with(backend, only(limits)).await;
        let login = |email: &str, password: &str| {
            cloud.http.post(cloud.url("/v1/login")).json(&json!({"email": email, "password": password}))
        };
        for _ in 0..3 {
            assert_eq!(send(login("victim@example.com", "guess")).await.0, 401);
        }
        let (status, wait, code) = send(login("VICTIM@example.com ", "guess")).await;
        assert_eq!((status, code.as_str()), (429, "rate_limited"), "the normalized email is the key");
        let wait = wait.unwrap();
        assert!((1..=10).contains(&wait), "Retry-After {wait}");
        // Other emails are not affected.
        assert_eq!(send(login("someone.else@example.com", "guess")).await.0, 401);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        assert_eq!(send(login("victim@example.com", "guess")).await.0, 401, "one more guess after the wait");
        cloud.finish().await;
    }
}

#[tokio::test]
async fn one_member_is_limited_without_slowing_another() {
    for backend in support::backends() {
        let limits = Limits { per_caller: Some(Rate::new(2.0, 5)), ..Limits::off() };
        let cloud = Cloud::start_with(backend, only(limits)).await;
        let org = cloud.org("Org", BEFORE_DECEMBER_2023, None).await;
        let busy = cloud.member(&org.integration_token, "busy", &[]).await;
        let calm = cloud.member(&org.integration_token, "calm", &[]).await;
        let access = |token: &str| cloud.http.get(cloud.url("/v1/me/access")).bearer_auth(token);
        for _ in 0..5 {
            assert_eq!(send(access(&busy)).await.0, 200);
        }
        let (status, wait, code) = send(access(&busy)).await;
        assert_eq!((status, wait, code.as_str()), (429, Some(1), "rate_limited"));
        assert_eq!(send(access(&calm)).await.0, 200, "another member keeps their budget");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(send(access(&busy)).await.0, 200, "the sustained rate refills");
        cloud.finish().await;
    }
}

#[tokio::test]
async fn one_address_is_limited_on_every_route_but_the_probes() {
    for backend in support::backends() {
        let limits = Limits { per_address: Some(Rate::new(1.0, 4)), ..Limits::off() };
        let cloud = Cloud::start_with(backend, only(limits)).await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(send(cloud.http.get(cloud.url("/openapi.json"))).await.0);
        }
        assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
        for probe in ["/healthz", "/readyz"] {
            assert_eq!(send(cloud.http.get(cloud.url(probe))).await.0, StatusCode::OK);
        }
        cloud.finish().await;
    }
}
