//! zoe-bench: a ZooKeeper-protocol load generator (tokio + jute, no client
//! library), a raw etcd write benchmark, and a side-by-side comparison of
//! Apache ZooKeeper, zoe and etcd on one machine.

mod compare;
mod etcd;
mod report;
mod workloads;
mod zk;

use anyhow::Result;
use clap::{Parser, Subcommand};

use report::{print_errors_banner, table_header, table_row};
use workloads::{LoadOpts, Workload};

#[derive(Parser)]
#[command(
    name = "zoe-bench",
    about = "Load generator and comparison for zoe, ZooKeeper and etcd"
)]
struct Cli {
    /// Tokio worker threads of the load generator (0 = one per core).
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run workloads against one ZooKeeper-protocol server.
    Run {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:2181")]
        server: String,
        /// Label for the target column.
        #[arg(long, default_value = "server")]
        label: String,
        /// Workloads, comma separated.
        #[arg(long, short, value_delimiter = ',', required = true)]
        workload: Vec<Workload>,
        #[command(flatten)]
        load: LoadOpts,
        /// Print JSON (one report per line) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Raw etcd put/txn throughput at the same concurrency.
    Etcd {
        #[arg(long, default_value = "http://127.0.0.1:2379")]
        endpoint: String,
        #[arg(long, value_delimiter = ',', default_value = "put,txn")]
        op: Vec<etcd::EtcdOp>,
        #[command(flatten)]
        load: LoadOpts,
        #[arg(long)]
        json: bool,
    },
    /// Start etcd, zoe and ZooKeeper 3.9.5 here and compare them.
    Compare(compare::CompareOpts),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if cli.threads > 0 {
        rt.worker_threads(cli.threads);
    }
    let rt = rt.build()?;
    if let Err(e) = rt.block_on(async_main(cli.cmd)) {
        eprintln!("zoe-bench: error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn async_main(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Run {
            server,
            label,
            workload,
            load,
            json,
        } => {
            let mut reports = Vec::new();
            if !json {
                println!("{}", table_header());
            }
            for w in workload {
                let r = workloads::run(&server, &label, w, &load).await?;
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!("{}", table_row(&r));
                }
                reports.push(r);
            }
            print_errors_banner(&reports);
            if reports.iter().any(|r| r.errors > 0) {
                std::process::exit(2);
            }
            Ok(())
        }
        Cmd::Etcd {
            endpoint,
            op,
            load,
            json,
        } => {
            if !json {
                println!("{}", table_header());
            }
            let mut reports = Vec::new();
            for op in op {
                let r = etcd::run(&endpoint, op, &load).await?;
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    println!("{}", table_row(&r));
                }
                reports.push(r);
            }
            print_errors_banner(&reports);
            Ok(())
        }
        Cmd::Compare(opts) => compare::run(opts).await,
    }
}
