//! Distributed execution over `tonghop worker` processes (datafusion-distributed).
//!
//! A [`Cluster`] is what a coordinator (the `tonghop build|run|sql|serve` process) knows of its
//! workers: the addresses from the configuration (`[cluster] workers`, `--workers`), each a
//! `host:port` that may resolve to many addresses (a Kubernetes headless Service), re-resolved in
//! the background. A session opened with a cluster plans every query with the distributed
//! planner: the plan is cut into stages at its shuffles, and each stage's tasks are sent, as
//! protobuf, to the workers, which read their share of the Parquet files from the lake themselves
//! and stream Arrow batches back. Lake tables are then read with
//! [`tonghop_lake::SnapshotTable`], the Delta scan being one a worker cannot receive.
//!
//! A worker ([`serve_worker`]) is the same binary with the same lake configuration: it registers
//! the lake's object store and tonghop's SQL functions, and executes what it is sent. It plans
//! nothing and writes nothing: every commit stays on the coordinator.
//!
//! Links can use TLS ([`ClusterTls`]): the coordinator checks each worker's certificate against a
//! CA, workers present a certificate and key.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::error::DataFusionError;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{
    grpc::{create_worker_client, BoxCloneSyncChannel},
    ChannelResolver, DistributedExt, SessionStateBuilderExt, Worker, WorkerChannel, WorkerQueryContext, WorkerResolver,
};
use serde::Deserialize;
use tonghop_lake::Lake;
use url::Url;

use crate::{Error, Result};

/// `[cluster]` in the service configuration (and `--workers` on the command line).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The workers: `host:port` each (a name resolving to several addresses counts each).
    /// None: queries run in this process, as without a cluster.
    #[serde(default)]
    pub workers: Vec<String>,
    /// Bytes of Parquet per task of a scan stage (datafusion-distributed's
    /// `file_scan_config_bytes_per_partition`, 16 MiB by default): smaller splits the scans over
    /// more tasks.
    #[serde(default)]
    pub bytes_per_task: Option<usize>,
    /// TLS on the links to the workers.
    #[serde(default)]
    pub tls: Option<ClusterTls>,
}

/// TLS of the worker links: the coordinator side needs `ca` (and `domain` when the workers'
/// certificates name another host than the one dialled); a worker needs `cert` and `key`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterTls {
    /// PEM file of the CA that signed the workers' certificates.
    pub ca: Option<std::path::PathBuf>,
    /// The name the workers' certificates are checked against (default: the host dialled).
    pub domain: Option<String>,
    /// PEM certificate a worker presents.
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<std::path::PathBuf>,
}

impl ClusterConfig {
    /// The configuration from a comma-separated list of `host:port` (`--workers`).
    pub fn from_list(list: &str) -> ClusterConfig {
        ClusterConfig { workers: list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(), ..Default::default() }
    }

    /// Every problem of the configuration, each naming the setting and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for worker in &self.workers {
            if split_host_port(worker).is_none() {
                problems
                    .push(format!("[cluster] workers: {worker:?} is not host:port (for example \"worker-1:50051\" or \"tonghop-workers.default.svc:50051\")"));
            }
        }
        if self.bytes_per_task == Some(0) {
            problems.push("[cluster] bytes_per_task: must be at least 1 (leave it out for 16 MiB)".to_string());
        }
        if let Some(tls) = &self.tls {
            for (name, path) in [("ca", &tls.ca), ("cert", &tls.cert), ("key", &tls.key)] {
                if let Some(path) = path.as_ref().filter(|p| !p.is_file()) {
                    problems.push(format!("[cluster.tls] {name}: {} is not a file", path.display()));
                }
            }
            if tls.cert.is_some() != tls.key.is_some() {
                problems.push("[cluster.tls] cert and key go together: give both (on workers) or neither (on a coordinator)".to_string());
            }
        }
        problems
    }
}

/// `host:port` (or `http(s)://host:port`) split, the port a number.
fn split_host_port(worker: &str) -> Option<(String, u16)> {
    let bare = worker.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
    let (host, port) = bare.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    (!host.is_empty()).then(|| (host.trim_start_matches('[').trim_end_matches(']').to_string(), port))
}

/// The workers a coordinator sends tasks to (see the module's docs).
#[derive(Clone)]
pub struct Cluster {
    config: ClusterConfig,
    urls: Arc<RwLock<Vec<Url>>>,
    channels: Channels,
    /// Stops the background resolution when the last clone is dropped.
    _refresher: Arc<abort_on_drop::AbortOnDrop>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("workers", &self.config.workers).field("urls", &self.urls()).finish()
    }
}

mod abort_on_drop {
    /// Aborts a background task when dropped.
    pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
}

