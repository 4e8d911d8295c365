//! One self-contained HTML page per report or comparison: the summary tables and, per
//! scenario, an SVG plot (plotters) of every histogram's percentile curve — HdrHistogram's
//! "latency by percentile" view, the x axis log-scaled in 1 / (1 − p) so the tail gets the room —
//! with both sides of a comparison overlaid. No external script, style or font: the page opens
//! offline and can be attached to a review as one file. This module only renders.

use std::fmt::Write as _;

use engine::metrics::LatencyHistogram;
use plotters::prelude::*;

use crate::compare::{Comparison, Side};
use crate::report::{ReportFile, ScenarioSummary};

/// Points per percentile curve.
const CURVE_POINTS_COUNT: u32 = 120;
/// The curve runs from p0 to p99.99: x = 1 / (1 − p) from 1 to this.
const X_MAX: f64 = 10_000.0;
const PLOT_SIZE: (u32, u32) = (600, 300);
/// The sides' colours: base, candidate.
const COLOURS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right;font-size:13px}th{background:#f3f3f3}\
td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:8px}\
.worse{color:#b00}.better{color:#070}h2{margin-top:2em}";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// (x, ms) points of `histogram`'s percentile curve.
fn curve(histogram: &LatencyHistogram) -> Vec<(f64, f64)> {
    (0..=CURVE_POINTS_COUNT)
        .map(|k| {
            let x = X_MAX.powf(f64::from(k) / f64::from(CURVE_POINTS_COUNT));
            let percentile = (1.0 - 1.0 / x) * 100.0;
            (x, histogram.percentile_us(percentile) as f64 / 1_000.0)
        })
        .collect()
}

fn percentile_label(x: f64) -> String {
    match x.round() as u64 {
        1 => "p0".into(),
        10 => "p90".into(),
        100 => "p99".into(),
        1_000 => "p99.9".into(),
        10_000 => "p99.99".into(),
        _ => String::new(),
    }
}

/// One plot: the percentile curves of `series` (label, histogram), as an SVG element.
fn plot(title: &str, series: &[(&str, &LatencyHistogram)]) -> String {
    let mut svg = String::new();
    let curves: Vec<Vec<(f64, f64)>> = series.iter().map(|(_, h)| curve(h)).collect();
    let y_max = curves.iter().flatten().map(|(_, y)| *y).fold(1.0, f64::max) * 1.1;
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 15))
                .margin(8)
                .margin_right(28)
                .x_label_area_size(30)
                .y_label_area_size(55)
                .build_cartesian_2d((1f64..X_MAX).log_scale(), 0f64..y_max)?;
            chart
                .configure_mesh()
                .x_labels(5)
                .x_label_formatter(&|x| percentile_label(*x))
                .y_desc("simulated ms")
                .draw()?;
            for (index, ((label, _), points)) in series.iter().zip(curves).enumerate() {
                let colour = COLOURS[index % COLOURS.len()];
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
                    .label(*label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            }
            chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
            root.present()?;
            Ok(())
        })();
        if let Err(error) = drawn {
            return format!("<p>plot {}: {}</p>", escape(title), escape(&error.to_string()));
        }
    }
    svg
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{0}</title><style>{STYLE}</style></head>\
         <body><h1>{0}</h1>\n{body}</body></html>\n",
        escape(title)
    )
}

fn summary_rows(summary: &ScenarioSummary) -> String {
    let mut rows = String::from(
        "<table><tr><th>histogram</th><th>n</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>",
    );
    for (name, h) in &summary.metrics.histograms {
        let s = h.summary();
        let _ = write!(rows, "<tr><td>{}</td><td>{}</td>", escape(&crate::compare::short_name(name)), s.count);
        for us in [s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us] {
            let _ = write!(rows, "<td>{:.1}</td>", us as f64 / 1_000.0);
        }
        rows += "</tr>";
    }
    rows + "</table>"
}

