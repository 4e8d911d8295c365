//! `validate_game_state`: the invariants a hand state must satisfy after every transition.
//!
//! The state machine asserts these itself after each change; the simulator's checkers and
//! the tests call them again from outside. This module only reads a state, never changes one.

use super::audit::{Holder, MoveReason};
use super::config::{BOARD_CARDS_MAX, Chips, HOLE_CARDS_PER_PLAYER};
use super::state::{GameState, Street};

/// A broken invariant: which one, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant {invariant}: {detail}")]
pub struct InvariantViolation {
    pub invariant: &'static str,
    pub detail: String,
}

fn violation(invariant: &'static str, detail: String) -> Result<(), InvariantViolation> {
    Err(InvariantViolation { invariant, detail })
}

/// Checks the state's own invariants:
/// - `chips_conserved`: stacks + bets + the middle + rake = the starting stacks;
/// - `pots_equal_contributions`: the middle holds exactly what was collected and not paid out;
///   settled pots add up to the contributions;
/// - `cards_unique`: every dealt card is drawn from the deck once, in draw order;
/// - `stage_legal`: board and burns match the street; a hand in progress has a player to act
///   who is in the hand with chips behind; a complete hand has none;
/// - `audit_replays`: replaying the audit trail from the starting stacks gives the stacks, and
///   each player's bets plus contributions.
pub fn validate_game_state(state: &GameState) -> Result<(), InvariantViolation> {
    let supply = state.chips_supply();
    if state.chips_total() != supply {
        return violation("chips_conserved", format!("table holds {} chips, supply is {supply}", state.chips_total()));
    }

    let contributed: Chips = state.players.iter().map(|p| p.contributed).sum();
    let won: Chips = state.players.iter().map(|p| p.won).sum();
    if contributed != state.collected + won + state.rake {
        return violation(
            "pots_equal_contributions",
            format!("contributed {contributed} != middle {} + paid {won} + rake {}", state.collected, state.rake),
        );
    }
    if state.complete {
        let in_pots: Chips = state.pots.iter().map(|p| p.amount).sum();
        let pot_rake: Chips = state.pots.iter().map(|p| p.rake).sum();
        if state.collected != 0 || in_pots != contributed || pot_rake != state.rake {
            return violation(
                "pots_equal_contributions",
                format!(
                    "settled pots {in_pots} (rake {pot_rake}) vs contributed {contributed}, middle {}",
                    state.collected
                ),
            );
        }
    }

    check_cards(state)?;
    check_stage(state)?;
    check_audit(state)
}

/// The cards of `cards` as a set of bits (bit `index` per card), and whether any came twice.
fn card_bits(cards: impl Iterator<Item = crate::cards::Card>) -> (u64, Option<crate::cards::Card>) {
    let mut bits = 0u64;
    for card in cards {
        let bit = 1u64 << card.index();
        if bits & bit != 0 {
            return (bits, Some(card));
        }
        bits |= bit;
    }
    (bits, None)
}

fn check_cards(state: &GameState) -> Result<(), InvariantViolation> {
    if !state.deck.is_complete() {
        return violation("cards_unique", "deck does not hold 52 distinct cards".into());
    }
    let count = state.players.len();
    let holes = (0..HOLE_CARDS_PER_PLAYER).flat_map(|round| state.players.iter().map(move |p| p.hole[round]));
    let dealt = holes.chain(state.burns.iter().copied()).chain(state.board.iter().copied());
    let (seen, twice) = card_bits(dealt);
    if let Some(card) = twice {
        return violation("cards_unique", format!("card {card} is in two places"));
    }
    let dealt_count = count * HOLE_CARDS_PER_PLAYER + state.burns.len() + state.board.len();
    if dealt_count != state.deck_drawn {
        return violation("cards_unique", format!("{dealt_count} cards in play but {} drawn", state.deck_drawn));
    }
    let (drawn, _) = card_bits(state.deck.cards()[..state.deck_drawn].iter().copied());
    if drawn != seen {
        return violation("cards_unique", "cards in play are not the cards drawn from the deck".into());
    }
    let holes_match = (0..HOLE_CARDS_PER_PLAYER)
        .all(|round| (0..count).all(|p| state.players[p].hole[round] == state.deck.card(round * count + p)));
    if !holes_match {
        return violation("cards_unique", "hole cards are not dealt in draw order".into());
    }
    Ok(())
}

