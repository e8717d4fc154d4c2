//! The raw calls of the PostgreSQL backend: one server session (a dedicated
//! connection) and the advisory lock calls made on it, each one round trip:
//! take (try, wait, wait at most), give back, and the watch over the session
//! that tells when a held lock is lost.
//!
//! The calls run in the backend runtime's context ([`super::runtime`]), on
//! its thread or on a caller's; [`super::drive`] says who drives the
//! session's connection.

use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
#[cfg(not(unix))]
use tokio_postgres::NoTls;
use tokio_postgres::{CancelToken, Client, Config, SimpleQueryMessage};

use super::drive::{lock, ConnectionFuture, Driven};
use super::runtime;
#[cfg(unix)]
use super::socket::{self, ConnectFailure, Peer};

use super::PgLockKey;
use crate::sys::Mode;
use crate::{Error, ErrorKind, Result};

/// How the lock watches a held lock: a heartbeat query every `interval`,
/// and the session counted as lost if one is not answered within `timeout`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The session settings made right after connecting, where the server has
/// them (`client_connection_check_interval` since PostgreSQL 14): the server
/// checks every 250 ms during a query (a blocked lock request included) that
/// the client is still connected, and probes an idle connection after 5 s of
/// silence, giving up after 5 unanswered probes a second apart or 10 s of
/// unacknowledged data. Then the server releases the session's locks.
const SESSION_SETTINGS: &str = "SELECT set_config(wanted.name, wanted.setting, false) \
     FROM (VALUES ('client_connection_check_interval', '250'), \
                  ('tcp_keepalives_idle', '5'), \
                  ('tcp_keepalives_interval', '1'), \
                  ('tcp_keepalives_count', '5'), \
                  ('tcp_user_timeout', '10000')) AS wanted(name, setting) \
     WHERE EXISTS (SELECT 1 FROM pg_settings WHERE pg_settings.name = wanted.name)";

/// How long each step of withdrawing an abandoned request (sending the
/// cancel, the request's end, the give-back of a raced grant) may take
/// before the session is closed instead (which ends the request too).
const CANCEL_WAIT: Duration = Duration::from_secs(2);

/// How long after a cancel of ours a cancel error is taken for its echo
/// (see [`Session::stray_cancel`]).
const STRAY_WINDOW: Duration = Duration::from_secs(2);

/// What one lock object talks to: the server, the key, how to watch a hold.
#[derive(Debug)]
pub(crate) struct Target {
    /// "PostgreSQL advisory lock K on host:port/db", for errors.
    pub(crate) name: Arc<str>,
    config: std::result::Result<Config, String>,
    pub(crate) key: PgLockKey,
    heartbeat: Mutex<Heartbeat>,
    /// Async calls drive the connection on the awaiting task's runtime
    /// (`with_callers_runtime`).
    callers_runtime: AtomicBool,
}

/// How long a take may wait on the server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ServerWait {
    Try,
    Forever,
    For(Duration),
}

/// A take that did not get the lock, for a reason that is not an error of
/// the server's.
#[derive(Debug)]
pub(crate) enum NotTaken {
    /// Held elsewhere: a try found it taken, or a timed wait ran out.
    Busy,
    /// The caller went away; nothing is held or queued for it any more.
    Abandoned,
    Failed(Error),
}

impl From<Error> for NotTaken {
    fn from(err: Error) -> Self {
        NotTaken::Failed(err)
    }
}

impl Target {
    pub(crate) fn parse(conn: &str, key: PgLockKey) -> Target {
        match conn.parse::<Config>() {
            Ok(config) => Target::new(config, key),
            Err(err) => Target {
                name: format!("PostgreSQL advisory lock {key}").into(),
                config: Err(describe(&err)),
                key,
                heartbeat: Mutex::default(),
                callers_runtime: Default::default(),
            },
        }
    }

    pub(crate) fn new(config: Config, key: PgLockKey) -> Target {
        Target {
            name: format!("PostgreSQL advisory lock {key} on {}", server_name(&config)).into(),
            config: Ok(config),
            key,
            heartbeat: Mutex::default(),
            callers_runtime: Default::default(),
        }
    }

    pub(crate) fn set_callers_runtime(&self, on: bool) {
        self.callers_runtime.store(on, Ordering::Relaxed);
    }

