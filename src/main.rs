//! The `strata` binary: parse the command line, run, map errors to one line on stderr and an exit code.

use clap::Parser;

fn main() {
    let cli = strata::cli::Cli::parse();
    if let Err(e) = strata::cli::run(cli) {
        // One line, whatever the underlying library printed (wgpu errors span several lines).
        let msg = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        eprintln!("error: {msg}");
        std::process::exit(e.exit_code());
    }
}
