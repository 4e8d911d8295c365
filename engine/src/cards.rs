//! Cards and the deck: a 52-card French deck, text forms (`Ah`, `Td`, `2c`), and a
//! deterministic Fisher–Yates shuffle driven by an injected RNG.
//!
//! This module owns card identity. It never draws randomness of its own: every shuffle takes
//! the caller's RNG, so the same seed always gives the same deck.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Cards in a standard deck.
pub const DECK_SIZE: usize = 52;
/// Ranks per suit (2 through ace).
pub const RANK_COUNT: u8 = 13;
/// Suits in the deck.
pub const SUIT_COUNT: u8 = 4;

const RANK_CHARS: &[u8; 13] = b"23456789TJQKA";
const SUIT_CHARS: &[u8; 4] = b"cdhs";

/// One card, packed as `rank * 4 + suit`: rank 0 is a deuce and 12 an ace; suits are
/// clubs, diamonds, hearts, spades (0..4).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Card(u8);

impl Card {
    /// Builds a card from a rank (0 = deuce … 12 = ace) and a suit (0..4).
    ///
    /// Panics if either is out of range: callers construct cards from validated data.
    pub fn new(rank: u8, suit: u8) -> Card {
        assert!(rank < RANK_COUNT && suit < SUIT_COUNT, "card out of range: rank {rank} suit {suit}");
        Card(rank * SUIT_COUNT + suit)
    }

    /// The card with this index in the canonical deck order (0..52).
    pub fn from_index(index: u8) -> Card {
        assert!((index as usize) < DECK_SIZE, "card index {index} out of range");
        Card(index)
    }

    /// Position in the canonical deck order (0..52).
    pub fn index(self) -> u8 {
        self.0
    }

    /// Rank, 0 (deuce) to 12 (ace).
    pub fn rank(self) -> u8 {
        self.0 / SUIT_COUNT
    }

    /// Suit, 0..4 (clubs, diamonds, hearts, spades).
    pub fn suit(self) -> u8 {
        self.0 % SUIT_COUNT
    }

    /// Parses a run of two-character cards such as `AhKd` or `3d8c9s`.
    pub fn parse_many(text: &str) -> Result<Vec<Card>, CardParseError> {
        if !text.is_ascii() || !text.len().is_multiple_of(2) || text.is_empty() {
            return Err(CardParseError(text.to_string()));
        }
        text.as_bytes().chunks(2).map(|pair| std::str::from_utf8(pair).expect("ascii").parse()).collect()
    }

    /// Formats cards back to back, the inverse of [`Card::parse_many`].
    pub fn format_many(cards: &[Card]) -> String {
        cards.iter().map(|c| c.to_string()).collect()
    }
}

/// A card text that is not of the form rank (`2`–`9`, `T`, `J`, `Q`, `K`, `A`) plus suit
/// (`c`, `d`, `h`, `s`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a card: {0:?} (expected e.g. Ah, Td, 2c)")]
pub struct CardParseError(pub String);

impl FromStr for Card {
    type Err = CardParseError;

    fn from_str(text: &str) -> Result<Card, CardParseError> {
        let bytes = text.as_bytes();
        if bytes.len() != 2 {
            return Err(CardParseError(text.to_string()));
        }
        let rank = RANK_CHARS.iter().position(|&c| c == bytes[0].to_ascii_uppercase());
        let suit = SUIT_CHARS.iter().position(|&c| c == bytes[1].to_ascii_lowercase());
        match (rank, suit) {
            (Some(rank), Some(suit)) => Ok(Card::new(rank as u8, suit as u8)),
            _ => Err(CardParseError(text.to_string())),
        }
    }
}

impl fmt::Display for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rank = RANK_CHARS[self.rank() as usize] as char;
        let suit = SUIT_CHARS[self.suit() as usize] as char;
        write!(f, "{rank}{suit}")
    }
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Card {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Card {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Card, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The order in which a hand draws its cards: hole cards, burns and board cards are taken
/// from the front, one at a time.
///
/// **Invariant:** holds each of the 52 cards exactly once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deck {
    cards: Vec<Card>,
}

impl Deck {
    /// The 52 cards in canonical order (2c, 2d, 2h, 2s, 3c, …, As).
    pub fn ordered() -> Deck {
        Deck { cards: (0..DECK_SIZE as u8).map(Card).collect() }
    }

    /// A deck shuffled by Fisher–Yates with the caller's RNG: the same RNG state always
    /// gives the same order.
    pub fn shuffled<R: Rng + ?Sized>(rng: &mut R) -> Deck {
        let mut deck = Deck::ordered();
        for i in (1..DECK_SIZE).rev() {
            let j = rng.random_range(0..=i);
            deck.cards.swap(i, j);
        }
        deck
    }

    /// A deck whose first cards are `prefix` in that order, followed by every other card in
    /// canonical order. Used by scripted hands, which fix the cards that will be dealt.
    pub fn with_prefix(prefix: &[Card]) -> Result<Deck, DuplicateCardError> {
        let mut seen = [false; DECK_SIZE];
        for &card in prefix {
            if std::mem::replace(&mut seen[card.index() as usize], true) {
                return Err(DuplicateCardError(card));
            }
        }
        let mut cards = prefix.to_vec();
        cards.extend((0..DECK_SIZE as u8).filter(|&i| !seen[i as usize]).map(Card));
        Ok(Deck { cards })
    }

    /// The card at draw position `position` (0 = first card dealt).
    pub fn card(&self, position: usize) -> Card {
        self.cards[position]
    }

    /// All 52 cards in draw order.
    pub fn cards(&self) -> &[Card] {
        &self.cards
    }

    /// Checks the deck invariant: 52 distinct cards.
    pub fn is_complete(&self) -> bool {
        let mut seen = [false; DECK_SIZE];
        self.cards.len() == DECK_SIZE
            && self.cards.iter().all(|c| !std::mem::replace(&mut seen[c.index() as usize], true))
    }
}

/// The same card was named twice where each card may appear once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("card {0} appears twice")]
pub struct DuplicateCardError(pub Card);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn text_round_trips_for_every_card() {
        for i in 0..DECK_SIZE as u8 {
            let card = Card::from_index(i);
            assert_eq!(card.to_string().parse::<Card>().unwrap(), card);
        }
        assert_eq!(Card::parse_many("AhKd").unwrap(), vec![Card::new(12, 2), Card::new(11, 1)]);
        assert!(Card::parse_many("Ah1d").is_err());
        assert!(Card::parse_many("AhK").is_err());
        assert!("Xx".parse::<Card>().is_err());
    }

    #[test]
    fn shuffle_is_a_permutation_and_depends_only_on_the_seed() {
        let a = Deck::shuffled(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
        let b = Deck::shuffled(&mut rand_chacha::ChaCha8Rng::seed_from_u64(7));
        let c = Deck::shuffled(&mut rand_chacha::ChaCha8Rng::seed_from_u64(8));
        assert!(a.is_complete());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, Deck::ordered());
    }

    #[test]
    fn prefix_deck_rejects_duplicates_and_keeps_order() {
        let prefix = Card::parse_many("AhKdAs").unwrap();
        let deck = Deck::with_prefix(&prefix).unwrap();
        assert!(deck.is_complete());
        assert_eq!(&deck.cards()[..3], &prefix[..]);
        let dup = Card::parse_many("AhAh").unwrap();
        assert_eq!(Deck::with_prefix(&dup), Err(DuplicateCardError(Card::new(12, 2))));
    }
}
