//! `report.html`: one self-contained page (no network, no external scripts or fonts) that a
//! relationship manager reads — segment cards (size, name, distinguishing features, rule), the segments ×
//! features heatmap, segment sizes, per-feature quartiles per segment, and, where the directory holds
//! them, the sweep's curves, the Ward dendrogram, the migration matrix, the transitions and the drift
//! verdict. Everything comes from the output files of `fit`, `assign`, `sweep` and `nightly`.

mod charts;
mod read;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::kmeans::sweep::Point;
use crate::output::schema::{Dendrogram, RunSummary, SweepSummary};

use crate::error::{Error, Result};
use crate::explain::format_value;
use read::{Outputs, Profile};

/// Features organised by business angle: `channels=branch_visits,online_logins;products=...`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Groups(pub Vec<(String, Vec<String>)>);

impl std::str::FromStr for Groups {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, features) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not NAME=feature,feature,…"))?;
            let features: Vec<String> = (features.split(','))
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect();
            if name.trim().is_empty() || features.is_empty() {
                return Err(format!(
                    "'{part}' needs a group name and at least one feature"
                ));
            }
            out.push((name.trim().to_string(), features));
        }
        Ok(Groups(out))
    }
}

impl Groups {
    /// Every grouped feature must be one of `features` (checked before a job's work, and by the report).
    pub fn check(&self, features: &[String]) -> Result<()> {
        for (g, fs) in &self.0 {
            if let Some(f) = fs.iter().find(|f| !features.contains(f)) {
                return Err(Error::usage(format!(
                    "`groups`: '{f}' (group '{g}') is not a feature of this segmentation; its features are {}",
                    features.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f3b5a;color:#fff;padding:18px 32px}header h1{margin:0 0 4px;font-size:24px}header p{margin:0;opacity:.85}
main{padding:16px 32px;max-width:1400px}section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:19px;margin:0 0 10px}h3{font-size:15px;margin:12px 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:14px}
.card{border:1px solid #dde2e8;border-radius:8px;padding:12px 14px;background:#fcfdfe}
.card h3{margin:0 0 2px}.size{color:#555;font-size:13px;margin-bottom:8px}
.rule{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:#eef2f6;padding:6px 8px;border-radius:4px;margin-top:8px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.up{color:#b2182b}.down{color:#2166ac}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}svg{max-width:100%;height:auto}
.verdict{font-weight:bold;padding:2px 8px;border-radius:4px}.keep{background:#d9f0d3}.watch{background:#fee8c8}.refit{background:#f4a582}
.note{color:#666;font-size:13px}
";

/// Marks each chart with whether the browser laid it out (a test and a reader's check; no network).
const CHECK: &str = "document.querySelectorAll('figure.chart svg').forEach(function(s){var b=s.getBBox();s.setAttribute('data-rendered',b.width>0&&b.height>0?'yes':'no')});";

/// The report of the outputs in `dir`, as HTML.
pub fn render(dir: &Path, groups: &Groups) -> Result<String> {
    let o = Outputs::read(dir)?;
    let mut body = String::new();
    let mut charts = 0usize;
    let mut fig = |body: &mut String, svg: charts::Svg| match svg {
        Ok(s) => {
            charts += 1;
            let _ = write!(body, "<figure class=\"chart\">{s}</figure>");
        }
        Err(e) => {
            let _ = write!(body, "<p class=\"note\">chart not drawn: {}</p>", esc(&e));
        }
    };
    if let Some(sweep) = &o.sweep {
        sweep_section(&mut body, sweep, &mut fig);
    }
    if !o.segments.is_empty() {
        let groups = resolve_groups(groups, &o)?;
        cards(&mut body, &o, &groups);
        let names: Vec<String> = o.segments.iter().map(|s| s.title()).collect();
        body.push_str("<section><h2>How the segments differ</h2>");
        if !groups.is_empty() {
            body.push_str("<p class=\"note\">Each cell is the segment's centroid against all customers, in standard deviations of the feature as the clustering saw it (red above average, blue below).</p>");
        }
        body.push_str("<div class=\"charts\">");
        let ids: Vec<String> = o.segments.iter().map(|s| s.id.to_string()).collect();
        for (g, features) in &groups {
            let rows: Vec<String> = features.iter().map(|f| f.column.clone()).collect();
            let z: Vec<Vec<f64>> = (features.iter())
                .map(|f| o.segments.iter().map(|s| o.effect(s.id, f)).collect())
                .collect();
            let title = if groups.len() > 1 {
                format!("{g}: effect by segment")
            } else {
                "Effect by segment".into()
            };
            fig(&mut body, charts::effects(&title, &rows, &ids, &z));
        }
        let sizes: Vec<f64> = o.segments.iter().map(|s| s.customers as f64).collect();
        fig(
            &mut body,
            charts::bars("Customers per segment", &names, &sizes, "customers"),
        );
        body.push_str("</div></section>");
        if !groups.is_empty() {
            distributions(&mut body, &o, &groups, &names, &mut fig);
        }
    }
    if let Some(d) = &o.dendrogram {
        dendrogram_section(&mut body, &o, d, &mut fig);
    }
    lifecycle_section(&mut body, &o, &mut fig);
    let title = match (&o.sweep, o.segments.len()) {
        (Some(_), 0) => "How many segments: the sweep".to_string(),
        (_, k) => format!("{k} customer segments"),
    };
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>strata: {t}</title><style>{STYLE}</style></head><body><header><h1>{t}</h1><p>{sub}</p></header><main>{body}</main><script>{CHECK}</script></body></html>",
        t = esc(&title),
        sub = esc(&o.subtitle()),
    );
    debug_assert!(charts > 0 || o.segments.is_empty());
    Ok(html)
}

/// Renders the report of a staged output set into it (published with the set). The report is a view of
/// the other outputs: if it cannot be drawn, the job still publishes them, and `log` says why there is no
/// report.html. A failure to write it (a full disk) fails the job like any output.
pub fn stage(
    staging: &mut crate::data::sink::OutputSet,
    groups: &Groups,
    log: &dyn Fn(&str),
) -> Result<()> {
    let html = match render(staging.staged(), groups) {
        Ok(h) => h,
        Err(e) => {
            log(&format!(
                "warning: report.html not written: {}",
                staging.explain(e)
            ));
            return Ok(());
        }
    };
    let path = staging.path("report.html");
    crate::data::write::write_synced(&path, html.as_bytes()).map_err(|e| staging.explain(e))
}

/// Writes `dir`/report.html atomically and returns its path.
pub fn write(dir: &Path, groups: &Groups) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(crate::error::Error::input(format!(
            "cannot open {}: no such directory; give the output directory of a fit, assign, sweep or nightly",
            dir.display()
        )));
    }
    let html = render(dir, groups)?;
    let path = dir.join("report.html");
    crate::data::sink::write_file_atomic(&path, html.as_bytes())?;
    Ok(path)
}

/// One column of the heatmap: a numeric feature, or one category of a categorical one.
#[derive(Debug, Clone)]
struct Column {
    feature: String,
    category: Option<String>,
    column: String,
}

/// The groups with every feature (or category) column resolved; features in no group go to "other".
fn resolve_groups(groups: &Groups, o: &Outputs) -> Result<Vec<(String, Vec<Column>)>> {
    let all: Vec<Column> = (o.profiles.iter())
        .filter(|p| p.segment.is_none())
        .map(|p| Column {
            feature: p.feature.clone(),
            category: p.category.clone(),
            column: match &p.category {
                Some(c) => format!("{}={c}", p.feature),
                None => p.feature.clone(),
            },
        })
        .collect();
    // Without profiles (assign without --profiles) there is nothing to group.
    if all.is_empty() {
        return Ok(Vec::new());
    }
    let mut features: Vec<String> = all.iter().map(|c| c.feature.clone()).collect();
    features.dedup();
    groups.check(&features)?;
    let mut out = Vec::new();
    let mut used: Vec<&str> = Vec::new();
    for (g, fs) in &groups.0 {
        used.extend(fs.iter().map(String::as_str));
        let cols = fs
            .iter()
            .flat_map(|f| all.iter().filter(move |c| &c.feature == f).cloned())
            .collect();
        out.push((g.clone(), cols));
    }
    let rest: Vec<Column> = all
        .iter()
        .filter(|c| !used.contains(&c.feature.as_str()))
        .cloned()
        .collect();
    if !rest.is_empty() {
        let name = if out.is_empty() {
            "all features"
        } else {
            "other"
        };
        out.push((name.to_string(), rest));
    }
    Ok(out)
}

fn cards(body: &mut String, o: &Outputs, groups: &[(String, Vec<Column>)]) {
    let group_of = |feature: &str| {
        (groups.len() > 1)
            .then(|| {
                groups
                    .iter()
                    .find(|(_, cs)| cs.iter().any(|c| c.feature == feature))
            })
            .flatten()
            .map(|(g, _)| g.as_str())
    };
    let total: u64 = o.segments.iter().map(|s| s.customers).sum();
    body.push_str("<section><h2>The segments</h2>");
    if let Some(f) = o.fidelity {
        let _ = write!(
            body,
            "<p class=\"note\">The rules come from a threshold tree over the segments (IMM); they place {:.1}% of customers in their own segment.</p>",
            100.0 * f
        );
    }
    body.push_str("<div class=\"cards\">");
    for s in &o.segments {
        let _ = write!(
            body,
            "<div class=\"card\"><h3>{}</h3><div class=\"size\">segment {} · {} customers ({:.1}%)</div><table>",
            esc(s.name.as_deref().unwrap_or("Segment")),
            s.id,
            format_value(s.customers as f64),
            100.0 * s.customers as f64 / total.max(1) as f64
        );
        let top = o.ranked(s.id);
        for p in top
            .iter()
            .filter(|p| p.z.abs() >= crate::profile::DESCRIBE_MIN_Z)
            .take(5)
        {
            let (class, arrow) = if p.z > 0.0 {
                ("up", "▲")
            } else {
                ("down", "▼")
            };
            let what = match &p.category {
                Some(c) => format!("{} = {}", p.feature, c),
                None => p.feature.clone(),
            };
            let (mine, all) = match &p.category {
                Some(_) => (
                    format!("{:.0}%", 100.0 * p.value),
                    format!("{:.0}%", 100.0 * o.overall_value(p)),
                ),
                None => (format_value(p.value), format_value(o.overall_value(p))),
            };
            let tag = group_of(&p.feature).map_or(String::new(), |g| {
                format!(" <span class=\"note\">({})</span>", esc(g))
            });
            let _ = write!(
                body,
                "<tr><td class=\"{class}\">{arrow}</td><td>{}{tag}</td><td class=\"n\">{}</td><td class=\"n note\">vs {}</td><td class=\"n {class}\">{:+.1}σ</td></tr>",
                esc(&what),
                mine,
                all,
                p.z
            );
        }
        body.push_str("</table>");
        if let Some(r) = &s.rule {
            let _ = write!(body, "<div class=\"rule\">{}</div>", esc(r));
        }
        body.push_str("</div>");
    }
    body.push_str("</div></section>");
}

fn distributions(
    body: &mut String,
    o: &Outputs,
    groups: &[(String, Vec<Column>)],
    names: &[String],
    fig: &mut dyn FnMut(&mut String, charts::Svg),
) {
    body.push_str("<section><h2>Feature distributions per segment</h2><p class=\"note\">Boxes span the middle half of each segment's customers (25th to 75th percentile), the bar is the median, the dot the mean, in original units.</p>");
    for (g, cols) in groups {
        if groups.len() > 1 {
            let _ = write!(body, "<h3>{}</h3>", esc(g));
        }
        body.push_str("<div class=\"charts\">");
        for c in cols.iter().filter(|c| c.category.is_none()) {
            let mut qs: Vec<charts::Quartiles> = (o.segments.iter().zip(names))
                .filter_map(|(s, n)| o.profile(Some(s.id), &c.feature).map(|p| quart(n, p)))
                .collect();
            if let Some(p) = o.profile(None, &c.feature) {
                qs.push(quart("All customers", p));
            }
            fig(body, charts::quartiles(&c.feature, &qs));
        }
        let cats: Vec<&Column> = cols.iter().filter(|c| c.category.is_some()).collect();
        if !cats.is_empty() {
            let mut ids: Vec<String> = o.segments.iter().map(|s| s.id.to_string()).collect();
            ids.push("all".into());
            let share: Vec<Vec<f64>> = (cats.iter())
                .map(|c| {
                    let mut v: Vec<f64> =
                        o.segments.iter().map(|s| o.share(Some(s.id), c)).collect();
                    v.push(o.share(None, c));
                    v
                })
                .collect();
            let rows: Vec<String> = cats.iter().map(|c| c.column.clone()).collect();
            fig(
                body,
                charts::heatmap(
                    "Share of the segment's customers",
                    "segment",
                    &rows,
                    &ids,
                    &share,
                    &|v| format!("{:.0}%", 100.0 * v),
                    &charts::sequential,
                ),
            );
        }
        body.push_str("</div>");
    }
    body.push_str("</section>");
}

fn quart(label: &str, p: &Profile) -> charts::Quartiles {
    charts::Quartiles {
        label: label.to_string(),
        p25: p.p25,
        median: p.median,
        p75: p.p75,
        mean: p.mean,
    }
}

fn sweep_section(
    body: &mut String,
    sweep: &SweepSummary,
    fig: &mut dyn FnMut(&mut String, charts::Svg),
) {
    let points: Vec<&Point> = sweep.points.iter().map(|p| &p.point).collect();
    let series = |value: fn(&Point) -> f64| -> Vec<(usize, f64)> {
        points.iter().map(|p| (p.k, value(p))).collect()
    };
    let rec = &sweep.recommendation;
    let k = Some(rec.k);
    let _ = write!(
        body,
        "<section><h2>How many segments</h2><p><b>Recommendation: {}</b></p><p class=\"note\">{}</p><div class=\"charts\">",
        esc(&rec.reason),
        esc(&sweep.rule)
    );
    let elbow = sweep.elbow;
    fig(
        body,
        charts::curve(
            "Within-segment sum of squares",
            "SSE",
            &series(|p| p.sse),
            elbow,
            "elbow at",
        ),
    );
    fig(
        body,
        charts::curve(
            "Silhouette (higher is better)",
            "silhouette",
            &series(|p| p.silhouette),
            k,
            "recommended",
        ),
    );
    fig(
        body,
        charts::curve(
            "Davies-Bouldin (lower is better)",
            "Davies-Bouldin",
            &series(|p| p.davies_bouldin),
            k,
            "recommended",
        ),
    );
    fig(
        body,
        charts::curve(
            "Calinski-Harabasz (higher is better)",
            "Calinski-Harabasz",
            &series(|p| p.calinski_harabasz),
            k,
            "recommended",
        ),
    );
    body.push_str("</div><table><tr><th>k</th><th>SSE</th><th>silhouette</th><th>Davies-Bouldin</th><th>Calinski-Harabasz</th></tr>");
    for p in &points {
        let f = |v: f64| {
            if v.is_finite() {
                format!("{v:.4}")
            } else {
                "–".into()
            }
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            p.k,
            f(p.sse),
            f(p.silhouette),
            f(p.davies_bouldin),
            f(p.calinski_harabasz)
        );
    }
    body.push_str("</table></section>");
}

/// The dendrogram above the segments: the last k − 1 merges of the Ward linkage, leaves in tree order.
fn dendrogram_section(
    body: &mut String,
    o: &Outputs,
    d: &Dendrogram,
    fig: &mut dyn FnMut(&mut String, charts::Svg),
) {
    let m = d.micro_clusters;
    let k = d.segments.len();
    if k < 2 || d.merges.len() + 1 != m {
        return;
    }
    let node_segment: std::collections::HashMap<u64, u64> = (d.segments.iter())
        .map(|s| (s.node as u64, s.segment as u64))
        .collect();
    // Children of the top merges, by node id.
    let top: Vec<(u64, u64, f64)> = d.merges[m - k..]
        .iter()
        .map(|mg| (mg.a as u64, mg.b as u64, mg.height))
        .collect();
    let first_top = (m + m - k) as u64;
    let (mut leaves, mut links) = (Vec::new(), Vec::new());
    // Lays out node `id`: returns its x (leaf position) and height.
    fn place(
        id: u64,
        first_top: u64,
        top: &[(u64, u64, f64)],
        node_segment: &std::collections::HashMap<u64, u64>,
        leaves: &mut Vec<u64>,
        links: &mut Vec<(f64, f64, f64, f64, f64)>,
    ) -> (f64, f64) {
        if id < first_top {
            leaves.push(node_segment.get(&id).copied().unwrap_or(u64::MAX));
            return (leaves.len() as f64 - 0.5, 0.0);
        }
        let (a, b, h) = top[(id - first_top) as usize];
        let (xa, ha) = place(a, first_top, top, node_segment, leaves, links);
        let (xb, hb) = place(b, first_top, top, node_segment, leaves, links);
        links.push((xa, xb, ha, hb, h));
        ((xa + xb) / 2.0, h)
    }
    place(
        first_top + k as u64 - 2,
        first_top,
        &top,
        &node_segment,
        &mut leaves,
        &mut links,
    );
    let names: Vec<String> = (leaves.iter())
        .map(|&id| {
            o.segments
                .iter()
                .find(|s| s.id as u64 == id)
                .map_or(format!("segment {id}"), |s| s.title())
        })
        .collect();
    let _ = write!(
        body,
        "<section><h2>How the segments relate (Ward)</h2><p class=\"note\">Ward's method merged {m} k-means micro-clusters; the tree shows the last merges above the {k} segments: the lower two segments join, the more alike they are.</p>"
    );
    fig(
        body,
        charts::dendrogram("Ward dendrogram of the segments", &names, &links),
    );
    if let Some(RunSummary::Fit(s)) = &o.summary
        && let Some(w) = &s.ward
    {
        let _ = write!(
            body,
            "<p>Adjusted Rand index against k-means with the same k on the same customers: <b>{:.3}</b>.</p>",
            w.adjusted_rand_vs_kmeans
        );
    }
    body.push_str("</section>");
}

fn lifecycle_section(
    body: &mut String,
    o: &Outputs,
    fig: &mut dyn FnMut(&mut String, charts::Svg),
) {
    let lc = o.lifecycle();
    let drift = lc.and_then(|l| l.drift.as_ref());
    if o.migration.is_none() && drift.is_none() {
        return;
    }
    let events = lc.map(|l| l.events.as_slice()).unwrap_or_default();
    let previous = o.migration.is_some() || !events.is_empty();
    body.push_str(if previous {
        "<section><h2>Since the previous run</h2>"
    } else {
        "<section><h2>Drift since the model's training</h2>"
    });
    if let Some(d) = o.summary.as_ref().and_then(RunSummary::decision) {
        let _ = write!(body, "<p>Tonight's decision: <b>{}</b></p>", esc(d));
    }
    if let Some(d) = drift {
        let _ = write!(
            body,
            "<p>Drift verdict: <span class=\"verdict {0}\">{0}</span></p><ul>",
            esc(d.verdict.as_str())
        );
        for r in &d.reasons {
            let _ = write!(body, "<li>{}</li>", esc(r));
        }
        body.push_str("</ul>");
    }
    if !events.is_empty() {
        body.push_str("<h3>Transitions</h3><ul>");
        for e in events {
            let _ = write!(body, "<li>{}</li>", esc(e));
        }
        body.push_str("</ul>");
    }
    if let Some(flows) = &o.migration {
        let mut from: Vec<String> = Vec::new();
        let mut to: Vec<String> = Vec::new();
        for f in flows {
            if !from.contains(&f.from) {
                from.push(f.from.clone());
            }
            if !to.contains(&f.to) {
                to.push(f.to.clone());
            }
        }
        let order = |v: &mut Vec<String>| {
            v.sort_by_key(|s| {
                s.parse::<u64>()
                    .map_or((1, 0, s.clone()), |n| (0, n, String::new()))
            })
        };
        order(&mut from);
        order(&mut to);
        let share: Vec<Vec<f64>> = (from.iter())
            .map(|f| {
                to.iter()
                    .map(|t| {
                        flows
                            .iter()
                            .find(|x| &x.from == f && &x.to == t)
                            .map_or(0.0, |x| x.share)
                    })
                    .collect()
            })
            .collect();
        let rows: Vec<String> = (from.iter())
            .map(
                |s| match o.segments.iter().find(|g| g.id.to_string() == *s) {
                    Some(g) => format!("from {}", g.title()),
                    None => format!("from {s}"),
                },
            )
            .collect();
        let cols = to.clone();
        if let Some(t) = lc.and_then(|l| l.migration.as_ref()) {
            let _ = write!(
                body,
                "<p>{} of {} returning customers kept their segment ({:.1}%); {} new, {} gone.</p>",
                t.stayed,
                t.both_nights,
                100.0 * t.stayed_share,
                t.new,
                t.gone
            );
        }
        fig(
            body,
            charts::heatmap(
                "Migration: share of each previous segment's customers",
                "tonight's segment",
                &rows,
                &cols,
                &share,
                &|v| format!("{:.0}%", 100.0 * v),
                &charts::sequential,
            ),
        );
    }
    body.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_parse_and_refuse_malformed_text() {
        let g: Groups = "channels=branch_visits, calls;products=products"
            .parse()
            .unwrap();
        assert_eq!(
            g.0[0],
            (
                "channels".into(),
                vec!["branch_visits".into(), "calls".into()]
            )
        );
        assert_eq!(g.0[1].1, vec!["products".to_string()]);
        assert!("channels".parse::<Groups>().is_err());
        assert!("=a".parse::<Groups>().is_err());
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
