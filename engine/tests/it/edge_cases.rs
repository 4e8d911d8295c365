//! Scripted hands, each named after the rule it pins. Cards are fixed: hole cards per position,
//! then the rest of the deck in draw order (burn, flop, burn, turn, burn, river).
//! Positions: 0 is the first seat left of the button (heads-up: the big blind), the last is
//! the button.

use engine::cards::{Card, Deck};
use engine::rules::{
    Action, ActionError, Applied, Chips, GameState, HandHistory, Holder, MoveReason, RaiseBlock, RakeConfig,
    RuleOptions, ShortBigBlindCall, TableConfig, validate_game_state,
};

fn deck(holes: &[&str], rest: &str) -> Deck {
    let holes: Vec<Vec<Card>> = holes.iter().map(|h| Card::parse_many(h).unwrap()).collect();
    let mut prefix: Vec<Card> = (0..2).flat_map(|round| holes.iter().map(move |h| h[round])).collect();
    prefix.extend(Card::parse_many(&rest.split_whitespace().collect::<String>()).unwrap());
    Deck::with_prefix(&prefix).unwrap()
}

fn start(config: TableConfig, stacks: &[Chips], holes: &[&str], rest: &str) -> GameState {
    GameState::start(config, stacks, deck(holes, rest)).unwrap()
}

fn act(state: &mut GameState, position: usize, action: Action) -> Applied {
    state.apply(position, action).unwrap_or_else(|e| panic!("position {position} {action:?}: {e}"))
}

fn stacks(state: &GameState) -> Vec<Chips> {
    state.players.iter().map(|p| p.stack).collect()
}

/// Asserts that `action` is rejected with `expected` and that nothing changed.
fn rejected(state: &mut GameState, position: usize, action: Action, expected: ActionError) {
    let before = state.clone();
    assert_eq!(state.apply(position, action), Err(expected));
    assert_eq!(*state, before, "a rejected action must leave the state untouched");
}

const BLINDS_5_10: fn() -> TableConfig = || TableConfig::new(5, 10);
/// A dry board: no straight, no flush, no pair among 2 7 9 T 4 except with hole cards.
const DRY_BOARD: &str = "3s 2s7h9d 3c Tc 5h 4c";

#[test]
fn three_all_ins_of_different_sizes_make_layered_side_pots() {
    let mut s = start(BLINDS_5_10(), &[100, 200, 300, 1000], &["AhAd", "KhKd", "QhQd", "6c3d"], DRY_BOARD);
    act(&mut s, 2, Action::RaiseTo(300));
    act(&mut s, 3, Action::Call);
    assert_eq!(act(&mut s, 0, Action::AllIn), Applied::CheckOrCall { amount: 95 }, "short stack all-in is a call");
    act(&mut s, 1, Action::Call);
    assert!(s.complete, "everyone but the button is all-in: the board runs out");
    let pots: Vec<(Chips, Vec<usize>)> = s.pots.iter().map(|p| (p.amount, p.eligible.clone())).collect();
    assert_eq!(pots, vec![(400, vec![0, 1, 2, 3]), (300, vec![1, 2, 3]), (200, vec![2, 3])]);
    assert_eq!(stacks(&s), vec![400, 300, 200, 700]);
    validate_game_state(&s).unwrap();
}

#[test]
fn all_in_for_less_than_the_big_blind_still_costs_the_full_big_blind_to_call() {
    let holes = ["AhAd", "KhKd", "QhQd"];
    let s = start(BLINDS_5_10(), &[100, 6, 100], &holes, DRY_BOARD);
    assert_eq!(s.players[1].bet, 6, "the big blind posts what it has and is all-in");
    let legal = s.legal_actions().unwrap();
    assert_eq!((legal.actor, legal.call_amount), (2, 10));
    assert_eq!(legal.raise.unwrap().min_to, 20);

    // PokerKit's reading: the call is what was actually posted, and raises build on it.
    let options = RuleOptions { short_big_blind_call: ShortBigBlindCall::PostedAmount, ..RuleOptions::default() };
    let config = TableConfig { options, ..BLINDS_5_10() };
    let s = start(config, &[100, 6, 100], &holes, DRY_BOARD);
    let legal = s.legal_actions().unwrap();
    assert_eq!((legal.actor, legal.call_amount), (2, 6));
    assert_eq!(legal.raise.unwrap().min_to, 16);
}

