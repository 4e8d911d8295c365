//! The report file (`latest.json`): the scenarios' summaries, the runs in seed order, and for a
//! sweep its record — what was asked (scenarios, seeds, shard) and what happened (seeds run,
//! an early stop, the determinism re-runs).
//!
//! **Invariant:** the merge of every shard of a sweep equals the report of the unsharded sweep
//! in everything but the wall-clock fields (`wall_ms`): summaries merge losslessly (HDR
//! histograms add, counters sum, fingerprints add), runs join in (scenario, seed) order, and a
//! complete set of shards is recorded as the whole range. Reports of different commits or
//! different sweeps are refused.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use engine::game::{EngineVariant, LockStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Outcome, RunReport, ScenarioSummary};

/// The name of the report file a run writes in its report directory.
pub const LATEST_REPORT_FILE: &str = "latest.json";

/// A report file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a chipsim report: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
}

/// Reports that cannot be merged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("the reports come from different builds ({0} and {1}): merge shards of one sweep")]
    DifferentBuilds(String, String),
    #[error("the reports are of different sweeps ({0} and {1})")]
    DifferentSweeps(String, String),
    #[error("shard {0} appears in more than one report")]
    ShardTwice(Shard),
    #[error("a sweep's report and a run's report cannot be merged")]
    SweepAndRun,
    #[error("{scenario} seed {seed} appears in more than one report")]
    RunTwice { scenario: String, seed: u64 },
}

/// The `K`-th of `N` interleaved slices of a seed range (`K` from 1): seed `A + i` belongs to
/// shard `i mod N + 1`. Written `K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole range.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// How many seeds of `first..=last` this shard holds.
    pub fn seeds_in(self, first: u64, last: u64) -> u64 {
        match first.checked_add(self.index - 1) {
            Some(start) if start <= last => (last - start) / self.count + 1,
            _ => 0,
        }
    }

    /// The `i`-th (from 0) seed of `first..=last` in this shard; `i < seeds_in`.
    pub fn seed(self, first: u64, i: u64) -> u64 {
        first + (self.index - 1) + i * self.count
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write K/N with 1 <= K <= N");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let shard =
            Shard { index: index.trim().parse().map_err(|_| bad())?, count: count.trim().parse().map_err(|_| bad())? };
        if shard.index == 0 || shard.index > shard.count {
            return Err(bad());
        }
        Ok(shard)
    }
}

impl Serialize for Shard {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shard {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shard, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Which runs a sweep's report lists (the summaries always count every run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum RunsKept {
    /// Every run, in seed order (a passing one without its histograms).
    #[default]
    All,
    /// Only the runs that failed (for sweeps too long to list).
    Failed,
}

/// A seed whose re-run gave another trace hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub scenario: String,
    pub seed: u64,
    pub first: String,
    pub again: String,
}

/// What a sweep was asked to do, and what it did besides its runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub scenarios: Vec<String>,
    /// The seed range, as `A..=B`.
    pub seeds: String,
    /// How many shards the range was cut into (1: not sharded, or every shard merged).
    pub shard_count: u64,
    /// The shards this report holds; empty when it holds all of them.
    pub shards: Vec<u64>,
    pub variant: Option<EngineVariant>,
    pub lock_strategy: Option<LockStrategy>,
    pub keep_going: bool,
    pub runs_kept: RunsKept,
    /// Seeds run (every scenario counted).
    pub seeds_run: u64,
    /// The sweep stopped at its first failure before the end of its range.
    pub stopped_early: bool,
    /// The share of seeds re-run to check determinism, in percent, how many were, and the
    /// seeds whose re-run gave another trace hash.
    pub determinism_percent: f64,
    pub determinism_checked: u64,
    pub determinism_mismatches: Vec<Mismatch>,
    /// Wall-clock time of the sweep (not deterministic; never compared).
    pub wall_ms: u64,
}

impl SweepRecord {
    /// What identifies the sweep across its shards.
    fn identity(&self) -> String {
        format!(
            "{} seeds {} in {} shards, variant {:?}, lock strategy {:?}, keep_going {}, runs {:?}",
            self.scenarios.join(","),
            self.seeds,
            self.shard_count,
            self.variant,
            self.lock_strategy,
            self.keep_going,
            self.runs_kept
        )
    }

    /// The shards this report holds, all of them when it holds the whole range.
    fn held(&self) -> Vec<u64> {
        if self.shards.is_empty() { (1..=self.shard_count).collect() } else { self.shards.clone() }
    }

    fn absorb(&mut self, other: &SweepRecord) -> Result<(), MergeError> {
        if self.identity() != other.identity() {
            return Err(MergeError::DifferentSweeps(self.identity(), other.identity()));
        }
        let mut held: BTreeSet<u64> = self.held().into_iter().collect();
        for shard in other.held() {
            if !held.insert(shard) {
                return Err(MergeError::ShardTwice(Shard { index: shard, count: self.shard_count }));
            }
        }
        // Every shard present: the report of the whole range, as an unsharded sweep writes it.
        if held.len() as u64 == self.shard_count {
            self.shard_count = 1;
            self.shards = Vec::new();
        } else {
            self.shards = held.into_iter().collect();
        }
        self.seeds_run += other.seeds_run;
        self.stopped_early |= other.stopped_early;
        self.determinism_checked += other.determinism_checked;
        self.determinism_mismatches.extend(other.determinism_mismatches.iter().cloned());
        self.determinism_mismatches.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
        self.wall_ms = self.wall_ms.max(other.wall_ms);
        Ok(())
    }
}

