//! The report's charts, drawn as SVG with plotters: segment sizes, the segments × features heatmap,
//! per-feature quartiles per segment, the sweep's elbow and silhouette curves, the Ward dendrogram of the
//! segments and the migration matrix.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A chart, or why it could not be drawn.
pub type Svg = Result<String, String>;

const FONT: &str = "sans-serif";
const BLUE: RGBColor = RGBColor(33, 102, 172);
const RED: RGBColor = RGBColor(178, 24, 43);
const INK: RGBColor = RGBColor(40, 40, 40);
const BAR: RGBColor = RGBColor(49, 130, 189);

/// Runs `draw` on an SVG canvas of `w` × `h` pixels and returns the SVG text.
fn svg(
    w: u32,
    h: u32,
    draw: impl FnOnce(
        &DrawingArea<SVGBackend, plotters::coord::Shift>,
    ) -> Result<(), Box<dyn std::error::Error>>,
) -> Svg {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// White at 0, blue below, red above, saturated at |z| = 2.
pub fn diverging(z: f64) -> RGBColor {
    if z.is_nan() {
        return RGBColor(220, 220, 220);
    }
    let t = (z.abs() / 2.0).min(1.0);
    let end = if z < 0.0 { BLUE } else { RED };
    let mix = |c: u8| (255.0 + (c as f64 - 255.0) * t).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

/// White at 0 to blue at 1.
pub fn sequential(v: f64) -> RGBColor {
    if v.is_nan() {
        return RGBColor(220, 220, 220);
    }
    let t = v.clamp(0.0, 1.0);
    let mix = |c: u8| (255.0 + (c as f64 - 255.0) * t).round() as u8;
    RGBColor(mix(BLUE.0), mix(BLUE.1), mix(BLUE.2))
}

/// Pixels a label of `chars` characters needs at `size` px (the SVG font is the reader's).
/// Pixels the longest of `labels` needs (at most `max` characters, as [`label`] cuts them).
fn label_px<'a>(labels: impl Iterator<Item = &'a str>, max: usize, size: u32) -> u32 {
    labels
        .map(|l| text_px(l.chars().count().min(max), size))
        .max()
        .unwrap_or(60)
}

fn text_px(chars: usize, size: u32) -> u32 {
    (chars as f64 * size as f64 * 0.55) as u32 + 12
}

fn label(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// Horizontal bars: one per labelled value.
pub fn bars(title: &str, labels: &[String], values: &[f64], unit: &str) -> Svg {
    let n = labels.len();
    let left = label_px(labels.iter().map(String::as_str), 48, 12);
    let max = values.iter().copied().fold(0.0, f64::max).max(1.0) * 1.15;
    svg(900, 60 + 28 * n as u32 + 40, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(left.min(420))
            .build_cartesian_2d(0f64..max, (0..n).into_segmented())?;
        c.configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&|v| crate::explain::format_value(*v))
            .y_labels(n + 1)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => label(&labels[n - 1 - i], 48),
                _ => String::new(),
            })
            .x_desc(unit)
            .label_style((FONT, 12))
            .draw()?;
        c.draw_series((0..n).map(|i| {
            let row = n - 1 - i;
            Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(row)),
                    (values[i], SegmentValue::Exact(row + 1)),
                ],
                BAR.filled(),
            )
        }))?;
        let style = TextStyle::from((FONT, 11).into_font()).color(&INK);
        c.draw_series((0..n).map(|i| {
            Text::new(
                format!(" {}", crate::explain::format_value(values[i])),
                (values[i], SegmentValue::CenterOf(n - 1 - i)),
                style.pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))?;
        Ok(())
    })
}

