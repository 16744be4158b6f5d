#!/bin/sh
# Install the autoresearch binary from a GitHub release.
#
#   curl -fsSL https://github.com/autoresearch-rs/autoresearch/releases/latest/download/install.sh | sh
#   sh install.sh [--version X] [--to DIR] [--target TRIPLE] [--force]
#
# What it does: picks the build for this OS and CPU, downloads its archive and the release's
# SHA256SUMS, checks the archive against it (and stops if it cannot), then moves the binary
# into DIR (default ~/.local/bin) in one rename and runs `autoresearch --version`. It never uses
# sudo and never edits a shell startup file. AUTORESEARCH_INSTALL_BASE replaces the releases
# URL (a mirror with the same layout, or a test server; plain http only on a loopback address).
#
# Everything is inside functions, and the one call is the last line, in braces: a download cut
# short anywhere, even inside that line, is a syntax error and runs nothing.

set -u

AR_REPO_RELEASES="https://github.com/autoresearch-rs/autoresearch/releases"

ar_usage() {
    cat <<'USAGE'
Install autoresearch from a GitHub release.

Usage: install.sh [--version X] [--to DIR] [--target TRIPLE] [--force]

  --version X      the release to install, e.g. 0.2.0 (default: the latest)
  --to DIR         where the binary goes (default: ~/.local/bin); created if missing
  --target TRIPLE  the build to install instead of this machine's: x86_64-unknown-linux-musl,
                   aarch64-unknown-linux-musl, x86_64-apple-darwin, aarch64-apple-darwin
  --force          replace an autoresearch already in DIR (an upgrade)
  -h, --help       this text

Environment: AUTORESEARCH_INSTALL_BASE replaces the releases URL
(default https://github.com/autoresearch-rs/autoresearch/releases).
USAGE
}

ar_say() {
    printf '%s\n' "$*"
}

ar_err() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

ar_usage_err() {
    printf 'error: %s\n' "$*" >&2
    printf '%s\n' "Run 'sh install.sh --help' for the options." >&2
    exit 2
}

# The release triple for this machine, or an error naming --target.
ar_detect_target() {
    ar_os=$(uname -s 2>/dev/null) || ar_os=unknown
    ar_cpu=$(uname -m 2>/dev/null) || ar_cpu=unknown
    case "$ar_os" in
        Linux) ar_os_part=unknown-linux-musl ;;
        Darwin) ar_os_part=apple-darwin ;;
        *) ar_os_part= ;;
    esac
    case "$ar_cpu" in
        x86_64 | amd64) ar_cpu_part=x86_64 ;;
        aarch64 | arm64) ar_cpu_part=aarch64 ;;
        *) ar_cpu_part= ;;
    esac
    # An x86_64 shell under Rosetta on an Apple silicon Mac: the native build is the better one.
    if [ "$ar_os_part" = apple-darwin ] && [ "$ar_cpu_part" = x86_64 ] &&
        [ "$(sysctl -n sysctl.proc_translated 2>/dev/null)" = 1 ]; then
        ar_cpu_part=aarch64
    fi
    if [ -z "$ar_os_part" ] || [ -z "$ar_cpu_part" ]; then
        ar_err "no prebuilt autoresearch for $ar_os $ar_cpu. Builds exist for Linux and macOS on x86_64 and aarch64: pass one with --target TRIPLE if it runs here, or install from source with \`cargo install --locked autoresearch\`."
    fi
    ar_target="$ar_cpu_part-$ar_os_part"
}

# Plain http is for a local test server or mirror only: anything else must be https.
ar_check_base() {
    case "$ar_base" in
        https://*) ar_proto='=https' ;;
        http://127.0.0.1/* | http://127.0.0.1:* | http://localhost/* | http://localhost:* | http://\[::1\]/* | http://\[::1\]:*)
            ar_proto='=http' ;;
        *) ar_err "AUTORESEARCH_INSTALL_BASE must be an https:// URL (plain http only for 127.0.0.1, localhost or [::1]); got \`$ar_base\`." ;;
    esac
}

ar_pick_downloader() {
    if command -v curl >/dev/null 2>&1; then
        ar_downloader=curl
    elif command -v wget >/dev/null 2>&1; then
        ar_downloader=wget
    else
        ar_err "this installer needs curl or wget to download; install one and run it again."
    fi
}

