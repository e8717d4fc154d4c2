//! The socket of a session, and the connect that makes it.
//!
//! tokio's own sockets stay with the runtime they were made in: only that
//! runtime's thread hears that an answer arrived. A session's socket instead
//! follows whoever polls it: it registers with the runtime of the poll (the
//! one [`io_home`] names, else the current one), moving its registration
//! when that changes. So an async lock call that drives the connection from
//! its own task, on a runtime of its own with I/O enabled, hears the server
//! itself, as a query of tokio-postgres made on that runtime would; between
//! calls the backend's runtime takes the socket back when it polls it.
//!
//! Because the socket is the crate's, the connect is too: the hosts,
//! addresses and ports of the configuration, its connect timeout, TCP
//! keepalives and user timeout, and `target_session_attrs`, as
//! tokio-postgres applies them; then tokio-postgres' handshake on the socket.

use std::cell::RefCell;
use std::future::poll_fn;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::{Handle, Id};
use tokio_postgres::config::{Host, LoadBalanceHosts, TargetSessionAttrs};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{CancelToken, Client, Config, Connection, NoTls, SimpleQueryMessage};

thread_local! {
    /// The runtime whose reactor a socket polled on this thread registers
    /// with, while [`io_home`] says so.
    static IO_HOME: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Runs `f` with the sockets it polls registering with `home`'s reactor.
pub(crate) fn io_home<R>(home: &Handle, f: impl FnOnce() -> R) -> R {
    let previous = IO_HOME.with(|cell| cell.borrow_mut().replace(home.clone()));
    struct Restore(Option<Handle>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            IO_HOME.with(|cell| *cell.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Where a session's socket is connected: for its cancel requests, which
/// the server takes on a connection of their own.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug)]
enum Stream {
    Tcp(std::net::TcpStream),
    Unix(UnixStream),
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(stream) => stream.as_raw_fd(),
            Stream::Unix(stream) => stream.as_raw_fd(),
        }
    }
}

impl Stream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => (&*stream).read(buf),
            Stream::Unix(stream) => (&*stream).read(buf),
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => (&*stream).write(buf),
            Stream::Unix(stream) => (&*stream).write(buf),
        }
    }

    fn shutdown(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(Shutdown::Write),
            Stream::Unix(stream) => stream.shutdown(Shutdown::Write),
        }
    }
}

/// A non-blocking socket registered with the reactor of whichever runtime
/// polls it (see the module docs).
#[derive(Debug)]
pub(crate) struct Socket {
    /// `None` only if a move of the registration failed: the socket is gone.
    io: Option<AsyncFd<Stream>>,
    runtime: Id,
    /// Registered since the last read: the reactor has not reported it yet,
    /// so a read is tried before waiting for readiness.
    fresh: bool,
}

impl Socket {
    /// The socket, registered with the runtime this poll runs for.
    fn registered(&mut self) -> io::Result<&AsyncFd<Stream>> {
        let home = IO_HOME
            .with(|cell| cell.borrow().clone())
            .or_else(|| Handle::try_current().ok())
            .ok_or_else(|| io::Error::other("a session's socket was polled outside a runtime"))?;
        if home.id() != self.runtime {
            let Some(io) = self.io.take() else {
                return Err(gone());
            };
            let stream = io.into_inner();
            let _context = home.enter();
            self.io = Some(register(stream)?);
            self.runtime = home.id();
            self.fresh = true;
        }
        self.io.as_ref().ok_or_else(gone)
    }
}

/// Registers `stream` with the current runtime's reactor.
fn register(stream: Stream) -> io::Result<AsyncFd<Stream>> {
    // SAFETY: the stream owns its descriptor, which stays open and the same
    // until the `AsyncFd` gives the stream back or drops it.
    unsafe { AsyncFd::register(stream) }.map_err(io::Error::from)
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the session's socket could not move to another runtime",
    )
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let fresh = std::mem::take(&mut this.fresh);
        let io = this.registered()?;
        if fresh {
            match io.get_ref().read(buf.initialize_unfilled()) {
                Ok(read) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        loop {
            let mut ready = ready!(io.poll_read_ready(cx))?;
            match ready.try_io(|io| io.get_ref().read(buf.initialize_unfilled())) {
                Ok(Ok(read)) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let io = self.get_mut().registered()?;
        // A connected socket is nearly always writable: try first.
        match io.get_ref().write(buf) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            written => return Poll::Ready(written),
        }
        loop {
            let mut ready = ready!(io.poll_write_ready(cx))?;
            match ready.try_io(|io| io.get_ref().write(buf)) {
                Ok(written) => return Poll::Ready(written),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let io = self.get_mut().registered()?;
        Poll::Ready(io.get_ref().shutdown())
    }
}

/// Why a connect failed.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    /// The client library's: the handshake, authentication, the server.
    Postgres(tokio_postgres::Error),
    /// The socket's, at `peer` (or before any, with none).
    Io(io::Error, Option<Peer>),
}

/// A connection made: the client, its connection (to be polled), and where.
pub(crate) struct Connected {
    pub(crate) client: Client,
    pub(crate) connection: Connection<Socket, NoTlsStream>,
    pub(crate) peer: Peer,
}

/// Connects to the first host of `config` that answers (its hosts in order,
/// each address of a host name in turn), in the current runtime's context,
/// as tokio-postgres' own connect does.
pub(crate) async fn connect(config: &Config) -> Result<Connected, ConnectFailure> {
    let hosts = config.get_hosts();
    let hostaddrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let count = hosts.len().max(hostaddrs.len());
    let mut failure = ConnectFailure::Io(
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the connection string names no host",
        ),
        None,
    );
    let random = config.get_load_balance_hosts() == LoadBalanceHosts::Random;
    let mut order: Vec<usize> = (0..count).collect();
    if random {
        shuffle(&mut order);
    }
    for i in order {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let peers = match (hostaddrs.get(i), hosts.get(i)) {
            (Some(ip), _) => vec![Peer::Tcp(SocketAddr::new(*ip, port))],
            (None, Some(Host::Tcp(name))) => {
                match tokio::net::lookup_host((name.as_str(), port)).await {
                    Ok(addrs) => {
                        let mut peers: Vec<Peer> = addrs.map(Peer::Tcp).collect();
                        if random {
                            shuffle(&mut peers);
                        }
                        peers
                    }
                    Err(err) => {
                        failure = ConnectFailure::Io(err, None);
                        continue;
                    }
                }
            }
            (None, Some(Host::Unix(dir))) => {
                vec![Peer::Unix(dir.join(format!(".s.PGSQL.{port}")))]
            }
            (None, None) => continue,
        };
        for peer in peers {
            let attempt = connect_once(config, peer.clone());
            let outcome = match config.get_connect_timeout() {
                Some(timeout) => match tokio::time::timeout(*timeout, attempt).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(ConnectFailure::Io(
                        io::Error::new(io::ErrorKind::TimedOut, "connection timed out"),
                        Some(peer),
                    )),
                },
                None => attempt.await,
            };
            match outcome {
                Ok(connected) => return Ok(connected),
                Err(err) => failure = err,
            }
        }
    }
    Err(failure)
}

