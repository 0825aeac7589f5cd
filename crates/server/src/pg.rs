//! The PostgreSQL wire endpoint for analysts (datafusion-postgres on pgwire): SCRAM-SHA-256
//! password logins against StoredKey and ServerKey ([`crate::scram`]), throttled; optional TLS;
//! the `pg_catalog` tables clients introspect (`psql \dt`, DBeaver's browser); read-only: anything
//! but queries is refused with SQLSTATE 25006 by the engine's read-only gate; each connection has
//! its own session settings, and its statements run under [`crate::limits`]. Statement text is
//! checked for depth (`Guarded`) before the library's parser sees it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler};
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, ErrorHandler, PgWireServerHandlers, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::Sink;
use tokio::net::TcpListener;

use crate::limits::{Cancel, CancelKeys};
use crate::scram::{ScramStartup, Verifier, Verifiers};
use crate::service::Service;
use crate::{Error, Result};

/// The throttle's keys of a PostgreSQL login: its address and its user name.
fn login_keys(host: &str, user: &str) -> [String; 2] {
    [format!("ip:{host}"), format!("user:{user}")]
}

/// The SCRAM verifiers of the configured users (the service's current [`Access`](crate::auth::Access):
/// a user removed from the configuration, or past its `valid_until`, cannot open a new
/// connection), behind the login throttle.
struct Users {
    /// Random per process: the made-up verifiers of unknown names are derived from it.
    secret: [u8; 32],
    service: Arc<Service>,
}

impl Verifiers for Users {
    /// An unknown user goes through the whole SCRAM exchange against a made-up verifier and fails
    /// at its end, as a wrong password does (PostgreSQL does the same), so a client cannot tell
    /// which names exist.
    fn verifier(&self, user: &str, host: &str) -> PgWireResult<Verifier> {
        if let Some(wait) = self.service.throttle.blocked(login_keys(host, user).iter().map(String::as_str)) {
            self.service.metrics.denied("throttled");
            tracing::warn!(user, host, "postgres login refused: too many failed logins");
            let message = format!("too many failed logins from this address or for this user; try again in {} s", wait.as_secs());
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), "28000".into(), message))));
        }
        let access = self.service.access();
        Ok(match access.user(user, chrono::Utc::now()) {
            crate::auth::UserLookup::Valid(verifier) => verifier.clone(),
            found => {
                let why = if matches!(found, crate::auth::UserLookup::Expired) { "expired user (valid_until has passed)" } else { "unknown user" };
                tracing::warn!(user, host, "postgres login denied: {why}");
                self.service.audit.denied(&format!("pg:{user}"), "postgres", "login", why, Some(host));
                Verifier::made_up(&self.secret, user)
            }
        })
    }
}

/// The read-only gate on this endpoint (simple and extended protocol): every statement is planned
/// in the connection's session and judged on its plan by [`tonghop_engine::read_only`], the same
/// gate as `tonghop sql` and HTTP `/sql`. Refused with SQLSTATE 25006.
///
/// It also starts each statement's limits: a cancel that came before the statement no longer
/// applies, and the connection's cancel key is known for CancelRequest.
struct ReadOnly {
    cancel: Cancel,
    keys: Arc<CancelKeys>,
}

impl ReadOnly {
    fn start(&self, client: &(dyn ClientInfo + Send + Sync)) {
        let (pid, secret) = client.pid_and_secret_key();
        self.keys.register((pid, secret.to_bytes().to_vec()), &self.cancel);
        self.cancel.reset();
    }
}

/// Statements the other hooks answer without touching data: transactions (a no-op on a read-only
/// lake), cursors (their query is checked) and `SHOW`.
fn answered_by_hooks(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Fetch { .. }
            | Statement::Close { .. }
            | Statement::Deallocate { .. }
            | Statement::Discard { .. }
            | Statement::ShowVariable { .. }
    )
}

fn refused(error: tonghop_engine::Error) -> PgWireError {
    let message = error.to_string();
    let sqlstate = match error {
        tonghop_engine::Error::ReadOnly { .. } => {
            tracing::warn!(error = %message, "postgres: refused a statement that is not a query");
            "25006"
        }
        tonghop_engine::Error::TooDeep { .. } | tonghop_engine::Error::TooLongList { .. } => "54001",
        _ => "42601",
    };
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), sqlstate.into(), message)))
}

