//! The ground of `sync` (issue 15, part 2; not a command yet): who this clone is, and how a
//! worker's shard of the ledger travels between machines through git, with the user's `git`
//! (its remotes, credentials and ssh agent; libgit2 here has no network transports).
//!
//! A worker publishes its shard — the ledger lines it wrote — as the file `ledger.jsonl` in a
//! chain of commits at `refs/autoresearch/ledger/<worker>`: each publication is a child of the
//! previous one, so a push is always a fast-forward and never needs force; a remote that holds
//! something else under our name rejects it, and nothing changes there. Other workers' shards
//! are fetched under `refs/autoresearch/fetched/<remote>/<worker>`. Nothing here touches the
//! user's branches, index or work tree.
//!
//! What is missing before `sync` exists (docs in the session note): the records' `worker` and
//! `clock` fields, and folding the fetched shards into the local ledger in causal order.

pub mod refs;
pub mod worker;
