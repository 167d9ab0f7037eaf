//! The `strata` binary: parse the command line, run, map errors to one line on stderr and an exit code.

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    handle_signals();
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

/// SIGINT and SIGTERM end the run cleanly: the staging of the output set is removed and `--out` keeps its
/// previous set (a publish under way completes first), then exit 128 + signal, as a shell reports it.
/// SIGXFSZ is caught so that a file-size limit fails the write (EFBIG, reported as an error) instead of
/// killing the process without a word.
#[cfg(unix)]
fn handle_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM, SIGXFSZ};
    let caught = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let _ = signal_hook::flag::register(SIGXFSZ, caught);
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            let what = if strata::data::sink::abandon_all() {
                "; nothing was published, --out is as it was"
            } else {
                ""
            };
            eprintln!("error: interrupted by {name}{what}");
            std::process::exit(128 + sig);
        }
    });
}

#[cfg(not(unix))]
fn handle_signals() {}
