//! Reports on a ledger for people: the progress chart (`chart`), pure functions from data to text.

pub mod chart;
pub mod html;
pub mod markdown;
pub mod model;