    pub(crate) fn callers_runtime(&self) -> bool {
        self.callers_runtime.load(Ordering::Relaxed)
    }

    pub(crate) fn set_heartbeat(&self, heartbeat: Heartbeat) {
        *self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = heartbeat;
    }

    fn heartbeat(&self) -> Heartbeat {
        *self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// An error of `kind` while doing `action`, caused by `err`.
    pub(crate) fn error(
        &self,
        kind: ErrorKind,
        action: &'static str,
        err: tokio_postgres::Error,
    ) -> Error {
        Error::server(
            kind,
            &self.name,
            action,
            describe(&err),
            Some(Box::new(err)),
        )
    }

    pub(crate) fn lost(&self, action: &'static str, cause: String) -> Error {
        Error::server(ErrorKind::Lost, &self.name, action, cause, None)
    }

    /// The user's configuration with what the lock needs on top: a connect
    /// timeout unless one is set, keepalives and a TCP user timeout so that
    /// a dead connection is noticed in seconds, and an application name
    /// unless one is set.
    fn config(&self) -> Result<Config> {
        let mut config = match &self.config {
            Ok(config) => config.clone(),
            Err(cause) => {
                return Err(Error::server(
                    ErrorKind::InvalidInput,
                    &self.name,
                    "parse the connection string",
                    cause.clone(),
                    None,
                ))
            }
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(4));
        }
        if config.get_application_name().is_none() {
            config.application_name("fasteners");
        }
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(2))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(2);
        Ok(config)
    }
}

/// Where the configuration connects, for messages: hosts, ports, database
/// and user, never the password.
fn server_name(config: &Config) -> String {
    let mut name = String::new();
    let ports = config.get_ports();
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        name.push_str("localhost");
    }
    for (i, host) in hosts.iter().enumerate() {
        if i > 0 {
            name.push(',');
        }
        match host {
            Host::Tcp(host) => name.push_str(host),
            #[cfg(unix)]
            Host::Unix(path) => name.push_str(&path.display().to_string()),
        }
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let _ = write!(name, ":{port}");
    }
    if hosts.is_empty() {
        let _ = write!(name, ":{}", ports.first().copied().unwrap_or(5432));
    }
    let user = config.get_user().unwrap_or("(default user)");
    let _ = write!(
        name,
        "/{} as {user}",
        config
            .get_dbname()
            .unwrap_or(config.get_user().unwrap_or("(default database)"))
    );
    name
}

/// The client library's error and its causes, as one line.
pub(crate) fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// One connection to the server, dedicated to one lock object.
pub(crate) struct Session {
    client: Client,
    cancel: CancelToken,
    /// Where the connection goes, for cancel requests.
    #[cfg(unix)]
    peer: Peer,
    pub(super) driven: Arc<Driven>,
    watch: AbortHandle,
    /// The holders counted on the session.
    holds: Mutex<usize>,
    /// Whether anyone holds a lock on the session: the heartbeat beats then.
    holding: watch::Sender<bool>,
    heartbeat: AbortHandle,
    /// Work of the user's on the session under way: the heartbeat waits.
    busy: AtomicUsize,
    /// When the session last sent a cancel request.
    cancelled_at: Mutex<Option<std::time::Instant>>,
}

/// A connection made, before it is a session.
struct Opened {
    client: Client,
    connection: ConnectionFuture,
    #[cfg(unix)]
    peer: Peer,
}

/// Connects as `config` says, with the crate's socket ([`socket`]).
#[cfg(unix)]
async fn open(target: &Target, config: &Config) -> Result<Opened> {
    match socket::connect(config).await {
        Ok(connected) => Ok(Opened {
            client: connected.client,
            connection: Box::pin(connected.connection),
            peer: connected.peer,
        }),
        Err(ConnectFailure::Postgres(err)) => Err(target.error(ErrorKind::Server, "connect", err)),
        Err(ConnectFailure::Io(err, peer)) => {
            let at = peer.map(|peer| format!(" at {peer}")).unwrap_or_default();
            Err(Error::server(
                ErrorKind::Server,
                &target.name,
                "connect",
                format!("error connecting to server{at}: {err}"),
                Some(Box::new(err)),
            ))
        }
    }
}

