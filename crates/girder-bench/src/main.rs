//! `girder-bench`: the load benchmark's driver. See the crate docs and
//! BENCHMARKS.md; `--help` lists the flags.

use std::process::Command;

use girder_bench::clients::Kind;
use girder_bench::measure::{Plan, run_plan};
use girder_bench::{
    BoxError, ServerProcess, discarding_subscriber, pin_to_cpu, report, sibling_binary,
};

const HELP: &str = "\
girder-bench [flags]: girder's client against the bare hyper-util client and
the reqwest-middleware stack, on loopback; prints markdown tables.

  --requests N       requests per run (default 50000)
  --reps N           repetitions, clients round-robin in each (default 5)
  --concurrency L    comma-separated concurrency levels (default 1,32)
  --warmup N         requests per client and level before measuring (default 2000)
  --clients L        comma-separated: bare,girder,girder-quiet,girder-cached,reqwest
                     (default all; the first is the baseline of the ratios)
  --server-cpu N     the server's CPU (default 0)
  --client-cpu N     the driver's CPU (default 1)
  --no-pin           pin nothing
  --inflight N       requests in flight for the memory table, 0 skips it (default 1000)
  --calls N          sequential calls for the allocation counts (default 10000)
";

fn main() -> Result<(), BoxError> {
    let mut plan = Plan {
        requests: 50_000,
        reps: 5,
        concurrency: vec![1, 32],
        clients: Kind::ALL.to_vec(),
        warmup: 2_000,
    };
    let (mut server_cpu, mut client_cpu) = (Some(0), Some(1));
    let (mut inflight, mut calls) = (1_000usize, 10_000usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            print!("{HELP}");
            return Ok(());
        }
        if arg == "--no-pin" {
            (server_cpu, client_cpu) = (None, None);
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--requests" => plan.requests = value.parse()?,
            "--reps" => plan.reps = value.parse()?,
            "--warmup" => plan.warmup = value.parse()?,
            "--concurrency" => {
                plan.concurrency = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--clients" => {
                plan.clients = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--server-cpu" => server_cpu = Some(value.parse()?),
            "--client-cpu" => client_cpu = Some(value.parse()?),
            "--inflight" => inflight = value.parse()?,
            "--calls" => calls = value.parse()?,
            _ => return Err(format!("unknown argument {arg}; see --help").into()),
        }
    }
    if plan.requests == 0 || plan.reps == 0 || plan.clients.is_empty() {
        return Err("--requests, --reps and --clients must not be empty".into());
    }
    if plan.concurrency.contains(&0) {
        return Err("a concurrency of 0 sends nothing".into());
    }
    let baseline = plan.clients[0];

    let server = ServerProcess::start(&sibling_binary("girder-bench-server")?, server_cpu)?;
    if let Some(cpu) = client_cpu
        && !pin_to_cpu(cpu)
    {
        return Err(format!("cannot pin the driver to CPU {cpu}").into());
    }
    discarding_subscriber();
    eprintln!(
        "server {} on CPU {server_cpu:?}, clients on CPU {client_cpu:?}",
        server.addr()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let runs = runtime.block_on(run_plan(server.addr(), &plan, |run| {
        eprintln!(
            "c={:<4} rep={} {:<14} {:>9.0} req/s  p50 {:>7.1} µs  p99 {:>7.1} µs  cpu {:>6.2} µs/req",
            run.concurrency,
            run.rep,
            run.kind.name(),
            run.throughput(),
            run.latency_us(0.5),
            run.latency_us(0.99),
            run.cpu_per_request_us()
        );
    }))?;
    println!("{}", report::markdown(&runs, &plan.clients, baseline));

    if inflight > 0 {
        let names: Vec<&str> = plan.clients.iter().map(|k| k.name()).collect();
        let mut command = Command::new(sibling_binary("girder-bench-memory")?);
        command.args([
            "--addr",
            &server.addr().to_string(),
            "--inflight",
            &inflight.to_string(),
            "--calls",
            &calls.to_string(),
            "--clients",
            &names.join(","),
        ]);
        if let Some(cpu) = client_cpu {
            command.args(["--cpu", &cpu.to_string()]);
        }
        let output = command.output()?;
        if !output.status.success() {
            return Err(format!(
                "girder-bench-memory failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        println!(
            "\nMemory ({inflight} requests in flight; {calls} sequential calls), from a \
             counting allocator in a separate process:\n"
        );
        println!(
            "| client | heap per in-flight request | allocations per call | bytes allocated per call |"
        );
        println!("|---|---:|---:|---:|");
        for line in String::from_utf8(output.stdout)?.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [name, held, allocs, bytes] = fields[..] else {
                return Err(format!("girder-bench-memory printed {line:?}").into());
            };
            let kind: Kind = name.parse()?;
            let held = if held == "-" {
                "- (nothing in flight)".to_owned()
            } else {
                format!("{:.1} KiB", held.parse::<f64>()? / 1024.0)
            };
            println!("| {} | {held} | {allocs} | {bytes} |", kind.label());
        }
    }
    Ok(())
}
