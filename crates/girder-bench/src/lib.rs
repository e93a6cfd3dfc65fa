//! girder's load benchmark: what the whole stack costs next to the bare
//! hyper-util client it is built on and the reqwest-middleware stack users
//! would pick instead, on loopback, in one run on one machine.
//!
//! Five binaries:
//!
//! - `girder-bench-server`: a hyper HTTP/1.1 server (keep-alive, a
//!   209-byte JSON body) pinned to one CPU, on a single-threaded runtime;
//! - `girder-bench`: the driver. It starts the server as a child process,
//!   pins itself to another CPU, runs every client on one single-threaded
//!   runtime (so a client's CPU time is the process's), round-robin within
//!   each repetition, and prints markdown tables of medians and paired
//!   ratios to the bare client;
//! - `girder-bench-memory`: the same clients under a counting global
//!   allocator, measuring heap bytes held per in-flight request and
//!   allocations per call (a separate process, so the counting costs
//!   nothing in the timed runs);
//! - `girder-soak`: the chaos soak ([`soak`]): the whole `Client` against
//!   a loopback server that resets, stalls, throttles and cuts, with its
//!   checks (nothing hung, duplicated, leaked or held; retries within the
//!   budget; heap flat).
//! - `girder-bench-stream`: a 1 GiB download through the whole `Client`
//!   and `Response::bytes_stream`, reporting peak resident memory
//!   ([`stream`]).
//!
//! ```text
//! cargo run --release -p girder-bench -- --requests 50000 --reps 5
//! ```
//!
//! See BENCHMARKS.md at the workspace root for the results and the method.
//!
//! Every process sets the same global `tracing` subscriber
//! ([`discarding_subscriber`]): a `fmt` layer writing to `io::sink` at
//! INFO, so girder's and reqwest-tracing's spans and events are enabled
//! and formatted, and the output is dropped.

pub mod clients;
pub mod measure;
pub mod memory;
pub mod report;
pub mod server;
pub mod soak;
pub mod stream;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The error type of the bench.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Pins the calling thread (and so the threads it starts later) to CPU
/// `cpu`. Returns false when the machine has no such CPU or the OS
/// refuses.
pub fn pin_to_cpu(cpu: usize) -> bool {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .find(|core| core.id == cpu)
        .is_some_and(core_affinity::set_for_current)
}

/// Installs the global subscriber every bench process uses: a `fmt`
/// layer (full format, no colours) writing to `io::sink`, enabled at INFO
/// and above. Events are formatted and thrown away.
pub fn discarding_subscriber() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;

    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::io::sink),
        )
        .with(Targets::new().with_default(tracing::Level::INFO));
    // A second call (tests in one process) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The server, as a child process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `exe` (the `girder-bench-server` binary) on a free loopback
    /// port, pinned to `cpu` when given, and waits for its address.
    pub fn start(exe: &Path, cpu: Option<usize>) -> Result<ServerProcess, BoxError> {
        let mut command = Command::new(exe);
        command
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped());
        if let Some(cpu) = cpu {
            command.args(["--cpu", &cpu.to_string()]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("the server's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(ServerProcess { child, addr }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("the server said {line:?}, not its address").into())
            }
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a sibling binary of the running one (the server next to
/// the driver in `target/release`).
pub fn sibling_binary(name: &str) -> Result<std::path::PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("the binary's directory")?;
    Ok(dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}
