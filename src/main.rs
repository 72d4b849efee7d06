use clap::Parser;
use shootlog::config::{Cli, Command};
use shootlog::{api, service, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, without a backtrace: these are
            // operator errors (bad settings, a journal that is not one).
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            println!("{}", api::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Serve => {
            telemetry::init(cli.serve.log_format);
            service::serve(cli.serve, shutdown_signal()).await
        }
        Command::Token { device } => service::issue_token(&device),
        Command::Replay { session } => {
            telemetry::init(cli.serve.log_format);
            service::replay(cli.serve, session).await
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM (fly.io, Docker, systemd).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
