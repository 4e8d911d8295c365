//! The No-Limit Hold'em hand state machine: forced bets, dealing, betting rounds, run-outs,
//! showdown and payout, with a chip-movement audit trail.
//!
//! `GameState` owns one hand from the antes to the last chip paid. It is a plain synchronous
//! value: every transition is a method that either applies completely or returns a typed
//! error and leaves the state untouched. It never does I/O, never reads a clock, and draws
//! no randomness of its own (the deck comes in already ordered).
//!
//! The betting model follows PokerKit 0.7.7, so that hands can be cross-checked against it:
//! the last full raise size, the set of players who acted since it, and the run of short
//! all-ins since it decide whether a player may raise again.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::audit::{ChipMovement, Holder, MoveReason};
use super::config::{
    BOARD_CARDS_MAX, Chips, HOLE_CARDS_PER_PLAYER, Position, PotLayering, SEATS_MAX, SEATS_MIN, ShortBigBlindCall,
    TableConfig,
};
use super::error::{ActionError, RaiseBlock, StartError};
use super::pots::{self, Pot};
use crate::cards::{Card, Deck};
use crate::eval::{HandValue, evaluate};

/// The betting rounds of Hold'em.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Street {
    Preflop,
    Flop,
    Turn,
    River,
}

impl Street {
    /// Board cards showing while this street is played.
    pub fn board_cards(self) -> usize {
        match self {
            Street::Preflop => 0,
            Street::Flop => 3,
            Street::Turn => 4,
            Street::River => 5,
        }
    }

    fn next(self) -> Option<Street> {
        match self {
            Street::Preflop => Some(Street::Flop),
            Street::Flop => Some(Street::Turn),
            Street::Turn => Some(Street::River),
            Street::River => None,
        }
    }
}

/// One player's part of the hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerState {
    /// Chips at the start of the hand, before forced bets.
    pub starting_stack: Chips,
    /// Chips behind, not yet put in.
    pub stack: Chips,
    /// Chips put in on the current street and not yet collected into the pots.
    pub bet: Chips,
    /// Chips collected into the pots from this player over the hand (antes included).
    pub contributed: Chips,
    /// Chips paid to this player from the pots at the end of the hand.
    pub won: Chips,
    pub folded: bool,
    pub hole: [Card; HOLE_CARDS_PER_PLAYER],
}

/// What a player asks to do. Amounts are "raise to" totals for the street, as in PHH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Fold,
    Check,
    Call,
    /// Bet or raise so that the player's bet on this street totals the amount.
    RaiseTo(Chips),
    /// Put in as much as the rules allow: the maximum raise if raising is open, else a call.
    AllIn,
}

/// An action as it took effect, with the chips it moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Fold,
    /// Check (amount 0) or call of `amount` chips.
    CheckOrCall {
        amount: Chips,
    },
    /// Bet or raise to a street total of `to` chips.
    RaiseTo {
        to: Chips,
    },
}

/// Everything that happens in a hand, in order: the hand history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandEvent {
    Ante { position: Position, amount: Chips },
    Blind { position: Position, amount: Chips },
    HoleCards { position: Position, cards: [Card; HOLE_CARDS_PER_PLAYER] },
    Burn { card: Card },
    Board { cards: Vec<Card> },
    Act { position: Position, applied: Applied },
    Showdown { position: Position, value: HandValue },
}

/// Bet and raise ranges for the player to act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaiseRange {
    /// Smallest legal "raise to" (an all-in below a full raise when the stack is short).
    pub min_to: Chips,
    /// Largest legal "raise to": the player's whole stack.
    pub max_to: Chips,
}

/// What the player to act may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalActions {
    pub actor: Position,
    /// Chips a call costs, capped at the stack; 0 means checking is free.
    pub call_amount: Chips,
    /// Fold is offered only when there is something to call.
    pub can_fold: bool,
    /// `None` when raising is closed, with the reason in `raise_block`.
    pub raise: Option<RaiseRange>,
    pub raise_block: Option<RaiseBlock>,
    /// The street total an all-in action reaches.
    pub all_in_to: Chips,
}

