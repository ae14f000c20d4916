//! Hostile lengths and counts are rejected before anything is allocated.
//!
//! A counting global allocator (test-only, hence the `unsafe impl`) measures
//! the bytes allocated on this thread while decoding.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use jute::*;

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; only adds a thread-local count
// (a const-initialised Cell, which itself never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated on this thread while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATED.with(Cell::get);
    let r = f();
    (ALLOCATED.with(Cell::get) - before, r)
}

const HUGE: [u8; 4] = [0x7f, 0xff, 0xff, 0xff]; // 2^31 - 1

fn body(parts: &[&[u8]]) -> Bytes {
    Bytes::from(parts.concat())
}

#[test]
fn huge_vector_counts_fail_without_allocating() {
    let cases: Vec<(&str, i32, Bytes)> = vec![
        // SetWatches: relativeZxid, then dataWatches with 2^31-1 entries.
        ("setWatches", 101, body(&[&[0; 8], &HUGE, &[0; 8]])),
        // create: path "", null data, acl with 2^31-1 entries.
        ("create", 1, body(&[&[0; 4], &[0xff; 4], &HUGE, &[0; 16]])),
        // setACL: path "", acl count 2^31-1.
        ("setACL", 7, body(&[&[0; 4], &HUGE, &[0; 4]])),
        // getData: path length 2^31-1.
        ("getData", 4, body(&[&HUGE, b"/a", &[1]])),
        // auth: scheme "", auth buffer of 2^31-1 bytes.
        ("auth", 100, body(&[&[0; 8], &HUGE, &[0; 4]])),
    ];
    for (name, op, b) in cases {
        let (bytes, r) = allocated_by(|| Request::decode(op, b));
        assert!(
            matches!(r, Err(DecodeError::Truncated { .. })),
            "{name}: {r:?}"
        );
        assert!(bytes < 256, "{name}: allocated {bytes} bytes");
    }
}

#[test]
fn huge_counts_in_replies_and_reader_fail_without_allocating() {
    let (bytes, r) = allocated_by(|| WhoAmIResponse::decode(body(&[&HUGE, &[0; 12]])));
    assert!(r.is_err());
    assert!(bytes < 256, "allocated {bytes}");

    let (bytes, r) = allocated_by(|| {
        let mut rd = Reader::new(body(&[&HUGE, &[0; 3]]));
        rd.read_ustring_vec()
    });
    assert!(r.is_err());
    assert!(bytes < 256, "allocated {bytes}");

    let (bytes, r) = allocated_by(|| {
        let mut rd = Reader::new(body(&[&HUGE, &[0; 3]]));
        rd.read_vec::<Acl>()
    });
    assert!(r.is_err());
    assert!(bytes < 256, "allocated {bytes}");
}

#[test]
fn counting_allocator_sees_allocations() {
    // Guards the guard: a decode that must allocate is visible.
    let (bytes, r) = allocated_by(|| Request::decode(3, body(&[&[0, 0, 0, 4], b"/abc", &[0]])));
    assert!(r.is_ok());
    assert!(bytes >= 4);
}
