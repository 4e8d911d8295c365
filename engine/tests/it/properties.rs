//! Property tests over random legal play: chips are conserved, pots equal contributions and
//! `validate_game_state` holds after every action; random illegal actions are rejected and
//! change nothing; the same seed plays the same hand.

use engine::cards::Deck;
use engine::rules::random_play::{random_action, random_setup};
use engine::rules::{Action, Chips, GameState, RuleOptions, ShortBigBlindCall, validate_game_state};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn options(house: bool) -> RuleOptions {
    if house { RuleOptions::default() } else { RuleOptions::pokerkit() }
}

/// An arbitrary action for an arbitrary position, legal or not.
fn arbitrary_action(rng: &mut ChaCha8Rng, state: &GameState) -> (usize, Action) {
    let position = rng.random_range(0..state.player_count() + 2);
    let stack = state.players.get(position).map_or(100, |p| p.stack + p.bet);
    let action = match rng.random_range(0..5u32) {
        0 => Action::Fold,
        1 => Action::Check,
        2 => Action::Call,
        3 => Action::AllIn,
        _ => Action::RaiseTo(rng.random_range(0..=stack.saturating_mul(2) + 1)),
    };
    (position, action)
}

fn total_in_play(state: &GameState) -> Chips {
    state.chips_total()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_legal_play_conserves_chips_and_keeps_every_invariant(seed: u64, house: bool) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (config, stacks) = random_setup(&mut rng, options(house));
        let supply: Chips = stacks.iter().sum();
        let mut state = GameState::start(config, &stacks, Deck::shuffled(&mut rng)).unwrap();
        prop_assert!(validate_game_state(&state).is_ok());
        let mut actions = 0;
        while let Some(action) = random_action(&state, &mut rng) {
            let actor = state.actor().unwrap();
            let version = state.version;
            state.apply(actor, action).unwrap();
            actions += 1;
            prop_assert_eq!(state.version, version + 1);
            prop_assert_eq!(total_in_play(&state), supply);
            let contributed: Chips = state.players.iter().map(|p| p.contributed).sum();
            let won: Chips = state.players.iter().map(|p| p.won).sum();
            prop_assert_eq!(contributed, state.collected + won + state.rake);
            if let Err(violation) = validate_game_state(&state) {
                return Err(TestCaseError::fail(violation.to_string()));
            }
            prop_assert!(actions < 500, "a hand must end");
        }
        prop_assert!(state.complete);
        let pots: Chips = state.pots.iter().map(|p| p.amount).sum();
        prop_assert_eq!(pots, state.players.iter().map(|p| p.contributed).sum::<Chips>());
        prop_assert_eq!(state.players.iter().map(|p| p.stack).sum::<Chips>() + state.rake, supply);
    }

    #[test]
    fn random_illegal_actions_are_rejected_without_changing_the_state(seed: u64, house: bool) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (config, stacks) = random_setup(&mut rng, options(house));
        let mut state = GameState::start(config, &stacks, Deck::shuffled(&mut rng)).unwrap();
        let mut rejected = 0;
        for _ in 0..200 {
            let (position, action) = arbitrary_action(&mut rng, &state);
            let before = state.clone();
            match state.apply(position, action) {
                Err(_) => {
                    rejected += 1;
                    prop_assert_eq!(&state, &before);
                }
                Ok(_) => {
                    prop_assert!(validate_game_state(&state).is_ok());
                    prop_assert_eq!(before.actor(), Some(position));
                }
            }
            if state.complete {
                let (position, action) = arbitrary_action(&mut rng, &state);
                prop_assert!(state.apply(position, action).is_err(), "no action after the hand is over");
                break;
            }
        }
        prop_assert!(rejected > 0 || state.complete);
    }

    #[test]
    fn the_same_seed_plays_the_same_hand(seed: u64) {
        let play = || {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (config, stacks) = random_setup(&mut rng, RuleOptions::default());
            let mut state = GameState::start(config, &stacks, Deck::shuffled(&mut rng)).unwrap();
            engine::rules::random_play::play_out(&mut state, &mut rng);
            state
        };
        prop_assert_eq!(play(), play());
    }

    #[test]
    fn rule_options_agree_when_no_big_blind_is_short(seed: u64) {
        // The options differ only for a short big blind and for odd chips between side pots:
        // with deep stacks and no side pots the same actions give the same stacks.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (config, stacks) = random_setup(&mut rng, RuleOptions::default());
        let stacks: Vec<Chips> = stacks.iter().map(|_| config.big_blind * 100).collect();
        let deck = Deck::shuffled(&mut rng);
        let mut house = GameState::start(config, &stacks, deck.clone()).unwrap();
        let mut other = config;
        other.options.short_big_blind_call = ShortBigBlindCall::PostedAmount;
        let mut posted = GameState::start(other, &stacks, deck).unwrap();
        while let Some(action) = random_action(&house, &mut rng) {
            let actor = house.actor().unwrap();
            let applied = house.apply(actor, action).unwrap();
            prop_assert_eq!(posted.apply(actor, action), Ok(applied));
        }
        prop_assert_eq!(house.players, posted.players);
    }
}
