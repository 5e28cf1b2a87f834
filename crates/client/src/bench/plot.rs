//! `bench --plot FILE.svg`: latency by percentile, drawn the way HdrHistogram's plotter draws it.
//!
//! The x axis is log10(1/(1-p)), so 0 is the median's neighbour 0%, 1 is 90%, 2 is 99%, 3 is 99.9%:
//! each step of the axis is one more "nine", which is where tail latency lives and where a linear
//! percentile axis would squash everything into its right edge. The y axis is latency in µs.
//!
//! The points come from [`curve`] (HdrHistogram's own percentile iteration) and are saved in
//! `bench --json` as `latency_percentiles`, so runs saved earlier can be drawn on one plot
//! (`--compare a.json --compare b.json`, each series named after its file).

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::report::{self, BenchResult};
use crate::{EXIT_OK, EXIT_USAGE};

/// Points per halving of the distance to 100%: HdrHistogram's default percentile output uses 5,
/// which gives a smooth curve with about 10 points per "nine" (a few hundred points at most).
const TICKS_PER_HALF_DISTANCE: u32 = 5;
/// Picture size in pixels: readable in a browser and in docs without scaling.
const SIZE: (u32, u32) = (960, 540);
/// The x axis shows at least up to 99.9%: shorter runs still get a comparable frame.
const MIN_NINES: f64 = 3.0;
/// Headroom above the highest latency so the top of the curve is not drawn on the frame.
const Y_HEADROOM: f64 = 1.05;
/// Line colours of the series, in order (then repeated): distinct for common colour blindness.
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

/// Caption of `--plot` pictures.
const PLOT_TITLE: &str = "cache-client bench: latency by percentile";

/// One point of the percentile distribution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// 0..100 (below 100: see [`curve`]).
    pub percentile: f64,
    pub latency_us: f64,
}

/// One line on the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<CurvePoint>,
}

/// The percentile distribution of `h` (latencies in ns), HdrHistogram style. The last point
/// (100%, the maximum) is put at the percentile of the last sample, 100 * (1 - 1/n): 100% itself
/// is infinitely far right on this axis.
pub fn curve(h: &Histogram<u64>) -> Vec<CurvePoint> {
    if h.is_empty() {
        return Vec::new();
    }
    let last = 1.0 - 1.0 / h.len() as f64;
    h.iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|v| CurvePoint {
            percentile: v.quantile_iterated_to().min(last) * 100.0,
            latency_us: (v.value_iterated_to() as f64 / 100.0).round() / 10.0,
        })
        .collect()
}

/// The x coordinate of a percentile: its number of nines, log10(1/(1-p)).
pub fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile / 100.0).max(f64::MIN_POSITIVE).log10()
}

/// The axis label of `x` nines: 0%, 90%, 99%, 99.9%, 99.99%...
pub fn nines_label(x: f64) -> String {
    let decimals = (x.ceil() as usize).saturating_sub(2);
    format!("{:.*}%", decimals, 100.0 * (1.0 - 10f64.powf(-x)))
}

/// Whole µs once they are many: `4000`, not `4000.0`; `0.5` stays.
fn latency_label(us: f64) -> String {
    if us.fract() == 0.0 || us >= 100.0 {
        format!("{us:.0}")
    } else {
        format!("{us}")
    }
}

/// A series from a result file saved by `bench --json`, named after the file.
pub fn load(path: &Path) -> Result<Series, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a bench --json result: {e}", path.display()))?;
    let points = v
        .get("latency_percentiles")
        .cloned()
        .ok_or_else(|| {
            format!(
                "{} has no latency_percentiles (saved by an older cache-client or without a measured phase?)",
                path.display()
            )
        })
        .and_then(|p| {
            serde_json::from_value::<Vec<CurvePoint>>(p)
                .map_err(|e| format!("{}: bad latency_percentiles: {e}", path.display()))
        })?;
    let name = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(Series { name, points })
}

/// Load every `--compare` file; the first that fails stops it.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Series>, String> {
    paths.iter().map(|p| load(p)).collect()
}

/// Draw `series` into the SVG file `path`.
pub fn write_svg(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(format!(
            "nothing to draw in {}: no latencies were recorded",
            path.display()
        ));
    }
    let points = || series.iter().flat_map(|s| s.points.iter());
    let x_max = points()
        .map(|p| nines(p.percentile))
        .fold(MIN_NINES, f64::max)
        .ceil();
    let y_max = points().map(|p| p.latency_us).fold(1.0, f64::max) * Y_HEADROOM;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        // Room for the half of the last x label that lies past the plot's right edge.
        .margin_right(40)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        // One label per nine (plotters picks whole steps when asked for that many).
        .x_labels(x_max as usize + 1)
        .x_label_formatter(&|x| nines_label(*x))
        .y_label_formatter(&|y| latency_label(*y))
        .draw()
        .map_err(|e| fail(&e))?;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let line = s.points.iter().map(|p| (nines(p.percentile), p.latency_us));
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

