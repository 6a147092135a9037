//! The report's chart: memory per live session and creation rate against the session count.
//!
//! One SVG file, two panels side by side, both with a log-scale x axis (live sessions): on
//! the left memory per live session (KiB), on the right creations per second. Each subject is
//! one colour; on the right a solid line is the host from 2 tasks, a thin one from 1 task and a
//! dashed one the bare-wasmtime baseline (1 thread). Drawn with plotters' SVG backend only.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::plan::label;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The main figure: a thick solid line with points.
    Main,
    /// A secondary figure of the same subject: a thin solid line.
    Thin,
    /// A baseline: dashed.
    Baseline,
}

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend text.
    pub name: String,
    /// Index into the palette: one colour per subject.
    pub colour: usize,
    /// How it is drawn.
    pub style: Style,
    /// (live sessions, value) points, in increasing session count.
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, a y-axis description and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Caption above the panel.
    pub title: String,
    /// What the y axis measures.
    pub y_desc: String,
    /// The lines; empty series are left out.
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// The x range covering every point of every panel, with some room either side.
pub fn x_range(panels: &[Panel]) -> (f64, f64) {
    let xs = panels
        .iter()
        .flat_map(|p| &p.series)
        .flat_map(|s| &s.points)
        .map(|&(x, _)| x);
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if lo > hi {
        (1.0, 10.0)
    } else {
        (lo / 1.5, hi * 1.5)
    }
}

/// The top of a panel's y axis: half again its highest point, leaving the upper third of the
/// panel to the legend (1 when it has no point).
pub fn y_top(panel: &Panel) -> f64 {
    let top = panel
        .series
        .iter()
        .flat_map(|s| &s.points)
        .map(|&(_, y)| y)
        .fold(0.0, f64::max);
    if top > 0.0 { top * 1.5 } else { 1.0 }
}

/// Draws `panels` side by side into an SVG file at `path`.
pub fn draw(path: &Path, panels: &[Panel]) -> anyhow::Result<()> {
    let width = 640 * u32::try_from(panels.len().max(1))?;
    let root = SVGBackend::new(path, (width, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    let x = x_range(panels);
    for (panel, area) in panels.iter().zip(&areas) {
        draw_panel(area, panel, x)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel,
    (x_lo, x_hi): (f64, f64),
) -> anyhow::Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), 0.0..y_top(panel))?;
    chart
        .configure_mesh()
        .x_desc("live sessions (log scale)")
        .y_desc(panel.y_desc.as_str())
        .x_label_formatter(&|x| label(x.round() as usize))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for series in panel.series.iter().filter(|s| !s.points.is_empty()) {
        let colour = PALETTE[series.colour % PALETTE.len()];
        let width = match series.style {
            Style::Main => 3,
            Style::Thin | Style::Baseline => 1,
        };
        let style = colour.stroke_width(width);
        let points = series.points.clone();
        let drawn = if series.style == Style::Baseline {
            chart.draw_series(DashedLineSeries::new(points, 6, 4, style))?
        } else {
            chart.draw_series(LineSeries::new(points, style))?
        };
        let dashed = series.style == Style::Baseline;
        drawn.label(series.name.as_str()).legend(move |(x, y)| {
            let (dash, gap) = if dashed { (6, 4) } else { (20, 0) };
            DashedPathElement::new(vec![(x, y), (x + 20, y)], dash, gap, style)
        });
        chart.draw_series(
            series
                .points
                .iter()
                .map(|&point| Circle::new(point, 3, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(points: Vec<(f64, f64)>) -> Panel {
        Panel {
            title: "memory per live session".into(),
            y_desc: "KiB".into(),
            series: vec![
                Series {
                    name: "counter".into(),
                    colour: 0,
                    style: Style::Main,
                    points: points.clone(),
                },
                Series {
                    name: "bare wasmtime".into(),
                    colour: 0,
                    style: Style::Baseline,
                    points,
                },
            ],
        }
    }

    #[test]
    fn ranges_cover_every_point() {
        let p = panel(vec![(1_000.0, 45.0), (1_000_000.0, 16.0)]);
        let (lo, hi) = x_range(std::slice::from_ref(&p));
        assert!(lo < 1_000.0 && hi > 1_000_000.0);
        assert!((y_top(&p) - 67.5).abs() < 1e-9);
        assert_eq!(x_range(&[]), (1.0, 10.0));
        assert_eq!(y_top(&panel(vec![])), 1.0);
    }

    #[test]
    fn draws_an_svg() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("bench-chart-{}.svg", std::process::id()));
        let p = panel(vec![(1_000.0, 45.0), (10_000.0, 44.0), (100_000.0, 46.0)]);
        draw(&path, &[p.clone(), p])?;
        let svg = std::fs::read_to_string(&path)?;
        std::fs::remove_file(&path)?;
        assert!(svg.starts_with("<svg") && svg.contains("memory per live session"));
        Ok(())
    }
}
