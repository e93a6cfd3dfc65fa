//! [`ProxyServer`]: a real forward proxy of the test's own (tinyproxy), on a
//! free loopback port, killed when dropped.
//!
//! Tests of a client's proxy support start one with
//! [`ProxyServer::start_or_skip`]: where `tinyproxy` is not installed the
//! test is skipped (it says so on stderr), except under `CI=true`, where a
//! missing proxy fails the run with a message saying what to install.
//!
//! The proxy forwards `http://` requests in absolute form (adding a
//! `Via: 1.1 <host> (tinyproxy/<version>)` header that the origin sees)
//! and opens `CONNECT` tunnels for `https://` ones. [`ProxyConfig`] asks
//! for Basic credentials or restricts the ports a tunnel may reach.
//! [`requests`](ProxyServer::requests) lists the request lines the proxy
//! received, so a test can prove what went through it.
//!
//! ```no_run
//! use girder_test::proxy::{ProxyConfig, ProxyServer};
//!
//! let config = ProxyConfig::new().basic_auth("alice", "s3cret");
//! let Some(proxy) = ProxyServer::start_or_skip_with("doc example", &config) else { return };
//! let url = proxy.url(); // http://127.0.0.1:<port>
//! // ... send requests through `url` ...
//! for line in proxy.requests() {
//!     println!("{line}"); // "GET http://127.0.0.1:4000/ HTTP/1.1", "CONNECT 127.0.0.1:4443 HTTP/1.1"
//! }
//! # let _ = url;
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a starting proxy has to accept a connection: tinyproxy starts
/// in milliseconds; a loaded CI machine gets the rest.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two connection attempts while it starts.
const POLL: Duration = Duration::from_millis(5);

/// What a [`ProxyServer`] asks of its clients.
///
/// Default: no credentials, tunnels to any port.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    basic_auth: Option<(String, String)>,
    connect_ports: Vec<u16>,
}

impl ProxyConfig {
    /// A proxy that asks for nothing.
    pub fn new() -> Self {
        ProxyConfig::default()
    }

    /// Asks every client for these Basic credentials (tinyproxy's
    /// `BasicAuth`): without them, or with others, a forwarded request gets
    /// `407 Proxy Authentication Required` and a `CONNECT` gets
    /// `401 Unauthorized` (tinyproxy answers tunnels so). Neither may hold
    /// whitespace or `"`.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Opens `CONNECT` tunnels to `port` only (tinyproxy's `ConnectPort`,
    /// which may be given several times); a tunnel to any other port gets
    /// `403 Access violation`.
    pub fn connect_port(mut self, port: u16) -> Self {
        self.connect_ports.push(port);
        self
    }

    /// tinyproxy's configuration file for `port`.
    fn file(&self, port: u16) -> Result<String, ProxyServerError> {
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\n\
             LogLevel Connect\nDisableViaHeader No\n"
        );
        if let Some((user, password)) = &self.basic_auth {
            let bad = |s: &str| s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"');
            if bad(user) || bad(password) {
                return Err(ProxyServerError::Start(
                    "basic_auth: the user and the password must be non-empty words".into(),
                ));
            }
            conf.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        for port in &self.connect_ports {
            conf.push_str(&format!("ConnectPort {port}\n"));
        }
        Ok(conf)
    }
}

/// A `tinyproxy` process of the test's own; see the [module docs](self).
///
/// It listens on `127.0.0.1` only, runs in the foreground with its
/// configuration and log in a temporary directory of its own, and is
/// killed (and the directory removed) when the value is dropped.
pub struct ProxyServer {
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Why a [`ProxyServer`] did not start.
#[derive(Debug)]
pub enum ProxyServerError {
    /// `tinyproxy` is not on the `PATH`.
    NotInstalled,
    /// It could not be configured or spawned, or exited, or did not accept
    /// a connection in time.
    Start(String),
}

impl fmt::Display for ProxyServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyServerError::NotInstalled => {
                f.write_str("tinyproxy is not installed (Debian: apt-get install -y tinyproxy)")
            }
            ProxyServerError::Start(why) => write!(f, "tinyproxy did not start: {why}"),
        }
    }
}

impl std::error::Error for ProxyServerError {}

impl ProxyServer {
    /// Starts a proxy that asks for nothing; see [`start_with`](Self::start_with).
    pub fn start() -> Result<Self, ProxyServerError> {
        ProxyServer::start_with(&ProxyConfig::new())
    }

    /// Starts a proxy configured by `config` on a free loopback port and
    /// waits (at most 10 s) until it accepts a connection.
    pub fn start_with(config: &ProxyConfig) -> Result<Self, ProxyServerError> {
        // A port found free may be taken before tinyproxy binds it: try a few.
        let mut last = None;
        for _ in 0..3 {
            match ProxyServer::spawn(config) {
                Ok(server) => return Ok(server),
                Err(ProxyServerError::NotInstalled) => return Err(ProxyServerError::NotInstalled),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| ProxyServerError::Start("no free port".into())))
    }

