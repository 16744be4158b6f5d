//! A worker's shard as a chain of commits at `refs/autoresearch/ledger/<worker>`, published,
//! pushed and fetched with the `git` executable (see the module above).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{AppError, Code, Result};

/// Where a worker's own chain lives, here and on every remote.
pub const LEDGER_REFS: &str = "refs/autoresearch/ledger";
/// Where the chains fetched from a remote are kept: `<FETCHED>/<remote>/<worker>`.
pub const FETCHED: &str = "refs/autoresearch/fetched";
/// Where the commit a record evaluated is kept, by its writer and the record's id:
/// `<COMMITS>/<worker>/<id>`. Each worker pushes only its own, and ids never
/// collide across machines, so neither do these refs, and they never move.
pub const COMMITS: &str = "refs/autoresearch/commits";
/// Lines per file of a published shard.
pub const CHUNK_LINES: usize = 1000;

/// `shard` in pieces of [`CHUNK_LINES`] lines (the last may be shorter, or unterminated).
fn chunks(shard: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = shard;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(CHUNK_LINES - 1)
            .map_or(rest.len(), |(i, _)| i + 1);
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// The `git` of one repository, with prompts off (a sync must never wait on a terminal).
pub struct Git {
    root: PathBuf,
}

/// What `publish` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub commit: String,
    /// False when the shard was already the chain's tip: nothing new to publish.
    pub changed: bool,
}

/// What `push` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The remote now has our chain (or had it already).
    Done,
    /// The remote refused: it holds another chain under our name. Nothing changed there.
    Rejected(String),
}

