//! Transitions between two nights' segments, after MONIC (Spiliopoulou, Ntoutsi, Theodoridis, Schult,
//! "MONIC: modeling and monitoring cluster transitions", KDD 2006), with the overlap thresholds of the R
//! package clusTransition as defaults. The overlap of previous segment p with tonight's segment n is the
//! share of p's customers (those present on both nights) that are in n tonight:
//! - p **survived** as n when n holds at least `survive` of p and no other previous segment does so too;
//! - p was **absorbed** into n when n holds at least `survive` of p and of at least one other previous
//!   segment (a merge: every such p is absorbed into n);
//! - p **split** into n₁, n₂, … when no segment holds `survive` of p, at least two hold `split` of it
//!   each, and those together hold at least `survive`;
//! - p **disappeared** otherwise;
//! - tonight's n **emerged** when no previous segment survived as, was absorbed into or split into it.

use serde::{Deserialize, Serialize};

/// The overlap thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Overlaps {
    /// Survival and absorption: the share of a previous segment one segment tonight must hold.
    pub survive: f64,
    /// A split part: the share of a previous segment each part must hold.
    pub split: f64,
    /// Identity: the share of a previous segment a segment tonight must hold to keep its id.
    #[serde(rename = "match")]
    pub matching: f64,
}

impl Default for Overlaps {
    fn default() -> Self {
        Overlaps {
            survive: 0.7,
            split: 0.3,
            matching: 0.5,
        }
    }
}

