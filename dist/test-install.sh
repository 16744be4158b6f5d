#!/usr/bin/env bash
# The installer, tested offline: pack BINARY as the release workflow does (dist/pack.sh), serve
# the release from 127.0.0.1 with python3's http.server, and run install.sh under dash against
# it, for the paths that matter: a good install, a corrupted archive, each checksum tool and
# none, an unwritable directory, an unknown machine, a cut-short script.
#
#   bash dist/test-install.sh BINARY        (BINARY: any build of autoresearch that runs here)
#
# Needs dash, python3, curl, tar, sha256sum, shasum, openssl, shellcheck and (on Linux) readelf;
# a missing one is a failure, never a skip. Exits non-zero when a case fails.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$binary" ] || { echo "test-install: $1 is not an executable" >&2; exit 1; }
for tool in dash python3 curl tar gzip sha256sum shasum openssl awk sed cut; do
    command -v "$tool" >/dev/null || { echo "test-install: $tool is required and missing" >&2; exit 1; }
done

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "ok   $1"; }
fail() {
    echo "FAIL $1"
    [ -f "$work/out" ] && sed 's/^/     | /' "$work/out"
    failures=$((failures + 1))
}

# The target install.sh picks on this machine (the same table as its own).
case "$(uname -s)-$(uname -m)" in
    Linux-x86_64 | Linux-amd64) target=x86_64-unknown-linux-musl ;;
    Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
    Darwin-x86_64) target=x86_64-apple-darwin ;;
    Darwin-arm64 | Darwin-aarch64) target=aarch64-apple-darwin ;;
    *) echo "test-install: no release target for $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
archive="autoresearch-$version-$target.tar.gz"

# The release as GitHub lays it out: download/v<version>/ and latest/download/.
release="$work/srv/download/v$version"
mkdir -p "$release"
sh "$root/dist/pack.sh" archive "$binary" "$target" "$release" >/dev/null
cp "$root/install.sh" "$release/"
sh "$root/dist/pack.sh" sums "$release" >/dev/null
mkdir -p "$work/srv/latest"
cp -R "$release" "$work/srv/latest/download"
# The same release with one byte of the archive changed, SHA256SUMS unchanged.
bad="$work/srv/corrupt/download/v$version"
mkdir -p "$bad"
cp "$release/SHA256SUMS" "$bad/"
python3 - "$release/$archive" "$bad/$archive" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x01
open(sys.argv[2], "wb").write(data)
PY

# The packed archive holds what the release promises.
listing=$(tar -tzf "$release/$archive")
for f in autoresearch README.md LICENSE completions/autoresearch.bash completions/_autoresearch \
    completions/autoresearch.fish man/autoresearch.1; do
    if ! grep -qx "autoresearch-$version-$target/$f" <<<"$listing"; then
        echo "archive lacks $f" >"$work/out"
        fail "the archive holds the binary, README, LICENSE, completions and man page"
    fi
done

# A free port: the server binds port 0 and says which one it got.
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/srv" >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$work/server.log" | head -n 1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$work/server.log" >&2; echo "test-install: the server did not start" >&2; exit 1; }
base="http://127.0.0.1:$port"

# Tool directories: PATH holds only these, so a test decides which checksum tool exists.
# `sudo` is a trap that leaves a mark if the installer ever calls it.
tools() {
    local dir=$work/tools-$1
    shift
    mkdir -p "$dir"
    for t in dash sh uname mktemp rm mkdir cp chmod mv tar gzip cut sed awk curl cat head "$@"; do
        ln -sf "$(command -v "$t")" "$dir/$t"
    done
    printf '#!/bin/sh\ntouch %s/sudo-was-called\nexit 1\n' "$work" >"$dir/sudo"
    chmod 755 "$dir/sudo"
    echo "$dir"
}
all_tools=$(tools all sha256sum shasum openssl)
shasum_only=$(tools shasum shasum)
openssl_only=$(tools openssl openssl)
no_hasher=$(tools none)

# install PATH BASE ARGS...: runs install.sh under dash; output in $work/out, status in $status.
install() {
    local path=$1 url=$2
    shift 2
    set +e
    env -i HOME="$work/home" PATH="$path" AUTORESEARCH_INSTALL_BASE="$url" \
        dash "$root/install.sh" "$@" >"$work/out" 2>&1
    status=$?
    set -e
}
has() { grep -q -- "$1" "$work/out"; }
empty_dir() { [ ! -e "$1" ] || [ -z "$(ls -A "$1")" ]; }