/// A heatmap of `z[row][col]` with the value written in each cell (rows top to bottom); column labels
/// are short (segment ids) and written level under the cells.
pub fn heatmap(
    title: &str,
    x_desc: &str,
    rows: &[String],
    cols: &[String],
    z: &[Vec<f64>],
    fmt: &dyn Fn(f64) -> String,
    color: &dyn Fn(f64) -> RGBColor,
) -> Svg {
    let (nr, nc) = (rows.len(), cols.len());
    let left = label_px(rows.iter().map(String::as_str), 40, 12);
    let cell_w = 56u32;
    let w = (left.min(360) + cell_w * nc as u32 + 40).max(420);
    svg(w, 60 + 26 * nr as u32 + 50, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 15))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(left.min(360))
            .build_cartesian_2d((0..nc).into_segmented(), (0..nr).into_segmented())?;
        c.configure_mesh()
            .disable_mesh()
            .x_labels(nc + 1)
            .y_labels(nr + 1)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(j) if *j < nc => label(&cols[*j], 9),
                _ => String::new(),
            })
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < nr => label(&rows[nr - 1 - i], 40),
                _ => String::new(),
            })
            .x_desc(x_desc)
            .label_style((FONT, 12))
            .draw()?;
        let cell = |i: usize, j: usize| {
            let r = nr - 1 - i;
            [
                (SegmentValue::Exact(j), SegmentValue::Exact(r)),
                (SegmentValue::Exact(j + 1), SegmentValue::Exact(r + 1)),
            ]
        };
        c.draw_series((0..nr).flat_map(|i| {
            (0..nc).map(move |j| Rectangle::new(cell(i, j), color(z[i][j]).filled()))
        }))?;
        let style =
            TextStyle::from((FONT, 11).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        c.draw_series((0..nr).flat_map(|i| {
            let style = style.clone();
            (0..nc).filter(move |&j| z[i][j].is_finite()).map(move |j| {
                let c = color(z[i][j]);
                // Dark cells get white text.
                let ink: &'static RGBColor = if (c.0 as u32 + c.1 as u32 + c.2 as u32) < 380 {
                    &WHITE
                } else {
                    &INK
                };
                Text::new(
                    fmt(z[i][j]),
                    (
                        SegmentValue::CenterOf(j),
                        SegmentValue::CenterOf(nr - 1 - i),
                    ),
                    style.color(ink),
                )
            })
        }))?;
        Ok(())
    })
}

/// The heatmap of effect sizes (z in the clustering space): features down, segments across.
pub fn effects(title: &str, features: &[String], segments: &[String], z: &[Vec<f64>]) -> Svg {
    heatmap(
        title,
        "segment",
        features,
        segments,
        z,
        &|v| format!("{v:+.1}"),
        &diverging,
    )
}
/// The quartiles of one feature per group: a box from p25 to p75, the median as a bar, the mean as a dot.
pub struct Quartiles {
    pub label: String,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub mean: f64,
}

pub fn quartiles(title: &str, groups: &[Quartiles]) -> Svg {
    let n = groups.len();
    let finite = groups
        .iter()
        .filter(|g| g.p25.is_finite() && g.p75.is_finite());
    let lo = finite
        .clone()
        .map(|g| g.p25.min(g.mean))
        .fold(f64::INFINITY, f64::min);
    let hi = finite
        .map(|g| g.p75.max(g.mean))
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    };
    let left = label_px(groups.iter().map(|g| g.label.as_str()), 30, 11);
    svg(440, 50 + 22 * n as u32 + 30, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 14))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(left.min(220))
            .build_cartesian_2d(lo..hi, (0..n).into_segmented())?;
        c.configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(5)
            .x_label_formatter(&|v| crate::explain::format_value(*v))
            .y_labels(n + 1)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => label(&groups[n - 1 - i].label, 30),
                _ => String::new(),
            })
            .label_style((FONT, 11))
            .draw()?;
        let drawn = || (0..n).filter(|&i| groups[i].p25.is_finite());
        c.draw_series(drawn().map(|i| {
            let g = &groups[i];
            let r = n - 1 - i;
            let (y0, y1) = (r as f64 + 0.2, r as f64 + 0.8);
            Rectangle::new(
                [(g.p25, seg(y0)), (g.p75, seg(y1))],
                ShapeStyle::from(&BAR.mix(0.35)).filled(),
            )
        }))?;
        c.draw_series(drawn().map(|i| {
            let g = &groups[i];
            let r = n - 1 - i;
            PathElement::new(
                vec![
                    (g.median, seg(r as f64 + 0.15)),
                    (g.median, seg(r as f64 + 0.85)),
                ],
                INK.stroke_width(2),
            )
        }))?;
        c.draw_series(drawn().map(|i| {
            let g = &groups[i];
            Circle::new((g.mean, SegmentValue::CenterOf(n - 1 - i)), 3, RED.filled())
        }))?;
        Ok(())
    })
}

/// A position inside segment `floor(y)` of a segmented axis: plotters places `Exact(i)` at the segment's
/// start, so a fraction is drawn by rounding to the nearest of start and end (enough for boxes).
fn seg(y: f64) -> SegmentValue<usize> {
    let i = y.floor() as usize;
    if y - i as f64 <= 0.5 {
        SegmentValue::Exact(i)
    } else {
        SegmentValue::Exact(i + 1)
    }
}

