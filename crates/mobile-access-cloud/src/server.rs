//! Running the API: in the foreground (`serve`) or in the background of a test or harness
//! (`spawn`, which hands back the bound address and a graceful shutdown).

use std::{future::Future, net::SocketAddr};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    Config, Error, Result,
    http::{self, Background},
    store::Store,
};

/// A running cloud.
#[derive(Debug)]
pub struct CloudHandle {
    addr: SocketAddr,
    store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    background: Background,
    grace: std::time::Duration,
}

impl CloudHandle {
    /// The bound address (the real port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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

async fn bind(config: &Config) -> Result<TcpListener> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Io { context: format!("listening on {}", config.listen), source })
}

/// Opens the database and serves in a background task.
pub async fn spawn(config: Config) -> Result<CloudHandle> {
    let mailer = crate::mail::prepare(&config.mail)?;
    let store = Store::open(&config).await?;
    let listener = bind(&config).await?;
    let addr = listener.local_addr().map_err(|source| Error::Io { context: "local address".to_owned(), source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let background = Background::default();
    let app = http::router_with(store.clone(), &config.limits, background.clone())
        .into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, "serving");
    if let Some(sender) = mailer {
        crate::mail::run(&background, store.clone(), sender);
    }
    crate::retention::run(&background, store.clone(), config.retention.clone());
    // A switch-over interrupted by a crash or a restart finishes now.
    for (org_id, job_id) in store.running_switches().await? {
        tracing::info!(org = %org_id, job = %job_id, "resuming switch-over");
        http::run_switch_in_background(&background, store.clone(), org_id, job_id, crate::store::DEFAULT_SWITCH_BATCH);
    }
    Ok(CloudHandle { addr, store, stop: Some(stop), task, background, grace: config.shutdown_grace })
}

/// Opens the database and serves until `shutdown` completes.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let handle = spawn(config).await?;
    shutdown.await;
    tracing::info!("shutting down");
    handle.shutdown().await
}
