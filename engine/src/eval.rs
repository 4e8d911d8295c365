//! Hand evaluation: the best five-card poker hand out of five to seven cards, as a single
//! comparable number.
//!
//! Our own evaluator, with no downloaded tables: per-suit and per-rank bit masks plus rank
//! counts. It owns hand ranking and nothing else; it never looks at chips or players.
//!
//! The value is `category << 20 | kickers`, where the kickers are up to five ranks (4 bits
//! each, most significant first). Hands that differ only in suits get the same value, and a
//! higher value is a better hand.

use serde::{Deserialize, Serialize};

use crate::cards::Card;

/// The nine hand categories, worst to best.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    HighCard = 0,
    OnePair = 1,
    TwoPair = 2,
    ThreeOfAKind = 3,
    Straight = 4,
    Flush = 5,
    FullHouse = 6,
    FourOfAKind = 7,
    StraightFlush = 8,
}

impl Category {
    /// All categories, worst first.
    pub const ALL: [Category; 9] = [
        Category::HighCard,
        Category::OnePair,
        Category::TwoPair,
        Category::ThreeOfAKind,
        Category::Straight,
        Category::Flush,
        Category::FullHouse,
        Category::FourOfAKind,
        Category::StraightFlush,
    ];
}

/// The strength of a best five-card hand; compare with `<`/`>`/`==`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HandValue(pub u32);

impl HandValue {
    const CATEGORY_SHIFT: u32 = 20;

    pub fn category(self) -> Category {
        Category::ALL[(self.0 >> Self::CATEGORY_SHIFT) as usize]
    }

    fn from_parts(category: Category, kickers: &[u8]) -> HandValue {
        debug_assert!(kickers.len() <= 5);
        let mut value = 0u32;
        for slot in 0..5 {
            value = (value << 4) | kickers.get(slot).map_or(0, |&r| r as u32);
        }
        HandValue(((category as u32) << Self::CATEGORY_SHIFT) | value)
    }
}

/// Bit for a wheel (A-2-3-4-5): ranks 0..3 plus the ace (12).
const WHEEL_MASK: u16 = 0b1_0000_0000_1111;

/// The highest straight in a 13-bit rank mask, as the rank of its top card (3 for the wheel).
fn straight_top(mask: u16) -> Option<u8> {
    for top in (4..13u8).rev() {
        let run = 0b1_1111u16 << (top - 4);
        if mask & run == run {
            return Some(top);
        }
    }
    (mask & WHEEL_MASK == WHEEL_MASK).then_some(3)
}

/// The `n` highest ranks set in `mask`, highest first.
fn top_ranks(mask: u16, n: usize, out: &mut [u8; 5], start: usize) -> usize {
    let mut written = start;
    for rank in (0..13u8).rev() {
        if written - start == n {
            break;
        }
        if mask & (1 << rank) != 0 {
            out[written] = rank;
            written += 1;
        }
    }
    written
}

/// The ranks that come more than once, by multiplicity, highest rank first within each group
/// (at most three pairs are kept: seven cards hold no more).
struct RankGroups {
    quads: [u8; 1],
    trips: [u8; 2],
    pairs: [u8; 3],
    quad_count: usize,
    trip_count: usize,
    pair_count: usize,
}

impl RankGroups {
    fn of(counts: &[u8; 13]) -> RankGroups {
        let mut groups =
            RankGroups { quads: [0; 1], trips: [0; 2], pairs: [0; 3], quad_count: 0, trip_count: 0, pair_count: 0 };
        for rank in (0..13u8).rev() {
            match counts[rank as usize] {
                4 => {
                    groups.quads[groups.quad_count] = rank;
                    groups.quad_count += 1;
                }
                3 => {
                    groups.trips[groups.trip_count] = rank;
                    groups.trip_count += 1;
                }
                2 if groups.pair_count < 3 => {
                    groups.pairs[groups.pair_count] = rank;
                    groups.pair_count += 1;
                }
                _ => {}
            }
        }
        groups
    }
}

