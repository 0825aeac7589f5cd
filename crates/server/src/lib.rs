//! `tonghop serve`: one long-lived process for a province's lake.
//!
//! | module | what it owns |
//! |---|---|
//! | [`config`] | the TOML configuration, environment overrides, all problems reported at once |
//! | [`auth`] | API tokens (hashed) with roles, units and expiry; PostgreSQL users (SCRAM-SHA-256); the set in use |
//! | [`reload`] | tokens and users reloaded without a restart: on SIGHUP and when the configuration file changes |
//! | [`audit`] | the audit trail (`lake.audit`): queries, runs, denials, reloads, written in the background |
//! | [`scram`] | the SCRAM-SHA-256 login exchange against StoredKey and ServerKey, as PostgreSQL keeps passwords |
//! | [`service`] | the shared state: project, lake, the SQL session (reloaded when the lake changes), runs |
//! | [`submit`] | HTTP submissions: read, validate, check the unit, group-commit to the lake |
//! | [`plans`] | the plans over HTTP: agencies' progress reports, the tasks' status, the periodic review (.docx) |
//! | [`dashboard`] | the pages for leaders and health officers: sign-in sessions, overview, map, drill-down, CSV |
//! | [`http`] | the HTTP API (axum): submissions, runs, `POST /sql`, `/health`, `/metrics` |
//! | [`limits`] | limits of analyst SQL: memory pools, statement timeout, cancellation, concurrency, its own thread pool |
//! | [`pg`] | the PostgreSQL wire endpoint (datafusion-postgres): SCRAM logins, TLS, read-only |
//! | [`throttle`] | failed logins throttled per client address and per PostgreSQL user name |
//! | [`scheduler`] | the cron loop that starts pipeline runs, catching up once after downtime |
//! | [`metrics`] | Prometheus counters and histograms |
//! | [`tls`] | TLS (rustls) for the HTTP and PostgreSQL listeners |
//!
//! Shutdown (SIGTERM or Ctrl-C, or [`Running::stop`]): the listeners stop accepting, requests in
//! flight are answered (every submission answered is committed), the scheduler stops, a pipeline
//! run gets `shutdown_grace_seconds` to finish and is otherwise abandoned (its commits are atomic
//! and its lease expires, so the next run redoes the rest).

#![warn(missing_docs)]

pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod pg;
mod pg_catalog;
pub mod plans;
pub mod reload;
pub mod scheduler;
pub mod scram;
pub mod service;
pub mod submit;
pub mod throttle;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::ServerConfig;
pub use error::{Error, Result};
pub use service::Service;
use tokio_util::sync::CancellationToken;

/// A started service.
pub struct Running {
    /// Where the HTTP API listens.
    pub http: SocketAddr,
    /// Whether it speaks HTTPS (`http.tls_cert` and `http.tls_key` set).
    pub https: bool,
    /// Where the PostgreSQL endpoint listens (when enabled).
    pub postgres: Option<SocketAddr>,
    /// The shared state.
    pub service: Arc<Service>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    http_task: tokio::task::JoinHandle<std::io::Result<()>>,
    committer: tokio::task::JoinHandle<()>,
}

/// Opens the service and starts its listeners, scheduler and reload ticker.
pub async fn start(config: ServerConfig) -> Result<Running> {
    let shutdown = CancellationToken::new();
    let (service, committer) = Service::open(config, shutdown.clone()).await?;
    let listen = service.config.http.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|source| Error::Bind { address: listen.clone(), what: "http", source })?;
    let http = listener.local_addr().map_err(|source| Error::Bind { address: listen.clone(), what: "http", source })?;
    let mut tasks = Vec::new();
    let postgres = if service.config.postgres.enabled {
        let (address, serve) = pg::bind(service.clone()).await?;
        tasks.push(tokio::spawn(serve));
        Some(address)
    } else {
        None
    };
    let router = http::router(service.clone())?;
    let stop = shutdown.clone();
    let header_timeout = std::time::Duration::from_secs(service.config.http.header_timeout_seconds);
    let tls = match (&service.config.http.tls_cert, &service.config.http.tls_key) {
        (Some(cert), Some(key)) => {
            let root = service.project.root();
            Some(tokio_rustls::TlsAcceptor::from(tls::server_config(&root.join(cert), &root.join(key), "http", &[b"http/1.1"])?.0))
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let http_task = tokio::spawn(http::serve(listener, router, stop, header_timeout, tls));
    if service.config.scheduler.enabled {
        tasks.extend(scheduler::start(service.clone()));
    }
    tasks.extend(reload::start(service.clone()));
    let ticker = service.clone();
    tasks.push(tokio::spawn(async move {
        let period = std::time::Duration::from_secs(ticker.config.reload_seconds.max(1));
        loop {
            tokio::select! {
                _ = ticker.shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            if let Err(e) = ticker.reload_if_changed().await {
                tracing::warn!(error = %e, "SQL session not reloaded");
            }
        }
    }));
    tracing::info!(http = %http, scheme, postgres = ?postgres, lake = %service.lake.root().url(), "tonghop serve started");
    Ok(Running { http, https: scheme == "https", postgres, service, tasks, http_task, committer })
}

impl Running {
    /// Asks the service to stop (what SIGTERM does).
    pub fn stop(&self) {
        self.service.shutdown.cancel();
    }

    /// Stops the service on SIGTERM or Ctrl-C. The handlers are in place when this returns: call it
    /// before announcing the service, since a SIGTERM that arrived before would end the process
    /// at once (its default action) instead of shutting down gracefully.
    pub fn stop_on_signals(&self) {
        let stop = self.service.shutdown.clone();
        #[cfg(unix)]
        let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        tokio::spawn(async move {
            let term = async {
                #[cfg(unix)]
                if let Ok(mut s) = terminate {
                    s.recv().await;
                    return;
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                _ = term => tracing::info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
                _ = stop.cancelled() => {}
            }
            stop.cancel();
        });
    }

    /// Waits until the service is stopped, then lets in-flight work end.
    pub async fn wait(self) -> Result<()> {
        self.service.shutdown.cancelled().await;
        let served = self.http_task.await;
        for t in self.tasks {
            let _ = t.await;
        }
        self.service.wait_for_runs(std::time::Duration::from_secs(self.service.config.shutdown_grace_seconds)).await;
        // Every answered submission is journaled; move the journal into the Delta tables now
        // (what cannot be committed stays in the journal for the next start).
        if let Err(e) = self.service.committer.flush().await {
            tracing::error!(error = %e, "journaled submissions left for the next start");
        }
        if let Err(e) = self.service.audit.flush().await {
            tracing::error!(error = %e, "the last audit entries could not be written");
        }
        self.committer.abort();
        tracing::info!("tonghop serve stopped");
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Bind { address: self.http.to_string(), what: "http", source }),
            Err(e) => Err(Error::Bind { address: self.http.to_string(), what: "http", source: std::io::Error::other(e) }),
        }
    }
}
