//! `chatsync`: runs ChatSync's services.

use chatsync_core::config::Config;
use chatsync_platform::config::{self as config, ENV_VARS};
use chatsync_server::Services;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc returns freed memory to the system: with glibc's allocator every argon2 hash
/// (19 MiB) stayed in the process, so RSS grew by that much per sign-up or login.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "chatsync",
    version,
    about = "ChatSync: real-time chat, as one process or as services"
)]
#[command(after_help = env_help())]
struct Cli {
    /// TOML configuration file (default: ./chatsync.toml if present).
    #[arg(long, global = true, env = "CHATSYNC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run services (all of them unless --only is given).
    Serve {
        /// Comma-separated subset: gateway, user, chat, mail.
        #[arg(long, env = "CHATSYNC_ONLY", value_parser = Services::parse)]
        only: Option<Services>,
    },
    /// Create or update every service's database tables, then exit.
    Migrate,
    /// Print configuration.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// The built-in defaults as TOML (a starting chatsync.toml).
    Default,
    /// The configuration this process would run with, secrets redacted.
    Show,
    /// Every environment variable ChatSync reads.
    Env,
}

fn env_help() -> String {
    let mut s = String::from(
        "Environment (a .env file in the working directory is read first; any setting can also \
         be given as CHATSYNC__SECTION__KEY, e.g. CHATSYNC__CHAT__SEND_PER_SEC=50):\n",
    );
    for v in ENV_VARS {
        s.push_str(&format!("  {:<24} {}\n", v.name, v.help));
    }
    s
}

fn main() -> std::process::ExitCode {
    // A missing .env is normal; a broken one is worth a word.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("warning: ignoring .env: {e}");
    }
    let cli = Cli::parse();
    let cfg = match config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Config { what }) => {
            match what {
                ConfigCommand::Default => print!("{}", config::to_toml(&Config::default())),
                ConfigCommand::Show => print!("{}", config::to_toml(&cfg)),
                ConfigCommand::Env => print!("{}", env_help()),
            }
            return std::process::ExitCode::SUCCESS;
        }
        None | Some(Command::Serve { .. }) | Some(Command::Migrate) => {}
    }
    chatsync_core::install_crypto_provider();
    chatsync_platform::telemetry::init_logging(&cfg.log);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Some(Command::Migrate) => chatsync_server::wiring::migrate(&cfg).await,
            Some(Command::Serve { only }) => {
                chatsync_server::serve(cfg, only.unwrap_or_else(Services::all)).await
            }
            None => chatsync_server::serve(cfg, Services::all()).await,
            Some(Command::Config { .. }) => Ok(()),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
