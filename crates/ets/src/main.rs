//! The `ets` command: `serve`, `migrate`, `config`, `gc`, `audit verify`, `agent`, `import`,
//! `run`, `sync`.

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
        /// Also serve Optuna's gRPC storage service on this port, for
        /// `optuna.storages.GrpcStorageProxy(host=…, port=…)` (config `optuna.grpc_port`).
        #[arg(long)]
        optuna_grpc_port: Option<u16>,
        /// Do not apply database migrations at start-up (run `ets migrate` first).
        #[arg(long)]
        no_migrate: bool,
        /// With authentication off, still listen on a non-loopback address: anyone who can
        /// reach it may do anything (logged as a warning at every start).
        #[arg(long)]
        allow_anonymous: bool,
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
    /// Manage users (works while servers run on the same database).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage API keys (works while servers run on the same database).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run a study's trials in a loop: ask a trial, run the command with its parameters, pass
    /// its reports to the pruner, tell its objective (a client of a running server).
    Agent(ets::agent::AgentArgs),
    /// Restore an archive of `ets export` (`ets import DIR`, into this configuration's
    /// database), or copy another tracker's data into an ETS server (`ets import mlflow
    /// --from URI`, a client of a running server).
    Import(ets::import::ImportArgs),
    /// Write a project — experiments, runs, logged models, metrics, logs, artifacts — to a
    /// folder in ETS's open archive format (docs/archive-format.md), for `ets import DIR`.
    Export(ets::archive::ExportArgs),
    /// Run a command as a tracked run: its output lines, resource usage (system/* metrics)
    /// and exit status; offline, kept in a local spool for `ets sync` (a client of a server).
    Run(ets::run::RunArgs),
    /// Upload the runs `ets run` kept in its spool while the server could not be reached.
    Sync(ets::run::SyncArgs),
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create a user (or service account) and a first API key. Prints the password (generated
    /// unless `--password-stdin`) for users, and the API key alone on the last line.
    Create {
        name: String,
        /// Admin of every project, of users and of the audit trail.
        #[arg(long)]
        admin: bool,
        /// A service account: API keys only, no password.
        #[arg(long)]
        service_account: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key for a user; prints it alone on the last line (shown only once).
    Create {
        #[arg(long)]
        user: String,
        /// What the key is for.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime such as `90d` (days); default: no expiry.
        #[arg(long)]
        expires: Option<String>,
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
    // A client of a server: neither the server's configuration nor its umask (which the
    // trials' commands would inherit) applies.
    if let Command::Agent(args) = cli.command {
        return ets::agent::main(args);
    }
    if let Command::Import(ets::import::ImportArgs {
        source: Some(ets::import::ImportCommand::Mlflow(args)),
        ..
    }) = cli.command
    {
        return ets::import::main(args);
    }
    if let Command::Run(args) = cli.command {
        return ets::run::main(args);
    }
    if let Command::Sync(args) = cli.command {
        return ets::run::sync_main(args);
    }
    // Whatever ETS writes (database, artifacts, staging files) is its owner's alone.
    ets::private_files::restrict_new_files();
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
        optuna_grpc_port,
        no_migrate,
        allow_anonymous,
    } = &cli.command
    {
        overrides.optuna.grpc_port = *optuna_grpc_port;
        overrides.host = host.clone();
        overrides.port = *port;
        overrides.metrics_port = *metrics_port;
        overrides.migrate_on_start = no_migrate.then_some(false);
        overrides.auth.allow_anonymous = allow_anonymous.then_some(true);
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
        Command::Users { command } => users(config, command),
        Command::Keys { command } => keys(config, command),
        Command::Export(args) => with_services(config, async |services| {
            let counts = ets::archive::export::export(services, &args.project, &args.to).await?;
            ets::archive::print_summary(&counts, &[], args.json);
            Ok(())
        }),
        Command::Import(ets::import::ImportArgs {
            dir: Some(dir),
            json,
            source: None,
        }) => with_services(config, async |services| {
            let report = ets::archive::import::import(services, &dir).await?;
            report.print(json);
            Ok(())
        }),
        Command::Agent(_) => unreachable!("handled before the configuration is read"),
        Command::Import(_) | Command::Run(_) | Command::Sync(_) => {
            unreachable!("handled before the configuration is read")
        }
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

/// Runs `work` on the service layer as ETS itself (the command line is trusted: whoever can
/// run it can read the database).
fn with_services<F, T>(config: Config, work: F) -> anyhow::Result<T>
where
    F: AsyncFnOnce(std::sync::Arc<ets::service::Services>) -> anyhow::Result<T>,
{
    ets::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let services = ets::service::Services::open(config).await?;
        work(services).await
    })
}

fn users(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::Create {
        name,
        admin,
        service_account,
        password_stdin,
    } = command;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    with_services(config, async |services| {
        use ets::auth::PrincipalKind;
        use ets::service::identity::{NewApiKey, NewUser};
        let system = ets::actor::Actor::System;
        let created = services
            .create_user(
                &system,
                NewUser {
                    name: name.clone(),
                    kind: Some(if service_account {
                        PrincipalKind::ServiceAccount
                    } else {
                        PrincipalKind::User
                    }),
                    global_admin: admin,
                    password,
                },
            )
            .await?;
        let key = services
            .create_api_key(
                &system,
                NewApiKey {
                    name: Some("initial".into()),
                    expires_in_days: None,
                    user: Some(name.clone()),
                },
            )
            .await?;
        let role = if admin { " (global admin)" } else { "" };
        println!("created user '{name}'{role}");
        if let Some(password) = created.generated_password {
            println!("password (shown once): {password}");
        }
        println!("API key '{}' (shown once):", key.info.id);
        println!("{}", key.key);
        Ok(())
    })
}

fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Create {
        user,
        name,
        expires,
    } = command;
    let expires_in_days = expires.as_deref().map(parse_days).transpose()?;
    with_services(config, async |services| {
        let key = services
            .create_api_key(
                &ets::actor::Actor::System,
                ets::service::identity::NewApiKey {
                    name,
                    expires_in_days,
                    user: Some(user.clone()),
                },
            )
            .await?;
        println!("API key '{}' for '{user}' (shown once):", key.info.id);
        println!("{}", key.key);
        Ok(())
    })
}

/// `90d` or `90` → 90 days.
fn parse_days(text: &str) -> anyhow::Result<u32> {
    text.trim_end_matches('d')
        .parse::<u32>()
        .ok()
        .filter(|days| *days > 0)
        .ok_or_else(|| anyhow::anyhow!("--expires '{text}': give a number of days such as 90d"))
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
