//! The sim crate's integration tests, in one binary: the hand-history tools against the
//! PokerKit fixture, the `chipsim` command line, and the crate boundary.

mod boundary;
mod hands;
