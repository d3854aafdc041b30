//! `zkbench`: a load generator for ZooKeeper-protocol servers (ferrokeeper or Apache
//! ZooKeeper alike). It speaks the client protocol itself with the crate's Jute codec,
//! pipelined, so one small process can saturate a server; see bench/README.md.
//!
//! Every command prints one `JSON {...}` line (for scripts) and one line for people, and exits
//! 0 only when nothing went wrong (no error replies, no lost session).

mod failover;
mod hold;
mod ops;
mod proto;
mod report;
mod run;
mod scale;
mod tls;
mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(about = "ZooKeeper-protocol load generator")]
struct Cli {
    /// Server address (host:port; 127.0.0.1 only in the suite).
    #[arg(long, short = 'c', default_value = "127.0.0.1:2181", global = true)]
    connect: SocketAddr,
    /// Worker threads of the generator (1 = single-threaded runtime).
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    /// Session timeout asked for, in ms.
    #[arg(long, default_value_t = 30_000, global = true)]
    session_timeout: i32,
    /// Connect over TLS (a secure client port), trusting the CA certificates in this file
    /// (PEM; .jks / .p12 also read).
    #[arg(long, global = true)]
    tls_ca: Option<PathBuf>,
    /// Our certificate for servers that ask for one: a PEM chain with its key (or with
    /// --tls-key), or a .jks / .p12 key store.
    #[arg(long, global = true, requires = "tls_ca")]
    tls_cert: Option<PathBuf>,
    /// The unencrypted PEM key of --tls-cert, when not in that file.
    #[arg(long, global = true, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Password of encrypted PEM keys and of JKS / PKCS12 stores.
    #[arg(long, global = true, default_value = "")]
    tls_password: String,
    /// The name the server's certificate must carry (default: the IP address connected to).
    #[arg(long, global = true, requires = "tls_ca")]
    tls_server_name: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a workload: N sessions, W requests in flight each (or a fixed total rate).
    Run(RunArgs),
    /// Create COUNT znodes with multi batches and report the server's resident set.
    Populate(PopulateArgs),
    /// Retry until a getData is served; report the time since --t0-ns.
    WaitRead {
        #[arg(long, default_value = "/")]
        path: String,
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
        /// Epoch nanoseconds to measure from (e.g. `date +%s%N` before starting the server).
        #[arg(long)]
        t0_ns: Option<u128>,
    },
    /// Retry connect + setData(path) until one is acknowledged; report the time since --t0-ns
    /// (the ensemble suite's failover row: --t0-ns taken just before killing the leader).
    WaitWrite {
        #[arg(long, default_value = "/")]
        path: String,
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
        #[arg(long)]
        t0_ns: Option<u128>,
    },
    /// Wait for the next snapshot in DIR; report how long writing it took and its size.
    Snapwatch {
        dir: PathBuf,
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// SESSIONS sessions watch one znode; one setData; time until all have the event.
    Fanout(ManyArgs),
    /// SESSIONS sessions that only ping for DURATION; the server's RSS meanwhile.
    Idle {
        #[command(flatten)]
        many: ManyArgs,
        #[arg(long, default_value_t = 30.0)]
        duration: f64,
    },
    /// SESSIONS sessions each watch all of PATHS znodes under --path (exists and getData
    /// watches): the server's RSS per watch; then one setData and its fan-out time.
    Watchers {
        #[command(flatten)]
        many: ManyArgs,
        #[arg(long, default_value_t = 10_000)]
        paths: u64,
        /// Seconds between arming the watches and reading the server's RSS.
        #[arg(long, default_value_t = 2.0)]
        settle: f64,
    },
    /// COUNT children under one parent, then getChildren of it: time, reply size, RSS, error.
    Children {
        #[arg(long, default_value = "/kids")]
        path: String,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 3)]
        lists: u32,
        #[arg(long)]
        rss_pid: Option<u32>,
    },
    /// Creates probing sizes around jute.maxbuffer, then COUNT znodes of SIZE bytes created
    /// and read back: what the server accepts, time, RSS.
    Bignodes {
        #[arg(long, default_value = "/big")]
        prefix: String,
        #[arg(long, default_value_t = 100)]
        count: u64,
        /// Bytes per znode of the bulk phase (default 1 MiB - 1 KiB).
        #[arg(long, default_value_t = 1_047_552)]
        size: usize,
        #[arg(long)]
        rss_pid: Option<u32>,
    },
}