# 1. The latest release into a fresh directory: the binary runs; PATH advice is printed.
to=$work/a/bin
install "$all_tools" "$base" --to "$to"
if [ $status -eq 0 ] && "$to/autoresearch" --version | grep -q "$version" &&
    has "checksum ok (sha256sum)" && has "export PATH=\"$to:\$PATH\"" && empty_dir "$work/a/bin/.tmp"; then
    pass "latest release installs and runs; PATH line printed"
else fail "latest release installs and runs; PATH line printed"; fi
if [ "$(ls -A "$to")" = autoresearch ]; then pass "no temporary file left in --to"
else ls -A "$to" >"$work/out"; fail "no temporary file left in --to"; fi

# 2. Installed again: the same version is left alone; another one needs --force, and is
#    replaced with it (a named version this time).
install "$all_tools" "$base" --to "$to"
if [ $status -eq 0 ] && has "already installed"; then pass "the same version again: nothing to do"
else fail "the same version again: nothing to do"; fi
printf '#!/bin/sh\necho "autoresearch 0.0.1"\n' >"$to/autoresearch"
install "$all_tools" "$base" --to "$to"
if [ $status -ne 0 ] && has "already exists (autoresearch 0.0.1)" && has "--force" &&
    "$to/autoresearch" --version | grep -q "0.0.1"; then pass "another version in --to needs --force"
else fail "another version in --to needs --force"; fi
install "$all_tools" "$base" --to "$to" --version "$version" --force
if [ $status -eq 0 ] && "$to/autoresearch" --version >/dev/null; then pass "--version X --force replaces it"
else fail "--version X --force replaces it"; fi
install "$all_tools:$work/a2" "$base" --to "$work/a2" --version "v$version"
if [ $status -eq 0 ] && ! has "not on your PATH"; then pass "--version vX; no PATH advice when DIR is on PATH"
else fail "--version vX; no PATH advice when DIR is on PATH"; fi

# 3. One byte of the archive changed: refused, nothing installed.
install "$all_tools" "$base/corrupt" --to "$work/b/bin" --version "$version"
if [ $status -ne 0 ] && has "checksum mismatch" && empty_dir "$work/b/bin"; then
    pass "a corrupted archive installs nothing"
else fail "a corrupted archive installs nothing"; fi

# 4. Without sha256sum: shasum; without both: openssl; without any: fail closed.
install "$shasum_only" "$base" --to "$work/c/bin"
if [ $status -eq 0 ] && has "checksum ok (shasum)" && [ -x "$work/c/bin/autoresearch" ]; then
    pass "shasum is used when sha256sum is absent"
else fail "shasum is used when sha256sum is absent"; fi
install "$openssl_only" "$base" --to "$work/d/bin"
if [ $status -eq 0 ] && has "checksum ok (openssl)" && [ -x "$work/d/bin/autoresearch" ]; then
    pass "openssl is used when sha256sum and shasum are absent"
else fail "openssl is used when sha256sum and shasum are absent"; fi
install "$no_hasher" "$base" --to "$work/e/bin"
if [ $status -ne 0 ] && has "cannot verify" && empty_dir "$work/e/bin"; then
    pass "no checksum tool: fails closed, nothing installed"
else fail "no checksum tool: fails closed, nothing installed"; fi

# 5. A directory that cannot be written: a clear error, and sudo never called. (Root can write
#    into a mode-555 directory, so as root the directory is one that cannot be created.)
if [ "$(id -u)" = 0 ]; then
    touch "$work/a-file"
    locked="$work/a-file/bin"
else
    locked="$work/locked"
    mkdir -p "$locked"
    chmod 555 "$locked"
fi
install "$all_tools" "$base" --to "$locked"
if [ $status -ne 0 ] && has "never uses sudo" && [ ! -e "$work/sudo-was-called" ]; then
    pass "an unwritable --to fails without sudo"
else fail "an unwritable --to fails without sudo"; fi

# 6. An unknown machine: the error names --target; --target overrides detection.
fake_uname="$work/tools-uname"
mkdir -p "$fake_uname"
cat >"$fake_uname/uname" <<'SH'
#!/bin/sh
case "$1" in -s) echo Plan9 ;; *) echo mips ;; esac
SH
chmod 755 "$fake_uname/uname"
install "$fake_uname:$all_tools" "$base" --to "$work/f/bin"
if [ $status -ne 0 ] && has "Plan9 mips" && has "--target" && empty_dir "$work/f/bin"; then
    pass "an unknown uname fails naming --target"
