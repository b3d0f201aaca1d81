//! The report's charts, as inline SVG (no script, no external reference). Every text that
//! reaches a chart goes through [`escape`]; numbers are written by `format!` of floats and
//! integers only. Colours are CSS classes of the page's stylesheet, except the hotspot map's
//! fatal-share scale (a computed `#rrggbb`).

use super::{escape, fmt_int, truncate_chars};
use crate::report::geojson::Cell;

/// One bar of a horizontal bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Written after the bar (the figure, as the report's table shows it).
    pub text: String,
}

fn open(width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg viewBox=\"0 0 {width:.0} {height:.0}\" \
         class=\"chart\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        escape(label),
        escape(label)
    )
}

fn text(x: f64, y: f64, class: &str, anchor: &str, s: &str) -> String {
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" class=\"{class}\" text-anchor=\"{anchor}\">{}</text>",
        escape(s)
    )
}

/// `class` is escaped too: the severity chart's is made of a severity code.
fn rect(x: f64, y: f64, w: f64, h: f64, class: &str, tip: &str) -> String {
    format!(
        "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" class=\"{}\"><title>{}</title></rect>",
        w.max(0.0),
        h.max(0.0),
        escape(class),
        escape(tip)
    )
}

/// Horizontal bars, longest = `value` max; labels cut to 40 characters (the full label in the
/// bar's tooltip).
pub fn hbar_chart(label: &str, bars: &[Bar], class: &str) -> String {
    let (w, lw, row) = (900.0, 300.0, 22.0);
    let h = row * bars.len() as f64 + 10.0;
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let mut s = open(w, h, label);
    for (i, b) in bars.iter().enumerate() {
        let y = 5.0 + row * i as f64;
        let len = if max > 0.0 {
            (b.value.max(0.0) / max) * 430.0
        } else {
            0.0
        };
        s += &text(
            lw - 8.0,
            y + 15.0,
            "lbl",
            "end",
            &truncate_chars(&b.label, 40),
        );
        s += &rect(
            lw,
            y + 3.0,
            len,
            row - 6.0,
            class,
            &format!("{}: {}", b.label, b.text),
        );
        s += &text(lw + len + 6.0, y + 15.0, "val", "start", &b.text);
    }
    s + "</svg>"
}

/// One index of the size-and-usage chart.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexBar {
    pub label: String,
    pub bytes: i64,
    pub size: String,
    pub scans: i64,
    pub writes: i64,
}

/// The largest indexes: a bar of its size, and beside it its scans and its table's writes on a
/// shared log scale (an index written far more often than it is read stands out).
pub fn index_chart(rows: &[IndexBar]) -> String {
    let (w, row) = (900.0, 24.0);
    let h = row * rows.len() as f64 + 34.0;
    let max_bytes = rows.iter().map(|r| r.bytes).max().unwrap_or(0).max(1) as f64;
    let max_count = rows
        .iter()
        .map(|r| r.scans.max(r.writes))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let log = |v: i64| ((v.max(0) as f64) + 1.0).log10() / (max_count + 1.0).log10() * 200.0;
    let mut s = open(w, h, "Largest indexes: size, scans and table writes");
    s += &text(250.0, 14.0, "axis", "start", "size");
    s += &text(
        590.0,
        14.0,
        "axis",
        "start",
        "scans (blue) / table writes (orange), log scale",
    );
    for (i, r) in rows.iter().enumerate() {
        let y = 22.0 + row * i as f64;
        s += &text(242.0, y + 15.0, "lbl", "end", &truncate_chars(&r.label, 34));
        let len = r.bytes.max(0) as f64 / max_bytes * 250.0;
        s += &rect(
            250.0,
            y + 3.0,
            len,
            row - 6.0,
            "bar-size",
            &format!("{}: {}", r.label, r.size),
        );
        s += &text(250.0 + len + 4.0, y + 15.0, "val", "start", &r.size);
        s += &rect(
            590.0,
            y + 3.0,
            log(r.scans),
            8.0,
            "bar-scan",
            &format!("{}: {} scans", r.label, fmt_int(r.scans)),
        );
        s += &rect(
            590.0,
            y + 12.0,
            log(r.writes),
            8.0,
            "bar-write",
            &format!("{}: {} table writes", r.label, fmt_int(r.writes)),
        );
        s += &text(
            800.0,
            y + 15.0,
            "val",
            "start",
            &format!("{} / {}", fmt_int(r.scans), fmt_int(r.writes)),
        );
    }
    s + "</svg>"
}

