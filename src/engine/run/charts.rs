//! The report's charts as SVG, drawn by `plotters` (its SVG backend: text is SVG text the browser draws, so no
//! font files): a title, axis titles with units, tick labels, and a legend under the plot with one entry per line.

use plotters::prelude::*;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    /// (x, y) points in order of x; points that are not finite are left out.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_title: &'a str,
    pub y_title: &'a str,
    pub lines: &'a [Line],
    /// Draw the y axis from 0 (shares, rates) rather than from the smallest value.
    pub y_from_zero: bool,
}

/// The colours of successive lines (matplotlib's "tab10", which stays apart for most colour vision).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of line `i`.
pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

const WIDTH: u32 = 640;
const PLOT_HEIGHT: u32 = 360;
const LEGEND_ROW: u32 = 18;

/// The chart as an SVG document.
pub fn line_chart(chart: &Chart<'_>) -> anyhow::Result<String> {
    let (x0, x1, y0, y1) = ranges(chart.lines, chart.y_from_zero);
    let height = PLOT_HEIGHT + 12 + LEGEND_ROW * chart.lines.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let (plot, legend) = root.split_vertically(PLOT_HEIGHT);
        let mut c = ChartBuilder::on(&plot)
            .caption(chart.title, ("sans-serif", 21))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_error)?;
        c.configure_mesh()
            .x_desc(chart.x_title)
            .y_desc(chart.y_title)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| tick(*v, x1 - x0))
            .y_label_formatter(&|v| tick(*v, y1 - y0))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(draw_error)?;
        for (i, line) in chart.lines.iter().enumerate() {
            let points = line.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
            c.draw_series(LineSeries::new(points.clone(), color(i).stroke_width(2))).map_err(draw_error)?;
            c.draw_series(points.map(|p| Circle::new(p, 3, color(i).filled()))).map_err(draw_error)?;
        }
        for (i, line) in chart.lines.iter().enumerate() {
            let y = 6 + LEGEND_ROW as i32 * i as i32;
            let style = color(i).stroke_width(3);
            legend.draw(&PathElement::new(vec![(76, y + 6), (100, y + 6)], style)).map_err(draw_error)?;
            legend.draw(&Text::new(line.label.clone(), (108, y), ("sans-serif", 16))).map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a chart: {e}")
}

/// `(x_min, x_max, y_min, y_max)` over every finite point, with a margin on y, widened where a range is empty.
fn ranges(lines: &[Line], y_from_zero: bool) -> (f64, f64, f64, f64) {
    let pts = lines.iter().flat_map(|l| l.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    if y_from_zero {
        y0 = y0.min(0.0);
    }
    let widen = |a: f64, b: f64| if b - a < 1e-12 { (a - 0.5, b + 0.5) } else { (a, b) };
    let ((x0, x1), (y0, y1)) = (widen(x0, x1), widen(y0, y1));
    let pad = 0.05 * (y1 - y0);
    (x0, x1, if y_from_zero && y0 >= 0.0 { y0 } else { y0 - pad }, y1 + pad)
}

/// A tick label: `1.2e6` for large or tiny numbers, whole numbers without decimals, others with the digits the
/// span needs.
fn tick(v: f64, span: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        return format!("{v:.1e}");
    }
    // Whole numbers (steps, positions) without decimals.
    if (v - v.round()).abs() < 1e-9 * span.max(1.0) {
        return format!("{v:.0}");
    }
    let digits = if span >= 10.0 {
        0
    } else if span >= 1.0 {
        1
    } else if span >= 0.1 {
        2
    } else {
        3
    };
    format!("{v:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<Line> {
        vec![
            Line { label: "insertion=none()".into(), points: vec![(0.0, 2.0), (100.0, 1.5), (200.0, f64::NAN)] },
            Line { label: "insertion=fast_forward()".into(), points: vec![(0.0, 2.1), (200.0, 1.2)] },
        ]
    }

    /// The title, both axis titles, tick labels and every line's legend entry are text in the SVG, one path per
    /// line; nothing refers outside the document.
    #[test]
    fn a_chart_has_its_labels_and_one_entry_per_line() {
        let lines = lines();
        let chart = Chart {
            title: "Held-out NLL",
            x_title: "step",
            y_title: "NLL (nats per token)",
            lines: &lines,
            y_from_zero: false,
        };
        let svg = line_chart(&chart).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        for text in ["Held-out NLL", "step", "NLL (nats per token)", "insertion=none()", "insertion=fast_forward()"] {
            assert!(svg.contains(text), "missing `{text}`");
        }
        // plotters writes SVG text on a line of its own.
        assert!(svg.contains("\n100\n"), "no x tick at 100");
        // Nothing outside the document: no links, images or fonts fetched.
        assert!(!svg.contains("href") && !svg.contains("url("), "{svg}");
        assert!(!svg.contains("NaN"), "a non-finite point was drawn");
        // One legend swatch per line, in the line's colour.
        for c in ["#1F77B4", "#FF7F0E"] {
            assert!(svg.contains(&format!("stroke=\"{c}\" stroke-width=\"3\"")), "no swatch in {c}");
        }
    }

    #[test]
    fn ranges_skip_non_finite_points_and_widen_empty_ones() {
        let (x0, x1, y0, y1) = ranges(&lines(), false);
        assert_eq!((x0, x1), (0.0, 200.0));
        assert!(y0 < 1.2 && y1 > 2.1);
        assert_eq!(ranges(&[], false), (0.0, 1.0, 0.0, 1.0));
        let flat = [Line { label: "a".into(), points: vec![(1.0, 0.5), (2.0, 0.5)] }];
        let (_, _, y0, y1) = ranges(&flat, true);
        assert!(y0 == 0.0 && y1 > 0.5);
    }

    #[test]
    fn ticks_show_the_digits_the_span_needs() {
        assert_eq!(tick(1500.0, 4000.0), "1500");
        assert_eq!(tick(0.25, 0.8), "0.25");
        assert_eq!(tick(2.0e6, 4.0e6), "2.0e6");
        assert_eq!(tick(0.0, 4.0e6), "0");
        assert_eq!(tick(12.0, 8.0), "12");
        assert_eq!(tick(1.0, 0.5), "1");
        assert_eq!(tick(1.5, 0.5), "1.50");
    }
}