else fail "an unknown uname fails naming --target"; fi
install "$fake_uname:$all_tools" "$base" --to "$work/f/bin" --target "$target"
if [ $status -eq 0 ] && [ -x "$work/f/bin/autoresearch" ]; then pass "--target overrides detection"
else fail "--target overrides detection"; fi
install "$all_tools" "$base" --to "$work/g/bin" --target riscv64gc-unknown-linux-musl
if [ $status -ne 0 ] && has "no build for riscv64gc-unknown-linux-musl" && has "$target"; then
    pass "a target without a build lists the ones there are"
else fail "a target without a build lists the ones there are"; fi

# 6b. A build that does not run here (a wrong --target) replaces nothing. The release is
#     faked: an archive named for another target whose "binary" cannot execute.
other=aarch64-apple-darwin
[ "$target" != "$other" ] || other=x86_64-unknown-linux-musl
fake="$work/fake/autoresearch-$version-$other"
mkdir -p "$fake" "$work/srv/wrong/download/v$version"
printf '\177ELF not a program\n' >"$fake/autoresearch"
chmod 755 "$fake/autoresearch"
(cd "$work/fake" && tar -czf "$work/srv/wrong/download/v$version/autoresearch-$version-$other.tar.gz" "autoresearch-$version-$other")
sh "$root/dist/pack.sh" sums "$work/srv/wrong/download/v$version" >/dev/null
install "$all_tools" "$base/wrong" --to "$to" --version "$version" --target "$other" --force
if [ $status -ne 0 ] && has "does not run on this machine" && "$to/autoresearch" --version >/dev/null &&
    [ "$(ls -A "$to")" = autoresearch ]; then
    pass "a build that does not run here replaces nothing"
else fail "a build that does not run here replaces nothing"; fi

# 6c. A relative --to: installed, and the PATH advice names the absolute directory.
cd "$work"
install "$all_tools" "$base" --to rel/bin
cd "$root"
if [ $status -eq 0 ] && [ -x "$work/rel/bin/autoresearch" ] && has "export PATH=\"$work/rel/bin:"; then
    pass "a relative --to is made absolute"
else fail "a relative --to is made absolute"; fi

# 7. Plain http is refused unless the host is a loopback address.
install "$all_tools" "http://example.com/releases" --to "$work/h/bin"
if [ $status -ne 0 ] && has "https://" && empty_dir "$work/h/bin"; then pass "plain http to another host is refused"
else fail "plain http to another host is refused"; fi

# 8. The script cut short anywhere does nothing: no install, no request to the server. Every
#    97th byte, and every byte of the last line (`{ ar_main "$@"; }`) but its newline.
size=$(wc -c <"$root/install.sh")
requests_before=$(grep -c '"GET ' "$work/server.log" || true)
cut_ok=yes
for cut in $(seq 1 97 $((size - 2))) $(seq $((size - 20)) $((size - 2))); do
    head -c "$cut" "$root/install.sh" >"$work/cut.sh"
    set +e
    env -i HOME="$work/home" PATH="$all_tools" AUTORESEARCH_INSTALL_BASE="$base" \
        dash "$work/cut.sh" --to "$work/i/bin" >"$work/out" 2>&1
    set -e
    if [ -e "$work/i/bin" ]; then echo "cut at byte $cut installed something" >>"$work/out"; cut_ok=no; break; fi
done
requests_after=$(grep -c '"GET ' "$work/server.log" || true)
if [ $cut_ok = yes ] && [ "$requests_before" = "$requests_after" ]; then pass "a truncated script does nothing"
else fail "a truncated script does nothing"; fi

# 9. The release's static-link check refuses a dynamic binary (this one, on Linux).
if [ "$(uname -s)" = Linux ]; then
    if ! sh "$root/dist/check-static.sh" "$binary" >"$work/out" 2>&1 && has "dynamically linked"; then
        pass "dist/check-static.sh refuses a dynamically linked binary"
    else fail "dist/check-static.sh refuses a dynamically linked binary"; fi
fi

# 10. The scripts are clean by shellcheck.
scripts=("$root/install.sh" "$root/dist/pack.sh" "$root/dist/check-static.sh" "$root/dist/test-install.sh")
if command -v shellcheck >/dev/null && shellcheck "${scripts[@]}" >"$work/out" 2>&1; then
    pass "shellcheck: install.sh and dist/*.sh"
else
    command -v shellcheck >/dev/null || echo "shellcheck is missing" >"$work/out"
    fail "shellcheck: install.sh and dist/*.sh"
fi

if [ $failures -ne 0 ]; then
    echo "test-install: $failures case(s) failed"
    exit 1
fi
echo "test-install: all cases passed"
