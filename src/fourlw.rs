//! Four-letter words on the client port (`ruok`, `srvr`, ...), answered in
//! ZooKeeper's text formats, subject to an allow-list.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use crate::server::Server;

const WORDS: [&str; 18] = [
    "ruok", "srvr", "stat", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp",
    "isro", "srst", "dirs", "gtmk", "stmk", "hash",
];

/// The word the first four bytes spell, if it is one ZooKeeper knows.
pub fn recognize(first: &[u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == first)
}

pub async fn answer(word: &str, mut wr: OwnedWriteHalf, server: &Arc<Server>) {
    let allowed = server
        .config
        .four_letter_words
        .iter()
        .any(|w| w == "*" || w == word);
    let text = if !allowed {
        format!("{word} is not executed because it is not in the whitelist.\n")
    } else {
        match word {
            "ruok" => "imok".to_string(),
            "isro" => "rw".to_string(),
            "srvr" => srvr(server),
            _ => format!("{word} is not executed because it is not in the whitelist.\n"),
        }
    };
    let _ = wr.write_all(text.as_bytes()).await;
    let _ = wr.shutdown().await;
}

fn srvr(server: &Arc<Server>) -> String {
    let (zxid, nodes) = {
        let st = server.replica.read();
        (st.revision, st.tree.node_count())
    };
    format!(
        "Zookeeper version: 3.9.5-zoe-{}, built on 01/01/2026 00:00 GMT\n\
         Latency min/avg/max: 0/0.0/0\n\
         Received: 0\n\
         Sent: 0\n\
         Connections: {}\n\
         Outstanding: 0\n\
         Zxid: 0x{:x}\n\
         Mode: standalone\n\
         Node count: {}\n",
        env!("CARGO_PKG_VERSION"),
        server.conns.len(),
        zxid,
        nodes
    )
}
