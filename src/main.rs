//! The `strata` binary: parse the command line, run, map errors to one line on stderr and an exit code.

use clap::Parser;

fn main() {
    let cli = strata::cli::Cli::parse();
    if let Err(e) = strata::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