/// Plans `sql` as the session would and returns the plan if it only reads, and reads nothing
/// only admins may read (PostgreSQL users are analysts: `lake.audit` is refused, SQLSTATE 42501).
async fn checked_plan(sql: &str, ctx: &SessionContext) -> Result<LogicalPlan, PgWireError> {
    let plan = tonghop_engine::read_only::plan_query(ctx, sql).await.map_err(refused)?;
    not_audit(&plan)?;
    Ok(plan)
}

fn not_audit(plan: &LogicalPlan) -> Result<(), PgWireError> {
    if tonghop_engine::read_only::reads_lake_table(plan, tonghop_lake::tables::AUDIT.name) {
        let message = format!("{} (read it through HTTP POST /sql)", crate::service::AUDIT_ADMINS_ONLY);
        return Err(PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), "42501".into(), message))));
    }
    Ok(())
}

/// `None` when the statement may run (a query, or a statement another hook answers harmlessly).
/// A query is judged on `planned` when the protocol has planned it already, else planned here as
/// the handler will run it (`statement.to_string()`).
async fn check_statement(statement: &Statement, ctx: &SessionContext, planned: Option<&LogicalPlan>) -> Option<PgWireError> {
    match statement {
        Statement::Set(_) => tonghop_engine::read_only::client_setting(statement).err().map(refused),
        Statement::Declare { stmts } => {
            for query in stmts.iter().filter_map(|d| d.for_query.as_ref()) {
                if let Err(e) = checked_plan(&query.to_string(), ctx).await {
                    return Some(e);
                }
            }
            None
        }
        s if answered_by_hooks(s) => None,
        _ => match planned {
            Some(plan) => tonghop_engine::read_only::check_plan(plan).map_err(refused).and_then(|()| not_audit(plan)).err(),
            None => checked_plan(&statement.to_string(), ctx).await.err(),
        },
    }
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(&self, statement: &Statement, ctx: &SessionContext, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        self.start(client);
        check_statement(statement, ctx, None).await.map(Err)
    }

    /// A query is planned once, here, and the checked plan handed to the protocol (which would
    /// otherwise plan it again); other statements are left to the hooks that answer them.
    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match statement {
            Statement::Set(_) | Statement::Declare { .. } => check_statement(statement, ctx, None).await.map(Err),
            s if answered_by_hooks(s) => None,
            _ => Some(checked_plan(&statement.to_string(), ctx).await),
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        plan: &LogicalPlan,
        _: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.start(client);
        check_statement(statement, ctx, Some(plan)).await.map(Err)
    }
}

/// The connection's SQL session behind a depth check of the statement text: the library's parser
/// rewrites each statement with a recursive walk before any hook sees it, so a chain of a few
/// hundred thousand `+` would overflow the stack there (see
/// [`tonghop_engine::read_only::check_text_depth`]).
struct Guarded(Arc<DfSessionService>, Arc<Service>);

/// The audit entry of a statement run by `client`, not yet recorded.
fn audit_entry(client: &(dyn ClientInfo + Send + Sync), sql: &str) -> crate::audit::Entry {
    let user = client.metadata().get(datafusion_postgres::pgwire::api::METADATA_USER).cloned().unwrap_or_default();
    let mut entry = crate::audit::Entry::new(format!("pg:{user}"), "postgres", "sql");
    entry.role = Some("analyst".into());
    entry.detail = Some(sql.to_string());
    entry.client = Some(client.socket_addr().ip().to_string());
    entry
}

/// Adds a statement's answer to the audit trail: a query when its rows have all been sent (or
/// the client went away), with how many. Other answers (`SET`, `BEGIN`, …) are not recorded.
fn audited(service: &Arc<Service>, client: &(dyn ClientInfo + Send + Sync), sql: &str, started: std::time::Instant, answer: Response) -> Response {
    let Response::Query(mut query) = answer else { return answer };
    let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
    query.data_rows = Box::pin(Counted { rows, count: 0, entry: Some(audit_entry(client, sql)), started, service: service.clone() });
    Response::Query(query)
}

/// Adds a statement that failed to the audit trail, and passes the error on.
fn audited_error(service: &Service, client: &(dyn ClientInfo + Send + Sync), sql: &str, started: std::time::Instant, error: PgWireError) -> PgWireError {
    let mut entry = audit_entry(client, sql);
    entry.duration_ms = Some(started.elapsed().as_millis() as i64);
    entry.outcome = "error".into();
    entry.error = Some(error.to_string());
    service.audit.record(entry);
    error
}

