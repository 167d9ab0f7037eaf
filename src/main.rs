//! The `strata` binary: parse the command line, run, map errors to one line on stderr and an exit code.

mod cli;

use clap::Parser;

fn main() {
    quiet_vulkan_layers();
    let cli = cli::Cli::parse();
    handle_signals();
    if let Err(e) = cli::run(cli) {
        // The library names its options; the user typed flags. One line, whatever the underlying library
        // printed (wgpu errors span several lines).
        let msg = strata::error::with_flags(&e.to_string());
        let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("error: {msg}");
        std::process::exit(exit_code(e.kind()));
    }
}

/// The exit code of an error of `kind` (documented in the README): 2 usage (like clap's own), 3 input,
/// 4 output, 5 device.
fn exit_code(kind: strata::Kind) -> i32 {
    match kind {
        strata::Kind::Usage => 2,
        strata::Kind::Input => 3,
        strata::Kind::Output => 4,
        strata::Kind::Device => 5,
        _ => 1,
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
            let what = strata::data::sink::abandon_all().describe();
            eprintln!("error: interrupted by {name}{what}");
            std::process::exit(128 + sig);
        }
    });
}

#[cfg(not(unix))]
fn handle_signals() {}

/// Mesa's implicit device-select Vulkan layer connects to Wayland to find the display's GPU, and without
/// XDG_RUNTIME_DIR (cron, systemd services) libwayland prints two "error: XDG_RUNTIME_DIR is invalid" lines
/// on every run, which trips log alerting. strata chooses its adapter itself, so the layer is disabled
/// unless the user set its variable.
fn quiet_vulkan_layers() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called first thing in `main`, before this process starts any thread, so no other thread
        // can be reading the environment.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}
