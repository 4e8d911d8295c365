//! Table configuration: stakes, rake and the rule options where rule books legitimately
//! differ.
//!
//! Owns the limits of a table and their validation. It never holds per-hand state.

use serde::{Deserialize, Serialize};

/// An amount of chips. Chips are whole and never negative.
pub type Chips = u64;

/// A player's index in position order for one hand: 0 is the first seat left of the button
/// (heads-up: the big blind), the last index is the button. This is PokerKit's order.
pub type Position = usize;

/// Fewest players a hand can be dealt to.
pub const SEATS_MIN: usize = 2;
/// Most players a table seats.
pub const SEATS_MAX: usize = 10;
/// Hole cards per player in Hold'em.
pub const HOLE_CARDS_PER_PLAYER: usize = 2;
/// Board cards once the river is out.
pub const BOARD_CARDS_MAX: usize = 5;
/// Basis points in 100 %: rake percentages are given in basis points.
pub const BASIS_POINTS_PER_WHOLE: u64 = 10_000;

/// What a player must put in to call when the big blind was posted short (all-in for less).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShortBigBlindCall {
    /// The full big blind, as in casino rule books: the big blind sets the price to play even
    /// when its poster could not cover it (the excess is returned if nobody matches it).
    #[default]
    FullBigBlind,
    /// Only what was actually posted (PokerKit's reading: the amount to call is the largest
    /// bet on the table).
    PostedAmount,
}

/// Which players draw the boundaries between a main pot and its side pots at showdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PotLayering {
    /// Everyone still in the hand: each side pot is split on its own, with its own odd chip
    /// (casino practice).
    #[default]
    InHand,
    /// Only the players who win at least part of some pot (PokerKit kills the other hands
    /// first): adjacent layers with the same winners merge before splitting, which can move
    /// an odd chip.
    Contenders,
}

/// Rule options where rule books differ. The default is our house rules; [`RuleOptions::pokerkit`]
/// matches PokerKit 0.7.7, used to cross-check hands against it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleOptions {
    pub short_big_blind_call: ShortBigBlindCall,
    pub pot_layering: PotLayering,
}

impl RuleOptions {
    /// The options under which our engine and PokerKit 0.7.7 agree hand for hand.
    pub fn pokerkit() -> RuleOptions {
        RuleOptions { short_big_blind_call: ShortBigBlindCall::PostedAmount, pot_layering: PotLayering::Contenders }
    }
}

/// Rake: a percentage of each pot, capped per hand, kept by the house.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RakeConfig {
    /// Share of each pot taken, in basis points (500 = 5 %). Rounded down per pot.
    pub rake_bps: u32,
    /// Most rake taken from one hand, in chips; 0 means no rake.
    pub rake_cap: Chips,
    /// Take no rake from a hand that ends before the flop.
    pub no_flop_no_drop: bool,
}

/// Stakes and rules of one table. Amounts are in chips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    pub small_blind: Chips,
    pub big_blind: Chips,
    /// Ante every player posts before the blinds; 0 for none.
    pub ante: Chips,
    /// Smallest opening bet and smallest raise increment; normally the big blind.
    pub min_bet: Chips,
    #[serde(default)]
    pub rake: RakeConfig,
    #[serde(default)]
    pub options: RuleOptions,
}

impl TableConfig {
    /// Blinds `small_blind`/`big_blind`, no ante, no rake, house rules.
    pub fn new(small_blind: Chips, big_blind: Chips) -> TableConfig {
        TableConfig {
            small_blind,
            big_blind,
            ante: 0,
            min_bet: big_blind,
            rake: RakeConfig::default(),
            options: RuleOptions::default(),
        }
    }

    /// Checks that the stakes make a playable table.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.big_blind == 0 || self.small_blind == 0 || self.small_blind > self.big_blind {
            return Err(ConfigError::Blinds { small_blind: self.small_blind, big_blind: self.big_blind });
        }
        if self.min_bet == 0 {
            return Err(ConfigError::MinBet);
        }
        if u64::from(self.rake.rake_bps) > BASIS_POINTS_PER_WHOLE {
            return Err(ConfigError::Rake { rake_bps: self.rake.rake_bps });
        }
        Ok(())
    }
}

/// A table configuration that cannot be played.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("blinds {small_blind}/{big_blind}: need 0 < small blind <= big blind")]
    Blinds { small_blind: Chips, big_blind: Chips },
    #[error("min_bet must be at least one chip")]
    MinBet,
    #[error("rake_bps {rake_bps} is over 100 %")]
    Rake { rake_bps: u32 },
}
