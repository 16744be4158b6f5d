# Homebrew formula: builds autoresearch from the release's source archive.
#
#   brew tap autoresearch-rs/autoresearch https://github.com/autoresearch-rs/autoresearch
#   brew install autoresearch
#
# The release workflow (.github/workflows/release.yml) rewrites `url` and `sha256` for each
# new tag, then builds and tests this formula on macOS before committing it.
class Autoresearch < Formula
  desc "Turn any AI coding agent into an overnight researcher: one file, one metric, one loop"
  homepage "https://github.com/autoresearch-rs/autoresearch"
  url "https://github.com/autoresearch-rs/autoresearch/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "MIT"
  head "https://github.com/autoresearch-rs/autoresearch.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    # Both come from the binary itself, so they match the command tree it was built from.
    generate_completions_from_executable(bin/"autoresearch", "completions")
    (man1/"autoresearch.1").write Utils.safe_popen_read(bin/"autoresearch", "man")
  end

  test do
    assert_match "autoresearch #{version}", shell_output("#{bin}/autoresearch --version")

    # A small project: init writes its files, doctor finds nothing failing.
    ENV["GIT_AUTHOR_NAME"] = ENV["GIT_COMMITTER_NAME"] = "Homebrew"
    ENV["GIT_AUTHOR_EMAIL"] = ENV["GIT_COMMITTER_EMAIL"] = "test@brew.sh"
    system "git", "init", "--quiet"
    (testpath/"train.py").write "x = 1\n"
    (testpath/"eval.sh").write "echo score: 1\n"
    system "git", "add", "train.py", "eval.sh"
    system "git", "commit", "--quiet", "-m", "start"
    system bin/"autoresearch", "--json", "init", "--target-file", "train.py",
           "--eval-command", "sh eval.sh", "--metric-name", "score", "--metric-direction", "lower"
    assert_path_exists testpath/"autoresearch.toml"
    assert_match '"status":"success"', shell_output("#{bin}/autoresearch --json doctor --no-eval")

    assert_match "_autoresearch", shell_output("#{bin}/autoresearch completions bash")
    assert_match ".TH AUTORESEARCH 1", shell_output("#{bin}/autoresearch man")
  end
end