/// Connects with tokio-postgres' own socket.
#[cfg(not(unix))]
async fn open(target: &Target, config: &Config) -> Result<Opened> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|err| target.error(ErrorKind::Server, "connect", err))?;
    Ok(Opened {
        client,
        connection: Box::pin(connection),
    })
}

impl Session {
    /// Connects, applies [`SESSION_SETTINGS`], and watches the connection.
    pub(crate) async fn connect(target: &Target) -> Result<Arc<Session>> {
        let config = target.config()?;
        let opened = open(target, &config).await?;
        let driven = Arc::new(Driven::new(opened.connection));
        let watching = tokio::spawn(Arc::clone(&driven).watch()).abort_handle();
        let holding = watch::channel(false).0;
        let beating = holding.subscribe();
        let heartbeat = target.heartbeat();
        let session = Arc::new_cyclic(|session| Session {
            cancel: opened.client.cancel_token(),
            client: opened.client,
            #[cfg(unix)]
            peer: opened.peer,
            driven,
            watch: watching,
            holds: Mutex::new(0),
            holding,
            heartbeat: tokio::spawn(beat(session.clone(), beating, heartbeat)).abort_handle(),
            busy: AtomicUsize::new(0),
            cancelled_at: Mutex::new(None),
        });
        let wait = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        match tokio::time::timeout(wait, session.client.simple_query(SESSION_SETTINGS)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                session.close("the session settings failed".into());
                return Err(target.error(ErrorKind::Server, "set up the session", err));
            }
            Err(_) => {
                session.close("the session settings were not answered".into());
                return Err(Error::server(
                    ErrorKind::Server,
                    &target.name,
                    "set up the session",
                    format!("the server did not answer within {wait:?}"),
                    None,
                ));
            }
        }
        Ok(session)
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Why the session ended, if it has.
    pub(crate) fn ended(&self) -> Option<String> {
        self.driven.ended()
    }

    /// Waits until the session ends; returns why.
    pub(crate) async fn wait_ended(&self) -> String {
        let mut ended = self.driven.subscribe();
        let cause = match ended.wait_for(Option::is_some).await {
            Ok(cause) => cause.clone().unwrap_or_default(),
            Err(_) => "the session was closed".to_owned(),
        };
        cause
    }

    /// Closes the connection (the server then releases whatever the session
    /// holds and forgets what it waits for).
    pub(crate) fn close(&self, cause: String) {
        self.driven.close(cause);
        self.watch.abort();
        self.heartbeat.abort();
    }