#[test]
fn big_blind_all_in_for_less_leaves_a_side_pot_for_the_callers() {
    let mut s = start(BLINDS_5_10(), &[100, 6, 100], &["QhQd", "AhAd", "KhKd"], DRY_BOARD);
    act(&mut s, 2, Action::Call);
    act(&mut s, 0, Action::Call);
    for _ in 0..3 {
        act(&mut s, 0, Action::Check);
        act(&mut s, 2, Action::Check);
    }
    assert!(s.complete);
    // Main pot 6 × 3 = 18 to the big blind's aces; side pot 4 × 2 = 8 to the button's kings.
    assert_eq!(stacks(&s), vec![90, 18, 98]);
}

#[test]
fn incomplete_raise_does_not_reopen_betting_for_players_who_acted() {
    let mut s = start(BLINDS_5_10(), &[45, 1000, 1000], &["AhAd", "KhKd", "QhQd"], DRY_BOARD);
    act(&mut s, 2, Action::RaiseTo(30)); // a full raise of 20
    let legal = s.legal_actions().unwrap();
    assert_eq!(legal.raise.unwrap().min_to, 45, "a short stack may raise all-in below a full raise");
    act(&mut s, 0, Action::RaiseTo(45)); // all-in, 15 more: short of a full raise
    let legal = s.legal_actions().unwrap();
    assert_eq!(legal.actor, 1);
    assert_eq!(legal.raise.unwrap().min_to, 65, "the big blind has not acted: it may raise, by a full 20");
    act(&mut s, 1, Action::Call);
    let legal = s.legal_actions().unwrap();
    assert_eq!((legal.actor, legal.call_amount, legal.raise_block), (2, 15, Some(RaiseBlock::NotReopened)));
    rejected(&mut s, 2, Action::RaiseTo(100), ActionError::RaiseNotAllowed { reason: RaiseBlock::NotReopened });
    assert_eq!(act(&mut s, 2, Action::AllIn), Applied::CheckOrCall { amount: 15 }, "all-in is capped at a call");
}

#[test]
fn short_all_ins_that_add_up_to_a_full_raise_reopen_betting() {
    let holes = ["AhAd", "KhKd", "QhQd", "JhJd"];
    for (third_all_in, reopened) in [(210, true), (180, false)] {
        let mut s = start(BLINDS_5_10(), &[1000, 160, third_all_in + 10, 1000], &holes, DRY_BOARD);
        act(&mut s, 2, Action::Call);
        act(&mut s, 3, Action::Call);
        act(&mut s, 0, Action::Call);
        act(&mut s, 1, Action::Check);
        act(&mut s, 0, Action::RaiseTo(100)); // flop bet: a full bet of 100
        act(&mut s, 1, Action::AllIn); // to 150: 50 short
        act(&mut s, 2, Action::AllIn); // to 210 (+60, together a full 110) or 180 (+30)
        act(&mut s, 3, Action::Call);
        let legal = s.legal_actions().unwrap();
        assert_eq!(legal.actor, 0);
        assert_eq!(legal.raise.is_some(), reopened, "all-in to {third_all_in}");
        if reopened {
            assert_eq!(legal.raise.unwrap().min_to, 310);
        }
    }
}

