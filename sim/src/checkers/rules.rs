//! Invariant 6, rules: every saved game state passes `validate_game_state`, and when a hand
//! finishes, every player's winnings are exactly what this checker recomputes with its own
//! arithmetic — the pots layered from the contributions, the rake per pot, each pot to the
//! best eligible hand by the hand evaluator, split evenly, every odd chip to the first winner
//! left of the button. Only the evaluator is shared with the engine (it is checked on its own
//! against every five- and seven-card hand).

use engine::eval::{HandValue, evaluate};
use engine::rules::{Chips, GameState, PotLayering, validate_game_state};
use engine::store::Value;

use super::{At, Invariant, TxnView, Violation};

#[derive(Default)]
pub struct Rules;

impl Rules {
    pub fn after_txn(&mut self, view: &TxnView<'_>, at: At, out: &mut Vec<Violation>) {
        for (_, before, after) in view.changes {
            let Some(Value::Table(table)) = after.as_ref().map(|v| &v.value) else { continue };
            let Some(game) = &table.game else { continue };
            if let Err(violation) = validate_game_state(game) {
                out.push(at.violation(
                    Invariant::Rules,
                    format!("{} hand {}: {violation} ({})", table.table, table.hand_number, view.txn.kind),
                ));
                continue;
            }
            let was_complete = matches!(
                before.as_ref().map(|v| &v.value),
                Some(Value::Table(b)) if b.hand_number == table.hand_number && b.game.as_ref().is_some_and(|g| g.complete)
            );
            if game.complete
                && !was_complete
                && let Err(message) = check_payouts(game)
            {
                out.push(
                    at.violation(Invariant::Rules, format!("{} hand {}: {message}", table.table, table.hand_number)),
                );
            }
        }
    }
}

/// A pot as this checker builds it, with its own arithmetic (not the engine's `build_pots`).
struct CheckedPot {
    amount: Chips,
    eligible: Vec<usize>,
}

/// The pots of a finished hand from what each player put in: one pot per distinct
/// contribution level of the players still in (`live`), each holding every player's chips up
/// to that level, won by the live players who reached it; chips above the highest live level
/// (folded players' only) are dead money in the top pot.
fn pots_of(contributed: &[Chips], live: &[bool]) -> Vec<CheckedPot> {
    let mut levels: Vec<Chips> = (0..contributed.len()).filter(|&p| live[p]).map(|p| contributed[p]).collect();
    levels.sort_unstable();
    levels.dedup();
    let mut pots = Vec::new();
    let mut below: Chips = 0;
    for &level in &levels {
        let amount = contributed.iter().map(|&c| c.min(level) - c.min(below)).sum();
        let eligible = (0..contributed.len()).filter(|&p| live[p] && contributed[p] >= level).collect();
        pots.push(CheckedPot { amount, eligible });
        below = level;
    }
    let dead: Chips = contributed.iter().map(|&c| c.saturating_sub(below)).sum();
    if let Some(top) = pots.last_mut() {
        top.amount += dead;
    }
    pots
}

/// Each player's hand value, `None` for a folded player (or for everyone when one survived).
fn hand_values(game: &GameState) -> Result<Vec<Option<HandValue>>, String> {
    let live: Vec<bool> = game.players.iter().map(|p| !p.folded).collect();
    if live.iter().filter(|&&l| l).count() <= 1 {
        return Ok(live.iter().map(|&l| l.then_some(HandValue(0))).collect());
    }
    if game.board.len() != 5 {
        return Err(format!("a contested showdown with a board of {} cards", game.board.len()));
    }
    Ok(game
        .players
        .iter()
        .map(|p| {
            (!p.folded).then(|| {
                let mut cards = game.board.clone();
                cards.extend_from_slice(&p.hole);
                evaluate(&cards)
            })
        })
        .collect())
}

/// The best hands among a pot's eligible players, in position order.
fn winners(pot: &CheckedPot, values: &[Option<HandValue>]) -> Vec<usize> {
    let best = pot.eligible.iter().filter_map(|&p| values[p]).max();
    pot.eligible.iter().copied().filter(|&p| values[p].is_some() && values[p] == best).collect()
}

/// What each position must have won, and the hand's rake, recomputed from the contributions,
/// the cards and the table's rake and layering rules: each pot minus its rake (basis points
/// of the pot rounded down, main pot first, up to the hand's cap, none without a flop) split
/// evenly among its best hands, every odd chip to the first winner left of the button.
pub fn expected_payouts(game: &GameState) -> Result<(Vec<Chips>, Chips), String> {
    let contributed: Vec<Chips> = game.players.iter().map(|p| p.contributed).collect();
    let live: Vec<bool> = game.players.iter().map(|p| !p.folded).collect();
    let values = hand_values(game)?;
    let mut pots = pots_of(&contributed, &live);
    if game.config.options.pot_layering == PotLayering::Contenders && live.iter().filter(|&&l| l).count() > 1 {
        let mut contenders = vec![false; live.len()];
        for pot in &pots {
            winners(pot, &values).into_iter().for_each(|p| contenders[p] = true);
        }
        pots = pots_of(&contributed, &contenders);
    }
    let rake_config = &game.config.rake;
    let mut rake_total: Chips = 0;
    let mut won = vec![0 as Chips; contributed.len()];
    let no_drop = rake_config.no_flop_no_drop && game.board.is_empty();
    for pot in &pots {
        let rake = if no_drop || rake_config.rake_bps == 0 {
            0
        } else {
            (pot.amount * u64::from(rake_config.rake_bps) / 10_000).min(rake_config.rake_cap - rake_total)
        };
        rake_total += rake;
        let pot_winners = winners(pot, &values);
        let Some(&first) = pot_winners.first() else { return Err("a pot nobody can win".into()) };
        let net = pot.amount - rake;
        let share = net / pot_winners.len() as Chips;
        for &w in &pot_winners {
            won[w] += share;
        }
        won[first] += net % pot_winners.len() as Chips;
    }
    Ok((won, rake_total))
}

/// Checks a finished hand's payouts, exactly, against what this checker recomputes.
pub fn check_payouts(game: &GameState) -> Result<(), String> {
    let (expected, rake) = expected_payouts(game)?;
    if game.rake != rake {
        return Err(format!("the hand's rake is {}, the pots' rules say {rake}", game.rake));
    }
    for (position, (player, expected)) in game.players.iter().zip(&expected).enumerate() {
        if player.won != *expected {
            return Err(format!(
                "position {position} won {} chips; the pots entitle it to exactly {expected} (odd chips to the first \
                 winner left of the button)",
                player.won
            ));
        }
    }
    Ok(())
}
