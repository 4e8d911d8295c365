//! `chipsim`: the command line of the simulator. Everything lives in `sim::cli`; this file
//! only hands over the process.

fn main() -> std::process::ExitCode {
    sim::cli::main()
}