#[test]
fn uncalled_bet_is_returned_before_the_pot_is_paid() {
    // Heads-up: the button raises, the big blind folds.
    let mut s = start(BLINDS_5_10(), &[500, 500], &["7c2d", "AhAd"], DRY_BOARD);
    act(&mut s, 1, Action::RaiseTo(100));
    act(&mut s, 0, Action::Fold);
    assert_eq!(stacks(&s), vec![490, 510]);
    let returned: Vec<_> = s.audit.iter().filter(|m| m.reason == MoveReason::UncalledBetReturned).collect();
    assert_eq!(returned.len(), 1);
    assert_eq!((returned[0].holder, returned[0].amount), (Holder::Player(1), 90));

    // A bet called all-in for less: the excess goes back to the bettor at once.
    let mut s = start(BLINDS_5_10(), &[130, 1000], &["8c3d", "AhAd"], DRY_BOARD);
    act(&mut s, 1, Action::Call);
    act(&mut s, 0, Action::Check);
    act(&mut s, 0, Action::Check);
    act(&mut s, 1, Action::RaiseTo(300));
    act(&mut s, 0, Action::Call); // all-in for 120
    assert!(s.audit.iter().any(|m| m.reason == MoveReason::UncalledBetReturned && m.amount == 180));
    assert_eq!(stacks(&s), vec![0, 1130]);
}

#[test]
fn odd_chip_goes_to_the_first_winner_left_of_the_button() {
    let config = TableConfig::new(1, 2);
    let broadway = "3s AsKdQh 3c Jc 5h Td";
    let mut s = start(config, &[100, 100, 100], &["7c2d", "8c3d", "9c4d"], broadway);
    act(&mut s, 2, Action::Call);
    act(&mut s, 0, Action::Fold);
    act(&mut s, 1, Action::Check);
    for _ in 0..3 {
        act(&mut s, 1, Action::Check);
        act(&mut s, 2, Action::Check);
    }
    // Pot of 5 split between positions 1 and 2 (both play the board): the odd chip to 1.
    assert_eq!(stacks(&s), vec![99, 101, 100]);
}

#[test]
fn heads_up_button_posts_the_small_blind_acts_first_preflop_and_last_after() {
    let mut s = start(BLINDS_5_10(), &[100, 100], &["AhAd", "KhKd"], DRY_BOARD);
    assert_eq!((s.players[0].bet, s.players[1].bet), (10, 5), "position 0 is the big blind heads-up");
    assert_eq!(s.actor(), Some(1), "the button acts first preflop");
    act(&mut s, 1, Action::Call);
    assert_eq!(s.actor(), Some(0), "the big blind has the option");
    act(&mut s, 0, Action::Check);
    assert_eq!(s.actor(), Some(0), "the big blind acts first after the flop");
    act(&mut s, 0, Action::Check);
    assert_eq!(s.actor(), Some(1));
}

#[test]
fn big_blind_has_the_option_in_a_limped_pot() {
    let mut s = start(BLINDS_5_10(), &[100, 100, 100], &["AhAd", "KhKd", "QhQd"], DRY_BOARD);
    act(&mut s, 2, Action::Call);
    act(&mut s, 0, Action::Call);
    let legal = s.legal_actions().unwrap();
    assert_eq!((legal.actor, legal.call_amount, legal.can_fold), (1, 0, false));
    assert_eq!(legal.raise.unwrap().min_to, 20);
    rejected(&mut s, 1, Action::Fold, ActionError::FoldWhenCheckIsFree);
    act(&mut s, 1, Action::RaiseTo(30));
    assert_eq!(s.actor(), Some(2), "the option raise reopens the betting");
}

#[test]
fn everyone_folds_to_the_big_blind() {
    let rake = RakeConfig { rake_bps: 500, rake_cap: 10, no_flop_no_drop: true };
    let config = TableConfig { rake, ..BLINDS_5_10() };
    let mut s = start(config, &[100, 100, 100, 100], &["AhAd", "7c2d", "QhQd", "KhKd"], DRY_BOARD);
    act(&mut s, 2, Action::Fold);
    act(&mut s, 3, Action::Fold);
    act(&mut s, 0, Action::Fold);
    assert!(s.complete);
    assert!(s.board.is_empty(), "no card is dealt after the hand is over");
    assert_eq!(stacks(&s), vec![95, 105, 100, 100]);
    assert_eq!(s.rake, 0, "no flop, no drop");
}

