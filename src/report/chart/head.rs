//! The document's head: the root element with its size, its accessible name (`<title>`) and
//! description (`<desc>`, one sentence with the counts and the best), the one style sheet,
//! the page and the visible title.

use super::scale;
use super::svg::{C, Esc, clip, put};
use super::{Chart, Mark, Tally};
use crate::text::count;

impl Chart<'_, '_> {
    /// The document's head: size, accessible name and description, the style sheet.
    pub(super) fn open(&self, out: &mut String, tally: &Tally) {
        let (w, h) = (C(self.frame.width), C(self.frame.height));
        let spec = self.spec;
        let name = clip(spec.metric_name, 60);
        let title = match spec.title {
            Some(t) => clip(t, 200),
            None => format!("Progress of {name}"),
        };
        put!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">"#
        );
        put!(out, "\n<title>{}</title>\n", Esc(&title));
        put!(out, "<desc>{}</desc>\n", Esc(&self.describe(tally)));
        out.push_str(STYLE);
        put!(out, r#"<rect class="page" width="{w}" height="{h}"/>"#);
        out.push('\n');
        if spec.title.is_some() {
            let max = ((self.frame.width - 32.0) / 9.0) as usize;
            put!(
                out,
                r#"<text class="title" x="16" y="27">{}</text>"#,
                Esc(&clip(&title, max))
            );
            out.push('\n');
        }
    }

    /// One sentence for screen readers: what is plotted, the counts, the best.
    pub(super) fn describe(&self, tally: &Tally) -> String {
        let spec = self.spec;
        let mut d = format!(
            "{} over {} ({} is better): ",
            clip(spec.metric_name, 60),
            count(spec.points.len(), "run", "runs"),
            spec.direction.as_str()
        );
        let parts: Vec<String> = Mark::ALL
            .iter()
            .filter(|m| tally.marks[m.index()] > 0)
            .map(|m| m.counted(tally.marks[m.index()]))
            .collect();
        if parts.is_empty() {
            d.push_str("none yet.");
        } else {
            put!(&mut d, "{}.", parts.join(", "));
        }
        if let Some((run, v)) = tally.best {
            put!(&mut d, " Best {} (run {run}).", scale::value(v));
        }
        if let Some(b) = spec.baseline.filter(|b| b.is_finite()) {
            put!(&mut d, " Baseline {}.", scale::value(b));
        }
        d
    }
}

/// The style sheet: one per document, so that marks carry a class and no repeated style.
const STYLE: &str = "<style>
text{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:12px;fill:#333}
.page{fill:#fff}
.title{font-size:16px;font-weight:600;fill:#111}
.tick{font-size:11px;fill:#555}
.axis-label{font-size:12px;fill:#222}
.note{font-size:13px;fill:#777}
.grid{stroke:#ececec;stroke-width:1;fill:none}
.axis{stroke:#444;stroke-width:1;fill:none}
.strip{fill:#f4f4f4}
.level{stroke:#666;stroke-width:1.2;stroke-dasharray:6 4;fill:none}
.level-label{font-size:11px;fill:#555}
.baseline,.kept,.sw-baseline,.sw-kept{fill:#2ca25f;stroke:#0b3d1f;stroke-width:1}
.discarded,.sw-discarded{fill:#9a9a9a;stroke:none}
.recheck,.sw-recheck{fill:#fff;stroke:#8a8a8a;stroke-width:1}
.crash,.sw-crash{fill:none;stroke:#c62828;stroke-width:1.6}
.timeout,.sw-timeout{fill:#ef6c00;stroke:#7a3500;stroke-width:.8}
.bin{fill:none;stroke:#9a9a9a;stroke-width:1.2;stroke-opacity:.75}
.ring,.sw-ring{fill:none;stroke:#e0a000;stroke-width:1.6}
.best{fill:none;stroke-width:2;stroke-linejoin:round;stroke-opacity:.85}
.label{font-size:10px;fill:#1b5e20}
</style>
";
