//! Giving freed memory back to the system.
//!
//! Loading a tree, or applying a watch response of a million keys, frees
//! millions of small allocations (pages of keys, the classified changes)
//! between the ones the tree keeps. glibc's allocator keeps such freed
//! memory in its arenas, where it still counts as the process's resident
//! memory until it happens to be reused; `malloc_trim` hands the free pages
//! back. Elsewhere (musl, other systems) this does nothing.

/// Returns the allocator's free pages to the system. Costs a walk over the
/// heap: for after a bulk of work, not per request.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: malloc_trim only releases memory glibc's allocator holds
        // unused; it takes no pointer and leaves every allocation in place.
        unsafe {
            malloc_trim(0);
        }
    }
}
