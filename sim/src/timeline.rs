//! A run's timeline in the Chrome trace-event format (`{"traceEvents": [...]}`), which
//! Perfetto and chrome://tracing open: lock holds and waits as spans on one track per lock key,
//! client requests as spans from send to answer, store transactions, faults and the world's
//! crashes and restarts as instants. `ts` and `dur` are µs of simulated time; `pid` is a host,
//! `tid` a lock key or a lane of that host. Built from the trace a replay keeps; this module
//! only reads it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::trace::TraceEvent;

/// Numbers the hosts and their lanes, in order of first appearance (so the same trace gives
/// the same file), and emits their names as metadata events.
#[derive(Default)]
struct Tracks {
    pids: BTreeMap<String, u64>,
    tids: BTreeMap<(u64, String), u64>,
    metadata: Vec<Value>,
}

impl Tracks {
    fn pid(&mut self, host: &str) -> u64 {
        if let Some(pid) = self.pids.get(host) {
            return *pid;
        }
        let pid = self.pids.len() as u64 + 1;
        self.pids.insert(host.to_string(), pid);
        self.metadata.push(json!({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": host}}));
        pid
    }

    fn tid(&mut self, host: &str, lane: &str) -> (u64, u64) {
        let pid = self.pid(host);
        let next = self.tids.len() as u64 + 1;
        let tid = *self.tids.entry((pid, lane.to_string())).or_insert_with(|| {
            self.metadata
                .push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": next, "args": {"name": lane}}));
            next
        });
        (pid, tid)
    }
}

/// The value of `name=N` in a detail, as a number.
fn field(detail: &str, name: &str) -> Option<u64> {
    detail.split_whitespace().find_map(|word| word.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

fn span(tracks: &mut Tracks, host: &str, lane: &str, name: &str, start_us: u64, dur_us: u64, detail: &str) -> Value {
    let (pid, tid) = tracks.tid(host, lane);
    json!({"ph": "X", "name": name, "cat": lane, "pid": pid, "tid": tid, "ts": start_us, "dur": dur_us, "args": {"detail": detail}})
}

fn instant(tracks: &mut Tracks, host: &str, lane: &str, name: &str, at_us: u64, detail: &str) -> Value {
    let (pid, tid) = tracks.tid(host, lane);
    json!({"ph": "i", "s": "t", "name": name, "cat": lane, "pid": pid, "tid": tid, "ts": at_us, "args": {"detail": detail}})
}

/// A lock event's detail: `KEY MODE OWNER OPERATION waited_us=N` (or `held_us=N`).
fn lock_parts(detail: &str) -> Option<(&str, &str, &str)> {
    let mut words = detail.split_whitespace();
    let (key, mode, _owner, operation) = (words.next()?, words.next()?, words.next()?, words.next()?);
    Some((key, mode, operation))
}

/// The timeline of `events` as a Chrome trace-event JSON document.
pub fn chrome_trace(events: &[TraceEvent]) -> Value {
    let mut tracks = Tracks::default();
    let mut out = Vec::new();
    // A client request in flight, by (host, wire id): when it was sent and what it was.
    let mut sent: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    for event in events {
        let (host, detail, at) = (event.host.as_str(), event.detail.as_str(), event.at_us);
        match event.kind.as_str() {
            "lock.acquire" => {
                if let (Some((key, mode, operation)), Some(waited)) = (lock_parts(detail), field(detail, "waited_us"))
                    && waited > 0
                {
                    let name = format!("wait {operation} ({mode})");
                    out.push(span(&mut tracks, host, key, &name, at - waited.min(at), waited, detail));
                }
            }
            "lock.release" => {
                if let (Some((key, mode, operation)), Some(held)) = (lock_parts(detail), field(detail, "held_us")) {
                    let name = format!("{operation} ({mode})");
                    out.push(span(&mut tracks, host, key, &name, at - held.min(at), held, detail));
                }
            }
            "lock.timeout" => out.push(instant(&mut tracks, host, "lock timeouts", "lock timeout", at, detail)),
            "txn" => {
                let name = detail.split_whitespace().next().unwrap_or("txn");
                out.push(instant(&mut tracks, host, "store", name, at, detail));
            }
            "fault" | "violation" => {
                let name = detail.split_whitespace().next().unwrap_or(&event.kind).trim_end_matches(':');
                out.push(instant(&mut tracks, host, &format!("{}s", event.kind), name, at, detail));
            }
            "send" => {
                if let Some((wire, rest)) = detail.split_once(' ') {
                    sent.insert((host.to_string(), wire.to_string()), (at, rest.to_string()));
                }
            }
            "ack" | "timeout" => {
                let wire = detail.split_whitespace().next().unwrap_or_default();
                if let Some((start, what)) = sent.remove(&(host.to_string(), wire.to_string())) {
                    let kind = what.split_whitespace().next().unwrap_or("request");
                    let name = if event.kind == "timeout" { format!("{kind} (timed out)") } else { kind.to_string() };
                    out.push(span(&mut tracks, host, &format!("requests: {kind}"), &name, start, at - start, &what));
                }
            }
            "crash" | "restart" | "phase" | "converged" | "engine.boot" => {
                out.push(instant(&mut tracks, host, "world", &event.kind, at, detail));
            }
            _ => {}
        }
    }
    let mut all = tracks.metadata;
    all.extend(out);
    json!({"traceEvents": all, "displayTimeUnit": "ms", "otherData": {"time": "simulated µs"}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_us: u64, host: &str, kind: &str, detail: &str) -> TraceEvent {
        TraceEvent { index: 0, at_us, host: host.into(), kind: kind.into(), detail: detail.into() }
    }

    #[test]
    fn lock_holds_and_requests_become_spans_in_simulated_microseconds() {
        let events = [
            event(1_000, "players-0", "send", "w7 stats table-1"),
            event(5_000, "engine", "lock.acquire", "table:table-1 Read owner-3 game.stats waited_us=2000"),
            event(9_000, "engine", "lock.release", "table:table-1 Read owner-3 game.stats held_us=4000"),
            event(9_500, "players-0", "ack", "w7 stats v3 hand 1"),
            event(9_600, "engine", "fault", "slow_store get +500 ms"),
        ];
        let trace = chrome_trace(&events);
        let spans: Vec<&Value> = trace["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "X").collect();
        let hold = spans.iter().find(|e| e["name"] == "game.stats (Read)").unwrap();
        assert_eq!((hold["ts"].as_u64(), hold["dur"].as_u64()), (Some(5_000), Some(4_000)));
        let wait = spans.iter().find(|e| e["name"] == "wait game.stats (Read)").unwrap();
        assert_eq!((wait["ts"].as_u64(), wait["dur"].as_u64()), (Some(3_000), Some(2_000)));
        let request = spans.iter().find(|e| e["name"] == "stats").unwrap();
        assert_eq!((request["ts"].as_u64(), request["dur"].as_u64()), (Some(1_000), Some(8_500)));
        assert_eq!(hold["tid"], wait["tid"], "one track per lock key");
        assert!(trace["traceEvents"].as_array().unwrap().iter().any(|e| e["ph"] == "i" && e["name"] == "slow_store"));
    }
}