impl Cluster {
    /// Resolves the workers (every name must resolve now) and keeps them resolved every 10 s.
    /// None when the configuration lists no worker.
    #[tracing::instrument(skip_all, fields(workers = ?config.workers))]
    pub async fn start(config: &ClusterConfig) -> Result<Option<Cluster>> {
        if config.workers.is_empty() {
            return Ok(None);
        }
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::Cluster(problems.join("; ")));
        }
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let first = resolve(&config.workers, scheme).await?;
        tracing::info!(workers = first.len(), "cluster resolved");
        let urls = Arc::new(RwLock::new(first));
        let refresher = tokio::spawn({
            let (urls, workers) = (urls.clone(), config.workers.clone());
            async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    match resolve(&workers, scheme).await {
                        Ok(fresh) => *urls.write().expect("worker list lock") = fresh,
                        Err(e) => tracing::warn!(error = %e, "workers not resolved again; keeping the last list"),
                    }
                }
            }
        });
        let channels = Channels::new(config.tls.as_ref())?;
        Ok(Some(Cluster { config: config.clone(), urls, channels, _refresher: Arc::new(abort_on_drop::AbortOnDrop(refresher)) }))
    }

    /// The worker URLs known now.
    pub fn urls(&self) -> Vec<Url> {
        self.urls.read().expect("worker list lock").clone()
    }

    /// A session state that plans with the distributed planner over these workers.
    pub fn session_state(&self, config: SessionConfig) -> Result<SessionState> {
        let mut builder = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_distributed_worker_resolver(Resolver { urls: self.urls.clone() })
            .with_distributed_channel_resolver(self.channels.clone())
            .with_physical_optimizer_rule(Arc::new(PinWindowConstants))
            .with_distributed_planner();
        if let Some(bytes) = self.config.bytes_per_task {
            builder = builder.with_distributed_file_scan_config_bytes_per_partition(bytes)?;
        }
        Ok(builder.build())
    }
}

