//! Consistency under faults: a zoe instance paused with SIGSTOP while its
//! clients move their sessions elsewhere (tests/history/regressions.rs).

mod support;

#[path = "history/regressions.rs"]
mod regressions;
#[path = "support/zk_client.rs"]
mod zk_client;
