#!/usr/bin/env bash
# Builds the linux/arm64 release archive with `make release`, in a temporary
# directory, and checks what a user downloading it gets: the promu layout
# (imichat_exporter-VERSION.linux-arm64/ holding the binary, LICENSE and
# README.md), a checksum that verifies, and a static arm64 Linux binary
# stamped with its version. No `file` or emulator needed: the ELF header is
# read with od, the build settings with `go version -m`, and the stamp from
# the binary's bytes (-trimpath keeps -ldflags out of the build settings).
# Usage: scripts/release_test.sh   (run by `make test` as release-test)
set -euo pipefail
cd "$(dirname "$0")/.."

make="${MAKE:-make}"
go="${GO:-go}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "release_test: $*" >&2
	exit 1
}

version="0.0.0-releasetest"
user="release-test@$(hostname)"
date="20000102-03:04:05"
rev="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
"$make" --no-print-directory release PLATFORMS=linux/arm64 VERSION="$version" \
	BUILD_USER="$user" BUILD_DATE="$date" BUILD_DIR="$tmp/build" TARBALLS="$tmp/tarballs"

name="imichat_exporter-$version.linux-arm64"
archive="$tmp/tarballs/$name.tar.gz"
[ -f "$archive" ] || fail "no $archive; made: $(ls "$tmp/tarballs")"

# The checksums cover exactly the archive, and verify.
[ "$(awk '{print $2}' "$tmp/tarballs/sha256sums.txt")" = "$name.tar.gz" ] ||
	fail "sha256sums.txt: $(cat "$tmp/tarballs/sha256sums.txt")"
(cd "$tmp/tarballs" && sha256sum --quiet -c sha256sums.txt) || fail "checksum mismatch"

# Exactly the promu layout, the binary executable.
listing="$(tar -tzf "$archive" | sort)"
want="$(printf '%s\n' "$name/" "$name/LICENSE" "$name/README.md" "$name/imichat_exporter" | sort)"
[ "$listing" = "$want" ] || fail "archive holds:
$listing
want:
$want"
tar -tvzf "$archive" "$name/imichat_exporter" | grep -q '^-rwxr-xr-x' || fail "the binary is not executable"

mkdir "$tmp/unpacked"
tar -xzf "$archive" -C "$tmp/unpacked"
bin="$tmp/unpacked/$name/imichat_exporter"
cmp -s "$bin" "$tmp/build/linux-arm64/imichat_exporter" || fail "the archived binary is not the one built"
cmp -s "$tmp/unpacked/$name/LICENSE" LICENSE || fail "LICENSE differs"

# ELF header: magic, 64-bit, little-endian, e_machine 0xb7 (EM_AARCH64).
header="$(od -An -tx1 -N20 "$bin" | tr -d ' \n')"
[ "${header:0:8}" = 7f454c46 ] || fail "not an ELF file: $header"
[ "${header:8:4}" = 0201 ] || fail "not a 64-bit little-endian ELF file: $header"
[ "${header:36:4}" = b700 ] || fail "ELF machine ${header:36:4}, want b700 (aarch64)"

# Build settings: this module's main package for linux/arm64, static.
info="$("$go" version -m "$bin")"
for want in \
	$'\tpath\tgithub.com/imichat-exporter/imichat_exporter' \
	$'\tbuild\tGOOS=linux' \
	$'\tbuild\tGOARCH=arm64' \
	$'\tbuild\tCGO_ENABLED=0'; do
	grep -qxF -- "$want" <<<"$info" || fail "go version -m lacks${want//$'\t'/ }:
$info"
done
# The version stamp: each -X value is in the binary.
for want in "$version" "$rev" "$user" "$date"; do
	grep -aqF -- "$want" "$bin" || fail "the binary lacks its stamp $want"
done
echo "release_test: $name.tar.gz ($(stat -c %s "$archive") bytes): layout, checksum, linux/arm64 ELF, version stamp: ok"