/// A query's rows on their way to the client, counted; the audit entry is recorded when the
/// stream ends or is dropped.
struct Counted {
    rows: datafusion_postgres::pgwire::api::results::SendableRowStream,
    count: i64,
    entry: Option<crate::audit::Entry>,
    started: std::time::Instant,
    service: Arc<Service>,
}

impl futures::Stream for Counted {
    type Item = PgWireResult<datafusion_postgres::pgwire::messages::data::DataRow>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.rows.as_mut().poll_next(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(_))) => self.count += 1,
            std::task::Poll::Ready(Some(Err(e))) => {
                let error = e.to_string();
                if let Some(entry) = self.entry.as_mut() {
                    entry.outcome = "error".into();
                    entry.error = Some(error);
                }
            }
            _ => {}
        }
        polled
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.rows = Some(self.count);
            entry.duration_ms = Some(self.started.elapsed().as_millis() as i64);
            self.service.audit.record(entry);
        }
    }
}

/// The extended protocol's parser behind the same check.
struct GuardedParser(Arc<datafusion_postgres::Parser>);

fn too_deep(sql: &str) -> PgWireResult<()> {
    tonghop_engine::read_only::check_text_depth(sql).map_err(refused)
}

#[async_trait]
impl SimpleQueryHandler for Guarded {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        too_deep(query)?;
        let started = std::time::Instant::now();
        match SimpleQueryHandler::do_query(self.0.as_ref(), client, query).await {
            Ok(answers) => Ok(answers.into_iter().map(|a| audited(&self.1, client, query, started, a)).collect()),
            Err(e) => Err(audited_error(&self.1, client, query, started, e)),
        }
    }
}

#[async_trait]
impl QueryParser for GuardedParser {
    type Statement = <datafusion_postgres::Parser as QueryParser>::Statement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        too_deep(sql)?;
        self.0.parse_sql(client, sql, types).await
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.0.get_parameter_types(statement)
    }

    fn get_result_schema(&self, statement: &Self::Statement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.0.get_result_schema(statement, format)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Guarded {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = GuardedParser;

    fn query_parser(&self) -> Arc<GuardedParser> {
        Arc::new(GuardedParser(self.0.query_parser()))
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Self::Statement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let started = std::time::Instant::now();
        let sql = &portal.statement.statement.0;
        match ExtendedQueryHandler::do_query(self.0.as_ref(), client, portal, max_rows).await {
            Ok(answer) => Ok(audited(&self.1, client, sql, started, answer)),
            Err(e) => Err(audited_error(&self.1, client, sql, started, e)),
        }
    }
}

/// Logs failed logins and counts errors.
struct Errors {
    service: Arc<Service>,
}

impl ErrorHandler for Errors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        match error {
            PgWireError::InvalidPassword(_) => {
                self.service.metrics.denied("postgres_password");
                // The startup message's user (SCRAM's own user name is usually left empty).
                let user = client.metadata().get(datafusion_postgres::pgwire::api::METADATA_USER).cloned().unwrap_or_default();
                self.service.throttle.failed(login_keys(&client.socket_addr().ip().to_string(), &user).iter().map(String::as_str));
                let host = client.socket_addr().ip().to_string();
                self.service.audit.denied(&format!("pg:{user}"), "postgres", "login", "wrong password or unknown user", Some(&host));
                tracing::warn!(user = %user, peer = %client.socket_addr(), "postgres login denied: wrong password or unknown user");
            }
            PgWireError::ApiError(cause) => {
                self.service.metrics.query("postgres", false);
                // A query stopped by a limit: PostgreSQL's SQLSTATE and a message saying which.
                if let Some((limit, message)) = crate::limits::limit_of(cause.as_ref(), self.service.limits.config()) {
                    *error = PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), limit.sqlstate().into(), message)));
                }
                tracing::debug!(error = %error, "postgres error sent to the client");
            }
            other => {
                self.service.metrics.query("postgres", false);
                tracing::debug!(error = %other, "postgres error sent to the client");
            }
        }
    }
}

/// The handlers of one endpoint, shared by its connections.
struct Handlers {
    service: Arc<Service>,
    users: Arc<Users>,
    /// Process ids and cancel secrets of new connections.
    pids: Arc<dyn PidSecretKeyGenerator>,
    keys: Arc<CancelKeys>,
    /// The channel binding data of the TLS certificate (see [`crate::scram::end_point_binding`]).
    binding: Option<Arc<Vec<u8>>>,
}

