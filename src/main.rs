//! The `themescope` command: a thin layer of argument parsing and output over the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    reuse_large_buffers();
    ExitCode::from(themescope::cli::run(std::env::args_os()))
}

/// A forward pass allocates and frees activation buffers of a few to some fifty MiB per layer.
/// glibc serves blocks that large with a fresh mmap and unmaps them on free, so every layer
/// faulted its buffers in again (a tenth of an int8 run went to faulting in and zeroing pages).
/// Serving them from the heap and keeping freed memory there lets the next layer and batch reuse it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reuse_large_buffers() {
    const LARGEST_HEAP_BLOCK: libc::c_int = 256 << 20;
    const KEPT_FREE: libc::c_int = 512 << 20;
    // SAFETY: mallopt only changes glibc's thresholds; it runs before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGEST_HEAP_BLOCK);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEPT_FREE);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn reuse_large_buffers() {}