/// The betting bookkeeping of the current street (PokerKit's model).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Betting {
    /// Who is still to act, in order; the front acts now.
    actors: VecDeque<Position>,
    /// Size of the largest bet or raise increment on this street (0 before any).
    last_raise: Chips,
    /// Who acted since the last full raise.
    acted: BTreeSet<Position>,
    /// Increments of the all-ins short of a full raise since the last full raise.
    short_all_ins: Vec<Chips>,
}

/// One hand at one table, serializable, with a version raised by every transition.
///
/// **Invariant:** `validate_game_state` holds after every transition: chips are conserved,
/// the pots equal the contributions, every card sits in one place, the stage is legal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameState {
    /// Raised by one on every successful transition (start is version 0).
    pub version: u64,
    pub config: TableConfig,
    /// In position order (see [`Position`]).
    pub players: Vec<PlayerState>,
    pub deck: Deck,
    /// Cards drawn from the deck so far.
    pub deck_drawn: usize,
    pub board: Vec<Card>,
    pub burns: Vec<Card>,
    pub street: Street,
    /// True once the pots are paid; no more actions.
    pub complete: bool,
    /// Chips collected into the middle and not yet paid out (pots before settlement).
    pub collected: Chips,
    /// Rake taken from this hand's pots.
    pub rake: Chips,
    /// The pots as settled (empty until the hand is complete).
    pub pots: Vec<Pot>,
    /// Every chip that moved, in order.
    pub audit: Vec<ChipMovement>,
    /// Everything that happened, in order.
    pub history: Vec<HandEvent>,
    betting: Betting,
}

impl GameState {
    /// Starts a hand: posts antes and blinds, deals hole cards from `deck`, and opens the
    /// preflop betting (running the board out at once if nobody can act).
    ///
    /// `stacks` are in position order (see [`Position`]) and must all be positive.
    pub fn start(config: TableConfig, stacks: &[Chips], deck: Deck) -> Result<GameState, StartError> {
        config.validate()?;
        if !(SEATS_MIN..=SEATS_MAX).contains(&stacks.len()) {
            return Err(StartError::PlayerCount { count: stacks.len() });
        }
        if let Some(position) = stacks.iter().position(|&s| s == 0) {
            return Err(StartError::EmptyStack { position });
        }
        stacks.iter().try_fold(0u64, |acc, &s| acc.checked_add(s)).ok_or(StartError::Overflow)?;
        assert!(deck.is_complete(), "invariant deck_complete: the deck must hold 52 distinct cards");

        let placeholder = deck.card(0);
        let mut state = GameState {
            version: 0,
            config,
            players: stacks
                .iter()
                .map(|&s| PlayerState {
                    starting_stack: s,
                    stack: s,
                    bet: 0,
                    contributed: 0,
                    won: 0,
                    folded: false,
                    hole: [placeholder; HOLE_CARDS_PER_PLAYER],
                })
                .collect(),
            deck,
            deck_drawn: 0,
            board: Vec::new(),
            burns: Vec::new(),
            street: Street::Preflop,
            complete: false,
            collected: 0,
            rake: 0,
            pots: Vec::new(),
            audit: Vec::new(),
            history: Vec::new(),
            betting: Betting::default(),
        };

        state.post_forced_bets(stacks);
        state.deal_hole_cards();
        state.begin_street();
        state.assert_valid("start");
        Ok(state)
    }

