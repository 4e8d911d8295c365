//! Invariant 6, rules: every saved game state passes `validate_game_state`, and when a hand
//! finishes, the payouts equal the pots minus the rake and each pot goes to the best
//! eligible hand — recomputed here with the hand evaluator, split evenly among tied winners
//! (the odd chip to one of them).

use engine::eval::evaluate;
use engine::rules::{Chips, GameState, validate_game_state};
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

/// Checks a finished hand's payouts against its pots.
pub fn check_payouts(game: &GameState) -> Result<(), String> {
    let n = game.players.len();
    let net_total: Chips = game.pots.iter().map(|p| p.amount - p.rake).sum();
    let won_total: Chips = game.players.iter().map(|p| p.won).sum();
    if won_total != net_total {
        return Err(format!("players won {won_total} chips, the pots minus rake hold {net_total}"));
    }
    if game.pots.iter().map(|p| p.rake).sum::<Chips>() != game.rake {
        return Err(format!("the pots' rake does not add up to the hand's rake {}", game.rake));
    }
    let (mut least, mut most) = (vec![0 as Chips; n], vec![0 as Chips; n]);
    for (index, pot) in game.pots.iter().enumerate() {
        let contenders: Vec<usize> = pot.eligible.iter().copied().filter(|&p| !game.players[p].folded).collect();
        let winners: Vec<usize> = if contenders.len() <= 1 {
            contenders
        } else {
            if game.board.len() != 5 {
                return Err(format!("pot {index} is contested with a board of {} cards", game.board.len()));
            }
            let value = |p: usize| {
                let mut cards = game.board.clone();
                cards.extend_from_slice(&game.players[p].hole);
                evaluate(&cards)
            };
            let best = contenders.iter().map(|&p| value(p)).max().expect("contenders");
            contenders.into_iter().filter(|&p| value(p) == best).collect()
        };
        if winners.is_empty() {
            continue;
        }
        let net = pot.amount - pot.rake;
        let share = net / winners.len() as Chips;
        let odd = net % winners.len() as Chips;
        for &w in &winners {
            least[w] += share;
            most[w] += share + odd;
        }
    }
    for (p, player) in game.players.iter().enumerate() {
        if player.won < least[p] || player.won > most[p] {
            return Err(format!(
                "position {p} won {} chips; its pots entitle it to {}..={}",
                player.won, least[p], most[p]
            ));
        }
    }
    Ok(())
}
