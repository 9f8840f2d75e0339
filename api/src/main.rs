//! The `masar` command line: see `api/contract/CLI.md` and the README.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = masar::cli::Cli::parse();
    masar::cli::init_tracing();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("masar: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("masar: {error}");
            ExitCode::FAILURE
        }
    }
}
