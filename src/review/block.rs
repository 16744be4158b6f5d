//! Data blocks: text from the repository and the ledger, fenced so that nothing inside can end
//! the block, and cut to a byte budget at a line end (never inside a character) with a note
//! saying how much was left out.

/// What a section says when its data had to go, or had to be cut.
const LEFT_OUT: &str = "to fit the size limit";

/// A fence of backticks longer than any run of backticks in `content`, and at least three: no
/// line of the data can close it, whatever the data says.
pub fn fence_for(content: &str) -> String {
    "`".repeat(longest_backtick_run(content).max(2) + 1)
}

/// The longest run of consecutive backticks in `s`.
pub fn longest_backtick_run(s: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for b in s.bytes() {
        if b == b'`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// The longest prefix of `text` of at most `max` bytes that ends at a line end; when no whole
/// line fits, the longest that ends at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let head = &text.as_bytes()[..max];
    if let Some(nl) = head.iter().rposition(|b| *b == b'\n') {
        return &text[..=nl];
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A section at its smallest: its heading, and a note that its data (`what`) was left out.
pub fn minimal(heading: &str, what: &str) -> String {
    format!("## {heading}\n\n[Left out {LEFT_OUT}: {what}.]\n\n")
}

/// One section of the prompt that holds a data block: a heading, a sentence saying what the
/// data is, then the block. The block is what gets cut.
pub struct Section {
    pub heading: String,
    pub intro: String,
    /// The fence's info string (`text`, `diff`, `toml`...).
    pub lang: &'static str,
    /// The data; `None` when there is none, and the intro says why.
    pub content: Option<String>,
}

impl Section {
    /// The section as text, with at most `budget` bytes when `budget` is at least
    /// [`Section::min_len`]; and whether anything was left out.
    pub fn render(&self, budget: usize) -> (String, bool) {
        let Some(content) = &self.content else {
            return (self.frame(None, ""), false);
        };
        let full = self.frame(Some(content), "");
        if full.len() <= budget {
            return (full, false);
        }
        let total = content.len();
        let worst = format!("[{total} of {total} bytes left out here {LEFT_OUT}.]\n");
        let overhead = self.frame(Some(""), &worst).len();
        let piece = cut(content, budget.saturating_sub(overhead));
        if piece.is_empty() {
            return (self.minimal(), true);
        }
        let note = format!(
            "[{} of {total} bytes left out here {LEFT_OUT}.]\n",
            total - piece.len()
        );
        (self.frame(Some(piece), &note), true)
    }

    /// The section at its smallest: the heading and a note that the data was left out.
    pub fn min_len(&self) -> usize {
        match &self.content {
            None => self.frame(None, "").len(),
            Some(_) => self.minimal().len(),
        }
    }

    fn minimal(&self) -> String {
        let total = self.content.as_deref().map_or(0, str::len);
        minimal(&self.heading, &format!("{total} bytes"))
    }

    /// `## heading`, the intro, the block (when there is data) and the note, then a blank line.
    fn frame(&self, body: Option<&str>, note: &str) -> String {
        let mut s = format!("## {}\n\n{}\n\n", self.heading, self.intro);
        if let (Some(body), Some(all)) = (body, &self.content) {
            // The fence of the whole content: a piece never needs a longer one.
            let fence = fence_for(all);
            s.push_str(&format!("{fence}{}\n{body}", self.lang));
            if !body.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&format!("{fence}\n{note}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_outgrows_the_backticks_inside() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for("a ``` b"), "````");
        assert_eq!(fence_for("``````"), "```````");
    }

    #[test]
    fn cuts_end_at_a_line_or_a_character() {
        assert_eq!(cut("ab\ncd\nef", 7), "ab\ncd\n");
        assert_eq!(cut("ab\ncd", 10), "ab\ncd");
        // One line longer than the budget: cut inside it, never inside a character.
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(cut("ééé", 1), "");
    }

    #[test]
    fn a_section_fits_any_budget_above_its_minimum() {
        let s = Section {
            heading: "program.md".into(),
            intro: "The notes.".into(),
            lang: "text",
            content: Some("ligne é\n".repeat(300)),
        };
        let (full, cut_) = s.render(usize::MAX);
        assert!(!cut_);
        for budget in s.min_len()..full.len() + 10 {
            let (text, was_cut) = s.render(budget);
            assert!(text.len() <= budget, "{budget}: {}", text.len());
            assert_eq!(was_cut, budget < full.len());
        }
    }
}
