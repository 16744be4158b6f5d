//! `autoresearch guide [topic]`: the methodology on demand. The skill stays short because it
//! loads on every activation; the depth lives here, in the binary, so it is the same for every
//! agent and never out of date with the CLI. Human mode prints the text itself (docs/CONTRACT.md
//! §1's exception); JSON mode wraps it in the envelope with the list of topics.

use clap::Args;
use serde::Serialize;

use autoresearch::error::{AppError, Result};
use autoresearch::skills;

use crate::ctx::Ctx;
use crate::output::{Human, Output, Printer};

/// `guide all`: the skill and every topic in one text.
const ALL: &str = "all";

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  autoresearch guide             the method in short, and the topics
  autoresearch guide stuck       what to do after many discards
  autoresearch guide all         everything, one topic after another
  autoresearch guide --json crashes")]
pub struct GuideArgs {
    /// loop, setup, strategy, stuck, crashes, noise, integrity, manual, forks, watch, cluster, morning, or all.
    ///
    /// Without a topic: the method in short (the skill's text) and the list of topics.
    #[arg(value_name = "TOPIC")]
    pub topic: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TopicInfo {
    pub name: &'static str,
    pub title: &'static str,
}

#[derive(Debug, Serialize)]
pub struct GuideOutput {
    /// The topic shown; null for the overview.
    pub topic: Option<String>,
    pub title: String,
    /// Markdown-flavoured plain text.
    pub text: String,
    pub topics: Vec<TopicInfo>,
}

impl Output for GuideOutput {}

pub fn topic_list() -> Vec<TopicInfo> {
    skills::TOPICS
        .iter()
        .map(|t| TopicInfo {
            name: t.name,
            title: t.title(),
        })
        .collect()
}

pub fn run(ctx: &Ctx, args: &GuideArgs) -> Result<GuideOutput> {
    let requested = args.topic.as_deref().map(|t| t.trim().to_ascii_lowercase());
    let (title, text) = match requested.as_deref() {
        None => (
            "autoresearch: the overnight experiment loop".to_string(),
            skills::BODY.to_string(),
        ),
        Some(ALL) => {
            let mut text = skills::BODY.to_string();
            for t in skills::TOPICS {
                text.push_str("\n\n---\n\n");
                text.push_str(t.text);
            }
            ("autoresearch: the whole guide".to_string(), text)
        }
        Some(name) => match skills::topic(name) {
            Some(t) => (t.title().to_string(), t.text.to_string()),
            None => {
                return Err(AppError::usage(
                    format!(
                        "`{}` is not a guide topic; the topics are {}, or `all`.",
                        args.topic.as_deref().unwrap_or_default(),
                        skills::topic_names().join(", ")
                    ),
                    "Run `autoresearch guide` for the overview and the list of topics, e.g. `autoresearch guide stuck`.",
                ));
            }
        },
    };
    if requested.is_none() || requested.as_deref() == Some(ALL) {
        ctx.hint(
            "Start or resume the loop with `autoresearch status`: its hints name the next command.",
        );
        ctx.hint("Read one topic when the situation calls for it, e.g. `autoresearch guide stuck` after many discards.");
    }
    Ok(GuideOutput {
        topic: requested,
        title,
        text,
        topics: topic_list(),
    })
}

impl Human for GuideOutput {
    fn human(&self, p: &mut Printer) -> std::io::Result<()> {
        p.line(self.text.trim_end())?;
        if self.topic.is_none() {
            p.line("")?;
            p.line("Topics (autoresearch guide <topic>, or `all` for everything):")?;
            let width = self.topics.iter().map(|t| t.name.len()).max().unwrap_or(0);
            for t in &self.topics {
                p.line(format!("  {:<width$}  {}", t.name, t.title))?;
            }
        }
        Ok(())
    }
}
