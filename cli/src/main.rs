//! `igny8`: the platform's services from a terminal. Thin: parse, run, print.

mod args;
mod billing_docs;
mod cluster;
mod commands;
mod content;
mod error;
mod integrations;
mod keywords;
mod links;
mod optimization;
mod publishing;
mod run;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// Why: the CLI's heavy commands (clustering, runs) allocate millions of small
/// vectors and strings, where mimalloc is markedly faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(output) => output.print(json),
        Err(e) => {
            eprintln!("error: {e}");
            if json {
                println!("{}", serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}}));
            }
            ExitCode::from(e.exit_code())
        }
    }
}