# ar_download URL FILE: fails on any HTTP error; with curl, redirects stay on the same protocol.
ar_download() {
    if [ "$ar_downloader" = curl ]; then
        curl --proto "$ar_proto" --proto-redir "$ar_proto" --fail --silent --show-error \
            --location --retry 3 --output "$2" "$1"
    else
        wget --quiet --output-document="$2" "$1"
    fi
}

# The tool that computes SHA-256 here: sha256sum, else shasum, else openssl. None: fail closed.
ar_pick_hasher() {
    if command -v sha256sum >/dev/null 2>&1; then
        ar_hasher=sha256sum
    elif command -v shasum >/dev/null 2>&1; then
        ar_hasher=shasum
    elif command -v openssl >/dev/null 2>&1; then
        ar_hasher=openssl
    else
        ar_err "cannot verify the download: none of sha256sum, shasum or openssl is installed. Install one (coreutils, perl or openssl) and run the installer again; nothing was installed."
    fi
}

# ar_sha256 FILE: the hex digest alone.
ar_sha256() {
    case "$ar_hasher" in
        sha256sum) sha256sum "$1" | cut -d ' ' -f 1 ;;
        shasum) shasum -a 256 "$1" | cut -d ' ' -f 1 ;;
        openssl) openssl dgst -sha256 "$1" | sed 's/.*= *//' ;;
    esac
}

