//! The `ets` command: `serve`, `migrate`, `config`, `gc`, `audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ets::config::{self, Config, Environment, Overrides};

/// ETS, the Experiment Tracking Service.
#[derive(Debug, Parser)]
#[command(name = "ets", version, about)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ETS_CONFIG")]
    config: Option<PathBuf>,
    /// Environment whose defaults apply (dev, staging, prod).
    #[arg(long, global = true, value_enum)]
    env: Option<Environment>,
    /// Folder for the database and artifacts.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: `postgres://user:password@host:5432/db` or `sqlite://file`
    /// (default: SQLite in the data directory).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Address to listen on (default 127.0.0.1).
        #[arg(long)]
        host: Option<String>,
        /// API port (default 8003; 0 picks a free port).
        #[arg(long)]
        port: Option<u16>,
        /// Prometheus port (default 9003; 0 picks a free port).
        #[arg(long)]
        metrics_port: Option<u16>,
        /// Do not apply database migrations at start-up (run `ets migrate` first).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Remove what is no longer needed, then exit: runs in the trash for longer than
    /// `artifacts.deleted_run_retention_days` (with their metrics and artifacts), resumable
    /// uploads unfinished after `artifacts.upload_expiry_hours`, and stored objects that no
    /// artifact refers to. Safe to run while the service is serving.
    Gc,
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of every audit record; exit 0 when intact, 1 naming the first
    /// missing, changed, inserted or misplaced record. Safe while the service is serving.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut overrides = Overrides {
        env: cli.env,
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        ..Default::default()
    };
    if let Command::Serve {
        host,
        port,
        metrics_port,
        no_migrate,
    } = &cli.command
    {
        overrides.host = host.clone();
        overrides.port = *port;
        overrides.metrics_port = *metrics_port;
        overrides.migrate_on_start = no_migrate.then_some(false);
    }
    let config = match config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ets: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command {
        Command::Config => {
            print!("{}", config.to_redacted_toml());
            Ok(())
        }
        Command::Migrate => migrate(&config),
        Command::Gc => gc(config),
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit_verify(&config),
        Command::Serve { .. } => serve(config),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ets: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(config: &Config) -> anyhow::Result<()> {
    ets::install_crypto_provider();
    let database = config.effective_database_url();
    let runtime = tokio::runtime::Runtime::new()?;
    let applied = runtime.block_on(ets::store::migrate(&database))?;
    println!("database {database}: applied migrations {applied:?}");
    Ok(())
}

fn gc(config: Config) -> anyhow::Result<()> {
    ets::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let services = ets::service::Services::open(config).await?;
        eprintln!("ets gc: artifacts in {}", services.artifacts.location());
        let report = services.collect_garbage(&ets::actor::Actor::System).await?;
        println!("{}", serde_json::to_string(&report)?);
        Ok(())
    })
}

/// Prints the verification report as JSON; a broken trail is an error naming the record.
fn audit_verify(config: &Config) -> anyhow::Result<()> {
    ets::install_crypto_provider();
    let database = config.effective_database_url();
    if let ets::database_url::DatabaseUrl::Sqlite(path) = &database
        && !path.exists()
    {
        anyhow::bail!(
            "no database at '{}': pass the --data-dir or --database-url the service uses",
            path.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        let store = ets::service::open_store(config).await?;
        store.verify_audit().await
    })?;
    println!("{}", serde_json::to_string(&report)?);
    match (report.first_bad_seq, report.reason) {
        (Some(seq), Some(reason)) => {
            anyhow::bail!("the audit trail of {database} is broken at record {seq}: {reason}")
        }
        _ => {
            eprintln!(
                "ets audit verify: {} records intact in {database}",
                report.checked
            );
            Ok(())
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    ets::telemetry::init_logging(&config.log);
    ets::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        tracing::info!(config = %serde_json::to_string(&config).unwrap_or_default(), "starting ETS");
        ets::telemetry::prometheus();
        let server = ets::server::start(config).await?;
        let shutdown = server.shutdown_handle();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = shutdown.send(true);
        });
        server.wait().await?;
        Ok(())
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