fn check_stage(state: &GameState) -> Result<(), InvariantViolation> {
    let streets_dealt = match state.street {
        Street::Preflop => 0,
        Street::Flop => 1,
        Street::Turn => 2,
        Street::River => 3,
    };
    if state.board.len() != state.street.board_cards() || state.burns.len() != streets_dealt {
        return violation(
            "stage_legal",
            format!("{:?} with {} board cards and {} burns", state.street, state.board.len(), state.burns.len()),
        );
    }
    if state.board.len() > BOARD_CARDS_MAX {
        return violation("stage_legal", "more than five board cards".into());
    }
    if state.in_hand_count() == 0 {
        return violation("stage_legal", "every player folded".into());
    }
    let actors = state.pending_actors();
    match (state.complete, actors.front()) {
        (true, Some(actor)) => violation("stage_legal", format!("hand complete but position {actor} is to act")),
        (false, None) => violation("stage_legal", "hand in progress with nobody to act".into()),
        (false, Some(&actor)) => {
            let queued_twice = actors.iter().enumerate().any(|(i, a)| actors.iter().skip(i + 1).any(|b| a == b));
            if queued_twice {
                return violation("stage_legal", format!("a player is queued twice to act: {actors:?}"));
            }
            match actors.iter().find(|&&p| state.players[p].folded || state.players[p].stack == 0) {
                Some(p) => violation("stage_legal", format!("position {p} is queued to act but folded or all-in")),
                None if state.players[actor].bet > state.bet_to_match() => {
                    violation("stage_legal", "a bet above the bet to match".into())
                }
                None => Ok(()),
            }
        }
        (true, None) => {
            if state.players.iter().any(|p| p.bet != 0) {
                return violation("stage_legal", "bets left on a complete hand".into());
            }
            Ok(())
        }
    }
}

fn check_audit(state: &GameState) -> Result<(), InvariantViolation> {
    let mut balances: Vec<Chips> = state.players.iter().map(|p| p.starting_stack).collect();
    let mut rake: Chips = 0;
    // Per player: chips put in (forced bets, calls, raises) minus uncalled returns.
    let mut put_in: Vec<Chips> = vec![0; balances.len()];
    for (index, movement) in state.audit.iter().enumerate() {
        let balance = match movement.holder {
            Holder::Player(p) if p < balances.len() => &mut balances[p],
            Holder::Player(p) => return violation("audit_replays", format!("entry {index} names position {p}")),
            Holder::Rake => &mut rake,
        };
        let expected = if movement.reason.credits_holder() {
            movement.before + movement.amount
        } else {
            match movement.before.checked_sub(movement.amount) {
                Some(after) => after,
                None => return violation("audit_replays", format!("entry {index} takes more than the holder had")),
            }
        };
        if movement.before != *balance || movement.after != expected {
            return violation("audit_replays", format!("entry {index} {movement:?} does not follow balance {balance}"));
        }
        if movement.reason == MoveReason::Rake && movement.holder != Holder::Rake {
            return violation("audit_replays", format!("entry {index}: rake credited to a player"));
        }
        *balance = expected;
        if let Holder::Player(p) = movement.holder {
            match movement.reason {
                MoveReason::UncalledBetReturned => put_in[p] = put_in[p].saturating_sub(movement.amount),
                MoveReason::PotWon { .. } | MoveReason::Rake => {}
                _ => put_in[p] += movement.amount,
            }
        }
    }
    for (p, player) in state.players.iter().enumerate() {
        if put_in[p] != player.bet + player.contributed {
            return violation(
                "audit_replays",
                format!(
                    "audit puts in {} for position {p}, but bet + contributed is {}",
                    put_in[p],
                    player.bet + player.contributed
                ),
            );
        }
        if balances[p] != player.stack {
            return violation(
                "audit_replays",
                format!("audit gives position {p} {} chips, stack is {}", balances[p], player.stack),
            );
        }
    }
    if rake != state.rake {
        return violation("audit_replays", format!("audit rake {rake} != rake {}", state.rake));
    }
    Ok(())
}
