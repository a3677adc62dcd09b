//! Running the API: in the foreground (`serve`) or in the background of a test or harness
//! (`spawn`, which hands back the bound address and a graceful shutdown).

use std::{future::Future, net::SocketAddr, sync::Arc};

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    Config, Error, Result,
    http::{self, Background},
    metrics::Metrics,
    serving,
    store::Store,
};

/// A running cloud.
#[derive(Debug)]
pub struct CloudHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    store: Store,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    background: Background,
    grace: std::time::Duration,
}

impl CloudHandle {
    /// The bound address (the real port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's bound address, when `Config::metrics_listen` asked for one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// `http://<addr>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The database behind the server, for in-process set-up (creating organizations, seeding).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops accepting connections, lets in-flight requests finish (those whose client left
    /// too), stops switch-over jobs after their current batch (they resume at the next start),
    /// then closes the database. Gives up waiting after the configured grace period.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop.cancel();
        let served = match tokio::time::timeout(self.grace, &mut self.task).await {
            Ok(served) => served,
            Err(_) => {
                tracing::warn!("connections still open after the grace period; closing them");
                self.task.abort();
                Ok(Ok(()))
            }
        };
        if !self.background.finish(self.grace).await {
            tracing::warn!("requests or jobs still running after the grace period; abandoning them");
        }
        self.store.close().await;
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Io { context: "serving HTTP".to_owned(), source }),
            Err(_) => {
                Err(Error::Io { context: "serving HTTP".to_owned(), source: std::io::Error::other("task failed") })
            }
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io { context: format!("listening on {addr}"), source })?;
    let bound = listener.local_addr().map_err(|source| Error::Io { context: "local address".to_owned(), source })?;
    Ok((listener, bound))
}

/// Opens the database and serves in a background task.
pub async fn spawn(config: Config) -> Result<CloudHandle> {
    let mailer = crate::mail::prepare(&config.mail)?;
    let store = Store::open(&config).await?;
    let (listener, addr) = bind(config.listen).await?;
    let metrics_listener = match config.metrics_listen {
        Some(at) => Some(bind(at).await?),
        None => None,
    };
    let metrics = Arc::new(Metrics::default());
    let background = Background::with_metrics(metrics.clone());
    let stop = background.closing();
    let options = http::Options {
        limits: config.limits,
        request_timeout: config.timeouts.request,
        trusted_proxies: config.trusted_proxies.clone(),
        min_sdk_version: config.min_sdk_version,
    };
    let app = http::router_for(store.clone(), &options, background.clone());
    let metrics_addr = metrics_listener.as_ref().map(|(_, at)| *at);
    let task = {
        let (stop, metrics, store, timeouts) = (stop.clone(), metrics.clone(), store.clone(), config.timeouts);
        tokio::spawn(async move {
            let api = serving::serve(listener, app, timeouts, metrics.clone(), stop.clone());
            match metrics_listener {
                Some((listener, _)) => {
                    let router = http::metrics_router(store, metrics.clone());
                    let scrape = serving::serve(listener, router, timeouts, metrics, stop);
                    let (api, scrape) = tokio::join!(api, scrape);
                    api.and(scrape)
                }
                None => api.await,
            }
        })
    };
    tracing::info!(%addr, metrics = ?metrics_addr, "serving");
    if let Some(sender) = mailer {
        crate::mail::run(&background, store.clone(), sender);
    }
    crate::retention::run(&background, store.clone(), config.retention.clone());
    // A switch-over interrupted by a crash or a restart finishes now.
    for (org_id, job_id) in store.running_switches().await? {
        tracing::info!(org = %org_id, job = %job_id, "resuming switch-over");
        http::run_switch_in_background(&background, store.clone(), org_id, job_id, crate::store::DEFAULT_SWITCH_BATCH);
    }
    Ok(CloudHandle { addr, metrics_addr, store, stop, task, background, grace: config.shutdown_grace })
}

/// Opens the database and serves until `shutdown` completes.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let handle = spawn(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    handle.shutdown().await
}
