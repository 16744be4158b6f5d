#!/bin/sh
# Pack a release archive, or write the release's SHA256SUMS. The release workflow and the
# offline installer test (dist/test-install.sh) both call this, so what the test installs is
# packed exactly as what a release publishes.
#
#   dist/pack.sh archive BINARY TARGET OUTDIR [GENERATOR]
#       OUTDIR/autoresearch-<version>-<TARGET>.tar.gz, holding one directory of that name
#       with the binary, README.md, LICENSE, CHANGELOG.md, completions/ and man/autoresearch.1.
#       The version is Cargo.toml's. The completions and the page come from running GENERATOR
#       (default: BINARY itself; pass a host build when BINARY cannot run here).
#   dist/pack.sh sums DIR
#       DIR/SHA256SUMS for every archive and install.sh in DIR, in `sha256sum` format.

set -eu

root=$(cd "$(dirname "$0")/.." && pwd)

die() {
    printf 'pack.sh: %s\n' "$*" >&2
    exit 1
}

version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1
}

archive() {
    [ $# -ge 3 ] || die "usage: pack.sh archive BINARY TARGET OUTDIR [GENERATOR]"
    binary=$1
    target=$2
    outdir=$3
    generator=${4:-$1}
    [ -x "$binary" ] || die "$binary is not an executable"
    [ -x "$generator" ] || die "$generator is not an executable"
    v=$(version)
    [ -n "$v" ] || die "no version in $root/Cargo.toml"
    name="autoresearch-$v-$target"

    mkdir -p "$outdir"
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    dir="$stage/$name"
    mkdir -p "$dir/completions" "$dir/man"
    cp "$binary" "$dir/autoresearch"
    chmod 755 "$dir/autoresearch"
    cp "$root/README.md" "$root/LICENSE" "$root/CHANGELOG.md" "$dir/"
    # The file names each shell looks for (bash-completion, zsh's fpath, fish's completions
    # directory, elvish's rc, PowerShell's profile).
    "$generator" completions bash >"$dir/completions/autoresearch.bash"
    "$generator" completions zsh >"$dir/completions/_autoresearch"
    "$generator" completions fish >"$dir/completions/autoresearch.fish"
    "$generator" completions elvish >"$dir/completions/autoresearch.elv"
    "$generator" completions powershell >"$dir/completions/_autoresearch.ps1"
    "$generator" man >"$dir/man/autoresearch.1"

    (cd "$stage" && tar -czf "$name.tar.gz" "$name")
    mv "$stage/$name.tar.gz" "$outdir/"
    printf '%s\n' "$outdir/$name.tar.gz"
}

sums() {
    [ $# -eq 1 ] || die "usage: pack.sh sums DIR"
    cd "$1"
    set -- autoresearch-*.tar.gz
    [ -e "$1" ] || die "no autoresearch-*.tar.gz in $(pwd)"
    [ ! -e install.sh ] || set -- "$@" install.sh
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$@" >SHA256SUMS
    else
        shasum -a 256 "$@" >SHA256SUMS
    fi
    printf '%s\n' "$(pwd)/SHA256SUMS"
}

case "${1:-}" in
    archive) shift; archive "$@" ;;
    sums) shift; sums "$@" ;;
    *) die "usage: pack.sh archive BINARY TARGET OUTDIR [GENERATOR] | pack.sh sums DIR" ;;
esac