impl Git {
    pub fn new(root: &Path) -> Git {
        Git {
            root: root.to_path_buf(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.arg("-C")
            .arg(&self.root)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            // Our commits are the tool's, not the user's: no identity needed.
            .env("GIT_AUTHOR_NAME", "autoresearch")
            .env("GIT_AUTHOR_EMAIL", "autoresearch@localhost")
            .env("GIT_COMMITTER_NAME", "autoresearch")
            .env("GIT_COMMITTER_EMAIL", "autoresearch@localhost")
            .stdin(Stdio::null());
        c
    }

    /// Run git; its stdout, or an error naming the command and git's last words.
    fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut c = self.cmd(args);
        if input.is_some() {
            c.stdin(Stdio::piped());
        }
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = format!("`git {}`", args.join(" "));
        let mut child = c.spawn().map_err(|e| {
            AppError::new(
                Code::GitError,
                format!("Cannot run {what}: {e}."),
                "Install git and make sure it is on PATH: syncing goes through your git.",
            )
        })?;
        if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
            // A git that stopped before reading (a bad directory) closes the pipe: its own
            // exit status and message, below, say why better than the broken pipe would.
            match stdin.write_all(bytes) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(AppError::io(format!("writing to {what}"), &e));
                }
                _ => {}
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| AppError::io(format!("waiting for {what}"), &e))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(git_failed(&what, &out.stderr))
    }

    fn text(&self, args: &[&str]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.run(args, None)?)
            .trim()
            .to_string())
    }

    /// The repository's configured remotes, by name.
    pub fn remotes(&self) -> Result<Vec<String>> {
        Ok(self
            .text(&["remote"])?
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// The commit a ref points at, if it exists.
    pub fn resolve(&self, refname: &str) -> Result<Option<String>> {
        let out = self
            .cmd(&[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{refname}^{{commit}}"),
            ])
            .output()
            .map_err(|e| AppError::io("running `git rev-parse`", &e))?;
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok((out.status.success() && !id.is_empty()).then_some(id))
    }

    /// The repository, for what is written and read locally (objects, trees): in process,
    /// without a `git` per chunk.
    fn repo(&self) -> Result<git2::Repository> {
        git2::Repository::open(&self.root).map_err(|e| {
            AppError::git(
                format!("opening the repository at `{}`", self.root.display()),
                &e,
            )
        })
    }

    /// Make `shard` the tip of `worker`'s chain: a commit holding it in files of
    /// [`CHUNK_LINES`] lines, child of the current tip, set by compare-and-swap (a concurrent
    /// publication fails, it is not overwritten). The shard only grows, so a publication
    /// writes only its last file or two: what a sync stores and sends grows with the new
    /// records, not with the shard.
    pub fn publish(&self, worker: &str, shard: &[u8]) -> Result<Published> {
        let refname = format!("{LEDGER_REFS}/{worker}");
        let repo = self.repo()?;
        let git = |what: &str| {
            let what = what.to_string();
            move |e: git2::Error| AppError::git(format!("{what} for worker `{worker}`"), &e)
        };
        let old = repo.refname_to_id(&refname).ok().map(|id| id.to_string());
        let mut tree = repo.treebuilder(None).map_err(git("building the shard"))?;
        for (i, chunk) in chunks(shard).enumerate() {
            let blob = repo.blob(chunk).map_err(git("writing the shard"))?;
            tree.insert(format!("{i:08}.jsonl"), blob, 0o100_644)
                .map_err(git("building the shard"))?;
        }
        let tree = tree.write().map_err(git("writing the shard's tree"))?;
        let parent = match &old {
            Some(old) => {
                let oid = git2::Oid::from_str(old).map_err(git("reading the chain"))?;
                Some(repo.find_commit(oid).map_err(git("reading the chain"))?)
            }
            None => None,
        };
        if let Some(p) = &parent
            && p.tree_id() == tree
        {
            return Ok(Published {
                commit: p.id().to_string(),
                changed: false,
            });
        }
        let tree = repo
            .find_tree(tree)
            .map_err(git("reading the shard's tree"))?;
        let sig = git2::Signature::now("autoresearch", "autoresearch@localhost")
            .map_err(git("signing the shard"))?;
        let message = format!("autoresearch ledger of {worker}");
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let commit = repo
            .commit(None, &sig, &sig, &message, &tree, &parents)
            .map_err(git("committing the shard"))?
            .to_string();
        let zero = "0".repeat(40);
        let expected = old.as_deref().unwrap_or(&zero);
        self.run(&["update-ref", &refname, &commit, expected], None)?;
        Ok(Published {
            commit,
            changed: true,
        })
    }

    /// The shard a chain's commit holds: its files, in name order, one after the other.
    pub fn read_shard(&self, commit: &str) -> Result<Vec<u8>> {
        let repo = self.repo()?;
        let what = format!("reading the shard of commit {commit}");
        let err = |e: git2::Error| AppError::git(&what, &e);
        let oid = git2::Oid::from_str(commit).map_err(err)?;
        let tree = repo.find_commit(oid).and_then(|c| c.tree()).map_err(err)?;
        let mut out = Vec::new();
        for entry in tree.iter() {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let blob = repo.find_blob(entry.id()).map_err(err)?;
                out.extend_from_slice(blob.content());
            }
        }
        Ok(out)
    }

    /// Fetch every worker's chain from `remote` into `refs/autoresearch/fetched/<remote>/`;
    /// returns each `(worker, commit)`. Chains are replaced as fetched (`+`): they are the
    /// remote's to say, and ours are never among the ones we write to.
    pub fn fetch(&self, remote: &str) -> Result<Vec<(String, String)>> {
        let space = format!("{FETCHED}/{}", remote_key(remote));
        let spec = format!("+{LEDGER_REFS}/*:{space}/*");
        // The experiments' commits come too (never forced: such a ref never moves).
        let commits = format!("{COMMITS}/*:{COMMITS}/*");
        self.run(
            &["fetch", "--no-tags", "--quiet", remote, &spec, &commits],
            None,
        )?;
        let listed = self.text(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            &format!("{space}/"),
        ])?;
        Ok(listed
            .lines()
            .filter_map(|l| {
                let (name, id) = l.split_once(' ')?;
                let worker = name.strip_prefix(&format!("{space}/"))?;
                Some((worker.to_string(), id.to_string()))
            })
            .collect())
    }

    /// Keep each `(id, commit)` of `worker`'s records at `refs/autoresearch/commits/<worker>/<id>`,
    /// for the commits this repository has and that are not kept yet; returns how many refs it
    /// made.
    pub fn pin_commits(&self, worker: &str, pins: &[(String, String)]) -> Result<usize> {
        let space = format!("{COMMITS}/{worker}");
        let kept = self.text(&["for-each-ref", "--format=%(refname)", &format!("{space}/")])?;
        let kept: std::collections::HashSet<&str> = kept.lines().collect();
        let wanted: Vec<&(String, String)> = pins
            .iter()
            .filter(|(id, c)| {
                crate::sync::worker::valid(id)
                    && c.len() >= 40
                    && c.bytes().all(|b| b.is_ascii_hexdigit())
                    && !kept.contains(format!("{space}/{id}").as_str())
            })
            .collect();
        if wanted.is_empty() {
            return Ok(0);
        }
        let query: String = wanted.iter().map(|(_, c)| format!("{c}\n")).collect();
        let answer = self.run(
            &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
            Some(query.as_bytes()),
        )?;
        let answer = String::from_utf8_lossy(&answer);
        let mut script = String::new();
        let mut made = 0;
        for ((id, commit), line) in wanted.iter().zip(answer.lines()) {
            if line.ends_with(" commit") {
                script.push_str(&format!("create {space}/{id} {commit}\n"));
                made += 1;
            }
        }
        if made > 0 {
            self.run(&["update-ref", "--stdin"], Some(script.as_bytes()))?;
        }
        Ok(made)
    }

    /// Push `worker`'s chain and its kept commits to `remote`, never forcing and all or
    /// nothing (`--atomic`): a remote whose chain under that name is not an ancestor of ours
    /// refuses, and keeps what it has.
    pub fn push(&self, remote: &str, worker: &str) -> Result<Pushed> {
        let refname = format!("{LEDGER_REFS}/{worker}");
        let spec = format!("{refname}:{refname}");
        // Only this worker's commits: another's are its to push (two pushing one new ref at
        // once would make one of the pushes fail).
        let commits = format!("{COMMITS}/{worker}/*:{COMMITS}/{worker}/*");
        let out = self
            .cmd(&[
                "push",
                "--porcelain",
                "--quiet",
                "--atomic",
                remote,
                &spec,
                &commits,
            ])
            .output()
            .map_err(|e| AppError::io("running `git push`", &e))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Porcelain: one line per ref, `<flag>\t<from>:<to>\t<summary>`; `!` is rejected.
        // With `--atomic`, every ref fails with the one that was refused: name that one.
        let refused = stdout.lines().filter(|l| l.starts_with('!'));
        let ours = refused.clone().find(|l| l.contains(&refname));
        if let Some(line) = ours.or(refused.clone().next()) {
            let why = line.rsplit('\t').next().unwrap_or(line).to_string();
            return Ok(Pushed::Rejected(why));
        }
        if out.status.success() {
            return Ok(Pushed::Done);
        }
        Err(git_failed(&format!("`git push {remote}`"), &out.stderr))
    }
}

