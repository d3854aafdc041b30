//! `ferrokeeper <zoo.cfg>`: like ZooKeeper's QuorumPeerMain, the one argument is the config.
//! `ferrokeeper <tool> ...` runs one of ZooKeeper's offline data tools (`ferrokeeper::tools`).
//! `-Dname=value` options before the config are system properties, as on `java`'s command
//! line (`bin/zkServer.sh` passes the log settings so, see `ferrokeeper::logging`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferrokeeper::server::ExitCode as ZkExitCode;

/// jemalloc instead of glibc's malloc: replies and txns are allocated on the core and freed
/// on connection tasks (and the other way round), and glibc makes those cross-thread frees
/// wait on the allocating thread's arena lock (about a quarter of the server's perf samples on
/// reads at 64 sessions). Its settings are in `.cargo/config.toml`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A drop-in replacement for Apache ZooKeeper 3.8.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Data tools (same options, output and exit codes as the Java tools):\n  \
        ferrokeeper txnlog ...            zkTxnLogToolkit.sh (TxnLogToolkit)\n  \
        ferrokeeper snapshot ...          zkSnapShotToolkit.sh (SnapshotFormatter)\n  \
        ferrokeeper snapshot-compare ...  zkSnapshotComparer.sh (SnapshotComparer)\n  \
        ferrokeeper purge ...             zkCleanup.sh (PurgeTxnLog)\n  \
        ferrokeeper four-letter-word HOST PORT CMD [SECURE]\n                                    \
        FourLetterWordMain (zkServer.sh status)\n\
        A config file named like a tool is given as ./NAME."
)]
struct Args {
    /// A system property, as `java -D` takes it (the zookeeper.log.* ones choose the log
    /// file); SERVER_JVMFLAGS and JVMFLAGS are read too and win, as they come later on
    /// zkServer.sh's java command line.
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    define: Vec<String>,
    /// Path of the zoo.cfg to run with (ZooKeeper's own format).
    config: PathBuf,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(tool) = argv.get(1) {
        if ferrokeeper::tools::TOOLS.contains(&tool.as_str()) {
            let code = ferrokeeper::tools::run(tool, &argv[2..]).unwrap_or(1);
            return ExitCode::from(code);
        }
    }
    let args = Args::parse();
    let props = ferrokeeper::config::jvmflags::SystemProperties::from_defines_and_env(&args.define);
    let log_settings = match ferrokeeper::logging::LogSettings::from_properties(&props) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferrokeeper: {e}");
            return ExitCode::from(ZkExitCode::InvalidInvocation.value());
        }
    };
    // held to the end of main: dropping it writes out what the file thread still has queued
    let _log_guard = match ferrokeeper::logging::init(&log_settings) {
        Ok(guard) => Some(guard),
        Err(e) => {
            // logging went to stderr instead; say why there and in the log
            eprintln!("ferrokeeper: {e}; logging to stderr");
            tracing::error!("{e}; logging to stderr");
            None
        }
    };
    let cfg = match ferrokeeper::config::load_with(&args.config, props) {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!("invalid configuration: {e}");
            eprintln!("ferrokeeper: {e}");
            return ExitCode::from(ZkExitCode::InvalidInvocation.value());
        }
    };
    if let Some(id) = cfg.my_id.and_then(|id| u64::try_from(id).ok()) {
        ferrokeeper::logging::set_myid(id);
    }
    // MIT krb5 reads its files from the environment: set before the runtime's threads exist
    ferrokeeper::sasl::server::krb5_environment(&cfg).apply_before_threads();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrokeeper: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(ferrokeeper::server::run(cfg)) {
        Ok(()) => ExitCode::from(ZkExitCode::ExecutionFinished.value()),
        Err(e) => {
            let code = e.exit_code();
            // `QuorumPeerMain#main`: the failure is logged with its line, and only the
            // AdminServer's line also goes to stderr; ours always names the cause there too
            let line = e.exit_message();
            match line {
                Some(line) => tracing::error!("{line}: {e}"),
                None => tracing::error!("{e}"),
            }
            if let (ZkExitCode::ErrorStartingAdminServer, Some(line)) = (code, line) {
                eprintln!("{line}");
            }
            eprintln!("ferrokeeper: {e}");
            tracing::error!("Exiting with code {}", code.value());
            ExitCode::from(code.value())
        }
    }
}