#[test]
fn player_busting_mid_hand_is_skipped_while_the_others_play_on() {
    let board = "3s 2s7h9d 3c Tc 5h Kc";
    let mut s = start(BLINDS_5_10(), &[50, 1000, 1000], &["QhQd", "AhAd", "8c8d"], board);
    act(&mut s, 2, Action::Call);
    act(&mut s, 0, Action::Call);
    act(&mut s, 1, Action::Check);
    act(&mut s, 0, Action::AllIn); // flop: all-in for 40
    act(&mut s, 1, Action::Call);
    act(&mut s, 2, Action::Call);
    assert_eq!(s.actor(), Some(1), "the all-in player is skipped on the turn");
    act(&mut s, 1, Action::RaiseTo(100));
    act(&mut s, 2, Action::Call);
    act(&mut s, 1, Action::Check);
    act(&mut s, 2, Action::Check);
    assert!(s.complete);
    assert_eq!(stacks(&s), vec![0, 1200, 850], "main pot 150 and side pot 200 to the aces");
}

#[test]
fn no_raise_when_every_opponent_is_all_in() {
    let mut s = start(BLINDS_5_10(), &[100, 300], &["AhAd", "KhKd"], DRY_BOARD);
    act(&mut s, 1, Action::Call);
    act(&mut s, 0, Action::AllIn);
    let legal = s.legal_actions().unwrap();
    assert_eq!((legal.call_amount, legal.raise_block), (90, Some(RaiseBlock::NoOpponentCanCall)));
    assert_eq!(legal.all_in_to, 100, "all-in means calling the all-in");
    rejected(&mut s, 1, Action::RaiseTo(300), ActionError::RaiseNotAllowed { reason: RaiseBlock::NoOpponentCanCall });
}

#[test]
fn a_blind_or_ante_a_stack_cannot_cover_makes_that_player_all_in() {
    let s = start(BLINDS_5_10(), &[3, 100, 100], &["AhAd", "KhKd", "QhQd"], DRY_BOARD);
    assert_eq!((s.players[0].stack, s.players[0].bet), (0, 3));
    assert_eq!(s.actor(), Some(2));

    let config = TableConfig { ante: 5, ..BLINDS_5_10() };
    let mut s = start(config, &[4, 100, 100], &["AhAd", "KhKd", "QhQd"], DRY_BOARD);
    assert_eq!((s.players[0].stack, s.players[0].bet, s.players[0].contributed), (0, 0, 4));
    act(&mut s, 2, Action::Call);
    act(&mut s, 1, Action::Check);
    for _ in 0..3 {
        act(&mut s, 1, Action::Check);
        act(&mut s, 2, Action::Check);
    }
    // Aces win the main pot of 4 × 3 = 12; the side pot (1 + 1 + 10 + 10 = 22) goes to kings.
    assert_eq!(stacks(&s), vec![12, 107, 85]);
}

#[test]
fn illegal_and_out_of_turn_actions_are_rejected_without_changing_the_state() {
    let mut s = start(BLINDS_5_10(), &[100, 100, 100], &["AhAd", "KhKd", "QhQd"], DRY_BOARD);
    rejected(&mut s, 0, Action::Call, ActionError::OutOfTurn { expected: 2, attempted: 0 });
    rejected(&mut s, 7, Action::Call, ActionError::UnknownPosition { position: 7 });
    rejected(&mut s, 2, Action::Check, ActionError::CheckFacingBet { to_call: 10 });
    rejected(&mut s, 2, Action::RaiseTo(15), ActionError::RaiseBelowMinimum { to: 15, min_to: 20 });
    rejected(&mut s, 2, Action::RaiseTo(101), ActionError::RaiseAboveMaximum { to: 101, max_to: 100 });
    act(&mut s, 2, Action::Call);
    act(&mut s, 0, Action::Call);
    rejected(&mut s, 1, Action::Call, ActionError::NothingToCall);
    act(&mut s, 1, Action::Check);
    rejected(&mut s, 0, Action::Fold, ActionError::FoldWhenCheckIsFree);
    assert_eq!(act(&mut s, 0, Action::Check), Applied::CheckOrCall { amount: 0 });
}

#[test]
fn fold_when_a_check_is_free_is_rejected() {
    let mut s = start(BLINDS_5_10(), &[100, 100], &["AhAd", "KhKd"], DRY_BOARD);
    act(&mut s, 1, Action::Call);
    rejected(&mut s, 0, Action::Fold, ActionError::FoldWhenCheckIsFree);
}

