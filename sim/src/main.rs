//! `chipsim`: the command line of the simulator. Everything lives in `sim::cli`; this file
//! only hands over the process.

/// mimalloc: the simulator allocates small, short-lived values at a high rate (frames, trace
/// details, store values); glibc malloc spent about a sixth of a seed. Addresses never reach a
/// run, so the allocator cannot change one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sim::cli::main()
}