# The archive's name in SHA256SUMS for this target (the version comes from it for `latest`).
ar_find_archive() {
    ar_archive=$(awk -v suffix="-$ar_target.tar.gz" '
        { name = $2; sub(/^\*/, "", name) }
        index(name, "autoresearch-") == 1 && length(name) > length(suffix) &&
            substr(name, length(name) - length(suffix) + 1) == suffix { print name; exit }
    ' "$ar_tmp/SHA256SUMS")
    if [ -z "$ar_archive" ]; then
        ar_targets=$(awk '{ name = $2; sub(/^\*/, "", name); sub(/\.tar\.gz$/, "", name); sub(/^autoresearch-[^-]*-/, "", name); printf "%s ", name }' "$ar_tmp/SHA256SUMS")
        ar_err "release $ar_release_name has no build for $ar_target (it has: ${ar_targets:-nothing}). Pick one with --target, or install from source with \`cargo install --locked autoresearch\`."
    fi
    ar_expected=$(awk -v f="$ar_archive" '{ name = $2; sub(/^\*/, "", name) } name == f { print $1; exit }' "$ar_tmp/SHA256SUMS")
    ar_version=${ar_archive#autoresearch-}
    ar_version=${ar_version%"-$ar_target.tar.gz"}
}

ar_cleanup() {
    if [ -n "${ar_tmp:-}" ]; then
        rm -rf "$ar_tmp"
    fi
    if [ -n "${ar_partial:-}" ]; then
        rm -f "$ar_partial"
    fi
}

ar_main() {
    ar_version_arg=
    ar_to=
    ar_target=
    ar_force=no
    while [ $# -gt 0 ]; do
        case "$1" in
            --version) [ $# -ge 2 ] || ar_usage_err "--version needs a value, e.g. --version 0.2.0"; ar_version_arg=$2; shift ;;
            --version=*) ar_version_arg=${1#--version=} ;;
            --to) [ $# -ge 2 ] || ar_usage_err "--to needs a directory"; ar_to=$2; shift ;;
            --to=*) ar_to=${1#--to=} ;;
            --target) [ $# -ge 2 ] || ar_usage_err "--target needs a triple, e.g. --target aarch64-unknown-linux-musl"; ar_target=$2; shift ;;
            --target=*) ar_target=${1#--target=} ;;
            --force) ar_force=yes ;;
            -h | --help) ar_usage; exit 0 ;;
            *) ar_usage_err "unknown argument \`$1\`" ;;
        esac
        shift
    done

    if [ -z "$ar_to" ]; then
        [ -n "${HOME:-}" ] || ar_err "HOME is not set: pass the install directory with --to DIR."
        ar_to="$HOME/.local/bin"
    fi
    [ -n "$ar_target" ] || ar_detect_target

    ar_base=${AUTORESEARCH_INSTALL_BASE:-$AR_REPO_RELEASES}
    ar_base=${ar_base%/}
    ar_check_base
    case "$ar_version_arg" in
        "") ar_url="$ar_base/latest/download"; ar_release_name=latest ;;
        v*) ar_url="$ar_base/download/$ar_version_arg"; ar_release_name=$ar_version_arg ;;
        *) ar_url="$ar_base/download/v$ar_version_arg"; ar_release_name="v$ar_version_arg" ;;
    esac

    ar_pick_downloader
    ar_pick_hasher

    ar_dest="$ar_to/autoresearch"
    ar_tmp=$(mktemp -d 2>/dev/null || mktemp -d -t autoresearch) || ar_err "cannot create a temporary directory."
    trap ar_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    ar_download "$ar_url/SHA256SUMS" "$ar_tmp/SHA256SUMS" ||
        ar_err "cannot download $ar_url/SHA256SUMS. Check the version (--version) and your connection; releases are listed at $AR_REPO_RELEASES."
    ar_find_archive
    if [ -e "$ar_dest" ] && [ "$ar_force" = no ]; then
        ar_existing=$("$ar_dest" --version 2>/dev/null) || ar_existing="an unknown version"
        if [ "$ar_existing" = "autoresearch $ar_version" ]; then
            ar_say "autoresearch $ar_version is already installed in $ar_to; nothing to do."
            exit 0
        fi
        ar_err "$ar_dest already exists ($ar_existing). To replace it with $ar_version, add --force (after \`sh -s --\` when piping the installer into sh)."
    fi
    ar_say "installing autoresearch $ar_version ($ar_target) into $ar_to"
    ar_download "$ar_url/$ar_archive" "$ar_tmp/$ar_archive" ||
        ar_err "cannot download $ar_url/$ar_archive."

    ar_actual=$(ar_sha256 "$ar_tmp/$ar_archive")
    if [ -z "$ar_expected" ] || [ "$ar_actual" != "$ar_expected" ]; then
        ar_err "checksum mismatch for $ar_archive: SHA256SUMS says ${ar_expected:-nothing}, the download is $ar_actual. Nothing was installed; try again, and report it if it persists."
    fi
    ar_say "checksum ok ($ar_hasher)"

    (cd "$ar_tmp" && tar -xzf "$ar_archive") || ar_err "cannot unpack $ar_archive."
    ar_unpacked="$ar_tmp/${ar_archive%.tar.gz}/autoresearch"
    [ -f "$ar_unpacked" ] || ar_err "$ar_archive holds no autoresearch binary; please report it."

    # Into DIR under a temporary name, then one rename: the old binary, if any, stays whole
    # until the new one replaces it.
    mkdir -p "$ar_to" 2>/dev/null || ar_err "cannot create $ar_to. Pick a directory you can write to with --to DIR (this installer never uses sudo)."
    # Absolute, for the PATH advice below.
    ar_to=$(cd "$ar_to" && pwd) || ar_err "cannot enter $ar_to."
    ar_dest="$ar_to/autoresearch"
    ar_partial="$ar_to/.autoresearch.install.$$"
    if ! cp "$ar_unpacked" "$ar_partial" 2>/dev/null || ! chmod 755 "$ar_partial" 2>/dev/null; then
        ar_err "cannot write to $ar_to. Pick a directory you can write to with --to DIR (this installer never uses sudo)."
    fi
    # It must run here before it replaces anything.
    "$ar_partial" --version >/dev/null 2>&1 ||
        ar_err "the $ar_target build does not run on this machine; nothing was changed. Is --target right?"
    mv -f "$ar_partial" "$ar_dest" || ar_err "cannot move the binary into $ar_dest."
    ar_partial=

    ar_installed=$("$ar_dest" --version) || ar_err "$ar_dest does not run after the move; please report it."
    ar_say "installed $ar_dest ($ar_installed)"

    case ":${PATH:-}:" in
        *":$ar_to:"*) ar_say "run \`autoresearch demo\` to see the loop work" ;;
        *)
            ar_say ""
            ar_say "$ar_to is not on your PATH. Add this line to your shell's startup file (~/.profile, ~/.bashrc or ~/.zshrc):"
            # \$PATH stays literal: the user's shell expands it when the line runs.
            ar_say "  export PATH=\"$ar_to:\$PATH\""
            ;;
    esac
}

{ ar_main "$@"; }
