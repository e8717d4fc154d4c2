//! A tokio service whose request handlers share a ledger file with each
//! other and with a second copy of the service in another process, under
//! `InterProcessLock::lock_async_for`: the handlers wait for the lock without
//! blocking the runtime's threads, hold it across `.await`, and give up (and
//! report) if it stays taken too long.
//!
//! `cargo run --example async_service` runs two processes for about two
//! seconds, then checks that no update of the ledger was lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fasteners::InterProcessLock;

const HANDLERS: usize = 8;
const RUN_FOR: Duration = Duration::from_secs(2);

/// Reads the ledger's balance (0 if the file is new).
async fn read_balance(ledger: &Path) -> u64 {
    match tokio::fs::read_to_string(ledger).await {
        Ok(text) => text.trim().parse().expect("a number in the ledger"),
        Err(_) => 0,
    }
}

/// One request: add 1 to the ledger, with some async I/O while holding the
/// lock. Returns whether it was served.
async fn handle_request(lock: &InterProcessLock, ledger: &Path) -> fasteners::Result<bool> {
    let guard = match lock.lock_async_for(Duration::from_secs(5)).await {
        Ok(guard) => guard,
        Err(err) if err.kind() == fasteners::ErrorKind::TimedOut => return Ok(false),
        Err(err) => return Err(err),
    };
    let balance = read_balance(ledger).await;
    // The guard is `Send`: the task may resume on another worker thread.
    tokio::time::sleep(Duration::from_micros(200)).await;
    tokio::fs::write(ledger, (balance + 1).to_string())
        .await
        .expect("write the ledger");
    guard.release()?;
    Ok(true)
}

/// Runs the service's handlers for [`RUN_FOR`]; returns the requests served.
async fn serve(dir: PathBuf) -> u64 {
    let lock = Arc::new(InterProcessLock::new(dir.join("ledger.lock")));
    let ledger = Arc::new(dir.join("ledger.txt"));
    let stop = tokio::time::Instant::now() + RUN_FOR;
    let handlers: Vec<_> = (0..HANDLERS)
        .map(|_| {
            let (lock, ledger) = (Arc::clone(&lock), Arc::clone(&ledger));
            tokio::spawn(async move {
                let mut served = 0;
                while tokio::time::Instant::now() < stop {
                    match handle_request(&lock, &ledger).await {
                        Ok(true) => served += 1,
                        Ok(false) => eprintln!("a request gave up waiting for the ledger"),
                        Err(err) => panic!("ledger lock failed: {err}"),
                    }
                    // Time between requests, spent without the lock.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                served
            })
        })
        .collect();
    let mut served = 0;
    for handler in handlers {
        served += handler.await.expect("handler task");
    }
    served
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--peer") {
        // The second process: serve, then tell the first how many requests.
        let dir = PathBuf::from(args.next().expect("the shared directory"));
        println!("{}", runtime.block_on(serve(dir)));
        return;
    }

    let dir = std::env::temp_dir().join(format!("fasteners-async-service-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the shared directory");
    let peer = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("--peer")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the peer process");
    let here = runtime.block_on(serve(dir.clone()));
    let output = peer.wait_with_output().expect("wait for the peer");
    assert!(output.status.success(), "the peer failed");
    let there: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the peer's count");
    let balance = runtime.block_on(read_balance(&dir.join("ledger.txt")));
    println!(
        "served {here} requests here and {there} in the peer process; ledger balance {balance}"
    );
    assert_eq!(balance, here + there, "an update of the ledger was lost");
    std::fs::remove_dir_all(&dir).expect("remove the shared directory");
}
