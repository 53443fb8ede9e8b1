//! The tests' fault proxy (`tests/common/fault_proxy.rs`) as a program, so that
//! `bench/copy.sh` measures a copy through the same faults the tests prove it survives.
//!
//!   cargo run --example fault-proxy -- UPSTREAM [SEED|count]
//!
//! Prints its address (`127.0.0.1:PORT`) on the first line of stdout; on SIGTERM or
//! Ctrl-C it prints the faults it dealt, the requests and the bytes of the answers as one
//! JSON line and exits. `count` deals no fault and only counts (`bench/audit.sh`).

#[path = "../tests/common/fault_proxy.rs"]
#[allow(dead_code)] // the tests' module has more than this program uses
mod fault_proxy;

use std::io::Write;

use fault_proxy::{Fault, FaultProxy, Mode};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(upstream) = args.next() else {
        eprintln!("usage: fault-proxy UPSTREAM [SEED|count]   (UPSTREAM: a registry's HOST:PORT)");
        std::process::exit(2);
    };
    let mode = match args.next().as_deref() {
        None => Mode::Flaky { seed: 1 },
        Some("count") => Mode::Counting { rate_limit: 0 },
        Some(seed) => match seed.parse::<u64>() {
            Ok(seed) => Mode::Flaky { seed },
            Err(_) => {
                eprintln!("error: the seed must be a whole number, or `count`");
                std::process::exit(2);
            }
        },
    };
    let proxy = FaultProxy::start(&upstream, mode).await;
    println!("{}", proxy.address);
    std::io::stdout().flush().expect("stdout");

    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let (faults, requests) = proxy.faults();
    let count = |fault| faults.get(&fault).copied().unwrap_or(0);
    println!(
        "{{\"requests\":{requests},\"bytes\":{},\"unavailable\":{},\"too_many\":{},\"cut\":{},\"delayed\":{}}}",
        proxy.bytes(),
        count(Fault::Unavailable),
        count(Fault::TooMany),
        count(Fault::Cut),
        count(Fault::Delayed),
    );
}