/// The handlers of one connection: its own SQL session, made from the service's session current
/// when it connects (the tables are shared; settings are not), so nothing a client sets is seen
/// by another.
struct Connection {
    shared: Arc<Handlers>,
    session: Arc<Guarded>,
    /// Cancels the statement running on this connection.
    cancel: Cancel,
}

impl Connection {
    fn new(shared: Arc<Handlers>) -> Connection {
        let cancel = Cancel::default();
        let ctx = Arc::new(shared.service.limits.session(shared.service.engine().context(), cancel.clone()));
        let gate = ReadOnly { cancel: cancel.clone(), keys: shared.keys.clone() };
        let hooks: Vec<Arc<dyn QueryHook>> = vec![Arc::new(gate), Arc::new(CursorStatementHook), Arc::new(SetShowHook), Arc::new(TransactionStatementHook)];
        let service = shared.service.clone();
        Connection { shared, session: Arc::new(Guarded(Arc::new(DfSessionService::new_with_hooks(ctx, hooks)), service)), cancel }
    }
}

/// The socket twice: one for the protocol, one (the same connection, another descriptor) for
/// [`cancel_when_gone`] to watch while the protocol does not read.
fn watched(socket: tokio::net::TcpStream) -> std::io::Result<(tokio::net::TcpStream, tokio::net::TcpStream)> {
    let socket = socket.into_std()?;
    let watch = socket.try_clone()?;
    Ok((tokio::net::TcpStream::from_std(socket)?, tokio::net::TcpStream::from_std(watch)?))
}

/// Cancels the connection's statement when its client has gone without a CancelRequest (killed,
/// or its machine gone and the connection reset): the protocol library does not read the socket
/// while a statement runs, so nothing else would notice before the statement timeout. The socket
/// is peeked, never read: bytes the client sent (its next message) are left to the protocol, and
/// while any wait there, the end of the stream behind them cannot be seen (a client that sent
/// Terminate before closing is noticed when the statement ends).
async fn cancel_when_gone(watch: tokio::net::TcpStream, cancel: Cancel) {
    let mut byte = [0u8; 1];
    loop {
        match watch.peek(&mut byte).await {
            Ok(0) | Err(_) => {
                cancel.cancel();
                return;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.default_transaction_read_only = true;
        Arc::new(ScramStartup::new(self.shared.users.clone(), Arc::new(parameters), self.shared.pids.clone(), self.shared.binding.clone()))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Errors { service: self.shared.service.clone() })
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Cancels { keys: self.shared.keys.clone() })
    }
}

/// CancelRequest (psql's Ctrl-C): stops the statement of the connection with that key while it
/// runs and while its rows are sent.
struct Cancels {
    keys: Arc<CancelKeys>,
}

#[async_trait]
impl CancelHandler for Cancels {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let found = self.keys.cancel(&(request.pid, request.secret_key.to_bytes().to_vec()));
        tracing::info!(pid = request.pid, found, "postgres: cancel request");
    }
}

/// The TLS acceptor of `cert` and `key`, and the certificate's channel binding data for
/// `SCRAM-SHA-256-PLUS` (`None`, with a warning, for a certificate that has none).
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<(tokio_rustls::TlsAcceptor, Option<Arc<Vec<u8>>>)> {
    let (config, cert_pem) = crate::tls::server_config(cert, key, "postgres", &[])?;
    let binding = crate::scram::end_point_binding(&cert_pem)
        .map_err(|e| tracing::warn!(cert = %cert.display(), error = %e, "postgres: SCRAM channel binding (SCRAM-SHA-256-PLUS) not offered"))
        .ok()
        .map(Arc::new);
    Ok((tokio_rustls::TlsAcceptor::from(config), binding))
}

