//! Prometheus metrics, in the text exposition format (version 0.0.4), served at `/metrics` on
//! the separate metrics listener (`Config::metrics_listen`).
//!
//! Hand-written rather than a metrics crate: a dozen series and one histogram shape are a
//! hundred lines, where the crates bring their own registries, clocks and HTTP servers.
//!
//! Labels are bounded by construction so the metrics can never leak or explode: requests are
//! labelled by the route *template* (`/v1/admin/users/{member_id}`, never an id), by a method
//! from the standard set (anything else is `OTHER`), and by status. No token, secret, member or
//! organization id is ever a label value.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{serving::Closed, store::Store};

/// Latency histogram bucket bounds, in seconds: from a probe (sub-millisecond) to a large sync.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

/// The route label of requests that matched no route (so probing random paths adds no series).
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Per bucket (not cumulative), then the `+Inf` overflow.
    buckets: [u64; BUCKETS.len() + 1],
    seconds: f64,
    count: u64,
}

/// The server's counters and gauges; one per server, shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String), RouteStats>>,
    keys_issued: AtomicU64,
    connections_open: AtomicI64,
    closed_header_read: AtomicU64,
    closed_idle: AtomicU64,
    switch_jobs_running: AtomicI64,
    switch_users_done: AtomicU64,
}

/// A method as a label: one of the standard ones, or `OTHER` (hyper accepts any token as a
/// method, and each distinct label value would be a new series).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Counts one answered request. `route` is the matched template, or [`UNMATCHED`].
    pub fn request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let stats = requests.entry((method, route.to_owned())).or_default();
        *stats.by_status.entry(status).or_default() += 1;
        let bucket = BUCKETS.iter().position(|&bound| seconds <= bound).unwrap_or(BUCKETS.len());
        if let Some(slot) = stats.buckets.get_mut(bucket) {
            *slot += 1;
        }
        stats.seconds += seconds;
        stats.count += 1;
    }

    /// Counts credentials signed for phones.
    pub fn keys_issued(&self, count: usize) {
        self.keys_issued.fetch_add(u64::try_from(count).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A switch-over job started running in this process; the guard marks its end.
    pub fn switch_job_started(&self) -> SwitchJobGuard<'_> {
        self.switch_jobs_running.fetch_add(1, Ordering::Relaxed);
        SwitchJobGuard(self)
    }

    /// Users a switch-over job has just processed.
    pub fn switch_users_done(&self, users: u64) {
        self.switch_users_done.fetch_add(users, Ordering::Relaxed);
    }

    pub(crate) fn connection_opened(&self) -> ConnectionGuard<'_> {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self)
    }

    pub(crate) fn connection_closed(&self, why: Closed) {
        let counter = match why {
            Closed::HeaderRead => &self.closed_header_read,
            Closed::Idle => &self.closed_idle,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the database pool read now.
    pub fn render(&self, store: &Store) -> String {
        let mut out = String::with_capacity(4096);
        let _ = self.write(&mut out, store);
        out
    }

    fn write(&self, out: &mut String, store: &Store) -> std::fmt::Result {
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        header(out, "mobile_access_http_requests_total", "counter", "Answered requests by route template and status.")?;
        for ((method, route), stats) in requests.iter() {
            for (status, count) in &stats.by_status {
                writeln!(
                    out,
                    "mobile_access_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                )?;
            }
        }
        let name = "mobile_access_http_request_duration_seconds";
        header(out, name, "histogram", "Time from a request's head to its response, by route template.")?;
        for ((method, route), stats) in requests.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(stats.buckets.iter()) {
                cumulative += count;
                writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}")?;
            }
            writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", stats.count)?;
            writeln!(out, "{name}_sum{{{labels}}} {}", stats.seconds)?;
            writeln!(out, "{name}_count{{{labels}}} {}", stats.count)?;
        }
        drop(requests);
        let value = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let gauge = |gauge: &AtomicI64| gauge.load(Ordering::Relaxed);
        single(
            out,
            "mobile_access_keys_issued_total",
            "counter",
            "Credentials signed for phones.",
            value(&self.keys_issued),
        )?;
        single(
            out,
            "mobile_access_connections_open",
            "gauge",
            "Open client connections.",
            gauge(&self.connections_open),
        )?;
        let name = "mobile_access_connections_closed_total";
        header(out, name, "counter", "Connections the server closed, by the timeout that closed them.")?;
        writeln!(out, "{name}{{reason=\"header_read\"}} {}", value(&self.closed_header_read))?;
        writeln!(out, "{name}{{reason=\"idle\"}} {}", value(&self.closed_idle))?;
        let writes = store.key_writer_load();
        single(out, "mobile_access_key_writers", "gauge", "Key writer tasks committing issuances.", writes.writers)?;
        let name = "mobile_access_key_writer_batches_total";
        single(
            out,
            name,
            "counter",
            "Transactions the key writers took on, each a batch of issuances.",
            writes.batches,
        )?;
        let name = "mobile_access_key_writer_requests_total";
        single(out, name, "counter", "Issuances in those batches.", writes.requests)?;
        let name = "mobile_access_key_writer_busy_seconds_total";
        let help = "Time the key writers spent on batches, summed over writers: when it grows by nearly \
                    mobile_access_key_writers a second, the writers limit key issuance.";
        single(out, name, "counter", help, writes.busy.as_secs_f64())?;
        let pool = store.pool();
        let max = pool.options().get_max_connections();
        single(out, "mobile_access_db_pool_max_connections", "gauge", "Configured pool size.", max)?;
        single(out, "mobile_access_db_pool_connections", "gauge", "Connections open in the pool.", pool.size())?;
        single(
            out,
            "mobile_access_db_pool_idle_connections",
            "gauge",
            "Open connections not in use.",
            pool.num_idle(),
        )?;
        let running = gauge(&self.switch_jobs_running);
        single(out, "mobile_access_switch_over_jobs_running", "gauge", "Switch-over jobs running here.", running)?;
        let done = value(&self.switch_users_done);
        single(out, "mobile_access_switch_over_users_done_total", "counter", "Users switch-over jobs processed.", done)
    }
}

/// Ends a switch-over job's count when dropped (finished, paused, failed or panicked alike).
#[derive(Debug)]
pub struct SwitchJobGuard<'a>(&'a Metrics);

impl Drop for SwitchJobGuard<'_> {
    fn drop(&mut self) {
        self.0.switch_jobs_running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a connection as open until dropped.
#[derive(Debug)]
pub(crate) struct ConnectionGuard<'a>(&'a Metrics);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) -> std::fmt::Result {
    header(out, name, kind, help)?;
    writeln!(out, "{name} {value}")
}

/// A label value as the exposition format wants it (route templates need none of this; it is
/// here so a future label cannot break the format).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn latencies_fall_in_cumulative_buckets_and_odd_methods_share_one_label() {
        let metrics = Metrics::default();
        metrics.request("GET", "/healthz", 200, Duration::from_micros(300));
        metrics.request("GET", "/healthz", 200, Duration::from_millis(30));
        metrics.request("GET", "/healthz", 503, Duration::from_secs(100));
        let requests = metrics.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let stats = requests.get(&("GET", "/healthz".to_owned())).unwrap();
        let buckets = stats.buckets;
        assert_eq!((buckets.first(), buckets.get(6), buckets.last(), stats.count), (Some(&1), Some(&1), Some(&1), 3));
        assert_eq!(stats.by_status.get(&503), Some(&1));
        assert_eq!(method_label(&axum::http::Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }
}