/// One year of the accident chart.
#[derive(Debug, Clone, PartialEq)]
pub struct YearBar {
    pub year: i32,
    pub accidents: i64,
    pub fatal_rate: Option<f64>,
}

/// Accidents per year (bars, left axis) and the fatal rate (line, right axis, %).
pub fn year_chart(years: &[YearBar]) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 300.0, 60.0, 60.0, 20.0, 40.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let max_acc = years.iter().map(|y| y.accidents).max().unwrap_or(0).max(1) as f64;
    let max_rate = years
        .iter()
        .filter_map(|y| y.fatal_rate)
        .fold(0.0_f64, f64::max)
        .max(0.01);
    let n = years.len().max(1) as f64;
    let slot = pw / n;
    let mut s = open(w, h, "Accidents and fatal rate per year");
    // Axes and gridlines: 4 steps on each side.
    for k in 0..=4 {
        let y = top + ph - ph * k as f64 / 4.0;
        s += &format!(
            "<line x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"grid\"/>",
            left + pw
        );
        s += &text(
            left - 6.0,
            y + 4.0,
            "axis",
            "end",
            &fmt_int((max_acc * k as f64 / 4.0).round() as i64),
        );
        s += &text(
            left + pw + 6.0,
            y + 4.0,
            "axis rate",
            "start",
            &format!("{:.1}%", max_rate * 100.0 * k as f64 / 4.0),
        );
    }
    let label_every = ((n / 12.0).ceil() as usize).max(1);
    let mut points = Vec::new();
    for (i, y) in years.iter().enumerate() {
        let x = left + slot * i as f64;
        let bh = y.accidents.max(0) as f64 / max_acc * ph;
        let tip = match y.fatal_rate {
            Some(r) => format!(
                "{}: {} accidents, fatal rate {:.1}%",
                y.year,
                fmt_int(y.accidents),
                r * 100.0
            ),
            None => format!("{}: {} accidents", y.year, fmt_int(y.accidents)),
        };
        s += &rect(
            x + slot * 0.1,
            top + ph - bh,
            slot * 0.8,
            bh,
            "bar-acc",
            &tip,
        );
        if i % label_every == 0 {
            s += &text(
                x + slot / 2.0,
                h - bottom + 16.0,
                "axis",
                "middle",
                &y.year.to_string(),
            );
        }
        if let Some(r) = y.fatal_rate {
            points.push(format!(
                "{:.1},{:.1}",
                x + slot / 2.0,
                top + ph - r / max_rate * ph
            ));
        }
    }
    if !points.is_empty() {
        s += &format!(
            "<polyline points=\"{}\" class=\"line-rate\"/>",
            points.join(" ")
        );
    }
    s += &text(
        left,
        h - 6.0,
        "axis",
        "start",
        "bars: accidents (left axis)",
    );
    s += &text(
        left + pw,
        h - 6.0,
        "axis rate",
        "end",
        "line: fatal rate (right axis)",
    );
    s + "</svg>"
}

/// One part of the severity breakdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub code: String,
    pub name: String,
    pub count: i64,
}