/// `bench --plot FILE --compare a.json ...`: draw saved results, send nothing.
pub fn plot_saved(svg: &Path, files: &[PathBuf], json: bool) -> u8 {
    let drawn = load_all(files).and_then(|series| write_plot(svg, &series, json));
    match drawn {
        Ok(()) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": true, "plot": svg.display().to_string() })
                );
            }
            EXIT_OK
        }
        Err(e) => {
            report::print_error(json, &e);
            EXIT_USAGE
        }
    }
}

pub fn write_plot(svg: &Path, series: &[Series], quiet: bool) -> Result<(), String> {
    write_svg(svg, PLOT_TITLE, series)?;
    if !quiet {
        eprintln!("latency plot written to {}", svg.display());
    }
    Ok(())
}

/// The legend of a live run: what distinguishes it from other runs.
pub fn run_name(r: &BenchResult) -> String {
    let rate = r.rate.map(|x| format!(" at {x} req/s")).unwrap_or_default();
    format!(
        "{} loop{rate}, {} conn, pipeline {}",
        r.mode, r.connections, r.pipeline
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::new_histogram;

    #[test]
    fn axis_labels_count_nines() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(5.0), "99.999%");
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(0.0), 0.0);
        assert_eq!(latency_label(4000.0), "4000");
        assert_eq!(latency_label(0.5), "0.5");
    }

    #[test]
    fn curve_follows_the_recorded_latencies() {
        let mut h = new_histogram();
        // 1..=1000 µs, one sample each: the p-th percentile is about 10*p µs.
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let c = curve(&h);
        assert!(c.len() > 20, "{c:?}");
        assert!(c
            .windows(2)
            .all(|w| w[0].percentile <= w[1].percentile && w[0].latency_us <= w[1].latency_us));
        let at = |p: f64| c.iter().find(|x| x.percentile >= p).unwrap().latency_us;
        assert!((495.0..=510.0).contains(&at(50.0)), "{c:?}");
        assert!((895.0..=910.0).contains(&at(90.0)), "{c:?}");
        let last = c.last().unwrap();
        assert!((last.percentile - 99.9).abs() < 1e-9, "{last:?}");
        assert!((999.0..=1001.0).contains(&last.latency_us), "{last:?}");
        assert!(curve(&new_histogram()).is_empty());
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dcache-plot-{}-{name}", std::process::id()))
    }

    #[test]
    fn svg_is_written_with_every_series_name() {
        let mut h = new_histogram();
        for us in 1..=200u64 {
            h.record(us * 1000).unwrap();
        }
        let a = Series {
            name: "closed_loop".into(),
            points: curve(&h),
        };
        let b = Series {
            name: "open_loop".into(),
            points: curve(&h)
                .into_iter()
                .map(|mut p| {
                    p.latency_us *= 2.0;
                    p
                })
                .collect(),
        };
        let path = temp("two.svg");
        write_svg(&path, "latency by percentile", &[a, b]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in [
            "closed_loop",
            "open_loop",
            "latency by percentile",
            "99.9%",
            "90%",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        assert!(svg.matches("<polyline").count() >= 2, "one line per series");
        let empty = Series {
            name: "none".into(),
            points: vec![],
        };
        assert!(write_svg(&path, "t", &[empty])
            .unwrap_err()
            .contains("nothing to draw"));
    }

    #[test]
    fn saved_results_load_by_file_name() {
        let path = temp("run_a.json");
        let pts = [CurvePoint {
            percentile: 50.0,
            latency_us: 12.5,
        }];
        let doc = serde_json::json!({"throughput_rps": 1.0, "latency_percentiles": pts});
        std::fs::write(&path, doc.to_string()).unwrap();
        let s = load(&path).unwrap();
        assert_eq!(
            (s.name.as_str(), s.points.as_slice()),
            (path.file_stem().unwrap().to_str().unwrap(), &pts[..])
        );
        std::fs::write(&path, "{\"throughput_rps\":1}").unwrap();
        let e = load(&path).unwrap_err();
        assert!(
            e.contains("no latency_percentiles") && e.contains("run_a"),
            "{e}"
        );
        std::fs::write(&path, "not json").unwrap();
        assert!(load(&path)
            .unwrap_err()
            .contains("not a bench --json result"));
        std::fs::remove_file(&path).unwrap();
        assert!(load(&path).unwrap_err().starts_with("cannot read"));
    }
}
