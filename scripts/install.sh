#!/usr/bin/env bash
# Builds dsbfs in release mode and installs it with its mount helper (mount.dsbfs, where
# mount(8) looks for it), man pages and shell completions. Installs fuse3 if it is missing.
#
# Usage: sudo scripts/install.sh            (PREFIX=/usr/local, SBIN=/sbin)
#        PREFIX=/opt/dsbfs DESTDIR=/tmp/pkg scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
SBIN=${SBIN:-/sbin}
DESTDIR=${DESTDIR:-}

if ! command -v fusermount3 >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null
    else
        echo "install.sh: fuse3 is missing; install it (apt-get install fuse3) to mount backups" >&2
    fi
fi

cargo build --release --locked
bin="$DESTDIR$PREFIX/bin"
install -d "$bin" "$DESTDIR$SBIN" "$DESTDIR$PREFIX/share/man/man1" "$DESTDIR$PREFIX/share/man/man8" \
    "$DESTDIR$PREFIX/share/bash-completion/completions" "$DESTDIR$PREFIX/share/zsh/site-functions" \
    "$DESTDIR$PREFIX/share/fish/vendor_completions.d"
install -m 755 target/release/dsbfs "$bin/dsbfs"
# mount -t dsbfs runs /sbin/mount.dsbfs; dsbfs acts as the helper when called by that name.
ln -sf "$PREFIX/bin/dsbfs" "$DESTDIR$SBIN/mount.dsbfs"
install -m 644 man/dsbfs.1 "$DESTDIR$PREFIX/share/man/man1/dsbfs.1"
install -m 644 man/mount.dsbfs.8 "$DESTDIR$PREFIX/share/man/man8/mount.dsbfs.8"
target/release/dsbfs completions bash > "$DESTDIR$PREFIX/share/bash-completion/completions/dsbfs"
target/release/dsbfs completions zsh > "$DESTDIR$PREFIX/share/zsh/site-functions/_dsbfs"
target/release/dsbfs completions fish > "$DESTDIR$PREFIX/share/fish/vendor_completions.d/dsbfs.fish"
command -v mandb >/dev/null && [ -z "$DESTDIR" ] && mandb -q 2>/dev/null || true
echo "installed dsbfs in $bin, mount.dsbfs in $SBIN, man pages and completions under $PREFIX/share"
echo "systemd units for dsbfs watch: scripts/dsbfs-watch.service (system), scripts/dsbfs-watch-user.service (user)"