    /// A started proxy that asks for nothing, or `None` when `tinyproxy`
    /// is not installed and the test should be skipped: it prints
    /// `skipped: <test>: ...` to stderr.
    ///
    /// # Panics
    ///
    /// When `tinyproxy` is not installed and `CI` is `true` (CI must run
    /// these tests), or when it is installed but does not start.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        ProxyServer::start_or_skip_with(test, &ProxyConfig::new())
    }

    /// [`start_or_skip`](Self::start_or_skip) with `config`.
    ///
    /// # Panics
    ///
    /// As [`start_or_skip`](Self::start_or_skip).
    pub fn start_or_skip_with(test: &str, config: &ProxyConfig) -> Option<Self> {
        match ProxyServer::start_with(config) {
            Ok(server) => Some(server),
            Err(ProxyServerError::NotInstalled) if !crate::in_ci() => {
                eprintln!("skipped: {test}: {}", ProxyServerError::NotInstalled);
                None
            }
            Err(ProxyServerError::NotInstalled) => panic!(
                "{test}: {} and CI=true: .ci/run installs it before the tests",
                ProxyServerError::NotInstalled
            ),
            Err(error) => panic!("{test}: {error}"),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `http://127.0.0.1:<port>`: the proxy's URL for a client.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines the proxy has received so far, in order, from
    /// its log: `GET http://127.0.0.1:4000/path HTTP/1.1` for a forwarded
    /// request, `CONNECT 127.0.0.1:4443 HTTP/1.1` for a tunnel. Requests it
    /// refused (wrong credentials, a port not allowed) are listed too.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.split_once("]: Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): "))
            .map(|(_, request)| request.to_owned())
            .collect()
    }

    /// Everything tinyproxy has logged so far (level `Connect`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }

    fn spawn(config: &ProxyConfig) -> Result<Self, ProxyServerError> {
        let start = |e: io::Error| ProxyServerError::Start(e.to_string());
        let port = free_port().map_err(start)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "girder-test-tinyproxy-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).map_err(start)?;
        let cleanup = |error| {
            let _ = fs::remove_dir_all(&dir);
            error
        };
        let conf = dir.join("tinyproxy.conf");
        fs::write(&conf, config.file(port).map_err(cleanup)?).map_err(|e| cleanup(start(e)))?;
        // In the foreground (-d) tinyproxy logs to its standard output.
        let log = File::create(dir.join("tinyproxy.log")).map_err(|e| cleanup(start(e)))?;
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                cleanup(match error.kind() {
                    io::ErrorKind::NotFound => ProxyServerError::NotInstalled,
                    _ => ProxyServerError::Start(format!("spawn: {error}")),
                })
            })?;
        // Held from here, so that every way out below kills it.
        let mut server = ProxyServer { port, child, dir };
        // A real process starts on the wall clock, whatever tokio's says.
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&server.addr(), Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = server.log();
                return Err(ProxyServerError::Start(format!(
                    "it exited with {status} (port {port} taken?): {}",
                    log.lines().last().unwrap_or("no log")
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(ProxyServerError::Start(format!(
                    "it did not accept on port {port} within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// Sends `request` to the proxy and returns its status line.
    fn status_line(proxy: &ProxyServer, request: &str) -> String {
        let mut stream = TcpStream::connect(proxy.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n") && stream.read(&mut byte).unwrap() == 1 {
            answer.push(byte[0]);
        }
        String::from_utf8_lossy(&answer).trim_end().to_owned()
    }

    /// The helper's contract: it accepts once started, logs the request
    /// lines it receives, enforces its configuration, and is gone (port
    /// closed, directory removed) once dropped.
    #[test]
    fn starts_logs_requests_enforces_its_config_and_dies_on_drop() {
        let config = ProxyConfig::new()
            .basic_auth("alice", "s3cret")
            .connect_port(1);
        let Some(proxy) = ProxyServer::start_or_skip_with("girder-test proxy helper", &config)
        else {
            return;
        };
        assert_eq!(proxy.url(), format!("http://127.0.0.1:{}", proxy.port()));
        let no_auth = status_line(
            &proxy,
            "GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        );
        assert!(no_auth.contains(" 407 "), "{no_auth}");
        // alice:s3cret, to a port ConnectPort does not allow.
        let forbidden = status_line(
            &proxy,
            "CONNECT 127.0.0.1:2 HTTP/1.1\r\nHost: 127.0.0.1:2\r\n\
             Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n",
        );
        assert!(forbidden.contains(" 403 "), "{forbidden}");
        assert_eq!(
            proxy.requests(),
            [
                "GET http://127.0.0.1:1/ HTTP/1.1",
                "CONNECT 127.0.0.1:2 HTTP/1.1"
            ]
        );
        let (addr, dir) = (proxy.addr(), proxy.dir.clone());
        assert!(dir.join("tinyproxy.conf").exists());
        drop(proxy);
        assert!(TcpStream::connect(addr).is_err(), "killed on drop");
        assert!(!dir.exists(), "its directory is removed");
    }

    #[test]
    fn credentials_that_do_not_fit_the_config_file_are_refused() {
        let err = ProxyConfig::new()
            .basic_auth("alice", "two words")
            .file(1)
            .unwrap_err();
        assert!(err.to_string().contains("non-empty words"), "{err}");
    }
}