    /// Antes, then blinds, from the stacks the hand started with (part of `start`).
    fn post_forced_bets(&mut self, stacks: &[Chips]) {
        let count = stacks.len();
        let config = self.config;
        // Antes go in first and are collected at once; an ante that no one else matched is
        // returned like any uncalled bet (PokerKit's "ante trimming").
        let mut antes = vec![0; count];
        for (position, ante) in antes.iter_mut().enumerate() {
            *ante = config.ante.min(stacks[position]);
            if *ante > 0 {
                self.put_in(position, *ante, MoveReason::Ante);
                self.history.push(HandEvent::Ante { position, amount: *ante });
            }
        }
        self.collect_bets();

        // Blinds: positions 0 and 1; heads-up the button (position 1) posts the small blind.
        // A blind is capped at what the stack held after its full ante.
        let blinds = self.blind_amounts();
        for (position, &blind) in blinds.iter().enumerate() {
            let amount = blind.min(stacks[position] - antes[position]).min(self.players[position].stack);
            if amount > 0 {
                let big_blind_position = if count == 2 { 0 } else { 1 };
                let reason = if position == big_blind_position { MoveReason::BigBlind } else { MoveReason::SmallBlind };
                self.put_in(position, amount, reason);
                self.history.push(HandEvent::Blind { position, amount });
            }
        }
    }

    /// Hole cards, one at a time around the table starting left of the button (part of `start`).
    fn deal_hole_cards(&mut self) {
        let count = self.players.len();
        for round in 0..HOLE_CARDS_PER_PLAYER {
            for position in 0..count {
                self.players[position].hole[round] = self.deck.card(round * count + position);
            }
        }
        self.deck_drawn = HOLE_CARDS_PER_PLAYER * count;
        for position in 0..count {
            let cards = self.players[position].hole;
            self.history.push(HandEvent::HoleCards { position, cards });
        }
    }

    /// Number of players dealt in.
    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// The player to act, or `None` when the hand is over.
    pub fn actor(&self) -> Option<Position> {
        self.betting.actors.front().copied()
    }

    /// Players who have not folded.
    pub fn in_hand_count(&self) -> usize {
        self.players.iter().filter(|p| !p.folded).count()
    }

    /// The bet a player must match to stay in (see [`ShortBigBlindCall`]).
    pub fn bet_to_match(&self) -> Chips {
        let max_bet = self.players.iter().map(|p| p.bet).max().unwrap_or(0);
        match (self.street, self.config.options.short_big_blind_call) {
            (Street::Preflop, ShortBigBlindCall::FullBigBlind) => max_bet.max(self.config.big_blind),
            _ => max_bet,
        }
    }

    /// Total chips on the table: stacks, bets, the middle and rake. Equal to the sum of the
    /// starting stacks at all times.
    pub fn chips_total(&self) -> Chips {
        self.players.iter().map(|p| p.stack + p.bet).sum::<Chips>() + self.collected + self.rake
    }

    /// Sum of the stacks at the start of the hand: the chips this hand must conserve.
    pub fn chips_supply(&self) -> Chips {
        self.players.iter().map(|p| p.starting_stack).sum()
    }

    /// The actions open to the player to act, or `None` when the hand is over.
    pub fn legal_actions(&self) -> Option<LegalActions> {
        let actor = self.actor()?;
        let player = &self.players[actor];
        let to_match = self.bet_to_match();
        let call_amount = player.stack.min(to_match - player.bet);
        let raise_block = self.raise_block(actor, call_amount);
        let raise = match raise_block {
            Some(_) => None,
            None => {
                let max_to = player.stack + player.bet;
                let full = to_match + self.betting.last_raise.max(self.config.min_bet);
                Some(RaiseRange { min_to: full.min(max_to), max_to })
            }
        };
        Some(LegalActions {
            actor,
            call_amount,
            can_fold: to_match > player.bet,
            raise,
            raise_block,
            all_in_to: raise.map_or(player.bet + call_amount, |r| r.max_to),
        })
    }

    /// Why `actor` may not raise now, if they may not.
    fn raise_block(&self, actor: Position, call_amount: Chips) -> Option<RaiseBlock> {
        let player = &self.players[actor];
        let to_match = self.bet_to_match();
        let betting = &self.betting;
        let short_sum: Chips = betting.short_all_ins.iter().sum();
        if call_amount < betting.last_raise
            || (!betting.short_all_ins.is_empty() && short_sum < betting.last_raise && betting.acted.contains(&actor))
        {
            return Some(RaiseBlock::NotReopened);
        }
        if player.stack <= to_match - player.bet {
            return Some(RaiseBlock::StackCoveredByCall);
        }
        let opponent_can_call = self
            .players
            .iter()
            .enumerate()
            .any(|(p, other)| p != actor && !other.folded && other.stack + other.bet > to_match);
        if !opponent_can_call {
            return Some(RaiseBlock::NoOpponentCanCall);
        }
        None
    }