    fn holds(&self) -> MutexGuard<'_, usize> {
        lock(&self.holds)
    }

    /// Counts a holder on the session; the first starts the heartbeat.
    pub(crate) fn hold(&self) {
        let mut holds = self.holds();
        *holds += 1;
        if *holds == 1 {
            self.holding.send_replace(true);
        }
    }

    /// Uncounts a holder; the last pauses the heartbeat.
    pub(crate) fn unhold(&self) {
        let mut holds = self.holds();
        *holds = holds.saturating_sub(1);
        if *holds == 0 {
            self.holding.send_replace(false);
        }
    }

    /// Marks user work on the session as under way until the returned value drops.
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self, runtime::work())
    }

    /// Takes the key's lock in `mode`, waiting as `wait` says. If
    /// `abandoned` completes first (the caller went away), the request is
    /// cancelled on the server and a grant that raced the cancel is given
    /// back, so that nothing is held or queued: `NotTaken::Abandoned`.
    pub(crate) async fn take<A>(
        &self,
        target: &Target,
        mode: Mode,
        wait: ServerWait,
        mut abandoned: Pin<&mut A>,
    ) -> std::result::Result<(), NotTaken>
    where
        A: std::future::Future<Output = ()>,
    {
        let suffix = match mode {
            Mode::Exclusive => "",
            Mode::Shared => "_shared",
        };
        let args = target.key.sql_args();
        let wait = match wait {
            ServerWait::For(timeout) => {
                // `lock_timeout` counts whole milliseconds, and 0 turns it off.
                let millis = timeout.as_micros().div_ceil(1000);
                match i32::try_from(millis) {
                    Ok(0) => ServerWait::Try,
                    Ok(_) => ServerWait::For(timeout),
                    Err(_) => ServerWait::Forever,
                }
            }
            other => other,
        };
        let sql = match wait {
            ServerWait::Try => format!("SELECT pg_try_advisory_lock{suffix}({args})"),
            ServerWait::Forever => format!("SELECT pg_advisory_lock{suffix}({args})"),
            // One round trip; SET LOCAL lasts until the end of this implicit
            // transaction, so the session's own lock_timeout is untouched
            // whatever happens (a lock timeout rolls the SET back too), while
            // the session-level advisory lock outlives the transaction.
            ServerWait::For(timeout) => format!(
                "SET LOCAL lock_timeout = {}; SELECT pg_advisory_lock{suffix}({args})",
                timeout.as_micros().div_ceil(1000)
            ),
        };
        // Gone already: send nothing.
        if std::future::poll_fn(|cx| Poll::Ready(abandoned.as_mut().poll(cx).is_ready())).await {
            return Err(NotTaken::Abandoned);
        }
        let mut strays = 0;
        loop {
            let query = self.client.simple_query(&sql);
            let mut query = std::pin::pin!(query);
            let answer = tokio::select! {
                biased;
                answer = &mut query => answer,
                () = abandoned.as_mut() => {
                    self.withdraw(target, mode, query).await;
                    return Err(NotTaken::Abandoned);
                }
            };
            return match answer {
                Ok(messages) => match (wait, first_value(&messages)) {
                    (ServerWait::Try, Some("f")) => Err(NotTaken::Busy),
                    _ => Ok(()),
                },
                Err(err) if err.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                    Err(NotTaken::Busy)
                }
                Err(err) if self.stray_cancel(&err) && strays < 2 => {
                    // The second signal of an earlier cancel: ask again.
                    strays += 1;
                    continue;
                }
                Err(err) => {
                    // The request's fate is unknown: the session goes, and with
                    // it anything it held or asked for.
                    self.close(describe(&err));
                    Err(NotTaken::Failed(target.error(
                        ErrorKind::Server,
                        "lock",
                        err,
                    )))
                }
            };
        }
    }

    /// Whether `err` may be the late echo of a cancel this session sent for
    /// an abandoned request: the server signals a cancelled backend twice
    /// (the process, then its process group), and on a busy machine the
    /// second signal can come after the cancelled request has ended, landing
    /// on the next one. So a cancel error within [`STRAY_WINDOW`] of one of
    /// our cancels is not taken as the user's (or an administrator's).
    fn stray_cancel(&self, err: &tokio_postgres::Error) -> bool {
        err.code() == Some(&SqlState::QUERY_CANCELED)
            && self
                .cancelled_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some_and(|at| at.elapsed() < STRAY_WINDOW)
    }

    /// Ends a take whose caller went away, so that nothing stays held or
    /// queued for it: cancels the request and waits for its answer. A
    /// cancel request is taken by the server some time after it is sent,
    /// and lands on whatever the backend runs then, or is ignored if it is
    /// idle. So the session is kept only if the request ended with the
    /// cancel's error (the cancel was spent on it); then a session lock
    /// granted just before the cancel landed (it outlives the statement's
    /// error) is given back. In every other case (the request was granted or
    /// failed first, it did not end promptly, the cancel could not be sent)
    /// the session is closed, which ends the request and releases the lock.
    async fn withdraw<Q>(&self, target: &Target, mode: Mode, query: Pin<&mut Q>)
    where
        Q: std::future::Future<
            Output = std::result::Result<Vec<SimpleQueryMessage>, tokio_postgres::Error>,
        >,
    {
        *self
            .cancelled_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(std::time::Instant::now());
        if let Err(cause) = self.send_cancel().await {
            return self.close(cause);
        }
        match tokio::time::timeout(CANCEL_WAIT, query).await {
            Ok(Err(err)) if err.code() == Some(&SqlState::QUERY_CANCELED) => {}
            Ok(_) => return self.close("a lock request ended before its cancel".into()),
            Err(_) => return self.close("a cancelled lock request did not end".into()),
        }
        let (suffix, lock_mode) = match mode {
            Mode::Exclusive => ("", "ExclusiveLock"),
            Mode::Shared => ("_shared", "ShareLock"),
        };
        let sql = format!(
            "SELECT pg_advisory_unlock{suffix}({}) FROM pg_locks \
             WHERE {} AND pid = pg_backend_pid() AND granted AND mode = '{lock_mode}'",
            target.key.sql_args(),
            target.key.pg_locks_condition(),
        );
        for _ in 0..2 {
            match tokio::time::timeout(CANCEL_WAIT, self.client.simple_query(&sql)).await {
                Ok(Ok(_)) => return,
                // The cancel's second signal: once more.
                Ok(Err(err)) if self.stray_cancel(&err) => continue,
                Ok(Err(err)) => return self.close(describe(&err)),
                Err(_) => return self.close("the server did not answer after a cancel".into()),
            }
        }
        self.close("the give-back after a cancel was cancelled twice".into());
    }

    /// Sends a cancel request for the query the session runs now.
    #[cfg(unix)]
    async fn send_cancel(&self) -> std::result::Result<(), String> {
        socket::cancel(&self.peer, &self.cancel, CANCEL_WAIT).await
    }

    #[cfg(not(unix))]
    async fn send_cancel(&self) -> std::result::Result<(), String> {
        match tokio::time::timeout(CANCEL_WAIT, self.cancel.cancel_query(NoTls)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(describe(&err)),
            Err(_) => Err("a cancel request could not be sent".into()),
        }
    }

    /// Gives the key's lock in `mode` back to the server. If that fails or
    /// is not answered within the heartbeat timeout, the
    /// session is closed, which releases the lock too.
    pub(crate) async fn give_back(&self, target: &Target, mode: Mode) -> Result<()> {
        if let Some(cause) = self.ended() {
            return Err(target.lost("held", cause));
        }
        let suffix = match mode {
            Mode::Exclusive => "",
            Mode::Shared => "_shared",
        };
        let sql = format!(
            "SELECT pg_advisory_unlock{suffix}({})",
            target.key.sql_args()
        );
        let wait = target.heartbeat().timeout;
        let Ok(answer) = tokio::time::timeout(wait, self.client.simple_query(&sql)).await else {
            let cause = format!("the server did not answer the unlock within {wait:?}");
            self.close(cause.clone());
            return Err(Error::server(
                ErrorKind::Server,
                &target.name,
                "unlock",
                format!("{cause}; the connection was closed, which releases the lock"),
                None,
            ));
        };
        match answer {
            Ok(messages) if first_value(&messages) == Some("t") => Ok(()),
            Ok(_) => {
                // Someone released it on the session behind the lock's back
                // (`pg_advisory_unlock_all()` through the guard's session).
                self.close("the session no longer held the lock".into());
                Err(target.lost("held", "the session no longer held the lock".into()))
            }
            Err(err) => {
                let cause = describe(&err);
                self.close(cause.clone());
                Err(Error::server(
                    ErrorKind::Server,
                    &target.name,
                    "unlock",
                    format!("{cause}; the connection was closed, which releases the lock"),
                    Some(Box::new(err)),
                ))
            }
        }
    }

    pub(crate) fn lost_error(&self, target: &Target) -> Option<Error> {
        self.ended().map(|cause| target.lost("held", cause))
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ended", &self.ended())
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close("the lock object was dropped".into());
    }
}

