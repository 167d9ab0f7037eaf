//! The `strata` binary: parse the command line, run, map errors to one line on stderr and an exit code.

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(e) = cli::run(cli) {
        // One line, whatever the underlying library printed (wgpu errors span several lines).
        let mut msg = e.to_string();
        if let Some(p) = e.param_name() {
            // The library names its parameter; the user typed a flag.
            msg = format!("{msg} (--{})", p.replace('_', "-"));
        }
        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("error: {msg}");
        std::process::exit(e.exit_code());
    }
}