/// The page of one report: per scenario, its verdicts, its histograms' table and their plots.
pub fn report_page(report: &ReportFile) -> String {
    let mut body = format!(
        "<p>chipsim {} at {}; times are simulated milliseconds.</p>",
        escape(&report.chipsim_version),
        escape(report.git_commit.as_deref().unwrap_or("an unknown commit"))
    );
    for summary in &report.scenarios {
        let _ = write!(
            body,
            "<h2>{}</h2><p>{} seeds: {} passed, {} failed; {:.1} simulated s.</p>",
            escape(&summary.scenario),
            summary.seeds,
            summary.passed,
            summary.failed,
            summary.sim_time_ms as f64 / 1_000.0
        );
        body += &summary_rows(summary);
        body += "<div class=\"plots\">";
        for (name, histogram) in &summary.metrics.histograms {
            body += &plot(&crate::compare::short_name(name), &[(summary.scenario.as_str(), histogram)]);
        }
        body += "</div>";
    }
    page("chipsim report", &body)
}

fn delta_cell(relative: Option<f64>, delta_us: i64) -> String {
    match relative {
        Some(r) if delta_us > crate::compare::RESOLUTION_US as i64 => {
            format!("<td class=\"worse\">{:+.0}%</td>", r * 100.0)
        }
        Some(r) if delta_us < -(crate::compare::RESOLUTION_US as i64) => {
            format!("<td class=\"better\">{:+.0}%</td>", r * 100.0)
        }
        Some(r) => format!("<td>{:+.0}%</td>", r * 100.0),
        None => "<td>–</td>".into(),
    }
}

/// The page of a comparison: per scenario pair, the side-by-side table and the overlaid
/// percentile curves of every histogram both sides recorded.
pub fn comparison_page(comparison: &Comparison, base: &Side, candidate: &Side) -> String {
    let mut body = format!(
        "<p>base <b style=\"color:#1f77b4\">{}</b> · candidate <b style=\"color:#d62728\">{}</b>; times are \
         simulated milliseconds, so every difference is the code's or the scenario's, never the machine's.</p>",
        escape(&comparison.base),
        escape(&comparison.candidate)
    );
    for scenario in &comparison.scenarios {
        let _ = write!(
            body,
            "<h2>{} vs {}</h2><table><tr><th>metric</th><th>side</th><th>n</th><th>p50</th><th>p90</th><th>p99</th>\
             <th>p99.9</th><th>max</th></tr>",
            escape(&scenario.base_scenario),
            escape(&scenario.candidate_scenario)
        );
        for row in &scenario.rows {
            let cells = |values: Vec<u64>| {
                values.iter().map(|us| format!("<td>{:.1}</td>", *us as f64 / 1_000.0)).collect::<String>()
            };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>base</td><td>{}</td>{}</tr><tr><td></td><td>candidate</td><td>{}</td>{}</tr>\
                 <tr><td></td><td>delta</td><td></td>{}</tr>",
                escape(&row.metric),
                row.base.count,
                cells(row.deltas.iter().map(|d| d.base_us).collect()),
                row.candidate.count,
                cells(row.deltas.iter().map(|d| d.candidate_us).collect()),
                row.deltas.iter().map(|d| delta_cell(d.relative, d.delta_us)).collect::<String>()
            );
        }
        body += "</table><div class=\"plots\">";
        let find = |side: &Side, scenario_name: &str, histogram: &str| {
            side.report
                .scenarios
                .iter()
                .find(|s| s.scenario == scenario_name)
                .or_else(|| side.report.scenarios.first().filter(|_| side.report.scenarios.len() == 1))
                .and_then(|s| s.metrics.histograms.get(histogram).cloned())
        };
        for row in &scenario.rows {
            let (Some(b), Some(c)) = (
                find(base, &scenario.base_scenario, &row.histogram),
                find(candidate, &scenario.candidate_scenario, &row.histogram),
            ) else {
                continue;
            };
            body += &plot(&row.metric, &[("base", &b), ("candidate", &c)]);
        }
        body += "</div>";
    }
    page("chipsim compare", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plot_is_an_inline_svg_with_both_curves() {
        let mut a = LatencyHistogram::default();
        let mut b = LatencyHistogram::default();
        for ms in 1..=100 {
            a.record_us(ms * 1_000);
            b.record_us(ms * 2_000);
        }
        let svg = plot("lock hold table", &[("base", &a), ("candidate", &b)]);
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("lock hold table") && svg.contains("candidate") && svg.contains("p99"));
        for colour in ["#1F77B4", "#D62728"] {
            assert!(svg.to_uppercase().matches(colour).count() >= 2, "{colour}: a curve and its legend mark");
        }
    }

    #[test]
    fn the_page_needs_nothing_from_outside() {
        let html = report_page(&ReportFile::default());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("http"));
    }
}
