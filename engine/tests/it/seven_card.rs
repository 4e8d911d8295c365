//! All 133,784,560 seven-card hands against the known category counts. About ten seconds in
//! release, far longer in a debug build, so it is ignored by default and CI runs it with
//! `cargo test --release -p engine --test it -- --ignored`.

use engine::cards::Card;
use engine::eval::{Category, evaluate};

#[test]
#[ignore = "exhaustive: 133,784,560 hands; run in release (CI does)"]
fn all_seven_card_hands_match_the_known_category_counts() {
    let cards: Vec<Card> = (0..52).map(Card::from_index).collect();
    let mut per_category = [0u64; 9];
    let mut hand = [cards[0]; 7];
    for a in 0..52 {
        hand[0] = cards[a];
        for b in a + 1..52 {
            hand[1] = cards[b];
            for c in b + 1..52 {
                hand[2] = cards[c];
                for d in c + 1..52 {
                    hand[3] = cards[d];
                    for e in d + 1..52 {
                        hand[4] = cards[e];
                        for f in e + 1..52 {
                            hand[5] = cards[f];
                            for &card in &cards[f + 1..] {
                                hand[6] = card;
                                per_category[evaluate(&hand).category() as usize] += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    let expected = [
        (Category::HighCard, 23_294_460),
        (Category::OnePair, 58_627_800),
        (Category::TwoPair, 31_433_400),
        (Category::ThreeOfAKind, 6_461_620),
        (Category::Straight, 6_180_020),
        (Category::Flush, 4_047_644),
        (Category::FullHouse, 3_473_184),
        (Category::FourOfAKind, 224_848),
        (Category::StraightFlush, 41_584),
    ];
    for (category, count) in expected {
        assert_eq!(per_category[category as usize], count, "{category:?}");
    }
    assert_eq!(per_category.iter().sum::<u64>(), 133_784_560);
}
