//! Profiles: what else writes the etcd tree zoe serves.
//!
//! `zookeeper` (the default) is a tree only zoe writes. `pulsar-2.10` is
//! the tree Pulsar 2.10's etcd metadata store writes, shared with the
//! broker and with bookies on the Pulsar metadata driver
//! (docs/shared-tree.md): keys are bare paths, so zoe must use the empty
//! prefix, and its side keys must stay outside the range Pulsar watches.
//! Keys zoe did not write are served the same way under every profile
//! (see `tree`); the profile adds the checks that make sharing safe.

use std::fmt;

use tracing::{info, warn};

use crate::layout::Layout;
use crate::tree::Tree;

/// First byte past the range Pulsar 2.10's store watches: it watches key
/// `"\0"` with `withPrefix("/")`, and jetcd 0.5 makes that the range
/// `["\0", "0")`.
const PULSAR_WATCH_END: u8 = b'0';

/// Pulsar's metadata store batches up to 1000 operations in one etcd
/// transaction, and BookKeeper's ZooKeeper driver deletes recursively in
/// multis of 1000; below this, both degrade (Pulsar retries op by op, zoe
/// refuses the multi).
const SHARED_MIN_TXN_OPS: usize = 1024;

/// Where Pulsar's BookKeeper driver keeps the ledgers: an opaque
/// `metadata-store:etcd:…` URI has no path, so it is always `/ledgers`.
pub const PULSAR_LEDGERS_ROOT: &str = "/ledgers";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Only zoe writes the tree.
    #[default]
    Zookeeper,
    /// The tree of Pulsar 2.10's `EtcdMetadataStore`, shared with it.
    Pulsar210,
}

impl Profile {
    pub const NAMES: &'static [&'static str] = &["zookeeper", "pulsar-2.10"];

    pub fn parse(name: &str) -> anyhow::Result<Profile> {
        match name {
            "zookeeper" => Ok(Profile::Zookeeper),
            "pulsar-2.10" => Ok(Profile::Pulsar210),
            other => anyhow::bail!(
                "unknown profile {other:?} (known: {})",
                Profile::NAMES.join(", ")
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Zookeeper => "zookeeper",
            Profile::Pulsar210 => "pulsar-2.10",
        }
    }

    /// The layout this profile serves under `prefix`.
    pub fn layout(self, prefix: &str) -> Layout {
        match self {
            Profile::Zookeeper => Layout::new(prefix),
            Profile::Pulsar210 => Layout::new(prefix).with_key_numbering(pulsar_numbers_by_key),
        }
    }

    /// Refuses settings the profile cannot work with.
    pub fn check_settings(self, prefix: &str) -> anyhow::Result<()> {
        match self {
            Profile::Zookeeper => Ok(()),
            Profile::Pulsar210 => {
                if !prefix.is_empty() {
                    anyhow::bail!(
                        "profile pulsar-2.10 needs the empty prefix, not {prefix:?}: Pulsar 2.10's \
                         etcd metadata store keeps every path under its bare key, without a prefix"
                    );
                }
                let layout = Layout::new(prefix);
                let side = layout.side_prefix();
                // A side key inside Pulsar's watch would reach every broker
                // and bookie as a metadata change.
                if side.first().is_none_or(|b| *b < PULSAR_WATCH_END) {
                    anyhow::bail!(
                        "zoe's side keys ({}) would be inside the range Pulsar watches",
                        String::from_utf8_lossy(&side)
                    );
                }
                Ok(())
            }
        }
    }

    /// Start-time checks against the loaded tree: logged, never fatal,
    /// because the tree belongs to other writers too.
    pub fn lint(self, tree: &Tree, etcd_max_txn_ops: usize) {
        if self == Profile::Zookeeper {
            return;
        }
        info!(
            profile = self.name(),
            "serving the tree of Pulsar 2.10's etcd metadata store; keys zoe did not write are \
             served as znodes"
        );
        for w in self.warnings(tree, etcd_max_txn_ops) {
            warn!(profile = self.name(), "{w}");
        }
    }

    fn warnings(self, tree: &Tree, etcd_max_txn_ops: usize) -> Vec<String> {
        let mut out = Vec::new();
        if etcd_max_txn_ops < SHARED_MIN_TXN_OPS {
            out.push(format!(
                "etcd-max-txn-ops is {etcd_max_txn_ops}: Pulsar batches and BookKeeper's \
                 recursive deletes use up to 1000 operations per transaction; run etcd with \
                 --max-txn-ops {SHARED_MIN_TXN_OPS} or more and say so with etcd-max-txn-ops"
            ));
        }
        let layout_path = format!("{PULSAR_LEDGERS_ROOT}/LAYOUT");
        if let Some(data) = tree.get(&layout_path).and_then(|e| e.data()) {
            // BookKeeper loads the factory named here; Pulsar's own refuses
            // any layout manager but Pulsar's, so ZooKeeper clients fail.
            if String::from_utf8_lossy(&data).contains("org.apache.pulsar.") {
                out.push(format!(
                    "{layout_path} names a Pulsar ledger manager factory; BookKeeper clients \
                     on ZooKeeper cannot use it (write a HierarchicalLedgerManagerFactory layout)"
                ));
            }
        }
        out
    }
}

