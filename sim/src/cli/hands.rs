//! `chipsim hands`: seeded random hands as PHH-notation JSON lines, or a check of such a file
//! against our replay (PokerKit's fixture, our own hands).

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use engine::rules::RuleOptions;

use crate::{exit, hands};

#[derive(clap::Args)]
pub(crate) struct HandsArgs {
    /// Seed of the hands: the same seed always gives the same hands.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of hands to write.
    #[arg(long, default_value_t = 100)]
    count: u64,
    /// Instead of writing hands, replay every line of FILE in scripted mode and compare the
    /// final stacks ("-" reads standard input).
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// Rule options: `pokerkit` (the files' conventions) or `house` (our defaults).
    #[arg(long, value_enum, default_value_t = Rules::Pokerkit)]
    rules: Rules,
}

#[derive(Clone, Copy, ValueEnum)]
enum Rules {
    Pokerkit,
    House,
}

impl Rules {
    fn options(self) -> RuleOptions {
        match self {
            Rules::Pokerkit => RuleOptions::pokerkit(),
            Rules::House => RuleOptions::default(),
        }
    }
}

pub(crate) fn run_hands(args: HandsArgs) -> ExitCode {
    let options = args.rules.options();
    let Some(path) = args.check else {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        return match hands::write_hands(&mut out, args.seed, args.count, options) {
            Ok(()) => ExitCode::from(exit::SUCCESS),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(exit::SUCCESS),
            Err(error) => {
                eprintln!("chipsim hands: {error}");
                ExitCode::from(exit::INTERNAL_ERROR)
            }
        };
    };
    let summary = if path.as_os_str() == "-" {
        hands::check_lines(io::stdin().lock(), options)
    } else {
        match File::open(&path) {
            Ok(file) => hands::check_lines(BufReader::new(file), options),
            Err(error) => {
                eprintln!("chipsim hands: cannot read {}: {error}", path.display());
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    };
    match summary {
        Err(error) => {
            eprintln!("chipsim hands: reading {}: {error}", path.display());
            ExitCode::from(exit::BAD_INPUT)
        }
        Ok(summary) => {
            for report in &summary.reports {
                eprintln!("{}: {report}", path.display());
            }
            println!("{} hands, {} mismatches", summary.hands, summary.mismatches);
            if summary.mismatches == 0 && summary.hands > 0 {
                ExitCode::from(exit::SUCCESS)
            } else {
                ExitCode::from(exit::CORRECTNESS_FAILED)
            }
        }
    }
}