/// A stacked bar of the severity codes with a legend (count and share of each).
pub fn severity_bar(parts: &[Share]) -> String {
    let total: i64 = parts.iter().map(|p| p.count.max(0)).sum();
    let (w, h) = (900.0, 30.0 + 20.0 * parts.len() as f64);
    let mut s = open(w, h, "Accidents by severity");
    let mut x = 0.0;
    for p in parts {
        let len = if total > 0 {
            p.count.max(0) as f64 / total as f64 * w
        } else {
            0.0
        };
        let class = format!("sev-{}", p.code.to_ascii_lowercase());
        s += &rect(
            x,
            0.0,
            len,
            20.0,
            &class,
            &format!("{}: {}", p.name, fmt_int(p.count)),
        );
        x += len;
    }
    for (i, p) in parts.iter().enumerate() {
        let y = 30.0 + 20.0 * i as f64;
        let class = format!("sev-{}", p.code.to_ascii_lowercase());
        s += &rect(0.0, y, 12.0, 12.0, &class, &p.name);
        let share = if total > 0 {
            p.count as f64 / total as f64 * 100.0
        } else {
            0.0
        };
        s += &text(
            18.0,
            y + 11.0,
            "lbl",
            "start",
            &format!(
                "{} ({}): {} ({share:.1}%)",
                p.name,
                p.code,
                fmt_int(p.count)
            ),
        );
    }
    s + "</svg>"
}

/// One rebuild on the reindex timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuild {
    pub label: String,
    /// Start, seconds since the epoch.
    pub at: f64,
    pub reclaimed: Option<i64>,
    pub status: String,
}

/// Rebuilds along a time axis: a bar per rebuild, its height the bytes it reclaimed (a marker
/// on the axis for one that reclaimed nothing or did not finish), coloured by status.
pub fn timeline(rebuilds: &[Rebuild], first: &str, last: &str) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 200.0, 20.0, 20.0, 20.0, 40.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let t0 = rebuilds.iter().map(|r| r.at).fold(f64::INFINITY, f64::min);
    let t1 = rebuilds
        .iter()
        .map(|r| r.at)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = if t1 > t0 { t1 - t0 } else { 1.0 };
    let max = rebuilds
        .iter()
        .filter_map(|r| r.reclaimed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut s = open(w, h, "Rebuilds over time and the bytes each reclaimed");
    let axis_y = top + ph;
    s += &format!(
        "<line x1=\"{left:.1}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" class=\"axisline\"/>",
        left + pw
    );
    for r in rebuilds {
        let x = if t1 > t0 {
            left + (r.at - t0) / span * pw
        } else {
            left + pw / 2.0
        };
        let class = match r.status.as_str() {
            "done" => "st-done",
            "running" => "st-running",
            _ => "st-failed",
        };
        let tip = match r.reclaimed {
            Some(b) => format!("{} ({}): {} bytes reclaimed", r.label, r.status, fmt_int(b)),
            None => format!("{} ({})", r.label, r.status),
        };
        let bh = r
            .reclaimed
            .map(|b| b.max(0) as f64 / max * ph)
            .unwrap_or(0.0);
        if bh >= 1.0 {
            s += &rect(x - 3.0, axis_y - bh, 6.0, bh, class, &tip);
        } else {
            s += &format!(
                "<circle cx=\"{x:.1}\" cy=\"{axis_y:.1}\" r=\"4\" class=\"{class}\"><title>{}</title></circle>",
                escape(&tip)
            );
        }
    }
    s += &text(left, h - 12.0, "axis", "start", first);
    s += &text(left + pw, h - 12.0, "axis", "end", last);
    s += &text(
        left + pw / 2.0,
        h - 12.0,
        "axis",
        "middle",
        &format!(
            "bar height: bytes reclaimed (tallest {})",
            fmt_int(max as i64)
        ),
    );
    s + "</svg>"
}

/// The fatal-share colour: pale yellow (no fatal accident) to dark red (40% or more).
pub fn share_colour(share: f64) -> String {
    let t = (share / 0.4).clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        lerp(255.0, 150.0),
        lerp(230.0, 0.0),
        lerp(120.0, 20.0)
    )
}

/// Grid step (degrees) for a span of `span` degrees: about 4 to 10 lines.
fn graticule_step(span: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 45.0, 90.0]
        .into_iter()
        .find(|s| span / s <= 10.0)
        .unwrap_or(90.0)
}

