//! `chipsim hands`: PokerKit's own hands replay with no mismatch, our hands replay to the
//! stacks they claim, and broken histories are reported.

use std::io::Write;
use std::process::Command;

use engine::rules::{HandHistory, RuleOptions};
use sim::hands::{check_hand, check_lines, generate_hand};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/fixtures/pokerkit-hands.jsonl");

#[test]
fn pokerkit_generated_hands_replay_with_no_mismatch() {
    let file = std::fs::File::open(FIXTURE).expect("tools/fixtures/pokerkit-hands.jsonl in the repository");
    let summary = check_lines(std::io::BufReader::new(file), RuleOptions::pokerkit()).unwrap();
    assert_eq!(summary.reports, Vec::<String>::new());
    assert_eq!((summary.hands, summary.mismatches), (1000, 0));
}

#[test]
fn house_rules_disagree_with_pokerkit_only_where_documented() {
    // Under house rules some fixture hands must differ (short big blinds, odd chips): proof
    // that the options matter and the fixture exercises them.
    let file = std::fs::File::open(FIXTURE).unwrap();
    let summary = check_lines(std::io::BufReader::new(file), RuleOptions::default()).unwrap();
    assert!(summary.mismatches > 0, "the fixture should exercise the rule options");
    assert!(summary.mismatches < 200, "house rules differ from PokerKit only in rare spots: {}", summary.mismatches);
}

#[test]
fn generated_hands_are_deterministic_and_replay_to_their_own_final_stacks() {
    for options in [RuleOptions::pokerkit(), RuleOptions::default()] {
        for index in 0..300 {
            let hand = generate_hand(99, index, options);
            assert_eq!(hand, generate_hand(99, index, options), "same seed, same hand");
            assert_eq!(check_hand(&hand, options), None, "hand {index}");
        }
    }
    assert_ne!(generate_hand(99, 0, RuleOptions::pokerkit()), generate_hand(100, 0, RuleOptions::pokerkit()));
}

fn broken_variants() -> Vec<(&'static str, HandHistory)> {
    let line = std::fs::read_to_string(FIXTURE).unwrap().lines().nth(2).unwrap().to_string();
    let good: HandHistory = serde_json::from_str(&line).unwrap();
    let mut wrong_stack = good.clone();
    wrong_stack.final_stacks[0] += 1;
    wrong_stack.final_stacks[1] -= 1;
    let mut illegal_raise = good.clone();
    let raise = illegal_raise.actions.iter().position(|a| a.contains(" cbr ")).unwrap();
    let player = illegal_raise.actions[raise].split(' ').next().unwrap().to_string();
    illegal_raise.actions[raise] = format!("{player} cbr 1");
    let mut duplicate_card = good.clone();
    let first_card = &good.actions[0][good.actions[0].len() - 4..good.actions[0].len() - 2];
    let board = duplicate_card.actions.iter().position(|a| a.starts_with("d db ")).unwrap();
    duplicate_card.actions[board] = format!("d db {first_card}{}", &good.actions[board][7..]);
    vec![("wrong final stack", wrong_stack), ("illegal raise", illegal_raise), ("duplicate card", duplicate_card)]
}

#[test]
fn wrong_stacks_illegal_raises_and_duplicate_cards_are_reported() {
    for (what, hand) in broken_variants() {
        assert!(check_hand(&hand, RuleOptions::pokerkit()).is_some(), "{what} must be reported");
    }
}

#[test]
fn chipsim_hands_check_prints_the_summary_and_fails_on_mismatch() {
    let chipsim = env!("CARGO_BIN_EXE_chipsim");
    let output = Command::new(chipsim).args(["hands", "--check", FIXTURE]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1000 hands, 0 mismatches");
    assert_eq!(output.status.code(), Some(sim::exit::SUCCESS as i32));

    let dir = std::env::temp_dir().join(format!("chipsim-hands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for (_, hand) in broken_variants() {
        writeln!(file, "{}", serde_json::to_string(&hand).unwrap()).unwrap();
    }
    writeln!(file, "not json").unwrap();
    drop(file);
    let output = Command::new(chipsim).args(["hands", "--check"]).arg(&path).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "4 hands, 4 mismatches");
    assert_eq!(output.status.code(), Some(sim::exit::CORRECTNESS_FAILED as i32));

    let output = Command::new(chipsim).args(["hands", "--check", "/nonexistent/hands.jsonl"]).output().unwrap();
    assert_eq!(output.status.code(), Some(sim::exit::BAD_INPUT as i32));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn chipsim_hands_writes_the_documented_json_lines() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_chipsim")).args(["hands", "--seed", "7", "--count", "3"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    for key in ["seed", "hand", "stacks", "blinds", "ante", "min_bet", "actions", "final_stacks"] {
        assert!(keys.contains(&key), "missing {key}: {keys:?}");
    }
    assert!(lines[0].starts_with(r#"{"seed":7,"hand":0,"stacks":["#), "field order as documented: {}", lines[0]);
}

#[test]
fn scripted_edge_cases_replay_to_their_recorded_stacks() {
    // The same file goes through PokerKit in CI (.ci/run): both engines must agree with it.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/edge_cases.jsonl");
    let file = std::fs::File::open(path).unwrap();
    let summary = check_lines(std::io::BufReader::new(file), RuleOptions::pokerkit()).unwrap();
    assert_eq!(summary.reports, Vec::<String>::new());
    assert!(summary.hands >= 10);
}