/// Evaluates the best five-card hand among `cards` (5 to 7 distinct cards).
///
/// Panics if fewer than five or more than seven cards are given: that is a caller bug.
pub fn evaluate(cards: &[Card]) -> HandValue {
    assert!((5..=7).contains(&cards.len()), "evaluate needs 5 to 7 cards, got {}", cards.len());
    let mut suit_masks = [0u16; 4];
    let mut counts = [0u8; 13];
    for card in cards {
        suit_masks[card.suit() as usize] |= 1 << card.rank();
        counts[card.rank() as usize] += 1;
    }

    if let Some(&flush_mask) = suit_masks.iter().find(|m| m.count_ones() >= 5) {
        if let Some(top) = straight_top(flush_mask) {
            return HandValue::from_parts(Category::StraightFlush, &[top]);
        }
        let mut kickers = [0u8; 5];
        top_ranks(flush_mask, 5, &mut kickers, 0);
        return HandValue::from_parts(Category::Flush, &kickers);
    }

    let rank_mask = suit_masks.iter().fold(0, |acc, m| acc | m);
    let RankGroups { quads, trips, pairs, quad_count, trip_count, pair_count } = RankGroups::of(&counts);

    let mut kickers = [0u8; 5];
    if quad_count == 1 {
        let quad = quads[0];
        kickers[0] = quad;
        top_ranks(rank_mask & !(1 << quad), 1, &mut kickers, 1);
        return HandValue::from_parts(Category::FourOfAKind, &kickers[..2]);
    }
    if trip_count >= 1 && (trip_count >= 2 || pair_count >= 1) {
        // With two trips the lower one plays as the pair, unless a real pair is higher.
        let pair = match (trip_count >= 2, pair_count >= 1) {
            (true, true) => trips[1].max(pairs[0]),
            (true, false) => trips[1],
            (false, _) => pairs[0],
        };
        return HandValue::from_parts(Category::FullHouse, &[trips[0], pair]);
    }
    if let Some(top) = straight_top(rank_mask) {
        return HandValue::from_parts(Category::Straight, &[top]);
    }
    if trip_count == 1 {
        kickers[0] = trips[0];
        top_ranks(rank_mask & !(1 << trips[0]), 2, &mut kickers, 1);
        return HandValue::from_parts(Category::ThreeOfAKind, &kickers[..3]);
    }
    if pair_count >= 2 {
        kickers[0] = pairs[0];
        kickers[1] = pairs[1];
        top_ranks(rank_mask & !(1 << pairs[0]) & !(1 << pairs[1]), 1, &mut kickers, 2);
        return HandValue::from_parts(Category::TwoPair, &kickers[..3]);
    }
    if pair_count == 1 {
        kickers[0] = pairs[0];
        top_ranks(rank_mask & !(1 << pairs[0]), 3, &mut kickers, 1);
        return HandValue::from_parts(Category::OnePair, &kickers[..4]);
    }
    top_ranks(rank_mask, 5, &mut kickers, 0);
    HandValue::from_parts(Category::HighCard, &kickers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn value(text: &str) -> HandValue {
        evaluate(&Card::parse_many(text).unwrap())
    }

    #[test]
    fn categories_of_known_hands() {
        assert_eq!(value("AsKsQsJsTs").category(), Category::StraightFlush);
        assert_eq!(value("5h4h3h2hAh").category(), Category::StraightFlush);
        assert_eq!(value("9c9d9h9s2c").category(), Category::FourOfAKind);
        assert_eq!(value("9c9d9h2s2c").category(), Category::FullHouse);
        assert_eq!(value("Kd9d7d3d2d").category(), Category::Flush);
        assert_eq!(value("As2d3h4c5s").category(), Category::Straight);
        assert_eq!(value("7c7d7hKsQd").category(), Category::ThreeOfAKind);
        assert_eq!(value("7c7dKhKsQd").category(), Category::TwoPair);
        assert_eq!(value("7c7dAhKsQd").category(), Category::OnePair);
        assert_eq!(value("7c9dAhKsQd").category(), Category::HighCard);
    }

    #[test]
    fn seven_card_hands_pick_the_best_five() {
        // Two trips make a full house with the higher trips on top.
        assert_eq!(value("9c9d9h5s5c5dAh"), value("9c9d9h5s5cKdQh"));
        // Three pairs: the best two plus the best remaining kicker (a pair card can be kicker).
        assert_eq!(value("AcAdKhKsQcQd2h"), value("AcAdKhKsQc3d2h"));
        assert!(value("AcAdKhKsQcQd2h") > value("AcAdKhKsJc3d2h"));
        // The wheel loses to a six-high straight; a flush beats any straight.
        assert!(value("As2d3h4c5s9d9h") < value("6s2d3h4c5s9d9h"));
        assert!(value("2h7h9hJhKh3c4d") > value("TcJdQhKsAc2d2h"));
        // Quads with a board pair: the kicker is the best other rank.
        assert_eq!(value("9c9d9h9sKcKdAh"), value("9c9d9h9sAc2d3h"));
    }

    #[test]
    fn suits_do_not_break_ties() {
        assert_eq!(value("AhKh7c5d2s"), value("AsKd7h5c2d"));
        assert_eq!(value("AhAdKhKd9c"), value("AsAcKsKc9d"));
    }

    /// All 2,598,960 five-card hands take exactly 7,462 distinct values, with the known count
    /// of hands per category.
    #[test]
    fn all_five_card_hands_give_7462_distinct_values() {
        let cards: Vec<Card> = (0..52).map(Card::from_index).collect();
        let mut values = BTreeSet::new();
        let mut per_category = [0u64; 9];
        let mut hand = [cards[0]; 5];
        for a in 0..52 {
            hand[0] = cards[a];
            for b in a + 1..52 {
                hand[1] = cards[b];
                for c in b + 1..52 {
                    hand[2] = cards[c];
                    for d in c + 1..52 {
                        hand[3] = cards[d];
                        for &card in &cards[d + 1..] {
                            hand[4] = card;
                            let v = evaluate(&hand);
                            per_category[v.category() as usize] += 1;
                            values.insert(v);
                        }
                    }
                }
            }
        }
        assert_eq!(values.len(), 7462);
        assert_eq!(per_category, [1_302_540, 1_098_240, 123_552, 54_912, 10_200, 5_108, 3_744, 624, 40]);
    }
}