    /// Applies `action` for the player at `position`. On error nothing changes.
    pub fn apply(&mut self, position: Position, action: Action) -> Result<Applied, ActionError> {
        if position >= self.players.len() {
            return Err(ActionError::UnknownPosition { position });
        }
        let legal = self.legal_actions().ok_or(ActionError::HandOver)?;
        if legal.actor != position {
            return Err(ActionError::OutOfTurn { expected: legal.actor, attempted: position });
        }
        let applied = match action {
            Action::Fold if !legal.can_fold => return Err(ActionError::FoldWhenCheckIsFree),
            Action::Fold => Applied::Fold,
            Action::Check if legal.call_amount > 0 => {
                return Err(ActionError::CheckFacingBet { to_call: legal.call_amount });
            }
            Action::Call if legal.call_amount == 0 => return Err(ActionError::NothingToCall),
            Action::Check | Action::Call => Applied::CheckOrCall { amount: legal.call_amount },
            Action::RaiseTo(to) => {
                let range = legal.raise.ok_or_else(|| ActionError::RaiseNotAllowed {
                    reason: legal.raise_block.expect("no raise range means a block"),
                })?;
                if to < range.min_to {
                    return Err(ActionError::RaiseBelowMinimum { to, min_to: range.min_to });
                }
                if to > range.max_to {
                    return Err(ActionError::RaiseAboveMaximum { to, max_to: range.max_to });
                }
                Applied::RaiseTo { to }
            }
            Action::AllIn => match legal.raise {
                Some(range) => Applied::RaiseTo { to: range.max_to },
                None => Applied::CheckOrCall { amount: legal.call_amount },
            },
        };

        let supply = self.chips_supply();
        self.betting.actors.pop_front();
        self.betting.acted.insert(position);
        match applied {
            Applied::Fold => self.players[position].folded = true,
            Applied::CheckOrCall { amount } => {
                if amount > 0 {
                    self.put_in(position, amount, MoveReason::Call);
                }
            }
            Applied::RaiseTo { to } => self.raise_to(position, to),
        }
        self.history.push(HandEvent::Act { position, applied });
        if self.betting.actors.is_empty() || self.in_hand_count() <= 1 {
            self.end_street();
        }
        self.version += 1;
        assert_eq!(self.chips_total(), supply, "invariant chips_conserved after {applied:?}");
        self.assert_valid("apply");
        Ok(applied)
    }

    fn raise_to(&mut self, position: Position, to: Chips) {
        let increment = to - self.bet_to_match();
        let delta = to - self.players[position].bet;
        self.put_in(position, delta, MoveReason::Raise);

        // Everyone else who can still put chips in must answer the raise.
        let count = self.players.len();
        self.betting.actors = (1..count)
            .map(|offset| (position + offset) % count)
            .filter(|&p| !self.players[p].folded && self.players[p].stack > 0)
            .collect();
        assert!(!self.betting.actors.is_empty(), "invariant raise_has_caller: a raise needs someone to answer it");

        let betting = &mut self.betting;
        if increment >= betting.last_raise {
            betting.acted.clear();
            betting.acted.insert(position);
        }
        betting.last_raise = betting.last_raise.max(increment);
        if self.players[position].stack > 0 {
            betting.short_all_ins.clear();
        } else {
            betting.short_all_ins.push(increment);
        }
        if betting.short_all_ins.iter().sum::<Chips>() >= betting.last_raise {
            betting.short_all_ins.clear();
        }
    }

    /// The blind each position owes: positions 0 and 1, reversed heads-up.
    fn blind_amounts(&self) -> Vec<Chips> {
        let mut blinds = vec![0; self.players.len()];
        if self.players.len() == 2 {
            blinds[0] = self.config.big_blind;
            blinds[1] = self.config.small_blind;
        } else {
            blinds[0] = self.config.small_blind;
            blinds[1] = self.config.big_blind;
        }
        blinds
    }