/// Keeps a window's constant partition columns known on the worker that runs it.
///
/// When a filter makes some of a window's `PARTITION BY` columns constant (`WHERE epoch = … AND
/// period = …` over a view with `ROW_NUMBER() OVER (PARTITION BY epoch, period, …)`), DataFusion
/// sorts the window's input by the other columns only. The distributed planner may then cut the
/// plan between that sort and the filter; the worker rebuilding the window's stage no longer knows
/// the columns are constant and refuses the plan ("Expects PARTITION BY expression to be
/// ordered"). This rule puts the filter's equalities again right under each such window: they keep
/// every row (the columns hold those values) and travel with the window's stage.
#[derive(Debug)]
struct PinWindowConstants;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for PinWindowConstants {
    fn optimize(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        _config: &datafusion::config::ConfigOptions,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::physical_expr::{expressions, AcrossPartitions, PhysicalExpr};
        use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
        use datafusion::physical_plan::ExecutionPlanProperties;
        plan.transform_up(|node| {
            let window_exprs = if let Some(w) = node.downcast_ref::<BoundedWindowAggExec>() {
                w.window_expr().to_vec()
            } else if let Some(w) = node.downcast_ref::<WindowAggExec>() {
                w.window_expr().to_vec()
            } else {
                return Ok(Transformed::no(node));
            };
            let partition_by: Vec<Arc<dyn PhysicalExpr>> = window_exprs.iter().flat_map(|e| e.partition_by().to_vec()).collect();
            let input = Arc::clone(node.children()[0]);
            let schema = input.schema();
            let mut equalities = Vec::new();
            for constant in input.equivalence_properties().constants() {
                let AcrossPartitions::Uniform(Some(value)) = &constant.across_partitions else { continue };
                if value.is_null() || !partition_by.iter().any(|p| p.as_ref() == constant.expr.as_ref()) {
                    continue;
                }
                let literal: Arc<dyn PhysicalExpr> = expressions::lit(value.clone());
                equalities.push(expressions::binary(Arc::clone(&constant.expr), datafusion::logical_expr::Operator::Eq, literal, &schema)?);
            }
            let Some(predicate) = equalities.into_iter().reduce(|a, b| Arc::new(expressions::BinaryExpr::new(a, datafusion::logical_expr::Operator::And, b)))
            else {
                return Ok(Transformed::no(node));
            };
            let filter = Arc::new(datafusion::physical_plan::filter::FilterExec::try_new(predicate, input)?);
            let options = datafusion::physical_plan::ReplaceChildrenOptions::new(datafusion::physical_plan::ChildrenPropertiesMode::Recompute);
            Ok(Transformed::yes(node.replace_children(vec![filter], options)?))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tonghop_pin_window_constants"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Every address of every worker name, as gRPC URLs, in a stable order.
async fn resolve(workers: &[String], scheme: &str) -> Result<Vec<Url>> {
    let mut urls = Vec::new();
    for worker in workers {
        let (host, port) = split_host_port(worker).ok_or_else(|| Error::Cluster(format!("{worker:?} is not host:port")))?;
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| Error::Cluster(format!("worker {worker}: cannot resolve {host}: {e}")))?.collect();
        if addresses.is_empty() {
            return Err(Error::Cluster(format!("worker {worker}: {host} resolves to no address")));
        }
        for address in addresses {
            // An address, not the name: with TLS the certificate is checked against
            // `[cluster.tls] domain` (or the address).
            let url = Url::parse(&format!("{scheme}://{address}")).map_err(|e| Error::Cluster(format!("worker {worker}: {e}")))?;
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    urls.sort();
    Ok(urls)
}

/// The planner's view of the workers: the last resolved list.
#[derive(Clone)]
struct Resolver {
    urls: Arc<RwLock<Vec<Url>>>,
}

impl WorkerResolver for Resolver {
    fn get_urls(&self) -> std::result::Result<Vec<Url>, DataFusionError> {
        let urls = self.urls.read().expect("worker list lock").clone();
        if urls.is_empty() {
            return Err(DataFusionError::Execution("no worker of [cluster] workers is known".to_string()));
        }
        Ok(urls)
    }
}

/// gRPC channels to the workers, one per URL, reused; with TLS when configured.
#[derive(Clone)]
struct Channels {
    tls: Option<tonic::transport::ClientTlsConfig>,
    cache: Arc<std::sync::Mutex<std::collections::HashMap<Url, BoxCloneSyncChannel>>>,
}

impl Channels {
    fn new(tls: Option<&ClusterTls>) -> Result<Channels> {
        let tls = match tls {
            None => None,
            Some(tls) => {
                install_crypto_provider();
                let mut config = tonic::transport::ClientTlsConfig::new();
                if let Some(ca) = &tls.ca {
                    let pem = std::fs::read(ca).map_err(|e| Error::Cluster(format!("[cluster.tls] ca {}: {e}", ca.display())))?;
                    config = config.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                }
                if let Some(domain) = &tls.domain {
                    config = config.domain_name(domain.clone());
                }
                Some(config)
            }
        };
        Ok(Channels { tls, cache: Default::default() })
    }

    async fn channel(&self, url: &Url) -> std::result::Result<BoxCloneSyncChannel, DataFusionError> {
        if let Some(channel) = self.cache.lock().expect("channel cache lock").get(url) {
            return Ok(channel.clone());
        }
        let failed = |e: tonic::transport::Error| DataFusionError::Execution(format!("worker {url}: cannot connect: {e} ({e:?})"));
        let mut endpoint = tonic::transport::Channel::from_shared(url.to_string())
            .map_err(|e| DataFusionError::Configuration(format!("worker URL {url}: {e}")))?
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(failed)?;
        }
        // A link that fails is forgotten, so the next query connects again: a worker restarted on
        // the same address (after a crash, a rolling update) is reached at once, not through a
        // channel that keeps the last connection error.
        let (cache, key) = (self.cache.clone(), url.clone());
        let connected = endpoint.connect().await.map_err(failed)?;
        let channel = BoxCloneSyncChannel::new(tower::ServiceExt::map_err(connected, move |e: tonic::transport::Error| {
            cache.lock().expect("channel cache lock").remove(&key);
            e
        }));
        self.cache.lock().expect("channel cache lock").insert(url.clone(), channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl ChannelResolver for Channels {
    async fn get_worker_client_for_url(&self, url: &Url) -> std::result::Result<Box<dyn WorkerChannel>, DataFusionError> {
        self.channel(url).await.map(create_worker_client)
    }
}

/// Serves a worker on `listener` until `shutdown` completes: the lake's object store and
/// tonghop's SQL functions registered (see the module's docs).
#[tracing::instrument(skip_all, fields(listen = ?listener.local_addr().ok(), lake = %lake.root().url()))]
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    lake: &Lake,
    config: &ClusterConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let ctx = SessionContext::new();
    tonghop_lake::parquet_scan::register_lake_store(lake, &ctx);
    let channels = Channels::new(config.tls.as_ref())?;
    let worker = Worker::from_session_builder(move |ctx: WorkerQueryContext| {
        let channels = channels.clone();
        async move {
            tracing::debug!(target: "tonghop_engine::cluster", "plan fragment received");
            let mut builder = ctx.builder.with_distributed_channel_resolver(channels);
            // DataFusion's functions are there (default features); tonghop's are added.
            builder.scalar_functions().get_or_insert_with(Vec::new).extend(crate::functions::all());
            Ok(builder.build())
        }
    })
    .with_runtime_env(ctx.runtime_env());
    let mut server = tonic::transport::Server::builder().tcp_nodelay(true);
    if let Some(tls) = &config.tls {
        install_crypto_provider();
        let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
            return Err(Error::Cluster("[cluster.tls] a worker needs cert and key".to_string()));
        };
        let read = |p: &std::path::PathBuf| std::fs::read(p).map_err(|e| Error::Cluster(format!("[cluster.tls] {}: {e}", p.display())));
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        server = server.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity)).map_err(|e| Error::Cluster(format!("[cluster.tls]: {e}")))?;
    }
    let incoming = tokio_stream_listener(listener);
    server
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| Error::Cluster(format!("worker: {e}")))?;
    Ok(())
}

/// rustls's process-wide crypto provider: ring, as the service's TLS uses (several providers are
/// built in, so rustls cannot choose one itself).
fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// The accepted connections of `listener` as the stream tonic serves.
fn tokio_stream_listener(listener: tokio::net::TcpListener) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let next = listener.accept().await.map(|(stream, _)| {
            let _ = stream.set_nodelay(true);
            stream
        });
        Some((next, listener))
    })
}