#[derive(Args)]
struct RunArgs {
    #[arg(long, short = 'n', default_value_t = 16)]
    sessions: usize,
    /// Outstanding requests per session.
    #[arg(long, short = 'w', default_value_t = 16)]
    window: usize,
    /// Op weights: create, setData, getData, exists, getChildren, delete, multi.
    #[arg(long, default_value = "getData=90,setData=10")]
    mix: String,
    /// Bytes per value written (create, setData, multi).
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Existing znodes the reads and updates pick from (created first).
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many ops in total instead of after --duration.
    #[arg(long)]
    ops: Option<u64>,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Fixed total offered rate in ops/s (open loop); latency counts from the intended time.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value = "/bench")]
    prefix: String,
    /// setData ops per multi.
    #[arg(long, default_value_t = 4)]
    multi_size: usize,
    /// A server process (repeat for an ensemble) whose CPU time over the measured window
    /// is reported per op (`cpu_us_per_op`).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
}

#[derive(Args)]
struct PopulateArgs {
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Creates per multi.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    #[arg(long, default_value = "/pop")]
    prefix: String,
    /// Server PID whose VmRSS is reported.
    #[arg(long)]
    rss_pid: Option<u32>,
    /// Plain creates, one txn each, instead of multi batches (a log to replay).
    #[arg(long)]
    plain: bool,
}

#[derive(Args)]
struct ManyArgs {
    #[arg(long, short = 'n', default_value_t = 10_000)]
    sessions: usize,
    /// Handshakes in flight while connecting.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    #[arg(long, default_value = "/fanout")]
    path: String,
    /// Bound on each phase (arming the watches, delivering the events), in seconds.
    #[arg(long, default_value_t = 120)]
    wait_secs: u64,
    #[arg(long)]
    rss_pid: Option<u32>,
    /// Connect from this many loopback addresses in turn (127.0.0.1 ..): one source address
    /// has about 28k ephemeral ports towards one server port.
    #[arg(long, default_value_t = 1)]
    sources: usize,
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::from_secs(1))
}

fn endpoint(cli: &Cli) -> Result<proto::Endpoint, String> {
    let tls = match &cli.tls_ca {
        None => None,
        Some(ca) => {
            let options = tls::TlsOptions {
                ca,
                cert: cli.tls_cert.as_deref(),
                key: cli.tls_key.as_deref(),
                password: &cli.tls_password,
                server_name: cli.tls_server_name.as_deref(),
            };
            Some(tls::target(&options, cli.connect)?)
        }
    };
    Ok(proto::Endpoint {
        addr: cli.connect,
        tls,
    })
}