    /// Moves `amount` from a player's stack to their bet, recording it.
    fn put_in(&mut self, position: Position, amount: Chips, reason: MoveReason) {
        let player = &mut self.players[position];
        assert!(amount <= player.stack, "invariant stack_covers_bet: {amount} > stack {}", player.stack);
        let before = player.stack;
        player.stack -= amount;
        player.bet += amount;
        self.audit.push(ChipMovement { holder: Holder::Player(position), amount, reason, before, after: player.stack });
    }

    /// Moves `amount` from the middle (or a bet) back to a player's stack, recording it.
    fn pay(&mut self, position: Position, amount: Chips, reason: MoveReason) {
        let player = &mut self.players[position];
        let before = player.stack;
        player.stack += amount;
        self.audit.push(ChipMovement { holder: Holder::Player(position), amount, reason, before, after: player.stack });
    }

    /// Opens betting on the current street: who acts first, who can act at all.
    fn begin_street(&mut self) {
        let count = self.players.len();
        let opener = if self.street == Street::Preflop {
            // The first player after the largest blind opens (PokerKit: bets weighted by
            // blind position, ties to the later position).
            let blinds = self.blind_amounts();
            let largest =
                (0..count).max_by_key(|&p| (if blinds[p] > 0 { self.players[p].bet } else { 0 }, p)).expect("players");
            (largest + 1) % count
        } else {
            0
        };
        let actors: VecDeque<Position> = (0..count)
            .map(|offset| (opener + offset) % count)
            .filter(|&p| {
                let player = &self.players[p];
                !player.folded && player.stack > 0 && self.effective_stack(p) > 0
            })
            .collect();
        self.betting = Betting { actors, ..Betting::default() };
        let to_match = self.bet_to_match();
        let lone_actor_matched = self.betting.actors.len() == 1 && self.players[self.betting.actors[0]].bet >= to_match;
        if self.betting.actors.is_empty() || self.in_hand_count() <= 1 || lone_actor_matched {
            self.end_street();
        }
    }

    /// What a player can still lose to the others in the hand: their stack, capped by the
    /// second-largest total (stack plus bet) among players still in.
    fn effective_stack(&self, position: Position) -> Chips {
        let player = &self.players[position];
        if player.folded {
            return 0;
        }
        let mut totals: Vec<Chips> = self.players.iter().filter(|p| !p.folded).map(|p| p.stack + p.bet).collect();
        assert!(totals.len() > 1, "effective stack needs two players in the hand");
        totals.sort_unstable();
        player.stack.min(totals[totals.len() - 2].saturating_sub(player.bet))
    }

    /// Moves the street's bets into the middle, returning any uncalled excess first.
    fn collect_bets(&mut self) {
        let count = self.players.len();
        let mut sorted: Vec<Chips> = self.players.iter().map(|p| p.bet).collect();
        sorted.sort_unstable();
        let cutoff = sorted[count - 2];
        for position in 0..count {
            let bet = self.players[position].bet;
            let returned = bet.saturating_sub(cutoff);
            if returned > 0 {
                self.players[position].bet -= returned;
                self.pay(position, returned, MoveReason::UncalledBetReturned);
            }
            let player = &mut self.players[position];
            player.contributed += player.bet;
            self.collected += player.bet;
            player.bet = 0;
        }
    }

    /// Ends the street's betting: collects bets, then either pays a lone survivor, deals the
    /// next street, or goes to showdown after the river.
    fn end_street(&mut self) {
        self.betting.actors.clear();
        self.collect_bets();
        if self.in_hand_count() == 1 {
            self.settle();
            return;
        }
        match self.street.next() {
            None => self.settle(),
            Some(next) => {
                let burn = self.draw();
                self.burns.push(burn);
                self.history.push(HandEvent::Burn { card: burn });
                let dealt = next.board_cards() - self.street.board_cards();
                let cards: Vec<Card> = (0..dealt).map(|_| self.draw()).collect();
                self.board.extend_from_slice(&cards);
                self.history.push(HandEvent::Board { cards });
                self.street = next;
                self.begin_street();
            }
        }
    }

