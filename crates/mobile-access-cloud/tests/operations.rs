//! The cloud under operations: timeouts on the listener (half-open and idle connections are
//! closed, a slow request is answered), the pool size setting, Prometheus metrics, and the
//! client address behind a trusted proxy.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use mobile_access_cloud::{Backend, Limits, Rate, Timeouts};
use serde_json::json;
use support::{AFTER_DECEMBER_2023, Cloud, device};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Whether the server has closed `stream`: `Some(true)` closed (EOF or reset), `Some(false)`
/// still open (nothing to read within `wait`). Bytes read are an error: none were asked for.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A keep-alive connection's earlier response may still be buffered: skip it.
            Ok(Ok(_)) => continue,
        }
    }
}

const HALF_OPEN: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_close_after_the_header_timeout_and_idle_ones_after_the_idle_timeout() {
    let timeouts = Timeouts {
        header_read: Duration::from_secs(1),
        idle: Duration::from_secs(20),
        request: Duration::from_secs(30),
    };
    for backend in support::backends() {
        eprintln!("backend: {backend:?}");
        let cloud = Cloud::start_with(backend, |config| config.timeouts = timeouts).await;
        let addr = cloud.handle.addr();

        // A connection that says nothing, and one kept alive after a full request.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut kept_alive = TcpStream::connect(addr).await.unwrap();
        kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: cloud\r\n\r\n").await.unwrap();
        let mut head = [0u8; 12];
        kept_alive.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");

        // Many clients that send part of a request line or of the headers, then stall.
        let started = Instant::now();
        let mut stalled = Vec::with_capacity(HALF_OPEN);
        for i in 0..HALF_OPEN {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let partial: &[u8] =
                if i % 2 == 0 { b"GET /heal" } else { b"POST /v1/login HTTP/1.1\r\nHost: cloud\r\nX-Slow: " };
            stream.write_all(partial).await.unwrap();
            stalled.push(stream);
        }
        // The server answers others meanwhile.
        let mut probe_ms = Vec::new();
        for _ in 0..20 {
            let at = Instant::now();
            let status = cloud.http.get(cloud.url("/healthz")).send().await.unwrap().status();
            probe_ms.push(at.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200);
        }
        probe_ms.sort_by(f64::total_cmp);
        eprintln!(
            "/healthz with {HALF_OPEN} half-open connections: p50 {:.1} ms, max {:.1} ms",
            probe_ms[probe_ms.len() / 2],
            probe_ms[probe_ms.len() - 1]
        );

        // Every stalled client is cut off: the header timeout is 1 s; the bound is generous but
        // under the idle timeout (20 s), so they must have been closed by the header timeout.
        for stream in &mut stalled {
            let left = Duration::from_secs(15).saturating_sub(started.elapsed());
            assert!(closed_within(stream, left).await, "a half-open connection stayed open");
        }
        let all_closed = started.elapsed();
        eprintln!("{HALF_OPEN} half-open connections all closed {:.1} s after they opened", all_closed.as_secs_f64());
        // The idle ones are still open: their timeout is 20 s.
        assert!(!closed_within(&mut silent, Duration::from_millis(200)).await, "closed before the idle timeout");
        assert!(!closed_within(&mut kept_alive, Duration::from_millis(200)).await, "closed before the idle timeout");
        assert!(closed_within(&mut silent, Duration::from_secs(60)).await, "a silent connection stayed open");
        assert!(closed_within(&mut kept_alive, Duration::from_secs(60)).await, "an idle connection stayed open");

        cloud.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_the_request_timeout_is_answered_503_and_its_handler_still_finishes() {
    for backend in support::backends() {
        eprintln!("backend: {backend:?}");
        let cloud = Cloud::start_with(backend, |config| {
            config.max_connections = 1;
            config.timeouts.request = Duration::from_secs(1);
        })
        .await;
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        // The pool's one connection is held: the request waits for it far longer than allowed.
        let held = cloud.handle.store().pool().acquire().await.unwrap();
        let started = Instant::now();
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            cloud.post(&org.admin_token, "/v1/admin/doors", json!({"name": "Slow door"})),
        )
        .await
        .expect("the request hung instead of timing out");
        reply.expect(503, "timeout");
        eprintln!("answered 503 after {:.2} s (timeout 1 s)", started.elapsed().as_secs_f64());
        drop(held);
        // The handler ran on, detached, and created the door.
        let mut found = false;
        for _ in 0..100 {
            let doors = cloud.get(&org.admin_token, "/v1/admin/doors").await.ok();
            if doors["items"].as_array().unwrap().iter().any(|door| door["name"] == "Slow door") {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(found, "the timed-out request's handler did not finish");
        cloud.finish().await;
    }
}

#[tokio::test]
async fn the_pool_size_setting_reaches_the_pool() {
    for backend in support::backends() {
        let cloud = Cloud::start_with(backend, |config| config.max_connections = 3).await;
        let options = cloud.handle.store().pool().options();
        assert_eq!(options.get_max_connections(), 3);
        // Only a server's connections are checked before use: PostgreSQL's can go away, a
        // SQLite file handle cannot, and its check cost a hand-off on every acquire.
        assert_eq!(options.get_test_before_acquire(), backend == Backend::Postgres, "{backend:?}");
        cloud.finish().await;
    }
    let default = mobile_access_cloud::Config::new("unused").max_connections;
    assert!((8..=32).contains(&default), "default pool size {default}");
}

async fn scrape(cloud: &Cloud) -> String {
    let addr = cloud.handle.metrics_addr().expect("no metrics listener");
    let response = cloud.http.get(format!("http://{addr}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the series written exactly as `series` (name and labels), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_hold_no_secret_or_id() {
    for backend in support::backends() {
        eprintln!("backend: {backend:?}");
        let cloud =
            Cloud::start_with(backend, |config| config.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
        // Only on the metrics listener, never on the public one.
        cloud.call(reqwest::Method::GET, None, "/metrics", None).await.expect(404, "not_found");

        let before = scrape(&cloud).await;
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door_id, provisioning) = cloud.door_with_reader(admin, "Main entrance", "tap").await;
        cloud.group(admin, "Members", &[&door_id]).await;
        let member_token = cloud.member(integration, "external-m1", &["Members"]).await;
        let (_device, public) = device();
        cloud.post(&member_token, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        let users = cloud.get(admin, "/v1/admin/users").await.ok();
        let member_id = users["items"][0]["member_id"].as_str().unwrap().to_owned();
        cloud.get(admin, &format!("/v1/admin/users/{member_id}")).await.ok();
        cloud.get(admin, "/v1/admin/users/no-such-member").await.expect(404, "not_found");
        cloud.get("ma_adm_not-a-real-token", "/v1/admin/users").await.expect(401, "unauthorized");
        cloud.get(admin, "/no/such/route/ma_adm_in-a-path").await.expect(404, "not_found");
        let after = scrape(&cloud).await;

        let keys = r#"mobile_access_http_requests_total{method="POST",route="/v1/me/keys",status="200"}"#;
        assert_eq!(value(&before, keys), 0.0);
        assert_eq!(value(&after, keys), 1.0, "{after}");
        let user = r#"mobile_access_http_requests_total{method="GET",route="/v1/admin/users/{member_id}",status="#;
        assert_eq!(value(&after, &format!("{user}\"200\"}}")), 1.0);
        assert_eq!(value(&after, &format!("{user}\"404\"}}")), 1.0);
        let unmatched = r#"mobile_access_http_requests_total{method="GET",route="unmatched",status="404"}"#;
        assert_eq!(value(&after, unmatched) - value(&before, unmatched), 1.0);
        let latency = r#"mobile_access_http_request_duration_seconds_count{method="POST",route="/v1/me/keys"}"#;
        assert_eq!(value(&after, latency), 1.0);
        assert!(value(&after, "mobile_access_keys_issued_total") >= 1.0);
        // The key download went through the key writer, which counted its batch and busy time.
        let writers = match backend {
            Backend::Sqlite => 1.0,
            Backend::Postgres => 2.0,
        };
        assert_eq!(value(&after, "mobile_access_key_writers"), writers);
        assert_eq!(value(&before, "mobile_access_key_writer_requests_total"), 0.0);
        assert_eq!(value(&after, "mobile_access_key_writer_requests_total"), 1.0, "{after}");
        assert_eq!(value(&after, "mobile_access_key_writer_batches_total"), 1.0);
        assert!(value(&after, "mobile_access_key_writer_busy_seconds_total") > 0.0);
        assert_eq!(value(&after, "mobile_access_db_pool_max_connections"), 4.0);
        assert!(value(&after, "mobile_access_db_pool_connections") >= 1.0);
        assert!(value(&after, "mobile_access_connections_open") >= 1.0);

        let reader_token = provisioning["reader_token"].as_str().unwrap();
        let secrets = [admin.as_str(), integration, &member_token, reader_token, "ma_adm_", "ma_mem_"];
        let ids = [member_id.as_str(), &org.organization.id, &door_id, "external-m1", "no-such-member"];
        for needle in secrets.iter().chain(&ids) {
            assert!(!after.contains(needle), "the metrics hold {needle:?}");
        }
        cloud.finish().await;
    }
}

#[tokio::test]
async fn x_forwarded_for_keys_the_rate_limit_only_behind_a_trusted_proxy() {
    let limits = Limits { per_address: Some(Rate::new(0.001, 2)), ..Limits::default() };
    for trusted in [true, false] {
        let cloud = Cloud::start_with(Backend::Sqlite, |config| {
            config.limits = limits;
            if trusted {
                config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            }
        })
        .await;
        let get = |client: &'static str| {
            let request = cloud.http.get(cloud.url("/openapi.json")).header("x-forwarded-for", client);
            async move { request.send().await.unwrap().status().as_u16() }
        };
        // A client writing its own entry first proves nothing: the proxy appends the real one.
        assert_eq!(get("198.51.100.9, 203.0.113.1").await, 200);
        assert_eq!(get("203.0.113.1").await, 200);
        let third = get("203.0.113.1").await;
        let other_client = get("203.0.113.2").await;
        if trusted {
            assert_eq!((third, other_client), (429, 200), "behind a trusted proxy each client has its budget");
        } else {
            assert_eq!((third, other_client), (429, 429), "an untrusted X-Forwarded-For must be ignored");
        }
        cloud.finish().await;
    }
}