/// The parents under which Pulsar's `PulsarLedgerIdGenerator` creates
/// sequential keys: `/ledgers/idgen` (ledger ids below 2^31) and
/// `/ledgers/idgen-long/HOB-<high bits>` (the low 32 bits of longer ones).
/// BookKeeper's ZooKeeper driver creates `ID-` children under the same
/// parents and takes the ledger id from the sequence number, so both must
/// draw from one counter: the parent key's etcd version, which Pulsar's
/// store consumes with each sequential put (docs/shared-tree.md §2.4).
fn pulsar_numbers_by_key(parent: &str) -> bool {
    let Some(rest) = parent.strip_prefix(PULSAR_LEDGERS_ROOT) else {
        return false;
    };
    rest == "/idgen"
        || rest
            .strip_prefix("/idgen-long/HOB-")
            .is_some_and(|hob| !hob.is_empty() && !hob.contains('/'))
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Change, DataKv};
    use bytes::Bytes;

    #[test]
    fn pulsar_numbers_ledger_id_parents_by_key_version() {
        use crate::layout::Numbering::*;
        let l = Profile::Pulsar210.layout("");
        for (parent, want) in [
            ("/ledgers/idgen", ParentKeyVersion),
            ("/ledgers/idgen-long/HOB-0000000001", ParentKeyVersion),
            ("/ledgers/idgen-long", ChildCreates),
            ("/ledgers/idgen-long/HOB-1/x", ChildCreates),
            ("/ledgers/idgenx", ChildCreates),
            ("/ledgers", ChildCreates),
            ("/other/idgen", ChildCreates),
        ] {
            assert_eq!(l.numbering(parent), want, "{parent}");
        }
        let z = Profile::Zookeeper.layout("");
        assert_eq!(z.numbering("/ledgers/idgen"), ChildCreates);
    }

    #[test]
    fn names_round_trip() {
        for n in Profile::NAMES {
            assert_eq!(Profile::parse(n).unwrap().name(), *n);
        }
        assert!(Profile::parse("pulsar")
            .unwrap_err()
            .to_string()
            .contains("pulsar-2.10"));
    }

    #[test]
    fn pulsar_needs_the_bare_key_space() {
        assert!(Profile::Pulsar210.check_settings("").is_ok());
        let e = Profile::Pulsar210.check_settings("/zk").unwrap_err();
        assert!(e.to_string().contains("empty prefix"), "{e}");
        assert!(Profile::Zookeeper.check_settings("/zk").is_ok());
        // Every key zoe writes besides data keys sorts at or after '0',
        // past Pulsar's watch, and never looks like a path.
        let l = Layout::new("");
        for k in [
            l.meta_key("/a"),
            l.children_key("/a"),
            l.session_key(1),
            l.events_key(),
            l.auth_key(),
            l.sync_key(),
            l.layout_key(),
        ] {
            assert!(k[0] >= PULSAR_WATCH_END && k[0] != b'/', "{k:?}");
        }
    }

    #[test]
    fn warns_about_small_transactions_and_a_pulsar_layout() {
        let mut t = Tree::new();
        assert_eq!(
            Profile::Pulsar210.warnings(&t, 10_000),
            Vec::<String>::new()
        );
        assert_eq!(Profile::Pulsar210.warnings(&t, 128).len(), 1);
        let layout = |text: &str, rev: i64| {
            Change::Data(
                "/ledgers/LAYOUT".into(),
                Some(DataKv {
                    value: Bytes::copy_from_slice(text.as_bytes()),
                    create_rev: rev,
                    mod_rev: rev,
                    version: 1,
                    lease: 0,
                }),
            )
        };
        t.apply(
            vec![layout(
                "2\norg.apache.bookkeeper.meta.HierarchicalLedgerManagerFactory:1",
                5,
            )],
            1001,
        );
        assert!(Profile::Pulsar210.warnings(&t, 10_000).is_empty());
        t.apply(
            vec![layout(
                "2\norg.apache.pulsar.metadata.bookkeeper.PulsarLedgerManagerFactory:1",
                6,
            )],
            1002,
        );
        let w = Profile::Pulsar210.warnings(&t, 10_000);
        assert!(w.len() == 1 && w[0].contains("/ledgers/LAYOUT"), "{w:?}");
    }
}
