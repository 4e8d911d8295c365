//! Hand histories in PHH action notation, and scripted hands: a hand replayed from fixed
//! cards and a fixed action list, so that a hand seen anywhere can be played again exactly.
//!
//! The notation is PHH's (`d dh p1 AhKd`, `d db 3d8c9s`, `p2 f`, `p2 cc`, `p3 cbr 40`) plus
//! `d burn CARD` for the real burn card. Players are named `p1..pN` in position order
//! (see [`Position`]). This module converts; it never decides a rule itself.

use serde::{Deserialize, Serialize};

use super::config::{Chips, HOLE_CARDS_PER_PLAYER, Position, RuleOptions, TableConfig};
use super::error::{ActionError, StartError};
use super::state::{Action, Applied, GameState, HandEvent};
use crate::cards::{Card, CardParseError, Deck};

/// One hand as a JSON line: the format of `chipsim hands` and of PokerKit-generated fixtures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandHistory {
    /// What the hand pins, for hand-written edge cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand: Option<u64>,
    /// Stacks at the start of the hand, before forced bets, in position order.
    pub stacks: Vec<Chips>,
    /// `[small blind, big blind]`.
    pub blinds: [Chips; 2],
    pub ante: Chips,
    pub min_bet: Chips,
    pub actions: Vec<String>,
    /// Stacks after the pots are paid.
    pub final_stacks: Vec<Chips>,
}

/// One PHH action line, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhhAction {
    DealHole { position: Position, cards: Vec<Card> },
    Burn { card: Card },
    DealBoard { cards: Vec<Card> },
    Fold { position: Position },
    CheckOrCall { position: Position },
    RaiseTo { position: Position, to: Chips },
}

/// A history that cannot be replayed, or does not end as it says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("action {index} {text:?}: malformed ({why})")]
    Malformed { index: usize, text: String, why: String },
    #[error("hole cards of p{} are never dealt", position + 1)]
    MissingHoleCards { position: Position },
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("action {index} {text:?} is illegal: {error}")]
    Illegal { index: usize, text: String, error: ActionError },
    #[error("action {index} {text:?}: the engine dealt {engine} here")]
    DealMismatch { index: usize, text: String, engine: String },
    #[error("the hand is not over after the last action")]
    Unfinished,
    #[error("the engine dealt {engine} but the history deals {history}")]
    BoardMismatch { engine: String, history: String },
}

impl PhhAction {
    /// Parses one action line; `players` bounds the player names.
    pub fn parse(text: &str, players: usize) -> Result<PhhAction, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let cards = |s: &str| Card::parse_many(s).map_err(|e: CardParseError| e.to_string());
        let player = |s: &str| -> Result<Position, String> {
            let number: usize = s.strip_prefix('p').and_then(|n| n.parse().ok()).ok_or(format!("bad player {s:?}"))?;
            if number == 0 || number > players {
                return Err(format!("player {s} out of range 1..={players}"));
            }
            Ok(number - 1)
        };
        match parts.as_slice() {
            ["d", "dh", p, c] => Ok(PhhAction::DealHole { position: player(p)?, cards: cards(c)? }),
            ["d", "burn", c] => {
                let mut burned = cards(c)?;
                if burned.len() != 1 {
                    return Err("burn exactly one card".into());
                }
                Ok(PhhAction::Burn { card: burned.remove(0) })
            }
            ["d", "db", c] => Ok(PhhAction::DealBoard { cards: cards(c)? }),
            [p, "f"] => Ok(PhhAction::Fold { position: player(p)? }),
            [p, "cc"] => Ok(PhhAction::CheckOrCall { position: player(p)? }),
            [p, "cbr", amount] => {
                let to = amount.parse().map_err(|_| format!("bad amount {amount:?}"))?;
                Ok(PhhAction::RaiseTo { position: player(p)?, to })
            }
            _ => Err("unknown action".into()),
        }
    }
}

/// The PHH action lines of a played hand (forced bets and showdown are implied).
pub fn format_actions(state: &GameState) -> Vec<String> {
    state
        .history
        .iter()
        .filter_map(|event| match event {
            HandEvent::HoleCards { position, cards } => {
                Some(format!("d dh p{} {}", position + 1, Card::format_many(cards)))
            }
            HandEvent::Burn { card } => Some(format!("d burn {card}")),
            HandEvent::Board { cards } => Some(format!("d db {}", Card::format_many(cards))),
            HandEvent::Act { position, applied } => Some(match applied {
                Applied::Fold => format!("p{} f", position + 1),
                Applied::CheckOrCall { .. } => format!("p{} cc", position + 1),
                Applied::RaiseTo { to } => format!("p{} cbr {to}", position + 1),
            }),
            HandEvent::Ante { .. } | HandEvent::Blind { .. } | HandEvent::Showdown { .. } => None,
        })
        .collect()
}