async fn dispatch(cli: Cli) -> Result<bool, String> {
    let ep = endpoint(&cli)?;
    let to = cli.session_timeout;
    let many = |m: ManyArgs| hold::ManyCfg {
        ep: ep.clone(),
        sessions: m.sessions,
        timeout_ms: to,
        concurrency: m.concurrency,
        path: m.path,
        wait: Duration::from_secs(m.wait_secs),
        rss_pid: m.rss_pid,
        sources: m.sources.max(1),
    };
    let r = match cli.cmd {
        Cmd::Run(a) => {
            let cfg = run::RunCfg {
                ep: ep.clone(),
                sessions: a.sessions.max(1),
                window: a.window.max(1),
                mix: ops::Mix::parse(&a.mix)?,
                value_size: a.value_size,
                keys: a.keys,
                duration: secs(a.duration),
                ops: a.ops,
                warmup: secs(a.warmup),
                rate: a.rate,
                prefix: a.prefix,
                multi_size: a.multi_size,
                prepare: false,
                timeout_ms: to,
                server_pids: a.server_pids,
            };
            run::run(cfg).await
        }
        Cmd::Populate(a) => {
            let cfg = tools::PopulateCfg {
                ep: ep.clone(),
                count: a.count,
                value_size: a.value_size,
                batch: a.batch,
                prefix: a.prefix,
                rss_pid: a.rss_pid,
                timeout_ms: to,
                plain: a.plain,
            };
            tools::populate(cfg).await
        }
        Cmd::WaitRead {
            path,
            timeout_secs,
            t0_ns,
        } => tools::wait_read(&ep, path, Duration::from_secs(timeout_secs), t0_ns).await,
        Cmd::WaitWrite {
            path,
            timeout_secs,
            t0_ns,
        } => failover::wait_write(&ep, path, Duration::from_secs(timeout_secs), t0_ns).await,
        Cmd::Snapwatch { dir, timeout_secs } => {
            tools::snapwatch(dir, Duration::from_secs(timeout_secs)).await
        }
        Cmd::Fanout(m) => hold::fanout(many(m)).await,
        Cmd::Idle { many: m, duration } => hold::idle(many(m), secs(duration)).await,
        Cmd::Watchers {
            many: m,
            paths,
            settle,
        } => {
            let cfg = scale::WatchersCfg {
                many: many(m),
                paths,
                settle: secs(settle),
            };
            scale::watchers(cfg).await
        }
        Cmd::Children {
            path,
            count,
            lists,
            rss_pid,
        } => {
            let cfg = scale::ChildrenCfg {
                ep: ep.clone(),
                timeout_ms: to,
                path,
                count,
                lists: lists.max(1),
                rss_pid,
            };
            scale::children(cfg).await
        }
        Cmd::Bignodes {
            prefix,
            count,
            size,
            rss_pid,
        } => {
            let cfg = scale::BigCfg {
                ep: ep.clone(),
                timeout_ms: to,
                prefix,
                count,
                size,
                rss_pid,
            };
            scale::bignodes(cfg).await
        }
    };
    r.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkbench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            println!(
                "JSON {{\"errors\":1,\"fatal\":\"{}\"}}",
                e.replace('"', "'")
            );
            eprintln!("zkbench: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Cli {
        Cli::try_parse_from(std::iter::once("zkbench").chain(args.split_whitespace())).unwrap()
    }

    #[test]
    fn scale_subcommands_parse() {
        match parse("-c 127.0.0.1:5 watchers -n 100 --paths 10000 --rss-pid 7 --sources 2").cmd {
            Cmd::Watchers { many, paths, .. } => {
                assert_eq!(
                    (many.sessions, paths, many.rss_pid, many.sources),
                    (100, 10_000, Some(7), 2)
                );
            }
            _ => panic!("not watchers"),
        }
        match parse("idle -n 100000 --sources 4 --duration 5").cmd {
            Cmd::Idle { many, duration } => {
                assert_eq!((many.sessions, many.sources, duration), (100_000, 4, 5.0))
            }
            _ => panic!("not idle"),
        }
        match parse("populate --count 1000 --plain").cmd {
            Cmd::Populate(a) => assert!(a.plain && a.count == 1000),
            _ => panic!("not populate"),
        }
        match parse("children --count 1000000").cmd {
            Cmd::Children {
                path, count, lists, ..
            } => assert_eq!((path.as_str(), count, lists), ("/kids", 1_000_000, 3)),
            _ => panic!("not children"),
        }
        match parse("bignodes --count 5").cmd {
            Cmd::Bignodes { count, size, .. } => assert_eq!((count, size), (5, 1_047_552)),
            _ => panic!("not bignodes"),
        }
        assert!(Cli::try_parse_from(["zkbench", "children", "--count", "x"]).is_err());
    }
}
