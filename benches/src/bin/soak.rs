//! `make soak`: one soak run of the sessionhost server on loopback, then its summary on
//! stdout and exit status 1 unless it passed.
//!
//! Flags (defaults in brackets): `--sessions N` [5000], `--clients N` [64], `--duration D`
//! [5m], `--hostile-percent P` [2], `--shared N` [4], `--hibernate-after D` [1s],
//! `--mailbox N` [16], `--fuel-per-call N` [50000000], `--seed N` [1], `--data-dir DIR`
//! [memory store], `--drain-limit D` [2m]; `--short` starts from the `make test` plan.
//! `make soak SOAK_ARGS="--duration 30m"` passes flags through. Progress goes to stderr.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use sessionhost_bench::soak::{self, SoakConfig};

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = SoakConfig::from_args(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let summary = runtime
        .block_on(soak::run(&config, |line| {
            eprintln!("[{:>5.0} s] {line}", started.elapsed().as_secs_f64());
        }))
        .context("the soak run could not start")?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{summary}")?;
    stdout.flush()?;
    Ok(if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