impl HandHistory {
    /// The table configuration this history was played under, with the given rule options.
    pub fn config(&self, options: RuleOptions) -> TableConfig {
        TableConfig {
            small_blind: self.blinds[0],
            big_blind: self.blinds[1],
            ante: self.ante,
            min_bet: self.min_bet,
            rake: Default::default(),
            options,
        }
    }

    /// Records a played hand as a history line.
    pub fn from_state(state: &GameState, seed: Option<u64>, hand: Option<u64>) -> HandHistory {
        HandHistory {
            name: None,
            seed,
            hand,
            stacks: state.players.iter().map(|p| p.starting_stack).collect(),
            blinds: [state.config.small_blind, state.config.big_blind],
            ante: state.config.ante,
            min_bet: state.config.min_bet,
            actions: format_actions(state),
            final_stacks: state.players.iter().map(|p| p.stack).collect(),
        }
    }

    /// Plays the hand again in scripted mode: the deck is fixed to the history's cards, each
    /// player action goes through the rules, and each dealer line must match what the engine
    /// dealt. Returns the finished state; the caller compares its stacks with
    /// `final_stacks`.
    pub fn replay(&self, options: RuleOptions) -> Result<GameState, ReplayError> {
        let parsed = self.parse_actions()?;
        let deck = self.scripted_deck(&parsed)?;
        let mut state = GameState::start(self.config(options), &self.stacks, deck)?;
        let (mut burns_seen, mut board_seen) = (0usize, 0usize);
        for (index, action) in parsed.iter().enumerate() {
            let text = || self.actions[index].clone();
            let (position, wanted) = match *action {
                PhhAction::DealHole { .. } => continue,
                PhhAction::Burn { card } => {
                    if state.burns.get(burns_seen) != Some(&card) {
                        let engine = state.burns.get(burns_seen).map_or("nothing".into(), |c| c.to_string());
                        return Err(ReplayError::DealMismatch { index, text: text(), engine });
                    }
                    burns_seen += 1;
                    continue;
                }
                PhhAction::DealBoard { ref cards } => {
                    let end = board_seen + cards.len();
                    if state.board.get(board_seen..end) != Some(cards.as_slice()) {
                        let engine = Card::format_many(state.board.get(board_seen..).unwrap_or(&[]));
                        return Err(ReplayError::DealMismatch { index, text: text(), engine });
                    }
                    board_seen = end;
                    continue;
                }
                PhhAction::Fold { position } => (position, Action::Fold),
                PhhAction::CheckOrCall { position } => {
                    let to_call = state.legal_actions().map_or(0, |l| l.call_amount);
                    (position, if to_call > 0 { Action::Call } else { Action::Check })
                }
                PhhAction::RaiseTo { position, to } => (position, Action::RaiseTo(to)),
            };
            state.apply(position, wanted).map_err(|error| ReplayError::Illegal { index, text: text(), error })?;
        }
        if !state.complete {
            return Err(ReplayError::Unfinished);
        }
        if board_seen != state.board.len() || burns_seen != state.burns.len() {
            return Err(ReplayError::BoardMismatch {
                engine: Card::format_many(&state.board),
                history: Card::format_many(&state.board[..board_seen.min(state.board.len())]),
            });
        }
        Ok(state)
    }

    fn parse_actions(&self) -> Result<Vec<PhhAction>, ReplayError> {
        let count = self.stacks.len();
        self.actions
            .iter()
            .enumerate()
            .map(|(index, text)| {
                PhhAction::parse(text, count).map_err(|why| ReplayError::Malformed { index, text: text.clone(), why })
            })
            .collect()
    }

    /// The deck in draw order: hole cards round by round, then burns and board cards as the
    /// history deals them.
    fn scripted_deck(&self, parsed: &[PhhAction]) -> Result<Deck, ReplayError> {
        let count = self.stacks.len();
        let mut holes: Vec<Option<Vec<Card>>> = vec![None; count];
        let mut later = Vec::new();
        for (index, action) in parsed.iter().enumerate() {
            match action {
                PhhAction::DealHole { position, cards } => {
                    if cards.len() != HOLE_CARDS_PER_PLAYER || holes[*position].is_some() {
                        let why = "two hole cards, once per player".to_string();
                        return Err(ReplayError::Malformed { index, text: self.actions[index].clone(), why });
                    }
                    holes[*position] = Some(cards.clone());
                }
                PhhAction::Burn { card } => later.push(*card),
                PhhAction::DealBoard { cards } => later.extend(cards.iter().copied()),
                _ => {}
            }
        }
        let mut prefix = Vec::with_capacity(2 * count + later.len());
        for round in 0..HOLE_CARDS_PER_PLAYER {
            for (position, hole) in holes.iter().enumerate() {
                prefix.push(hole.as_ref().ok_or(ReplayError::MissingHoleCards { position })?[round]);
            }
        }
        prefix.extend(later);
        Ok(Deck::with_prefix(&prefix).map_err(StartError::from)?)
    }
}
