//! `girder-bench-server --addr 127.0.0.1:0 [--cpu N]`: the benchmark's
//! origin (see `girder_bench::server`). Prints `listening <addr>` on its
//! first line once it accepts connections.

use std::io::Write as _;

use girder_bench::{BoxError, pin_to_cpu, server};

fn main() -> Result<(), BoxError> {
    let mut addr = "127.0.0.1:0".to_owned();
    let mut cpu = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--addr" => addr = value,
            "--cpu" => cpu = Some(value.parse::<usize>()?),
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }
    if let Some(cpu) = cpu
        && !pin_to_cpu(cpu)
    {
        return Err(format!("cannot pin the server to CPU {cpu}").into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening {}", listener.local_addr()?)?;
        stdout.flush()?;
        server::serve(listener).await?;
        Ok(())
    })
}