/// The report file a `chipsim run` or `chipsim sweep` writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportFile {
    pub chipsim_version: String,
    /// `git rev-parse HEAD` of the tree that ran, when known.
    pub git_commit: Option<String>,
    /// Set for a sweep's report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepRecord>,
    pub scenarios: Vec<ScenarioSummary>,
    pub runs: Vec<RunReport>,
}

impl ReportFile {
    /// An empty report of this build.
    pub fn new(git_commit: Option<String>) -> ReportFile {
        ReportFile { chipsim_version: env!("CARGO_PKG_VERSION").to_string(), git_commit, ..ReportFile::default() }
    }

    /// The report file of `runs` (in the order given), with its per-scenario summaries.
    pub fn of_runs(git_commit: Option<String>, runs: Vec<RunReport>) -> ReportFile {
        let mut file = ReportFile::new(git_commit);
        let mut order: Vec<String> = Vec::new();
        for run in &runs {
            if !order.contains(&run.scenario) {
                order.push(run.scenario.clone());
            }
        }
        file.scenarios = order
            .iter()
            .map(|name| ScenarioSummary::of(&runs.iter().filter(|r| &r.scenario == name).collect::<Vec<_>>()))
            .collect();
        file.runs = runs;
        file
    }

    /// Writes the file as `dir/latest.json` (creating `dir`); returns the path written.
    pub fn write_latest(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
        let path = dir.join(LATEST_REPORT_FILE);
        self.write(&path)?;
        Ok(path)
    }

    /// Writes the file at `path` (creating its directory).
    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
        }
        let bytes = serde_json::to_vec_pretty(self).expect("reports serialize");
        std::fs::write(path, bytes).map_err(|source| ReportError::Write { path: path.to_path_buf(), source })
    }

    /// Reads a report file.
    pub fn read(path: &Path) -> Result<ReportFile, ReportError> {
        let bytes = std::fs::read(path).map_err(|source| ReportError::Read { path: path.to_path_buf(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| ReportError::Parse { path: path.to_path_buf(), source })
    }

    /// Merges reports — the shards of one sweep, or runs of one build — into one: summaries
    /// merged per scenario, runs in (scenario, seed) order, the sweep's shards joined.
    pub fn merge(reports: Vec<ReportFile>) -> Result<ReportFile, MergeError> {
        let mut reports = reports.into_iter();
        let mut merged = reports.next().ok_or(MergeError::Empty)?;
        for report in reports {
            merged.absorb(report)?;
        }
        merged.sort_runs()?;
        Ok(merged)
    }

    fn absorb(&mut self, other: ReportFile) -> Result<(), MergeError> {
        let build =
            |r: &ReportFile| format!("{} {}", r.chipsim_version, r.git_commit.as_deref().unwrap_or("(no commit)"));
        if build(self) != build(&other) {
            return Err(MergeError::DifferentBuilds(build(self), build(&other)));
        }
        match (&mut self.sweep, &other.sweep) {
            (Some(mine), Some(theirs)) => mine.absorb(theirs)?,
            (None, None) => {}
            _ => return Err(MergeError::SweepAndRun),
        }
        for summary in other.scenarios {
            match self.scenarios.iter_mut().find(|s| s.scenario == summary.scenario) {
                Some(mine) => mine.merge(&summary),
                None => self.scenarios.push(summary),
            }
        }
        self.runs.extend(other.runs);
        Ok(())
    }

    /// Orders summaries as the sweep listed its scenarios (else as they first appear) and
    /// runs by (scenario, seed); refuses a run present twice.
    fn sort_runs(&mut self) -> Result<(), MergeError> {
        let order: Vec<String> = match &self.sweep {
            Some(sweep) => sweep.scenarios.clone(),
            None => self.scenarios.iter().map(|s| s.scenario.clone()).collect(),
        };
        let position = |name: &str| order.iter().position(|n| n == name).unwrap_or(order.len());
        self.scenarios.sort_by_key(|s| position(&s.scenario));
        self.runs.sort_by_key(|run| (position(&run.scenario), run.seed));
        if let Some(pair) = self.runs.windows(2).find(|w| w[0].scenario == w[1].scenario && w[0].seed == w[1].seed) {
            return Err(MergeError::RunTwice { scenario: pair[0].scenario.clone(), seed: pair[0].seed });
        }
        Ok(())
    }

    /// The worst outcome over all runs (a sweep lists every failed run, whatever it keeps).
    pub fn worst(&self) -> Outcome {
        self.runs.iter().map(|r| r.outcome).max().unwrap_or(Outcome::Passed)
    }

    /// Whether the report holds only some shards of a sweep (coverage is judged on the whole).
    pub fn is_partial(&self) -> bool {
        self.sweep.as_ref().is_some_and(|sweep| !sweep.shards.is_empty())
    }

    /// The exit code of the report: the worst outcome, else a required probe never reached
    /// (judged only on a whole report, not on one shard's).
    pub fn exit_code(&self) -> u8 {
        match self.worst() {
            Outcome::Passed if !self.is_partial() && self.scenarios.iter().any(|s| !s.probes_missing().is_empty()) => {
                crate::exit::COVERAGE_MISSING
            }
            worst => worst.exit_code(),
        }
    }

    /// The coverage lines of every scenario that reached or requires a probe.
    pub fn coverage_text(&self) -> String {
        let mut out = String::new();
        for summary in &self.scenarios {
            if !summary.probes.is_empty() || !summary.probes_required.is_empty() {
                out += &summary.coverage_line();
                out.push('\n');
            }
        }
        out
    }
}
