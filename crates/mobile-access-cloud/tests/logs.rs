//! The real binary's logs: JSON lines when stderr is not a terminal, each line of a request
//! carrying its request id (the client's `X-Request-Id` when well-formed, a generated one
//! otherwise, answered in the response); plain text on request; never colour codes, never a
//! token.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{
    io::Read,
    process::{Command, Stdio},
};

use mobile_access_cloud::{Config, Store, api::NewOrganization};
use serde_json::Value;
use support::BEFORE_DECEMBER_2023;

/// Runs the binary with `args` after `serve`, makes the requests `exercise` makes against its
/// base URL, stops it with SIGTERM, and returns its stderr.
async fn run_and_collect(dir: &std::path::Path, args: &[&str], exercise: impl AsyncFnOnce(String)) -> String {
    run_with_env(dir, args, &[], exercise).await
}

/// Same, with these environment variables set.
async fn run_with_env(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    exercise: impl AsyncFnOnce(String),
) -> String {
    let mut server = support::ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_mobile-access-cloud"))
            .envs(env.iter().copied())
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .env_remove("MOBILE_ACCESS_LOG_FORMAT")
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let mut stderr = server.0.stderr.take().unwrap();
    // Drained from the start, so a chatty server never blocks on a full pipe.
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let base = support::ready_line(stdout).await;
    assert!(base.starts_with("http://127.0.0.1:"), "ready line: {base:?}");
    exercise(base).await;
    let kill = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert!(server.0.wait().unwrap().success());
    logs.join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_is_json_and_a_request_s_lines_carry_its_id_and_never_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Config::new(dir.path())).await.unwrap();
    let new = NewOrganization { name: "Org".to_owned(), created_at: Some(BEFORE_DECEMBER_2023), unlock_method: None };
    let org = store.create_organization(new).await.unwrap();
    store.close().await;
    let admin = org.admin_token.clone();
    let generated = std::sync::Arc::new(std::sync::Mutex::new(String::new()));

    let seen = generated.clone();
    let stderr = run_and_collect(dir.path(), &[], async move |base| {
        let http = support::client();
        let response = http
            .get(format!("{base}/v1/admin/users"))
            .bearer_auth(&admin)
            .header("x-request-id", "ops-test-4711")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-request-id"], "ops-test-4711");
        // A wrong token, and an id that is not well-formed: replaced by a generated one.
        let response = http
            .get(format!("{base}/v1/admin/doors"))
            .bearer_auth("ma_adm_wrong-token-never-logged")
            .header("x-request-id", "bad id with spaces")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "generated id {id:?}");
        *seen.lock().unwrap() = id;
    })
    .await;

    assert!(!stderr.contains('\u{1b}'), "colour codes in the log");
    for secret in [org.admin_token.as_str(), &org.integration_token, "ma_adm_wrong-token-never-logged"] {
        assert!(!stderr.contains(secret), "a token in the log");
    }
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let of = |id: &str| -> Vec<&Value> { lines.iter().filter(|l| l["span"]["request_id"] == id).collect() };
    let known = of("ops-test-4711");
    assert!(
        known.iter().any(|l| l["fields"]["message"] == "request"
            && l["fields"]["route"] == "/v1/admin/users"
            && l["fields"]["status"] == 200),
        "no request line with the given id in:\n{stderr}"
    );
    let generated = generated.lock().unwrap().clone();
    assert!(of(&generated).iter().any(|l| l["fields"]["status"] == 401), "no line with the generated id");
    assert!(!stderr.contains("bad id with spaces"));
    eprintln!("{} JSON lines, {} of the request with the given id", lines.len(), known.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_on_request_have_no_colour_codes_and_still_name_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_and_collect(dir.path(), &["--log-format", "text"], async move |base| {
        let response =
            support::client().get(format!("{base}/healthz")).header("x-request-id", "text-log-7").send().await.unwrap();
        assert_eq!(response.status(), 200);
    })
    .await;
    assert!(!stderr.contains('\u{1b}'), "colour codes in the log:\n{stderr}");
    assert!(stderr.lines().all(|line| !line.starts_with('{')), "JSON where text was asked for");
    assert!(
        stderr.lines().any(|line| line.contains("request_id=text-log-7") && line.contains("status=200")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_size_from_the_environment_reaches_the_pool_and_metrics_have_their_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    // A free loopback port for the metrics listener (the ready line names only the API's).
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let scrape_url = format!("http://{metrics_addr}/metrics");
    let env = [("MOBILE_ACCESS_MAX_CONNECTIONS", "3"), ("MOBILE_ACCESS_METRICS_LISTEN", metrics_addr.as_str())];
    run_with_env(dir.path(), &[], &env, async move |base| {
        let http = support::client();
        assert_eq!(http.get(format!("{base}/metrics")).send().await.unwrap().status(), 404);
        let text = http.get(&scrape_url).send().await.unwrap().text().await.unwrap();
        assert!(text.lines().any(|line| line == "mobile_access_db_pool_max_connections 3"), "{text}");
    })
    .await;
}