/// A remote's name as a ref component: a configured remote's name as it is; a URL or path by
/// a digest of it, so fetched chains of two remotes never mix.
pub fn remote_key(remote: &str) -> String {
    let simple = !remote.is_empty()
        && remote
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if simple {
        remote.to_string()
    } else {
        format!("url-{:016x}", xxhash_rust::xxh3::xxh3_64(remote.as_bytes()))
    }
}

fn git_failed(what: &str, stderr: &[u8]) -> AppError {
    let text = String::from_utf8_lossy(stderr);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| crate::text::shown_line(l, 300))
        .unwrap_or_else(|| "no message".to_string());
    // A fetch or a push talks to the remote; anything else is this repository's own git.
    let suggestion = if what.starts_with("`git fetch") || what.starts_with("`git push") {
        "Check the remote and your access to it with `git fetch <remote>`, then run `autoresearch sync` again."
    } else {
        "Check this repository with `git status` and `git fsck`, fix what they report, then run `autoresearch sync` again (nothing is pushed until it succeeds)."
    };
    AppError::new(Code::GitError, format!("{what} failed: {last}"), suggestion)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }

    /// A bare repository and two clones of it.
    fn three() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("remote.git");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare"]);
        for clone in [&a, &b] {
            std::fs::create_dir_all(clone).unwrap();
            git(clone, &["init", "-q"]);
            git(clone, &["remote", "add", "origin", bare.to_str().unwrap()]);
        }
        (dir, bare, a, b)
    }

    #[test]
    fn shards_travel_through_a_bare_repository_as_fast_forward_chains() {
        let (_dir, _bare, a, b) = three();
        let (ga, gb) = (Git::new(&a), Git::new(&b));
        let first = ga.publish("wa", b"{\"run\":0}\n").unwrap();
        assert!(first.changed);
        assert!(
            !ga.publish("wa", b"{\"run\":0}\n").unwrap().changed,
            "same shard, no commit"
        );
        assert_eq!(ga.push("origin", "wa").unwrap(), Pushed::Done);
        gb.publish("wb", b"{\"run\":7}\n").unwrap();
        assert_eq!(gb.push("origin", "wb").unwrap(), Pushed::Done);
        let second = ga.publish("wa", b"{\"run\":0}\n{\"run\":1}\n").unwrap();
        assert_eq!(ga.push("origin", "wa").unwrap(), Pushed::Done);
        let mut fetched = gb.fetch("origin").unwrap();
        fetched.sort();
        assert_eq!(
            fetched,
            vec![
                ("wa".to_string(), second.commit.clone()),
                (
                    "wb".to_string(),
                    gb.resolve(&format!("{LEDGER_REFS}/wb")).unwrap().unwrap()
                )
            ]
        );
        assert_eq!(
            gb.read_shard(&second.commit).unwrap(),
            b"{\"run\":0}\n{\"run\":1}\n"
        );
        // The chain: the second publication's parent is the first.
        assert_eq!(
            ga.text(&["rev-parse", &format!("{}^", second.commit)])
                .unwrap(),
            first.commit
        );
    }

    /// A shard that grew keeps its full files: a publication adds the changed file only.
    #[test]
    fn a_publication_rewrites_only_the_files_that_changed() {
        let (_dir, _bare, a, _b) = three();
        let ga = Git::new(&a);
        let line = |i: usize| format!("{{\"run\":{i}}}\n");
        let mut shard: String = (0..CHUNK_LINES * 2 + 5).map(line).collect();
        let first = ga.publish("w", shard.as_bytes()).unwrap();
        shard.push_str(&line(9999));
        let second = ga.publish("w", shard.as_bytes()).unwrap();
        assert_eq!(ga.read_shard(&second.commit).unwrap(), shard.as_bytes());
        let files = |c: &str| ga.text(&["ls-tree", c]).unwrap();
        let (before, after) = (files(&first.commit), files(&second.commit));
        let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
        assert_eq!(a.len(), 3, "{after}");
        assert_eq!(a[..2], b[..2], "the full files are the same blobs");
        assert_ne!(a[2], b[2]);
        // Exactly a multiple of the size, and empty.
        let exact: String = (0..CHUNK_LINES).map(line).collect();
        assert_eq!(chunks(exact.as_bytes()).count(), 1);
        assert_eq!(chunks(b"").count(), 0);
        assert_eq!(chunks(b"{\"torn").collect::<Vec<_>>(), [&b"{\"torn"[..]]);
    }

    #[test]
    fn another_chain_under_our_name_is_refused_and_the_remote_keeps_its_own() {
        let (_dir, bare, a, b) = three();
        let (ga, gb) = (Git::new(&a), Git::new(&b));
        ga.publish("same", b"a\n").unwrap();
        assert_eq!(ga.push("origin", "same").unwrap(), Pushed::Done);
        // A second clone publishing under the same id: a chain that does not descend from it.
        gb.publish("same", b"b\n").unwrap();
        let Pushed::Rejected(why) = gb.push("origin", "same").unwrap() else {
            panic!("a non-fast-forward push went through")
        };
        assert!(!why.is_empty());
        let remote = Git::new(&bare);
        let tip = remote
            .resolve(&format!("{LEDGER_REFS}/same"))
            .unwrap()
            .unwrap();
        assert_eq!(
            remote.read_shard(&tip).unwrap(),
            b"a\n",
            "the remote is unchanged"
        );
    }

    #[test]
    fn a_remote_that_is_a_url_gets_a_ref_safe_key() {
        assert_eq!(remote_key("origin"), "origin");
        let k = remote_key("/srv/git/project.git");
        assert!(k.starts_with("url-") && k.len() == 20, "{k}");
        assert_ne!(k, remote_key("/srv/git/other.git"));
        let err = Git::new(Path::new("/nonexistent/dir"))
            .publish("w", b"x")
            .unwrap_err();
        assert_eq!(err.code, Code::GitError);
    }
}
