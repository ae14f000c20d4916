//! Replays every saved fuzz input through the same entry points the fuzz
//! targets call, on the stable toolchain, so CI exercises them without
//! nightly or libFuzzer: fuzz/seeds/<target>/* is real client traffic
//! (recorded by fuzz/capture/capture.sh), fuzz/corpus/<target>/* the
//! minimised corpus the fuzzer grew from it.

use std::fs;
use std::path::PathBuf;

fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = fs::read(&p).expect("read corpus file");
            (p.file_name().unwrap().to_string_lossy().into_owned(), data)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8])) {
    for kind in ["seeds", "corpus"] {
        let inputs = inputs(kind, target);
        // An (almost) empty directory means the inputs went missing, not
        // that there is nothing to test.
        assert!(
            inputs.len() >= 20,
            "fuzz/{kind}/{target} has only {} inputs",
            inputs.len()
        );
        for (name, data) in &inputs {
            let r = std::panic::catch_unwind(|| run(data));
            assert!(r.is_ok(), "fuzz/{kind}/{target}/{name} panics");
        }
    }
}

#[test]
fn jute_decode_corpus() {
    replay("jute_decode", jute::fuzz::decode);
}

#[test]
fn connection_corpus() {
    replay("connection", zoe::fuzz::connection);
}