/// The hotspot cells on a longitude/latitude graticule (equirectangular, longitudes shortened by
/// the cosine of the middle latitude): each cell's true outline, and a disc at its centre whose
/// area is proportional to its accidents, coloured by its fatal share; the top ten numbered.
pub fn hotspot_map(cells: &[Cell], cell_km: f64) -> String {
    // The frame spans pad..w-pad and pad..h-bottom; below it the longitude labels, then the legend.
    let (w, h, pad, bottom) = (900.0, 540.0, 30.0, 52.0);
    let mut west = cells.iter().map(|c| c.bounds.0).fold(180.0_f64, f64::min);
    let mut east = cells.iter().map(|c| c.bounds.2).fold(-180.0_f64, f64::max);
    let mut south = cells.iter().map(|c| c.bounds.1).fold(90.0_f64, f64::min);
    let mut north = cells.iter().map(|c| c.bounds.3).fold(-90.0_f64, f64::max);
    if cells.is_empty() {
        (west, east, south, north) = (-180.0, 180.0, -90.0, 90.0);
    }
    // At least 10 degrees each way, 8% margin, within the world.
    let grow = |lo: f64, hi: f64, min: f64, lim: f64| {
        let mid = (lo + hi) / 2.0;
        let half = ((hi - lo) * 1.08 / 2.0).max(min / 2.0);
        ((mid - half).max(-lim), (mid + half).min(lim))
    };
    (west, east) = grow(west, east, 10.0, 180.0);
    (south, north) = grow(south, north, 10.0, 90.0);
    let kx = ((south + north) / 2.0).to_radians().cos().max(0.2);
    let scale = ((w - 2.0 * pad) / ((east - west) * kx)).min((h - pad - bottom) / (north - south));
    let px = |lon: f64| pad + (lon - west) * kx * scale;
    let py = |lat: f64| pad + (north - lat) * scale;
    let mut s = open(
        w,
        h,
        &format!("Accident hotspots: {} cells of {cell_km} km", cells.len()),
    );
    s += &format!(
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" class=\"sea\"/>",
        px(west),
        py(north),
        px(east) - px(west),
        py(south) - py(north)
    );
    let step = graticule_step((east - west).max(north - south));
    let mut lon = (west / step).ceil() * step;
    while lon <= east {
        s += &format!(
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" class=\"grat\"/>",
            py(north),
            py(south),
            x = px(lon)
        );
        s += &text(
            px(lon),
            py(south) + 14.0,
            "axis",
            "middle",
            &format!("{lon}°"),
        );
        lon += step;
    }
    let mut lat = (south / step).ceil() * step;
    while lat <= north {
        s += &format!(
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"grat\"/>",
            px(west),
            px(east),
            y = py(lat)
        );
        s += &text(
            px(west) - 4.0,
            py(lat) + 4.0,
            "axis",
            "end",
            &format!("{lat}°"),
        );
        lat += step;
    }
    let max = cells.iter().map(|c| c.accidents).max().unwrap_or(0).max(1) as f64;
    // Biggest first, so that small discs stay on top and visible.
    let mut order: Vec<&Cell> = cells.iter().collect();
    order.sort_by(|a, b| b.accidents.cmp(&a.accidents).then(a.rank.cmp(&b.rank)));
    for c in &order {
        let (cw, cs, ce, cn) = c.bounds;
        s += &format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" class=\"cell\"/>",
            px(cw),
            py(cn),
            (px(ce) - px(cw)).max(0.5),
            (py(cs) - py(cn)).max(0.5)
        );
    }
    for c in &order {
        let share = if c.accidents > 0 {
            c.fatal_accidents as f64 / c.accidents as f64
        } else {
            0.0
        };
        let r = 3.0 + 22.0 * (c.accidents as f64 / max).sqrt();
        s += &format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r:.1}\" fill=\"{}\" class=\"spot\"><title>{}</title></circle>",
            px(c.lon),
            py(c.lat),
            share_colour(share),
            escape(&format!(
                "#{} at {:.3}, {:.3}: {} accidents, {} fatal ({:.1}%)",
                c.rank,
                c.lon,
                c.lat,
                fmt_int(c.accidents as i64),
                fmt_int(c.fatal_accidents as i64),
                share * 100.0
            ))
        );
    }
    for c in cells.iter().filter(|c| c.rank <= 10) {
        s += &text(
            px(c.lon),
            py(c.lat) + 4.0,
            "rank",
            "middle",
            &c.rank.to_string(),
        );
    }
    // Legend: the colour scale and two disc sizes.
    let ly = h - 8.0;
    for k in 0..=4 {
        let share = 0.1 * k as f64;
        s += &format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"28\" height=\"10\" fill=\"{}\" class=\"legend\"/>",
            pad + 30.0 * k as f64,
            ly - 9.0,
            share_colour(share)
        );
    }
    s += &text(
        pad + 156.0,
        ly,
        "axis",
        "start",
        "fatal share 0% → 40%+ · disc area: accidents",
    );
    s + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_stay_finite() {
        let bars = vec![
            Bar {
                label: "<img src=x onerror=alert(1)>".into(),
                value: 10.0,
                text: "10 kB".into(),
            },
            Bar {
                label: "ok".into(),
                value: 0.0,
                text: "0 bytes".into(),
            },
        ];
        let s = hbar_chart("a \"chart\"", &bars, "bar-size");
        assert!(!s.contains("<img"));
        assert!(s.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(s.contains("aria-label=\"a &quot;chart&quot;\""));
        assert!(!s.contains("NaN") && !s.contains("inf"));
        // All zero: no division by zero.
        let zero = hbar_chart("z", &bars[1..], "bar-size");
        assert!(!zero.contains("NaN"));
        let y = year_chart(&[]);
        assert!(!y.contains("NaN") && y.ends_with("</svg>"));
        let y = year_chart(&[YearBar {
            year: 2020,
            accidents: 0,
            fatal_rate: None,
        }]);
        assert!(!y.contains("NaN"));
        let t = timeline(
            &[Rebuild {
                label: "</title><script>".into(),
                at: 5.0,
                reclaimed: None,
                status: "failed".into(),
            }],
            "a",
            "b",
        );
        assert!(!t.contains("<script>") && !t.contains("NaN"));
        let m = hotspot_map(&[], 25.0);
        assert!(!m.contains("NaN") && m.ends_with("</svg>"));
        let sev = severity_bar(&[Share {
            code: "FATL".into(),
            name: "fatal".into(),
            count: 0,
        }]);
        assert!(!sev.contains("NaN"));
    }

    #[test]
    fn share_colours_run_from_yellow_to_red() {
        assert_eq!(share_colour(0.0), "#ffe678");
        assert_eq!(share_colour(0.4), "#960014");
        assert_eq!(share_colour(1.0), "#960014");
        assert_eq!(share_colour(-1.0), "#ffe678");
        assert_eq!(graticule_step(40.0), 5.0);
        assert_eq!(graticule_step(8.0), 1.0);
        assert_eq!(graticule_step(360.0), 45.0);
    }

    #[test]
    fn map_draws_every_cell_inside_the_frame() {
        let cells: Vec<Cell> = (0..30)
            .map(|i| {
                let lon = -120.0 + i as f64;
                let lat = 30.0 + (i % 7) as f64;
                Cell {
                    rank: i + 1,
                    lon,
                    lat,
                    accidents: 100 - i as u64,
                    fatal_accidents: i as u64,
                    bounds: crate::report::geojson::cell_bounds(lon, lat, 50.0),
                }
            })
            .collect();
        let m = hotspot_map(&cells, 50.0);
        assert_eq!(m.matches("class=\"spot\"").count(), 30);
        assert_eq!(m.matches("class=\"rank\"").count(), 10);
        for cap in m.split("cx=\"").skip(1) {
            let x: f64 = cap.split('"').next().unwrap().parse().unwrap();
            assert!((0.0..=900.0).contains(&x));
        }
    }
}
