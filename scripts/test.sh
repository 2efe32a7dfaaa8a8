#!/usr/bin/env bash
# The test command (README and CI): installs what a bare Debian machine lacks, then checks
# formatting, lints, and runs every test (unit, integration, and FUSE tests that mount for real).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v fusermount3 >/dev/null || need+=(fuse3)
command -v rsync >/dev/null || need+=(rsync)
command -v getfattr >/dev/null || need+=(attr)
command -v mandoc >/dev/null || need+=(mandoc)
command -v setpriv >/dev/null || need+=(util-linux)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v chromium >/dev/null || need+=(chromium)  # loads the HTML report (tests/report.rs)
if ((${#need[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
        exit 1
    fi
    echo "test.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { echo "test.sh: /dev/fuse is missing: this machine cannot mount FUSE filesystems" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