/// Binds the endpoint; the returned future serves until the service shuts down.
pub async fn bind(service: Arc<Service>) -> Result<(std::net::SocketAddr, impl std::future::Future<Output = ()>)> {
    let config = &service.config.postgres;
    let (tls, binding) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let (acceptor, binding) = tls_acceptor(&service.project.root().join(cert), &service.project.root().join(key))?;
            (Some(acceptor), binding)
        }
        _ => (None, None),
    };
    let listener = TcpListener::bind(&config.listen).await.map_err(|source| Error::Bind { address: config.listen.clone(), what: "postgres", source })?;
    let address = listener.local_addr().map_err(|source| Error::Bind { address: config.listen.clone(), what: "postgres", source })?;
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let users = Arc::new(Users { secret, service: service.clone() });
    if service.access().users().is_empty() {
        tracing::warn!("postgres: no users configured, so nobody can log in; add [[postgres.users]] entries made with `tonghop passwd`");
    }
    let pids: Arc<dyn PidSecretKeyGenerator> = Arc::new(RandomPidSecretKeyGenerator::default());
    let handlers = Arc::new(Handlers { service: service.clone(), users, pids, keys: Arc::new(CancelKeys::default()), binding });
    // Connections (logins, queries, rows sent) run on the analyst thread pool.
    let analysts = service.limits.handle();
    let max_connections = config.max_connections;
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let serve = async move {
        loop {
            let accepted = tokio::select! {
                _ = service.shutdown.cancelled() => break,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((socket, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        service.metrics.denied("too_many_connections");
                        tracing::warn!(peer = %peer, max_connections, "postgres connection refused: too many connections");
                        analysts.spawn(refuse_connection(socket, tls.clone(), max_connections));
                        continue;
                    };
                    let (connection, tls) = (Arc::new(Connection::new(handlers.clone())), tls.clone());
                    let (socket, watch) = match watched(socket) {
                        Ok(pair) => pair,
                        Err(e) => {
                            tracing::warn!(peer = %peer, error = %e, "postgres: cannot watch the connection");
                            continue;
                        }
                    };
                    let cancel = connection.cancel.clone();
                    analysts.spawn(async move {
                        let watcher = tokio::spawn(cancel_when_gone(watch, cancel));
                        if let Err(e) = datafusion_postgres::pgwire::tokio::process_socket(socket, tls, connection).await {
                            tracing::debug!(peer = %peer, error = %e, "postgres connection ended with an error");
                        }
                        // The watcher holds the connection's second descriptor: the socket closes with it.
                        watcher.abort();
                        let _ = watcher.await;
                        drop(slot);
                    });
                }
                Err(e) => tracing::warn!(error = %e, "postgres: accept failed"),
            }
        }
    };
    Ok((address, serve))
}

/// Refuses a connection over `postgres.max_connections` as PostgreSQL does: it answers the client's
/// TLS (or GSS) request as usual (TLS when configured, else `N`), reads the startup message, then
/// sends `FATAL 53300` and closes, so that psql and drivers show the message.
async fn refuse_connection(mut socket: tokio::net::TcpStream, tls: Option<tokio_rustls::TlsAcceptor>, max_connections: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SSL_REQUEST: u32 = 80_877_103;
    const GSS_REQUEST: u32 = 80_877_104;
    let message = format!("sorry, too many connections to tonghop (postgres.max_connections = {max_connections}); try again later");
    let refuse = async move {
        let mut first = [0u8; 8];
        socket.read_exact(&mut first).await?;
        let code = u32::from_be_bytes([first[4], first[5], first[6], first[7]]);
        match (code, tls) {
            (SSL_REQUEST, Some(tls)) => {
                socket.write_all(b"S").await?;
                let stream = tls.accept(socket).await?;
                answer_startup(stream, None, message).await
            }
            (SSL_REQUEST | GSS_REQUEST, _) => {
                socket.write_all(b"N").await?;
                answer_startup(socket, None, message).await
            }
            _ => answer_startup(socket, Some(first), message).await,
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), refuse).await;
}

/// Reads a startup message (whose first 8 bytes may have been read already) and answers it with
/// the `FATAL 53300` error of [`refuse_connection`].
async fn answer_startup<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S, read: Option<[u8; 8]>, message: String) -> std::io::Result<()> {
    use datafusion_postgres::pgwire::messages::{response::ErrorResponse, Message};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = match read {
        Some(head) => head,
        None => {
            let mut head = [0u8; 8];
            stream.read_exact(&mut head).await?;
            head
        }
    };
    // The rest of the startup message (user, database, options): at most 10 KiB, as PostgreSQL allows.
    let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let mut rest = vec![0u8; length.clamp(8, 10_000) - 8];
    stream.read_exact(&mut rest).await?;
    let mut answer = bytes::BytesMut::new();
    ErrorResponse::from(ErrorInfo::new("FATAL".into(), "53300".into(), message)).encode(&mut answer).map_err(std::io::Error::other)?;
    stream.write_all(&answer).await?;
    stream.shutdown().await
}
