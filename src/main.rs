//! `porta`: parse the command line, load the config, then serve or run a management command.

use clap::Parser;
use porta::cli::{Cli, Command};
use porta::clock::SystemClock;

/// jemalloc rather than glibc's malloc: measured with `benches/code-flow.sh` (README, Performance), the code flow
/// ran about 20% faster, at about 3 MiB more resident memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = Cli::parse();
    let settings = match porta::cli::load_settings(&cli) {
        Ok(s) => s,
        Err(e) => fail(e),
    };
    let level = if matches!(cli.command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    porta::telemetry::init(settings.log_format, level);
    let result = match cli.command {
        Command::Serve => serve(settings),
        _ => porta::cli::run(&cli, settings),
    };
    if let Err(e) = result {
        fail(e);
    }
}

fn serve(settings: porta::config::Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app =
            porta::startup::Application::build(settings, std::sync::Arc::new(SystemClock)).await?;
        tracing::info!(port = app.port, "porta is serving");
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// One line on stderr, exit status 1.
fn fail(e: anyhow::Error) -> ! {
    eprintln!("error: {e:#}");
    std::process::exit(1);
}