/// A curve over k with one k marked (the elbow or the recommendation).
pub fn curve(
    title: &str,
    y_desc: &str,
    points: &[(usize, f64)],
    mark: Option<usize>,
    mark_label: &str,
) -> Svg {
    let (k0, k1) = (
        points.iter().map(|p| p.0).min().unwrap_or(1),
        points.iter().map(|p| p.0).max().unwrap_or(2),
    );
    let ys = points.iter().map(|p| p.1).filter(|v| v.is_finite());
    let (lo, hi) = (
        ys.clone().fold(f64::INFINITY, f64::min),
        ys.fold(f64::NEG_INFINITY, f64::max),
    );
    // Both infinite (no finite value) unless some value is finite.
    if lo > hi {
        return Err(format!("{title}: no finite value to draw"));
    }
    let pad = ((hi - lo) * 0.1).max(1e-9);
    svg(440, 300, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 15))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(70)
            .build_cartesian_2d(k0 as f64 - 0.3..k1 as f64 + 0.3, lo - pad..hi + pad)?;
        c.configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels((k1 - k0 + 1).min(12))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| crate::explain::format_value(*v))
            .x_desc("k (segments)")
            .y_desc(y_desc)
            .label_style((FONT, 11))
            .draw()?;
        let line: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| (p.0 as f64, p.1))
            .collect();
        c.draw_series(LineSeries::new(line.clone(), BAR.stroke_width(2)))?;
        c.draw_series(line.iter().map(|&p| Circle::new(p, 3, BAR.filled())))?;
        if let Some(m) = mark.and_then(|m| points.iter().find(|p| p.0 == m)) {
            c.draw_series([Circle::new((m.0 as f64, m.1), 7, RED.stroke_width(2))])?;
            c.draw_series([Text::new(
                format!("{mark_label} {}", m.0),
                (m.0 as f64, m.1),
                TextStyle::from((FONT, 12).into_font())
                    .color(&RED)
                    .pos(Pos::new(HPos::Left, VPos::Bottom)),
            )])?;
        }
        Ok(())
    })
}

/// The dendrogram of the segments, leaves down the left: `leaves` (labels, top to bottom) and `links`
/// (position of the first child, of the second, their heights, the merge height), positions in leaf
/// units (leaf i at i + 0.5).
pub fn dendrogram(title: &str, leaves: &[String], links: &[(f64, f64, f64, f64, f64)]) -> Svg {
    let n = leaves.len();
    let top = links.iter().map(|l| l.4).fold(0.0, f64::max).max(1e-9) * 1.05;
    let left = label_px(leaves.iter().map(String::as_str), 48, 12);
    svg(900, 80 + 40 * n as u32, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(left.min(420))
            .build_cartesian_2d(0f64..top, (0..n).into_segmented())?;
        c.configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(n + 1)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => label(&leaves[n - 1 - i], 48),
                _ => String::new(),
            })
            .x_desc("Ward distance √(2·ΔSSE): the higher the join, the more the segments differ")
            .x_label_formatter(&|v| crate::explain::format_value(*v))
            .label_style((FONT, 12))
            .draw()?;
        // Leaf i (from the top) sits at the centre of segment n − 1 − i; joins sit between leaves, so
        // they are placed on the pixel grid between segment edges.
        let area = c.plotting_area();
        let px = |h: f64, pos: f64| {
            let (x, _) = area.map_coordinate(&(h, SegmentValue::Exact(0)));
            let (_, y_top) = area.map_coordinate(&(h, SegmentValue::Exact(n)));
            let (_, y_bottom) = area.map_coordinate(&(h, SegmentValue::Exact(0)));
            let y = y_top as f64 + (y_bottom - y_top) as f64 * pos / n as f64;
            (x, y.round() as i32)
        };
        for &(pa, pb, ha, hb, h) in links {
            let path = vec![px(ha, pa), px(h, pa), px(h, pb), px(hb, pb)];
            root.draw(&PathElement::new(path, INK.stroke_width(2)))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curve_without_finite_values_is_an_error_not_a_hang() {
        let nan = [(2, f64::NAN), (3, f64::NAN)];
        assert!(curve("silhouette", "s", &nan, Some(2), "k").is_err());
        assert!(curve("silhouette", "s", &[], None, "k").is_err());
        assert!(
            curve(
                "sse",
                "s",
                &[(2, 3.0), (3, f64::NAN), (4, 1.0)],
                Some(4),
                "k"
            )
            .is_ok()
        );
    }
}