    fn draw(&mut self) -> Card {
        let card = self.deck.card(self.deck_drawn);
        self.deck_drawn += 1;
        card
    }

    /// Pays the pots: to the lone survivor, or at showdown to the best hand among the players
    /// eligible for each pot (ties split, odd chip to the first left of the button).
    fn settle(&mut self) {
        let values = self.showdown_values();
        let contributions: Vec<Chips> = self.players.iter().map(|p| p.contributed).collect();
        let in_hand: Vec<bool> = self.players.iter().map(|p| !p.folded).collect();
        let mut pots = match self.players.iter().position(|p| !p.folded) {
            // Everyone else folded: the whole middle is one pot for the last player in.
            Some(survivor) if self.in_hand_count() == 1 => {
                vec![Pot { amount: self.collected, rake: 0, eligible: vec![survivor] }]
            }
            _ => pots::build_pots(&contributions, &in_hand),
        };
        if self.config.options.pot_layering == PotLayering::Contenders && self.in_hand_count() > 1 {
            let mut contenders = vec![false; self.players.len()];
            for pot in &pots {
                for position in pot_winners(pot, &values) {
                    contenders[position] = true;
                }
            }
            pots = pots::build_pots(&contributions, &contenders);
        }

        let flop_dealt = !self.board.is_empty();
        self.rake = pots::take_rake(&mut pots, &self.config.rake, flop_dealt);
        if self.rake > 0 {
            self.collected -= self.rake;
            self.audit.push(ChipMovement {
                holder: Holder::Rake,
                amount: self.rake,
                reason: MoveReason::Rake,
                before: 0,
                after: self.rake,
            });
        }

        for (index, pot) in pots.iter().enumerate() {
            let winners = pot_winners(pot, &values);
            for (position, share) in pots::split(pot.amount - pot.rake, &winners) {
                if share > 0 {
                    self.collected -= share;
                    self.players[position].won += share;
                    self.pay(position, share, MoveReason::PotWon { pot: index });
                }
            }
        }
        assert_eq!(self.collected, 0, "invariant pots_paid_out: {} chips left in the middle", self.collected);
        self.pots = pots;
        self.complete = true;
    }

    /// Each player's hand value at showdown (`None` for folded players). A lone survivor's
    /// hand is not shown and gets the lowest value.
    fn showdown_values(&mut self) -> Vec<Option<HandValue>> {
        if self.in_hand_count() == 1 {
            return self.players.iter().map(|p| (!p.folded).then_some(HandValue(0))).collect();
        }
        assert_eq!(self.board.len(), BOARD_CARDS_MAX, "invariant showdown_board: showdown needs five board cards");
        let mut values = Vec::with_capacity(self.players.len());
        for position in 0..self.players.len() {
            let player = &self.players[position];
            let value = (!player.folded).then(|| {
                let mut cards = self.board.clone();
                cards.extend_from_slice(&player.hole);
                evaluate(&cards)
            });
            if let Some(value) = value {
                self.history.push(HandEvent::Showdown { position, value });
            }
            values.push(value);
        }
        values
    }

    /// Who is still to act this street, in order (for validation).
    pub(super) fn pending_actors(&self) -> &VecDeque<Position> {
        &self.betting.actors
    }

    fn assert_valid(&self, transition: &str) {
        if let Err(violation) = super::validate::validate_game_state(self) {
            panic!("invariant {} broken by {transition}: {}", violation.invariant, violation.detail);
        }
    }
}

/// The players with the best hand among those eligible for `pot`, in position order.
fn pot_winners(pot: &Pot, values: &[Option<HandValue>]) -> Vec<Position> {
    let best = pot.eligible.iter().filter_map(|&p| values[p]).max().expect("invariant pot_has_eligible_player");
    pot.eligible.iter().copied().filter(|&p| values[p] == Some(best)).collect()
}
