//! Performance reviews from the command line: `compare` exits 6 when the candidate is slower
//! (a design that keeps the chat inside its locks), 0 against itself; the HTML page, the
//! Prometheus file and the timeline are written.

use std::path::PathBuf;
use std::process::Command;

fn chipsim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_chipsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("chipsim runs");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chipsim-reviews-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn compare_exits_6_on_a_slower_candidate_and_0_against_itself() {
    let html = temp("compare.html");
    let html_arg = html.to_str().unwrap();
    let args =
        ["compare", "headline_2pc", "headline_2pc:variant=chat_in_lock", "--seeds", "0..1", "--fail-if-worse", "10"];
    let (code, stdout, stderr) = chipsim(&[&args[..], &["--html", html_arg]].concat());
    assert_eq!(code, 6, "{stdout}\n{stderr}");
    assert!(stderr.contains("lock hold table"), "the regressions are listed: {stderr}");
    assert!(stdout.contains("lock hold stage") && stdout.contains("candidate"), "{stdout}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && !page.contains("<script"), "a self-contained page with plots");
    let (code, _, stderr) = chipsim(&["compare", "smoke", "smoke", "--seeds", "1..2", "--fail-if-worse", "10"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_run_writes_prometheus_text_and_a_replay_writes_a_chrome_timeline() {
    let (prom, report, timeline) = (temp("smoke.prom"), temp("reports"), temp("timeline.json"));
    let (code, _, stderr) = chipsim(&[
        "run",
        "smoke",
        "--seed",
        "1",
        "--report",
        report.to_str().unwrap(),
        "--prometheus",
        prom.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("# TYPE poker_wallet_operation_duration_seconds histogram"), "{text}");
    assert!(text.contains("poker_lock_hold_seconds_bucket{category=\"table\",scenario=\"smoke\",le=\"+Inf\"}"));
    let (code, _, stderr) = chipsim(&["replay", "smoke", "--seed", "1", "--timeline", timeline.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let trace: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&timeline).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    assert!(events.iter().any(|e| e["ph"] == "X" && e["cat"].as_str().is_some_and(|c| c.starts_with("table:"))));
}

#[test]
fn a_bad_compare_side_is_refused_before_anything_runs() {
    let (code, _, stderr) = chipsim(&["compare", "smoke:colour=red", "smoke"]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let (code, _, _) = chipsim(&["compare", "missing.json", "smoke"]);
    assert_eq!(code, 2);
}