impl Overlaps {
    pub fn check(&self) -> std::result::Result<(), String> {
        let ok = |v: f64| v > 0.0 && v <= 1.0;
        if !(ok(self.survive) && ok(self.split) && ok(self.matching)) {
            return Err("overlap thresholds must lie in (0, 1]".into());
        }
        if self.survive <= 0.5 {
            return Err(format!(
                "the survival threshold {} must be above 0.5, so that a segment survives into one segment at most",
                self.survive
            ));
        }
        if self.split > self.survive {
            return Err(format!(
                "the split threshold {} is above the survival threshold {}",
                self.split, self.survive
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Survived,
    Absorbed,
    Split,
    Disappeared,
    Emerged,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Survived => "survived",
            Kind::Absorbed => "absorbed",
            Kind::Split => "split",
            Kind::Disappeared => "disappeared",
            Kind::Emerged => "emerged",
        }
    }
}

/// One row of transitions.parquet: a previous segment (`from`) and one of tonight's (`to`); a split has
/// one row per part, a merge one row per absorbed segment.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Transition {
    pub kind: Kind,
    /// Previous segment id (None for an emerged segment).
    pub from: Option<u32>,
    /// Tonight's segment id (None for a disappeared segment).
    pub to: Option<u32>,
    /// Customers of `from` that are in `to` tonight (emerged: all of `to`'s customers).
    pub customers: u64,
    /// `customers` as a share of `from`'s customers present on both nights (None for emerged).
    pub share: Option<f64>,
}

/// The transitions from `overlap` (`prev_k` × `new_k` counts, previous segment × tonight's segment),
/// given both nights' segment ids and tonight's segment sizes.
pub fn transitions(
    overlap: &[u64],
    prev_ids: &[u32],
    new_ids: &[u32],
    new_sizes: &[u64],
    th: &Overlaps,
) -> Vec<Transition> {
    let (pk, nk) = (prev_ids.len(), new_ids.len());
    let row = |p: usize| &overlap[p * nk..(p + 1) * nk];
    let present: Vec<u64> = (0..pk).map(|p| row(p).iter().sum()).collect();
    let share = |p: usize, n: usize| row(p)[n] as f64 / present[p].max(1) as f64;
    let survivor: Vec<Option<usize>> = (0..pk)
        .map(|p| (0..nk).find(|&n| present[p] > 0 && share(p, n) >= th.survive))
        .collect();
    let mut reached = vec![false; nk];
    let mut out = Vec::new();
    let link = |kind, p: usize, n: usize| Transition {
        kind,
        from: Some(prev_ids[p]),
        to: Some(new_ids[n]),
        customers: row(p)[n],
        share: Some(share(p, n)),
    };
    for p in 0..pk {
        if let Some(n) = survivor[p] {
            let merged = survivor.iter().filter(|&&s| s == Some(n)).count() > 1;
            out.push(link(
                if merged {
                    Kind::Absorbed
                } else {
                    Kind::Survived
                },
                p,
                n,
            ));
            reached[n] = true;
            continue;
        }
        let parts: Vec<usize> = (0..nk)
            .filter(|&n| present[p] > 0 && share(p, n) >= th.split)
            .collect();
        let covered: f64 = parts.iter().map(|&n| share(p, n)).sum();
        if parts.len() >= 2 && covered >= th.survive {
            for &n in &parts {
                out.push(link(Kind::Split, p, n));
                reached[n] = true;
            }
        } else {
            out.push(Transition {
                kind: Kind::Disappeared,
                from: Some(prev_ids[p]),
                to: None,
                customers: 0,
                share: None,
            });
        }
    }
    for n in (0..nk).filter(|&n| !reached[n]) {
        out.push(Transition {
            kind: Kind::Emerged,
            from: None,
            to: Some(new_ids[n]),
            customers: new_sizes[n],
            share: None,
        });
    }
    out
}

/// The transitions in words, one line per event ("segment 2 split into 5 (48 %) and 6 (51 %)").
pub fn describe(ts: &[Transition]) -> Vec<String> {
    let pct = |t: &Transition| format!("{:.0}%", 100.0 * t.share.unwrap_or(0.0));
    let id = |v: Option<u32>| v.map_or("-".into(), |v| v.to_string());
    let mut lines = Vec::new();
    let mut i = 0;
    while i < ts.len() {
        let t = &ts[i];
        match t.kind {
            Kind::Survived => lines.push(format!(
                "segment {} survived as {} ({} of its customers)",
                id(t.from),
                id(t.to),
                pct(t)
            )),
            Kind::Split => {
                let parts: Vec<&Transition> = ts[i..]
                    .iter()
                    .take_while(|x| x.kind == Kind::Split && x.from == t.from)
                    .collect();
                let list: Vec<String> = parts
                    .iter()
                    .map(|x| format!("{} ({})", id(x.to), pct(x)))
                    .collect();
                lines.push(format!(
                    "segment {} split into {}",
                    id(t.from),
                    list.join(" and ")
                ));
                i += parts.len() - 1;
            }
            Kind::Absorbed => {
                // One line per merge target, listed at its first absorbed segment.
                if ts[..i]
                    .iter()
                    .any(|x| x.kind == Kind::Absorbed && x.to == t.to)
                {
                    i += 1;
                    continue;
                }
                let from: Vec<String> = ts
                    .iter()
                    .filter(|x| x.kind == Kind::Absorbed && x.to == t.to)
                    .map(|x| format!("{} ({})", id(x.from), pct(x)))
                    .collect();
                lines.push(format!(
                    "segments {} merged into {}",
                    from.join(" and "),
                    id(t.to)
                ));
            }
            Kind::Disappeared => lines.push(format!("segment {} disappeared", id(t.from))),
            Kind::Emerged => lines.push(format!(
                "segment {} emerged ({} customers)",
                id(t.to),
                t.customers
            )),
        }
        i += 1;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(ts: &[Transition]) -> Vec<(Kind, Option<u32>, Option<u32>)> {
        ts.iter().map(|t| (t.kind, t.from, t.to)).collect()
    }

    #[test]
    fn monic_events() {
        let th = Overlaps::default();
        // Previous 10 → 0 (survived); 11 → 1 and 2 (split 50/50); 12 and 13 → 3 (merge); 14 scattered
        // over four segments, none with 30 % (disappeared); tonight's 4 has no predecessor (emerged).
        #[rustfmt::skip]
        let overlap = [
            90, 5, 5, 0, 0,
            0, 50, 50, 0, 0,
            0, 0, 0, 100, 0,
            0, 0, 10, 90, 0,
            25, 25, 25, 0, 25,
        ];
        let ts = transitions(
            &overlap,
            &[10, 11, 12, 13, 14],
            &[0, 1, 2, 3, 4],
            &[1; 5],
            &th,
        );
        use Kind::*;
        assert_eq!(
            kinds(&ts),
            [
                (Survived, Some(10), Some(0)),
                (Split, Some(11), Some(1)),
                (Split, Some(11), Some(2)),
                (Absorbed, Some(12), Some(3)),
                (Absorbed, Some(13), Some(3)),
                (Disappeared, Some(14), None),
                (Emerged, None, Some(4)),
            ]
        );
        let text = describe(&ts);
        assert_eq!(text[1], "segment 11 split into 1 (50%) and 2 (50%)");
        assert_eq!(text[2], "segments 12 (100%) and 13 (90%) merged into 3");
        assert_eq!(text.len(), 5);
    }
}
