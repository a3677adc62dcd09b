//! The accept loop: HTTP/1.1 connections served with the timeouts a public listener needs.
//!
//! `axum::serve` has none: 3,000 connections that sent half a request line, or nothing, stayed
//! open for as long as their clients liked, each holding a socket and a task. Hyper's own
//! `header_read_timeout` cannot tell an idle keep-alive connection from a slow request (its
//! timer also runs while a kept-alive connection waits for its next request), so this loop
//! watches each connection itself:
//!
//! - **header read**: from the first byte of a request until its head is complete
//!   ([`Timeouts::header_read`]); a client trickling a request line or headers is cut off;
//! - **idle**: no byte in either direction and no request in flight ([`Timeouts::idle`]),
//!   whether the connection is new or kept alive after a response;
//! - **request**: a handler that takes longer than [`Timeouts::request`] is answered `503
//!   timeout` by the router (`http`); the handler itself runs on, detached, so it never stops
//!   halfway through a transaction.
//!
//! A closed connection is dropped: its socket is closed without an answer (a client that did not
//! finish its request gets none).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::metrics::Metrics;

/// How long the server waits on a client, and on itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From a request's first byte until its head (request line and headers) is read (default
    /// 10 s: a head is a few hundred bytes; a client slower than that is an attack or broken).
    pub header_read: Duration,
    /// A connection with no request in flight and no byte moving in either direction (default
    /// 60 s: long enough that a phone's next call reuses the connection, short enough that idle
    /// sockets do not pile up; under most load balancers' 60–350 s idle timeouts, whichever end
    /// closes first, the other retries).
    pub idle: Duration,
    /// A request's whole handling, body read included (default 60 s: every route but a large
    /// member sync takes milliseconds; a sync past it still completes, detached, and is
    /// idempotent, so the integration's retry finds it done). Past it the client gets `503
    /// timeout`.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { header_read: Duration::from_secs(10), idle: Duration::from_secs(60), request: Duration::from_secs(60) }
    }
}

/// Accepts connections until `stop` is cancelled, then lets every connection finish its
/// request in flight (idle ones close at once) and returns when all are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> io::Result<()> {
    let connections = TaskTracker::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(stream, peer, app.clone(), timeouts, metrics.clone(), stop.clone()));
                }
                Err(error) => {
                    // Out of file descriptors, mostly: accepting again at once would spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Why a connection was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// A request head took longer than [`Timeouts::header_read`].
    HeaderRead,
    /// Nothing happened for [`Timeouts::idle`].
    Idle,
}

/// Serves one connection until the client closes it, a timeout closes it, or shutdown has let
/// its request in flight finish.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let _open = metrics.connection_opened();
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = activity.request_started();
            let response = tower_service::Service::call(&mut app.clone(), request);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut stopping = false;
    loop {
        let wake = match activity.deadline(&timeouts, Instant::now()) {
            Ok(wake) => wake,
            Err(closed) => {
                tracing::debug!(%peer, ?closed, "closing a connection");
                metrics.connection_closed(closed);
                return;
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake) => {}
            () = activity.head_started.notified() => {}
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection has been doing, as its timeouts need to know.
#[derive(Debug)]
struct Activity {
    state: Mutex<State>,
    /// Wakes the connection's watcher when a request head starts: its deadline (the header
    /// timeout) is usually sooner than the idle one the watcher sleeps towards.
    head_started: tokio::sync::Notify,
}

#[derive(Debug)]
struct State {
    /// The last byte read or written, or the last response ready.
    last: Instant,
    /// When the first byte of a request whose head is not yet complete arrived.
    head_since: Option<Instant>,
    /// Requests whose response is not ready yet.
    in_flight: usize,
}

impl Activity {
    fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(State { last: now, head_since: None, in_flight: 0 }),
            head_started: tokio::sync::Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self, now: Instant) {
        let mut state = self.state();
        state.last = now;
        if state.in_flight == 0 && state.head_since.is_none() {
            state.head_since = Some(now);
            drop(state);
            self.head_started.notify_one();
        }
    }

    fn wrote(&self, now: Instant) {
        self.state().last = now;
    }

    /// A request's head was read; until the returned guard drops, its handler runs.
    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_since = None;
        InFlight(self.clone())
    }

    /// When to look again (`Ok`), or why the connection must close now (`Err`). With a request
    /// in flight nothing expires here (the request timeout bounds it): look again later.
    fn deadline(&self, timeouts: &Timeouts, now: Instant) -> Result<Instant, Closed> {
        let state = self.state();
        let (deadline, closed) = if state.in_flight > 0 {
            return Ok(now + timeouts.header_read.min(timeouts.idle));
        } else if let Some(since) = state.head_since {
            (since + timeouts.header_read, Closed::HeaderRead)
        } else {
            (state.last + timeouts.idle, Closed::Idle)
        };
        if now >= deadline { Err(closed) } else { Ok(deadline) }
    }
}

/// A request in flight on a connection.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.last = Instant::now();
    }
}

/// A socket that tells its [`Activity`] when bytes move.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read(Instant::now());
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote(Instant::now());
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote(Instant::now());
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts { header_read: Duration::from_secs(2), idle: Duration::from_secs(5), request: Duration::from_secs(9) }
    }

    #[test]
    fn a_started_head_has_the_header_timeout_and_a_silent_connection_the_idle_one() {
        let t0 = Instant::now();
        let activity = Arc::new(Activity::new(t0));
        assert_eq!(activity.deadline(&timeouts(), t0), Ok(t0 + Duration::from_secs(5)));
        assert_eq!(activity.deadline(&timeouts(), t0 + Duration::from_secs(5)), Err(Closed::Idle));
        activity.read(t0 + Duration::from_secs(1));
        // More bytes of the same head do not move its deadline.
        activity.read(t0 + Duration::from_secs(2));
        assert_eq!(activity.deadline(&timeouts(), t0 + Duration::from_secs(2)), Ok(t0 + Duration::from_secs(3)));
        assert_eq!(activity.deadline(&timeouts(), t0 + Duration::from_secs(3)), Err(Closed::HeaderRead));
    }

    #[test]
    fn a_request_in_flight_never_expires_and_idleness_starts_when_it_is_answered() {
        // Long ago, so "now" when the response is ready is far from it.
        let Some(t0) = Instant::now().checked_sub(Duration::from_secs(100)) else { return };
        let activity = Arc::new(Activity::new(t0));
        activity.read(t0);
        let request = activity.request_started();
        let later = t0 + Duration::from_secs(60);
        assert_eq!(activity.deadline(&timeouts(), later), Ok(later + Duration::from_secs(2)));
        drop(request);
        let deadline = activity.deadline(&timeouts(), Instant::now()).ok();
        assert!(deadline.is_some_and(|d| d > t0 + Duration::from_secs(99)), "idle counts from the answer");
    }
}
