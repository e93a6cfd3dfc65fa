//! [`RedisServer`]: a real `redis-server` of the test's own, on a free
//! loopback port, without persistence, killed when dropped.
//!
//! Tests that need Redis start one with [`RedisServer::start_or_skip`]: where
//! `redis-server` is not installed the test is skipped (it says so on
//! stderr), except under `CI=true`, where a missing server fails the run
//! with a message saying what to install.
//!
//! ```no_run
//! use girder_test::RedisServer;
//!
//! let Some(mut redis) = RedisServer::start_or_skip("doc example") else { return };
//! let url = redis.url(); // redis://127.0.0.1:<port>/0
//! # let _ = url;
//! redis.stop(); // an outage...
//! redis.restart().expect("redis-server restarts on the same port"); // ...and the way back
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server has to answer PING: redis-server starts in
/// milliseconds; a loaded CI machine gets the rest.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two PINGs while the server starts.
const POLL: Duration = Duration::from_millis(5);

/// A `redis-server` process of the test's own; see the [module docs](self).
///
/// It listens on `127.0.0.1` only, saves nothing (`--save ""`,
/// `--appendonly no`) and is killed when the value is dropped.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

/// Why a [`RedisServer`] did not start.
#[derive(Debug)]
pub enum RedisServerError {
    /// `redis-server` is not on the `PATH`.
    NotInstalled,
    /// It could not be spawned, or exited, or did not answer PING in time.
    Start(String),
}

impl fmt::Display for RedisServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisServerError::NotInstalled => f.write_str(
                "redis-server is not installed (Debian: apt-get install -y redis-server)",
            ),
            RedisServerError::Start(why) => write!(f, "redis-server did not start: {why}"),
        }
    }
}

impl std::error::Error for RedisServerError {}

impl RedisServer {
    /// Starts a server on a free loopback port and waits (at most 10 s)
    /// until it answers PING.
    pub fn start() -> Result<Self, RedisServerError> {
        // A port found free may be taken before redis-server binds it:
        // try a few.
        let mut last = None;
        for _ in 0..3 {
            let port = free_port().map_err(|e| RedisServerError::Start(e.to_string()))?;
            let mut server = RedisServer { port, child: None };
            match server.restart() {
                Ok(()) => return Ok(server),
                Err(RedisServerError::NotInstalled) => return Err(RedisServerError::NotInstalled),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| RedisServerError::Start("no free port".into())))
    }

    /// A started server, or `None` when `redis-server` is not installed and
    /// the test should be skipped: it prints `skipped: <test>: ...` to
    /// stderr.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed and `CI` is `true` (CI must
    /// run these tests), or when it is installed but does not start.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        match RedisServer::start() {
            Ok(server) => Some(server),
            Err(RedisServerError::NotInstalled) if !crate::in_ci() => {
                eprintln!("skipped: {test}: {}", RedisServerError::NotInstalled);
                None
            }
            Err(RedisServerError::NotInstalled) => panic!(
                "{test}: {} and CI=true: .ci/run installs it before the tests",
                RedisServerError::NotInstalled
            ),
            Err(error) => panic!("{test}: {error}"),
        }
    }

    /// The port it listens on (the same across [`stop`](Self::stop) and
    /// [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Whether the process is running (it was not [stopped](Self::stop)).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server and waits for it to exit: an outage. Its data is
    /// gone (nothing is saved). Does nothing if it is stopped already.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process dies of SIGKILL all the same.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Suspends the process (`SIGSTOP`): it keeps its connections and its
    /// data but answers nothing, as a server stuck in a long command or a
    /// partitioned network would. [`thaw`](Self::thaw) resumes it.
    pub fn freeze(&self) -> io::Result<()> {
        self.signal("-STOP")
    }

    /// Resumes a [frozen](Self::freeze) server.
    pub fn thaw(&self) -> io::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> io::Result<()> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| io::Error::other("redis-server is stopped"))?;
        // The shell's own `kill`: no procps needed.
        let status = Command::new("sh")
            .args(["-c", "kill \"$0\" \"$1\"", signal, &child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill {signal}: {status}")))
        }
    }

    /// Starts the server again on the same port (stopping it first if it
    /// runs) and waits until it answers PING.
    pub fn restart(&mut self) -> Result<(), RedisServerError> {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| match error.kind() {
                io::ErrorKind::NotFound => RedisServerError::NotInstalled,
                _ => RedisServerError::Start(format!("spawn: {error}")),
            })?;
        // Held from here, so that every way out below kills it.
        self.child = Some(child);
        // A real process starts on the wall clock, whatever tokio's says.
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        loop {
            if ping(self.addr()).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(RedisServerError::Start(format!(
                    "it exited with {status} (port {} taken?)",
                    self.port
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                self.stop();
                return Err(RedisServerError::Start(format!(
                    "no answer to PING on port {} within {START_TIMEOUT:?}",
                    self.port
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// One inline PING, answered `+PONG`.
fn ping(addr: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    if &reply == b"+PONG\r\n" {
        Ok(())
    } else {
        // "-LOADING ..." while a server starts, for example.
        Err(io::Error::other("not ready"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The helper's contract: PING answered after start, refused after
    /// stop, answered again on the same port after restart.
    #[test]
    fn starts_stops_and_restarts_on_the_same_port() {
        let Some(mut server) = RedisServer::start_or_skip("girder-test redis helper") else {
            return;
        };
        let port = server.port();
        assert!(ping(server.addr()).is_ok());
        assert_eq!(server.url(), format!("redis://127.0.0.1:{port}/0"));
        server.stop();
        assert!(!server.is_running());
        assert!(ping(server.addr()).is_err());
        server.restart().expect("restart");
        assert_eq!(server.port(), port);
        assert!(ping(server.addr()).is_ok());
        server.freeze().expect("freeze");
        assert!(
            ping(server.addr()).is_err(),
            "a frozen server answers nothing"
        );
        server.thaw().expect("thaw");
        assert!(ping(server.addr()).is_ok());
        let addr = server.addr();
        drop(server);
        assert!(ping(addr).is_err(), "killed on drop");
    }
}
