//! Pots: layering contributions into a main pot and side pots, rake, and splitting a pot
//! among tied winners.
//!
//! Pure arithmetic on contributions and hand values. It never decides who is still in the
//! hand or which cards were dealt; the table state machine passes that in.

use serde::{Deserialize, Serialize};

use super::config::{BASIS_POINTS_PER_WHOLE, Chips, Position, RakeConfig};

/// One pot: its chips and the players who can win it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pot {
    /// Chips in the pot before rake.
    pub amount: Chips,
    /// Rake taken from this pot.
    pub rake: Chips,
    /// Players still in the hand who contributed up to this pot's level, in position order.
    pub eligible: Vec<Position>,
}

/// Builds the main pot and side pots from what each player put in over the whole hand.
///
/// Each distinct contribution level starts a layer; a layer holds every player's chips up to
/// that level (folded players' chips stay in the layers they reached) and can be won by the
/// players still in (`in_hand`) who reached it. Adjacent layers with the same eligible players
/// merge. Layers of zero chips are dropped. A layer that no player still in reached (only
/// folded players put chips that high, e.g. antes of players who then folded) is dead money:
/// it joins the highest pot below it that has eligible players. The pots' amounts add up to
/// the contributions.
///
/// Precondition: `contributions` and `in_hand` have one entry per position, and at least one
/// player is in the hand.
pub fn build_pots(contributions: &[Chips], in_hand: &[bool]) -> Vec<Pot> {
    assert_eq!(contributions.len(), in_hand.len(), "one contribution and one status per position");
    let mut levels: Vec<Chips> = contributions.to_vec();
    levels.sort_unstable();
    levels.dedup();

    let mut pots: Vec<Pot> = Vec::new();
    let mut previous: Chips = 0;
    for level in levels {
        let layer_players = contributions.iter().filter(|&&c| c >= level).count() as Chips;
        let mut amount = (level - previous) * layer_players;
        let eligible: Vec<Position> =
            (0..contributions.len()).filter(|&p| in_hand[p] && contributions[p] >= level).collect();
        while pots.last().is_some_and(|pot| pot.eligible == eligible) {
            amount += pots.pop().expect("checked").amount;
        }
        if amount > 0 {
            pots.push(Pot { amount, rake: 0, eligible });
        }
        previous = level;
    }
    // Dead layers sit above every contribution of a player still in (the lowest layer always
    // includes them all), so they merge downwards.
    while pots.len() > 1 && pots.last().is_some_and(|pot| pot.eligible.is_empty()) {
        let dead = pots.pop().expect("checked").amount;
        pots.last_mut().expect("checked").amount += dead;
    }
    assert!(
        pots.iter().all(|pot| !pot.eligible.is_empty()) || !in_hand.contains(&true),
        "invariant pot_has_eligible_player: {pots:?}"
    );
    debug_assert_eq!(pots.iter().map(|p| p.amount).sum::<Chips>(), contributions.iter().sum::<Chips>());
    pots
}

/// Takes rake from each pot in order (main pot first): `rake_bps` of the pot rounded down,
/// until the per-hand cap is reached. Returns the total rake.
pub fn take_rake(pots: &mut [Pot], rake: &RakeConfig, flop_dealt: bool) -> Chips {
    if rake.rake_bps == 0 || rake.rake_cap == 0 || (rake.no_flop_no_drop && !flop_dealt) {
        return 0;
    }
    let mut total: Chips = 0;
    for pot in pots.iter_mut() {
        let share = pot.amount * u64::from(rake.rake_bps) / BASIS_POINTS_PER_WHOLE;
        pot.rake = share.min(rake.rake_cap - total);
        total += pot.rake;
    }
    assert!(total <= rake.rake_cap, "invariant rake_within_cap: {total} > {}", rake.rake_cap);
    total
}

/// Splits `amount` among `winners` (position order, non-empty): equal shares, and the odd
/// chips to the first winner, who is the first left of the button.
pub fn split(amount: Chips, winners: &[Position]) -> Vec<(Position, Chips)> {
    assert!(!winners.is_empty(), "a pot needs at least one winner");
    let count = winners.len() as Chips;
    let (share, odd) = (amount / count, amount % count);
    winners.iter().enumerate().map(|(i, &p)| (p, share + if i == 0 { odd } else { 0 })).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_all_ins_of_different_sizes_make_three_pots() {
        // Positions 0..3 put in 50, 100, 200, 200; all still in the hand.
        let pots = build_pots(&[50, 100, 200, 200], &[true; 4]);
        assert_eq!(
            pots,
            vec![
                Pot { amount: 200, rake: 0, eligible: vec![0, 1, 2, 3] },
                Pot { amount: 150, rake: 0, eligible: vec![1, 2, 3] },
                Pot { amount: 200, rake: 0, eligible: vec![2, 3] },
            ]
        );
    }

    #[test]
    fn folded_chips_stay_in_the_pots_they_reached() {
        // Position 1 folded after putting in 80: its chips fill the first two layers.
        let pots = build_pots(&[50, 80, 200, 200], &[true, false, true, true]);
        assert_eq!(pots[0], Pot { amount: 200, rake: 0, eligible: vec![0, 2, 3] });
        // Layers 50..80 and 80..200 have the same eligible players and merge.
        assert_eq!(pots[1], Pot { amount: 30 * 3 + 120 * 2, rake: 0, eligible: vec![2, 3] });
        assert_eq!(pots.len(), 2);
    }

    #[test]
    fn chips_no_player_in_the_hand_reached_join_the_highest_live_pot() {
        // Regression (proptest seed 1523971175337775848): three players all-in on their antes
        // (39, 13, 44), the two who put in 50 both folded to the full big blind. The 44..50
        // layer belongs to nobody still in: it is dead money in the top live pot.
        let pots = build_pots(&[39, 13, 44, 50, 50], &[true, true, true, false, false]);
        assert_eq!(pots.iter().map(|p| p.amount).sum::<Chips>(), 196);
        assert_eq!(pots.last().unwrap(), &Pot { amount: 5 * 3 + 6 * 2, rake: 0, eligible: vec![2] });
        assert!(pots.iter().all(|p| !p.eligible.is_empty()));
    }

    #[test]
    fn odd_chip_goes_to_the_first_winner() {
        assert_eq!(split(101, &[2, 5]), vec![(2, 51), (5, 50)]);
        assert_eq!(split(100, &[0, 1, 4]), vec![(0, 34), (1, 33), (4, 33)]);
    }

    #[test]
    fn rake_is_capped_per_hand() {
        let mut pots = build_pots(&[100, 300, 300], &[true; 3]);
        let rake = RakeConfig { rake_bps: 1_000, rake_cap: 35, no_flop_no_drop: true };
        assert_eq!(take_rake(&mut pots, &rake, true), 35);
        assert_eq!(pots[0].rake, 30);
        assert_eq!(pots[1].rake, 5);
        assert_eq!(take_rake(&mut pots, &rake, false), 0, "no flop, no drop");
    }
}