#[test]
fn rake_is_taken_from_the_pot_and_recorded_as_its_own_holder() {
    let rake = RakeConfig { rake_bps: 500, rake_cap: 3, no_flop_no_drop: true };
    let config = TableConfig { rake, ..BLINDS_5_10() };
    let mut s = start(config, &[100, 100], &["AhAd", "KhKd"], DRY_BOARD);
    act(&mut s, 1, Action::RaiseTo(40));
    act(&mut s, 0, Action::Call);
    for _ in 0..3 {
        act(&mut s, 0, Action::Check);
        act(&mut s, 1, Action::Check);
    }
    assert_eq!(s.rake, 3, "5 % of 80 is 4, capped at 3");
    assert_eq!(stacks(&s), vec![137, 60]);
    assert!(s.audit.iter().any(|m| m.holder == Holder::Rake && m.amount == 3));
    assert_eq!(stacks(&s).iter().sum::<Chips>() + s.rake, 200);
}

#[test]
fn game_state_round_trips_through_json_and_versions_count_transitions() {
    let mut s = start(BLINDS_5_10(), &[100, 100, 100], &["AhAd", "KhKd", "QhQd"], DRY_BOARD);
    assert_eq!(s.version, 0);
    act(&mut s, 2, Action::RaiseTo(30));
    act(&mut s, 0, Action::Call);
    assert_eq!(s.version, 2);
    let text = serde_json::to_string(&s).unwrap();
    let back: GameState = serde_json::from_str(&text).unwrap();
    assert_eq!(back, s);
    validate_game_state(&back).unwrap();
}

#[test]
fn validate_game_state_catches_tampering() {
    let mut s = start(BLINDS_5_10(), &[100, 100, 100], &["AhAd", "KhKd", "QhQd"], DRY_BOARD);
    act(&mut s, 2, Action::Call);
    let mut created = s.clone();
    created.players[0].stack += 1;
    assert_eq!(validate_game_state(&created).unwrap_err().invariant, "chips_conserved");
    let mut duplicated = s.clone();
    duplicated.players[1].hole[0] = duplicated.players[0].hole[0];
    assert_eq!(validate_game_state(&duplicated).unwrap_err().invariant, "cards_unique");
    let mut moved = s.clone();
    moved.players[0].bet += 5;
    moved.players[1].bet -= 5;
    assert_eq!(validate_game_state(&moved).unwrap_err().invariant, "audit_replays");
}

#[test]
fn scripted_hand_replays_a_phh_history_exactly() {
    let line = r#"{"stacks": [17, 568, 1448, 16], "blinds": [5, 10], "ante": 0, "min_bet": 10, "actions": ["d dh p1 6s8c", "d dh p2 7d8h", "d dh p3 5c6c", "d dh p4 3hKh", "p3 cc", "p4 f", "p1 cbr 17", "p2 cc", "p3 cbr 27", "p2 cbr 37", "p3 cbr 1448", "p2 f", "d burn Tc", "d db 5dJh8s", "d burn 2d", "d db 5h", "d burn Js", "d db 8d"], "final_stacks": [51, 531, 1451, 16]}"#;
    let history: HandHistory = serde_json::from_str(line).unwrap();
    let state = history.replay(RuleOptions::pokerkit()).unwrap();
    assert_eq!(stacks(&state), history.final_stacks);
    assert_eq!(engine::rules::phh::format_actions(&state), history.actions, "the engine writes the same history back");

    let mut illegal = history.clone();
    illegal.actions[6] = "p1 cbr 12".into();
    assert!(matches!(
        illegal.replay(RuleOptions::pokerkit()),
        Err(engine::rules::ReplayError::Illegal { index: 6, .. })
    ));
    let mut duplicate = history.clone();
    duplicate.actions[1] = "d dh p2 6s8h".into();
    assert!(matches!(duplicate.replay(RuleOptions::pokerkit()), Err(engine::rules::ReplayError::Start(_))));
}
