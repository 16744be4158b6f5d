//! Values drawn straight from proptest's random source, for the properties in `fuzz`.
//!
//! proptest's own combinators (`collection::vec`, `prop_oneof!`, regex strategies) make a value
//! tree per element, which in a debug build costs more than the checks: 10,000 byte strings of
//! up to 2 KiB took 5 s to generate alone. Here a value is made in one go by a function of the
//! random source, and a list shrinks by dropping elements from its end, then from its front,
//! which is what a failing line, byte or character needs.

use std::fmt;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{TestRng, TestRunner};

/// Makes a list from the random source.
type Make<T> = Arc<dyn Fn(&mut TestRng) -> Vec<T> + Send + Sync>;

/// A list made in one go by `make`, shrinking by cuts.
pub struct Many<T> {
    make: Make<T>,
}

/// Up to `max` items, each from `item`.
pub fn many<T: 'static>(max: usize, item: fn(&mut TestRng) -> T) -> Many<T> {
    list(move |rng| {
        let n = rng.random_range(0..=max);
        (0..n).map(|_| item(rng)).collect()
    })
}

/// The list `make` makes.
pub fn list<T>(make: impl Fn(&mut TestRng) -> Vec<T> + Send + Sync + 'static) -> Many<T> {
    Many {
        make: Arc::new(make),
    }
}

impl<T> fmt::Debug for Many<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("Many")
    }
}

impl<T: Clone + fmt::Debug> Strategy for Many<T> {
    type Tree = Cuts<T>;
    type Value = Vec<T>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let items = (self.make)(runner.rng());
        Ok(Cuts::new(items, 0))
    }
}

/// Shrinks a list by a binary search for the longest cut that still fails: first from the
/// end, then from the front.
pub struct Cuts<T> {
    items: Vec<T>,
    /// 0: cutting from the end; 1: from the front; 2: done.
    phase: u8,
    /// The cut being tried, the longest known to fail, and the shortest known to pass.
    cut: usize,
    failing: usize,
    passing: usize,
}

impl<T: Clone> Cuts<T> {
    fn new(items: Vec<T>, phase: u8) -> Self {
        let passing = items.len() + 1;
        Cuts {
            items,
            phase,
            cut: 0,
            failing: 0,
            passing,
        }
    }
}

impl<T: Clone + fmt::Debug> ValueTree for Cuts<T> {
    type Value = Vec<T>;

    fn current(&self) -> Vec<T> {
        let n = self.items.len();
        match self.phase {
            0 => self.items[..n - self.cut].to_vec(),
            _ => self.items[self.cut..].to_vec(),
        }
    }

    /// The current value failed: cut more, or go on to the next phase.
    fn simplify(&mut self) -> bool {
        self.failing = self.cut;
        if self.failing + 1 >= self.passing {
            if self.phase >= 1 {
                return false;
            }
            *self = Cuts::new(self.current(), self.phase + 1);
        }
        self.cut = (self.failing + self.passing) / 2;
        self.cut > self.failing
    }

    /// The current value passed: cut less. Once the search has closed, the longest failing cut
    /// is tried again so that the next `simplify` starts the next phase from it.
    fn complicate(&mut self) -> bool {
        self.passing = self.cut;
        self.cut = if self.failing + 1 >= self.passing {
            self.failing
        } else {
            (self.failing + self.passing) / 2
        };
        true
    }
}

/// One value from `make`, not shrunk.
pub struct One<T>(pub fn(&mut TestRng) -> T);

impl<T> fmt::Debug for One<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("One")
    }
}

impl<T: Clone + fmt::Debug> Strategy for One<T> {
    type Tree = Fixed<T>;
    type Value = T;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        Ok(Fixed((self.0)(runner.rng())))
    }
}

pub struct Fixed<T>(T);

impl<T: Clone + fmt::Debug> ValueTree for Fixed<T> {
    type Value = T;
    fn current(&self) -> T {
        self.0.clone()
    }
    fn simplify(&mut self) -> bool {
        false
    }
    fn complicate(&mut self) -> bool {
        false
    }
}

/// Bytes, shown as a byte string when a case fails.
#[derive(Clone)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}