/// User work on a session under way (see [`Session::busy`]).
pub(crate) struct Busy<'a>(&'a Session, runtime::Work);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The heartbeat of a session while it holds a lock: a `SELECT 1` every
/// interval, skipped while the user's work runs on the session (its answer
/// would queue behind it). No answer in time, or an error, closes the
/// session and so marks its locks lost. Paused while nothing is held.
async fn beat(session: Weak<Session>, mut holding: watch::Receiver<bool>, heartbeat: Heartbeat) {
    loop {
        if holding.wait_for(|held| *held).await.is_err() {
            return;
        }
        tokio::time::sleep(heartbeat.interval).await;
        if !*holding.borrow() {
            continue;
        }
        let Some(session) = session.upgrade() else {
            return;
        };
        if session.busy.load(Ordering::SeqCst) > 0 {
            continue;
        }
        let _work = runtime::work();
        match tokio::time::timeout(heartbeat.timeout, session.client.simple_query("SELECT 1")).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(err)) if session.stray_cancel(&err) => {}
            Ok(Err(err)) => return session.close(describe(&err)),
            Err(_) => {
                return session.close(format!(
                    "the server did not answer a heartbeat within {:?}",
                    heartbeat.timeout
                ))
            }
        }
    }
}

/// The first column of the first row of a simple query's answer.
fn first_value(messages: &[SimpleQueryMessage]) -> Option<&str> {
    messages.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    })
}
