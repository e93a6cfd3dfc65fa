//! `girder-bench-stream [--bytes N] [--timeout-secs S]`: downloads a
//! generated body of N bytes (default 1 GiB) from a loopback hyper server
//! in this process through a default `girder::Client` and
//! `Response::bytes_stream`, then prints the bytes read, the time, and the
//! process's peak resident memory (`VmHWM`) before and after. Run it in
//! release: `cargo run --release -p girder-bench --bin girder-bench-stream`.

use std::time::Duration;

use girder_bench::stream::{download, proc_status_kib};
use girder_bench::{BoxError, discarding_subscriber};

fn main() -> Result<(), BoxError> {
    let mut bytes: u64 = 1 << 30;
    let mut timeout = Duration::from_secs(300);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--bytes" => bytes = value.parse()?,
            "--timeout-secs" => timeout = Duration::from_secs(value.parse()?),
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }
    discarding_subscriber();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let before = proc_status_kib("VmHWM");
    let read = runtime.block_on(download(bytes, timeout))?;
    let peak = proc_status_kib("VmHWM");
    if read.bytes != bytes {
        return Err(format!("read {} of {bytes} bytes", read.bytes).into());
    }
    let secs = read.elapsed.as_secs_f64();
    println!(
        "body          {} bytes ({:.0} MiB)",
        read.bytes,
        read.bytes as f64 / 1048576.0
    );
    println!(
        "pieces        {} (largest {} bytes)",
        read.pieces, read.largest
    );
    println!(
        "time          {secs:.2} s ({:.0} MiB/s)",
        read.bytes as f64 / 1048576.0 / secs
    );
    let mib = |kib: Option<u64>| {
        kib.map_or("unknown".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    println!("VmHWM before  {}", mib(before));
    println!("VmHWM after   {}", mib(peak));
    Ok(())
}
