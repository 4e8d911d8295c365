//! `chipsim hands`: seeded random hands written as PHH-notation JSON lines, and the check of
//! such a file by replaying every hand through the rules engine in scripted mode.
//!
//! The files follow PokerKit's conventions, so both directions use the PokerKit-compatible
//! rule options unless told otherwise (see the README's rule options). Every hand is derived
//! from the seed and its index alone: hand 1,234 of seed 7 is the same whatever the count.

use std::io::{BufRead, Write};

use engine::cards::Deck;
use engine::rules::random_play::{play_out, random_setup};
use engine::rules::{Chips, GameState, HandHistory, RuleOptions};

use crate::seeds;

/// Plays hand `index` of `seed` with random legal actions and returns its history.
pub fn generate_hand(seed: u64, index: u64, options: RuleOptions) -> HandHistory {
    let mut rng = seeds::rng(seed, "hands", index);
    let (config, stacks) = random_setup(&mut rng, options);
    let deck = Deck::shuffled(&mut rng);
    let mut state = GameState::start(config, &stacks, deck).expect("generated set-ups are valid");
    play_out(&mut state, &mut rng);
    HandHistory::from_state(&state, Some(seed), Some(index))
}

/// Writes `count` hands of `seed` as JSON lines.
pub fn write_hands<W: Write>(out: &mut W, seed: u64, count: u64, options: RuleOptions) -> std::io::Result<()> {
    for index in 0..count {
        let hand = generate_hand(seed, index, options);
        serde_json::to_writer(&mut *out, &hand)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The outcome of checking a file of hands.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckSummary {
    pub hands: u64,
    pub mismatches: u64,
    /// One line per mismatch: `line N: reason`.
    pub reports: Vec<String>,
}

/// Replays one history; `None` when the engine agrees with it, else the reason.
pub fn check_hand(history: &HandHistory, options: RuleOptions) -> Option<String> {
    match history.replay(options) {
        Err(error) => Some(error.to_string()),
        Ok(state) => {
            let stacks: Vec<Chips> = state.players.iter().map(|p| p.stack).collect();
            (stacks != history.final_stacks)
                .then(|| format!("final stacks differ: engine {stacks:?}, history {:?}", history.final_stacks))
        }
    }
}

/// Replays every JSON line of `input` (blank lines skipped); a line that is not a hand
/// history counts as a mismatch.
pub fn check_lines<R: BufRead>(input: R, options: RuleOptions) -> std::io::Result<CheckSummary> {
    let mut summary = CheckSummary::default();
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        summary.hands += 1;
        let reason = match serde_json::from_str::<HandHistory>(&line) {
            Err(error) => Some(format!("not a hand history: {error}")),
            Ok(history) => check_hand(&history, options),
        };
        if let Some(reason) = reason {
            summary.mismatches += 1;
            summary.reports.push(format!("line {}: {reason}", number + 1));
        }
    }
    Ok(summary)
}
