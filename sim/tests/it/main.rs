//! The sim crate's integration tests, in one binary: the hand-history tools against the
//! PokerKit fixture, the `chipsim` command line, the crate boundary, and whole simulation
//! runs (determinism, planted bugs, scenario errors).

mod bad_input;
mod boundary;
mod deeper;
mod hands;
mod reviews;
mod shrink;
mod simulation;
mod sweep;
