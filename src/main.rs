use clap::Parser;
use dsbfs::cli::Cli;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if dsbfs::mount_helper::invoked_as_helper(&argv) {
        init_logging(1, false, true);
        return finish(dsbfs::mount_helper::run(&argv[1..]), "mount.dsbfs");
    }
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command).complete();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => e.exit(),
        // --help and --version print on stdout, which may fail like any output.
        Err(e) => {
            let text = e.render();
            if std::io::stdout().is_terminal() {
                dsbfs::out!("{}", text.ansi());
            } else {
                dsbfs::out!("{text}");
            }
            return finish(Ok(dsbfs::exit::OK), "dsbfs");
        }
    };
    // A mount runs for long and logs little: say when it mounts and unmounts, with times.
    // `watch` logs one line per event at INFO, with times unless journald adds its own.
    let serving = matches!(
        cli.command,
        dsbfs::cli::Command::Mount(_) | dsbfs::cli::Command::Watch(_)
    );
    // -v makes `mount` say where it mounted; -vv logs every open.
    let level = if serving {
        cli.verbose.max(1)
    } else {
        cli.verbose
    };
    let journald = matches!(cli.command, dsbfs::cli::Command::Watch(_))
        && std::env::var_os("JOURNAL_STREAM").is_some();
    init_logging(level, cli.quiet, serving && !journald);
    finish(dsbfs::cmd::run(cli), "dsbfs")
}

/// The exit code for a result, once the output is flushed; an error (the output's
/// included) is one line on stderr.
fn finish(result: anyhow::Result<u8>, program: &str) -> ExitCode {
    match result.and_then(|code| dsbfs::output::finish().map(|()| code)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            dsbfs::errln!("{program}: {}", one_line(&e));
            ExitCode::from(if e.is::<dsbfs::UsageError>() {
                dsbfs::exit::USAGE
            } else {
                dsbfs::exit::FAILURE
            })
        }
    }
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn init_logging(verbose: u8, quiet: bool, timestamps: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("dsbfs={level},fuser=error"))
    });
    // Colours only for a terminal; a mount's stderr becomes its log file.
    let ansi = !timestamps && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false);
    if timestamps {
        fmt.init();
    } else {
        fmt.without_time().init();
    }
}
