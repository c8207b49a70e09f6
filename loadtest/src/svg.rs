//! Hand-written SVG plots: a latency CDF with one line per run, and a figure against N.
//! No plotting library: a few hundred bytes of markup per line is all either needs.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 360.0;
const PAD: f64 = 56.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

fn frame(title: &str, xlabel: &str, ylabel: &str) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        W / 2.0,
        escape(title)
    );
    let _ = writeln!(
        s,
        "<line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>",
        W / 2.0,
        H - 12.0,
        escape(xlabel),
        H / 2.0,
        H / 2.0,
        escape(ylabel),
        b = H - PAD,
        r = W - PAD / 2.0,
    );
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn line(s: &mut String, i: usize, name: &str, points: &[(f64, f64)]) {
    let color = COLORS[i % COLORS.len()];
    let path: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        s,
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    let y = PAD + 16.0 * i as f64;
    let _ = writeln!(
        s,
        "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>",
        W - 230.0,
        y - 4.0,
        W - 212.0,
        y,
        escape(name)
    );
}

/// Latency CDFs (ms on a log axis, 0.01 to the largest value).
pub fn latency_cdf(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let max = series.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)).fold(1.0f64, f64::max);
    let (lo, hi) = (0.01f64.log10(), max.log10().ceil());
    let x = |v: f64| PAD + (v.max(0.01).log10() - lo) / (hi - lo) * (W - 1.5 * PAD);
    let y = |f: f64| H - PAD - f * (H - 2.0 * PAD);
    let mut s = frame(title, "one-way delay (ms, log scale)", "fraction of packets");
    let mut decade = lo;
    while decade <= hi {
        let v = 10f64.powf(decade);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(v),
            H - PAD + 16.0,
            v
        );
        decade += 1.0;
    }
    for f in [0.0, 0.5, 0.9, 1.0] {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{f}</text>",
            PAD - 4.0,
            y(f) + 4.0
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = points.iter().map(|(v, f)| (x(*v), y(*f))).collect();
        line(&mut s, i, name, &pts);
    }
    s.push_str("</svg>\n");
    s
}

/// One or more figures against N, on linear axes from 0.
pub fn versus_n(title: &str, ylabel: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let pts = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let xmax = pts().map(|p| p.0).fold(1.0f64, f64::max);
    let ymax = pts().map(|p| p.1).fold(1e-9f64, f64::max) * 1.1;
    let x = |v: f64| PAD + v / xmax * (W - 1.5 * PAD);
    let y = |v: f64| H - PAD - v / ymax * (H - 2.0 * PAD);
    let mut s = frame(title, "N", ylabel);
    for i in 0..=4 {
        let (xv, yv) = (xmax * f64::from(i) / 4.0, ymax * f64::from(i) / 4.0);
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{xv:.0}</text>",
            x(xv),
            H - PAD + 16.0
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            PAD - 4.0,
            y(yv) + 4.0,
            short(yv)
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let p: Vec<(f64, f64)> = points.iter().map(|(a, b)| (x(*a), y(*b))).collect();
        line(&mut s, i, name, &p);
    }
    s.push_str("</svg>\n");
    s
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_well_formed_svg() {
        let cdf = latency_cdf("t", &[("veil".into(), vec![(0.1, 0.2), (1.0, 1.0)])]);
        assert!(
            cdf.starts_with("<svg")
                && cdf.trim_end().ends_with("</svg>")
                && cdf.contains("polyline")
        );
        let vs = versus_n("t", "pps", &[("a<b".into(), vec![(1.0, 5.0), (2.0, 9.0)])]);
        assert!(vs.contains("a&lt;b"));
    }
}
