//! Random legal play: random table set-ups, and a legal action for the player to act from an injected RNG.
//!
//! Used by `chipsim hands`, the property tests and simulated clients. It only chooses among
//! the actions `GameState::legal_actions` offers; it never bends a rule.

use rand::Rng;

use super::config::{Chips, RuleOptions, TableConfig};
use super::state::{Action, GameState};

/// Percent chance of each kind of choice when several are open.
const FOLD_PERCENT: u32 = 25;
const RAISE_PERCENT: u32 = 30;
const ALL_IN_PERCENT: u32 = 8;

/// A legal action for the player to act, or `None` when the hand is over.
///
/// Folds only when there is something to call; raises to the minimum, a random amount in
/// range or all-in; otherwise checks or calls.
pub fn random_action<R: Rng + ?Sized>(state: &GameState, rng: &mut R) -> Option<Action> {
    let legal = state.legal_actions()?;
    let roll = rng.random_range(0..100u32);
    if legal.can_fold && roll < FOLD_PERCENT {
        return Some(Action::Fold);
    }
    if roll < FOLD_PERCENT + ALL_IN_PERCENT {
        return Some(Action::AllIn);
    }
    if let Some(range) = legal.raise
        && roll < FOLD_PERCENT + ALL_IN_PERCENT + RAISE_PERCENT
    {
        let to: Chips = match rng.random_range(0..3u32) {
            0 => range.min_to,
            1 => rng.random_range(range.min_to..=range.max_to),
            _ => range.min_to.saturating_mul(2).clamp(range.min_to, range.max_to),
        };
        return Some(Action::RaiseTo(to));
    }
    Some(if legal.call_amount > 0 { Action::Call } else { Action::Check })
}

/// Plays the hand to the end with random legal actions; returns the number of actions taken.
pub fn play_out<R: Rng + ?Sized>(state: &mut GameState, rng: &mut R) -> usize {
    let mut actions = 0;
    while let Some(action) = random_action(state, rng) {
        let actor = state.actor().expect("an action implies an actor");
        state.apply(actor, action).expect("random_action offers only legal actions");
        actions += 1;
    }
    actions
}

/// Stakes the generator picks from: `(small blind, big blind)`.
const STAKES: [(Chips, Chips); 4] = [(1, 2), (5, 10), (25, 50), (50, 100)];
/// Seat counts the generator deals to.
const SEATS_GENERATED_MIN: usize = 2;
const SEATS_GENERATED_MAX: usize = 9;
/// Deepest stack the generator deals, in big blinds.
const STACK_BIG_BLINDS_MAX: Chips = 200;

/// A random table set-up: stakes, an optional ante, and stacks that are often short (below a
/// blind or the ante) so that all-ins and side pots are common.
pub fn random_setup<R: Rng + ?Sized>(rng: &mut R, options: RuleOptions) -> (TableConfig, Vec<Chips>) {
    let (mut small_blind, big_blind) = STAKES[rng.random_range(0..STAKES.len())];
    if rng.random_bool(0.15) {
        small_blind = rng.random_range(1..=big_blind);
    }
    let ante = match rng.random_range(0..10u32) {
        0..=5 => 0,
        6..=8 => rng.random_range(1..=big_blind.div_ceil(4)),
        _ => big_blind,
    };
    let seats = rng.random_range(SEATS_GENERATED_MIN..=SEATS_GENERATED_MAX);
    let stacks = (0..seats)
        .map(|_| match rng.random_range(0..10u32) {
            0 => rng.random_range(1..=ante + small_blind),
            1..=2 => rng.random_range(1..=big_blind * 3),
            3..=4 => rng.random_range(big_blind..=big_blind * 20),
            _ => rng.random_range(big_blind..=big_blind * STACK_BIG_BLINDS_MAX),
        })
        .collect();
    let config = TableConfig { ante, options, ..TableConfig::new(small_blind, big_blind) };
    (config, stacks)
}