/// Shuffles `items` (for `load_balance_hosts=random`), seeded by the
/// process's random hash keys.
fn shuffle<T>(items: &mut [T]) {
    use std::hash::{BuildHasher, Hasher};
    let mut state = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1;
    for i in (1..items.len()).rev() {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

async fn connect_once(config: &Config, peer: Peer) -> Result<Connected, ConnectFailure> {
    let failed = |err| ConnectFailure::Io(err, Some(peer.clone()));
    let stream = open(config, &peer).await.map_err(failed)?;
    let socket = Socket {
        io: Some(register(stream).map_err(failed)?),
        runtime: Handle::current().id(),
        fresh: true,
    };
    let (client, mut connection) = config
        .connect_raw(socket, NoTls)
        .await
        .map_err(ConnectFailure::Postgres)?;
    let wanted = config.get_target_session_attrs();
    if wanted != TargetSessionAttrs::Any {
        let query = client.simple_query("SHOW transaction_read_only");
        let mut query = std::pin::pin!(query);
        let answer = poll_fn(|cx| {
            if let Poll::Ready(ended) = Pin::new(&mut connection).poll(cx) {
                let cause = ended.err().map_or_else(
                    || io::Error::other("the server closed the connection"),
                    io::Error::other,
                );
                return Poll::Ready(Err(ConnectFailure::Io(cause, Some(peer.clone()))));
            }
            query.as_mut().poll(cx).map_err(ConnectFailure::Postgres)
        })
        .await?;
        let read_only = answer.iter().any(
            |message| matches!(message, SimpleQueryMessage::Row(row) if row.get(0) == Some("on")),
        );
        if read_only != (wanted == TargetSessionAttrs::ReadOnly) {
            let why = if read_only {
                "the server does not allow writes (target_session_attrs=read-write)"
            } else {
                "the server allows writes (target_session_attrs=read-only)"
            };
            return Err(failed(io::Error::new(io::ErrorKind::PermissionDenied, why)));
        }
    }
    Ok(Connected {
        client,
        connection,
        peer,
    })
}

/// Opens a socket to `peer` with the configuration's socket options.
async fn open(config: &Config, peer: &Peer) -> io::Result<Stream> {
    match peer {
        Peer::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr).await?.into_std()?;
            rustix::net::sockopt::set_tcp_nodelay(&stream, true)?;
            if config.get_keepalives() {
                rustix::net::sockopt::set_socket_keepalive(&stream, true)?;
                rustix::net::sockopt::set_tcp_keepidle(&stream, config.get_keepalives_idle())?;
                if let Some(interval) = config.get_keepalives_interval() {
                    rustix::net::sockopt::set_tcp_keepintvl(&stream, interval)?;
                }
                if let Some(retries) = config.get_keepalives_retries() {
                    rustix::net::sockopt::set_tcp_keepcnt(&stream, retries)?;
                }
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            if let Some(timeout) = config.get_tcp_user_timeout() {
                let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
                rustix::net::sockopt::set_tcp_user_timeout(&stream, millis)?;
            }
            Ok(Stream::Tcp(stream))
        }
        Peer::Unix(path) => Ok(Stream::Unix(
            tokio::net::UnixStream::connect(path).await?.into_std()?,
        )),
    }
}

/// Sends a cancel request for the query `token`'s session runs now, on a
/// connection of its own to `peer`, within `wait`.
pub(crate) async fn cancel(peer: &Peer, token: &CancelToken, wait: Duration) -> Result<(), String> {
    let send = async {
        match peer {
            Peer::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|err| err.to_string())?;
                token.cancel_query_raw(stream, NoTls).await
            }
            Peer::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|err| err.to_string())?;
                token.cancel_query_raw(stream, NoTls).await
            }
        }
        .map_err(|err| super::session::describe(&err))
    };
    match tokio::time::timeout(wait, send).await {
        Ok(sent) => sent,
        Err(_) => Err("a cancel request could not be sent".into()),
    }
}
