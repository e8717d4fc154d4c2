//! Two processes count orders in one table row, under one PostgreSQL lock
//! taken by name around an `#[locked]` function: the total comes out exact.
//!
//! Each order reads the count, then writes count + 1: two statements, which
//! without the lock would overwrite each other's updates.
//!
//! Run it against a throwaway server:
//!
//! ```text
//! scripts/with-postgres.sh cargo run --features postgres --example postgres_orders
//! ```
//!
//! or against your own, with `FASTENERS_PG_URL=postgres://user:password@host/db`.

use std::process::{Command, ExitCode};
use std::sync::LazyLock;

use fasteners::postgres::{PgLock, PgLockKey};
use tokio_postgres::{Client, NoTls};

const ORDERS_PER_PROCESS: i64 = 200;

fn url() -> String {
    std::env::var("FASTENERS_PG_URL").unwrap_or_else(|_| {
        eprintln!("set FASTENERS_PG_URL, or run through scripts/with-postgres.sh");
        std::process::exit(2)
    })
}

/// One lock for every process that takes orders, by name.
static ORDERS: LazyLock<PgLock> =
    LazyLock::new(|| PgLock::new(&url(), PgLockKey::from_name("examples/orders")));

/// A connection for the counting itself, and the runtime that drives it.
struct Db {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Db {
    fn connect() -> Db {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(&url(), NoTls))
            .expect("connect");
        runtime.spawn(connection);
        Db { runtime, client }
    }

    fn run(&self, sql: &str) -> Option<i64> {
        let rows = self
            .runtime
            .block_on(self.client.simple_query(sql))
            .expect("query");
        rows.iter().find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
            _ => None,
        })
    }
}

/// Takes one order: read, then write. Only one process at a time runs it.
#[fasteners::locked(lock = ORDERS)]
fn take_order(db: &Db) {
    let count = db
        .run("SELECT count FROM fasteners_orders")
        .expect("the row");
    db.run(&format!(
        "UPDATE fasteners_orders SET count = {}",
        count + 1
    ));
}

fn take_orders() {
    let db = Db::connect();
    for _ in 0..ORDERS_PER_PROCESS {
        take_order(&db);
    }
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--worker") {
        take_orders();
        return ExitCode::SUCCESS;
    }
    let db = Db::connect();
    db.run(
        "DROP TABLE IF EXISTS fasteners_orders; \
         CREATE TABLE fasteners_orders (count bigint NOT NULL); \
         INSERT INTO fasteners_orders VALUES (0)",
    );
    // A second process, and this one, take orders at the same time.
    let mut worker = Command::new(std::env::current_exe().expect("own path"))
        .arg("--worker")
        .spawn()
        .expect("start the second process");
    take_orders();
    assert!(worker.wait().expect("wait").success());
    let total = db
        .run("SELECT count FROM fasteners_orders")
        .expect("the row");
    println!(
        "orders taken: {total} (expected {})",
        2 * ORDERS_PER_PROCESS
    );
    if total == 2 * ORDERS_PER_PROCESS {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
