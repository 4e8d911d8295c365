//! JUnit XML for CI: one `<testsuite>` per scenario, with one test case for the scenario as a
//! whole (its seeds, passed or failed) and one failing test case per failing seed — its
//! invariant as the failure's type, the first violation as its message, the violations and the
//! replay command as its text. Written with quick-xml, which escapes what must be escaped.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{ReportFile, RunReport, ScenarioSummary, failure_text};

/// The report as JUnit XML.
pub fn junit_xml(report: &ReportFile) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let write = |writer: &mut Writer<Vec<u8>>, event: Event<'_>| writer.write_event(event).expect("writes to memory");
    write(&mut writer, Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let failures: u64 = report.scenarios.iter().map(|s| s.failed).sum();
    let tests: u64 = report.scenarios.iter().map(|s| 1 + s.failed).sum();
    let mut suites = BytesStart::new("testsuites");
    suites.push_attribute(("name", "chipsim"));
    suites.push_attribute(("tests", tests.to_string().as_str()));
    suites.push_attribute((
        "failures",
        (failures + report.scenarios.iter().filter(|s| s.failed > 0).count() as u64).to_string().as_str(),
    ));
    write(&mut writer, Event::Start(suites));
    for summary in &report.scenarios {
        let failed: Vec<&RunReport> =
            report.runs.iter().filter(|run| run.scenario == summary.scenario && !run.passed).collect();
        write_suite(&mut writer, summary, &failed);
    }
    write(&mut writer, Event::End(BytesEnd::new("testsuites")));
    String::from_utf8(writer.into_inner()).expect("XML is UTF-8")
}

fn write_suite(writer: &mut Writer<Vec<u8>>, summary: &ScenarioSummary, failed: &[&RunReport]) {
    let write = |writer: &mut Writer<Vec<u8>>, event: Event<'_>| writer.write_event(event).expect("writes to memory");
    let seconds = |ms: u64| format!("{:.3}", ms as f64 / 1_000.0);
    let mut suite = BytesStart::new("testsuite");
    suite.push_attribute(("name", summary.scenario.as_str()));
    suite.push_attribute(("tests", (1 + failed.len()).to_string().as_str()));
    let suite_failures = failed.len() + usize::from(!failed.is_empty());
    suite.push_attribute(("failures", suite_failures.to_string().as_str()));
    suite.push_attribute(("errors", "0"));
    suite.push_attribute(("time", seconds(summary.wall_ms).as_str()));
    write(writer, Event::Start(suite));

    let mut case = BytesStart::new("testcase");
    let name = format!("{} ({} seeds)", summary.scenario, summary.seeds);
    case.push_attribute(("name", name.as_str()));
    case.push_attribute(("classname", format!("chipsim.{}", summary.scenario).as_str()));
    case.push_attribute(("time", seconds(summary.wall_ms).as_str()));
    if summary.failed == 0 {
        write(writer, Event::Empty(case));
    } else {
        write(writer, Event::Start(case));
        let message = format!("{} of {} seeds failed", summary.failed, summary.seeds);
        let mut failure = BytesStart::new("failure");
        failure.push_attribute(("message", message.as_str()));
        failure.push_attribute(("type", "seeds_failed"));
        write(writer, Event::Start(failure));
        let seeds: Vec<String> = failed.iter().map(|run| run.seed.to_string()).collect();
        write(writer, Event::Text(BytesText::new(&format!("failing seeds: {}", seeds.join(", ")))));
        write(writer, Event::End(BytesEnd::new("failure")));
        write(writer, Event::End(BytesEnd::new("testcase")));
    }
    for run in failed {
        write_failed_seed(writer, run);
    }
    write(writer, Event::End(BytesEnd::new("testsuite")));
}

fn write_failed_seed(writer: &mut Writer<Vec<u8>>, run: &RunReport) {
    let write = |writer: &mut Writer<Vec<u8>>, event: Event<'_>| writer.write_event(event).expect("writes to memory");
    let mut case = BytesStart::new("testcase");
    let name = format!("{} seed {}", run.scenario, run.seed);
    case.push_attribute(("name", name.as_str()));
    case.push_attribute(("classname", format!("chipsim.{}", run.scenario).as_str()));
    case.push_attribute(("time", format!("{:.3}", run.wall_ms as f64 / 1_000.0).as_str()));
    write(writer, Event::Start(case));
    let first = run.violations.first();
    let kind = first.map_or_else(|| super::enum_name(&run.outcome), |v| v.invariant.to_string());
    let message = first.map_or_else(|| super::enum_name(&run.outcome), |v| format!("{}: {}", v.invariant, v.message));
    let mut failure = BytesStart::new("failure");
    failure.push_attribute(("message", message.as_str()));
    failure.push_attribute(("type", kind.as_str()));
    write(writer, Event::Start(failure));
    write(writer, Event::Text(BytesText::new(&failure_text(run))));
    write(writer, Event::End(BytesEnd::new("failure")));
    write(writer, Event::End(BytesEnd::new("testcase")));
}
