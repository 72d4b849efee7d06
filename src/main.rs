use std::process::ExitCode;

use shootlog::config::{Cli, Command, exit};
use shootlog::{api, progress, service, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse_args()).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // The message and its causes, without a backtrace: these are
            // operator errors (bad settings, a journal that is not one).
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    if !cli.unused.is_empty() {
        let name = match &command {
            Command::Serve(_) => "serve",
            Command::Openapi => "openapi",
            Command::Replay(_) => "replay",
            Command::Token(_) => "token",
            Command::Check(_) => "check",
        };
        eprintln!("warning: `shootlog {name}` does not use {}; ignored", cli.unused.join(", "));
    }
    match command {
        Command::Openapi => {
            println!("{}", api::openapi().to_pretty_json()?);
            Ok(exit::OK)
        }
        Command::Serve(cfg) => {
            telemetry::init(cfg.log_format, progress::stderr);
            service::serve(cfg, shutdown_signal()).await?;
            Ok(exit::OK)
        }
        Command::Token(args) => {
            print!("{}", service::issue_token(&args.device)?.render(args.format)?);
            Ok(exit::OK)
        }
        Command::Check(args) => service::check(args).await,
        Command::Replay(args) => {
            telemetry::init(args.log_format, progress::stderr);
            let summary = service::replay(args, shutdown_signal()).await?;
            println!("{summary}");
            Ok(summary.exit_code())
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
