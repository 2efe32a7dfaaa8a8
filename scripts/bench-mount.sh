#!/usr/bin/env bash
# bench-mount.sh — time a dsbfs mount against the native source tree, in the same run.
#
# Usage:
#   scripts/bench-mount.sh [options]
# Options:
#   --catalog PATH   an existing catalog whose last scan is backed up on connected disks
#   --src DIR        the folder mapped to / in that catalog (the native tree to compare with)
#                    Without --catalog/--src a tree is generated, scanned and backed up:
#   --files N        generated small files (default 20000, 0-16 KiB, 100 per folder)
#   --big-mib N      size of the generated big file for dd (default 1024)
#   --work DIR       scratch folder (default /tmp/dsbfs-bench); generated data is kept
#                    there between runs and reused when the parameters match
#   --runs N         warm repeats per step (default 2; "warm" is their median)
#   --dsbfs PATH     the binary (default: target/release/dsbfs, built if missing)
# Needs root for dropping caches (cold numbers), a tmpfs rsync destination, and
# passthrough; without root, "cold" numbers are only as cold as the page cache allows.
#
# Output: one tab-separated line per number, `TREE STEP VALUE UNIT NOTE`, where TREE is
# native, dsbfs (passthrough where the kernel allows it) or dsbfs-plain (-o nopassthrough),
# then a summary table. Seconds are wall time; MB/s is 10^6 bytes/s as dd prints it.
#
# Steps: find (first after a fresh mount with caches dropped, then warm), ls -lR (also
# with -o xattr vs -o noxattr, which decides the xattr default), du -sb, stat of 1000
# random paths on a fresh mount, rsync -a of up to 10,000 files to a tmpfs, dd of the big
# file (first read with caches dropped, then re-read), and the daemon's peak RSS (VmHWM).
set -euo pipefail

CATALOG= SRC= FILES=20000 BIG_MIB=1024 WORK=/tmp/dsbfs-bench RUNS=2 DSBFS=
die() { echo "bench-mount: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --catalog) CATALOG=$2; shift 2 ;;
    --src) SRC=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --dsbfs) DSBFS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
cd "$(dirname "$0")/.."
if [ -z "$DSBFS" ]; then
  DSBFS=${CARGO_TARGET_DIR:-target}/release/dsbfs
  [ -x "$DSBFS" ] || cargo build --release --quiet
fi
[ -x "$DSBFS" ] || die "no dsbfs binary at $DSBFS"
DSBFS=$(readlink -f "$DSBFS")
for c in find ls du dd rsync python3; do command -v "$c" >/dev/null || die "missing $c"; done
ROOT=0; [ "$(id -u)" = 0 ] && ROOT=1
mkdir -p "$WORK"
WORK=$(readlink -f "$WORK")

# --- the data ---------------------------------------------------------------------------
if [ -z "$CATALOG" ]; then
  SRC=$WORK/src CATALOG=$WORK/catalog.db
  STAMP="files=$FILES big=$BIG_MIB"
  if [ "$(cat "$WORK/stamp" 2>/dev/null)" != "$STAMP" ]; then
    echo "bench-mount: generating $FILES files and a $BIG_MIB MiB file in $SRC" >&2
    rm -rf "$SRC" "$WORK/d1" "$CATALOG"* "$WORK/stamp"
    python3 - "$SRC" "$FILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(20240101)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i // 10000), "d%02d" % (i // 100 % 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%03d.dat" % (i % 100))
    with open(p, "wb") as f:
        f.write(rnd.randbytes(rnd.randint(0, 16384)))
    t = 1704067200 + i
    os.utime(p, (t, t))
EOF
    mkdir -p "$SRC/large"
    head -c "$((BIG_MIB << 20))" /dev/urandom > "$SRC/large/big.bin"
    export DSBFS_CATALOG=$CATALOG
    "$DSBFS" -q source add / "$SRC"
    "$DSBFS" -q scan
    "$DSBFS" -q disk add d1 "$WORK/d1"
    "$DSBFS" -q backup d1
    echo "$STAMP" > "$WORK/stamp"
  fi
fi
[ -n "$SRC" ] && [ -d "$SRC" ] || die "give --src DIR: the folder mapped to / in the catalog"
[ -f "$CATALOG" ] || die "no catalog at $CATALOG"
CATALOG=$(readlink -f "$CATALOG") SRC=$(readlink -f "$SRC")
export DSBFS_CATALOG=$CATALOG

MNT=$WORK/mnt DEST=$WORK/rsync-dest
mkdir -p "$MNT" "$DEST"
PID=
TMPFS=0
cleanup() {
  if mountpoint -q "$MNT"; then fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; fi
  if [ "$TMPFS" = 1 ]; then umount -l "$DEST" 2>/dev/null || true; fi
}
trap cleanup EXIT
if [ "$ROOT" = 1 ] && ! mountpoint -q "$DEST"; then
  mount -t tmpfs -o size=4g tmpfs "$DEST" && TMPFS=1
fi

now() { echo "$EPOCHREALTIME"; }
elapsed() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
out() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" | tee -a "$WORK/results.tsv"; }
drop() { [ "$ROOT" = 1 ] && { sync; echo 3 > /proc/sys/vm/drop_caches; } || true; }
timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>>"$WORK/errors.log"; t1=$(now); elapsed "$t0" "$t1"; }

do_mount() {  # options...
  unmount_it
  drop
  local err
  err=$("$DSBFS" -v mount "$CATALOG" "$MNT" -o "log=$WORK/mount.log${1:+,$1}" 2>&1) || die "mount failed: $err"
  PID=$(sed -n 's/.*(pid \([0-9]*\),.*/\1/p' <<<"$err")
}
unmount_it() {
  if mountpoint -q "$MNT"; then
    fusermount3 -u "$MNT"
    while [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
  fi
  PID=
}
hwm() { [ -n "$PID" ] && awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$PID/status" || echo NA; }

# step LABEL NAME CMD...: first run, then RUNS warm runs.
step() {
  local label=$1 name=$2; shift 2
  local first vals=() i
  first=$(timed "$@")
  for ((i = 0; i < RUNS; i++)); do vals+=("$(timed "$@")"); done
  out "$label" "$name.first" "$first" s ""
  out "$label" "$name.warm" "$(median "${vals[@]}")" s "runs: ${vals[*]}"
}

# Paths for rsync and stat, relative to the tree root.
LIST=$WORK/files.list
(cd "$SRC" && find . -type f ! -path ./large/big.bin | sed 's|^\./||' | sort) > "$LIST"
NFILES=$(wc -l < "$LIST")
python3 -c 'import random,sys; l=open(sys.argv[1]).read().split("\n")[:-1]; random.Random(1).shuffle(l); print("\n".join(l[:1000]))' "$LIST" > "$WORK/stat.list"
head -n 10000 "$LIST" > "$WORK/rsync.list"
NRSYNC=$(wc -l < "$WORK/rsync.list")
BIG=$(cd "$SRC" && find . -type f -size +100M -print -quit | sed 's|^\./||')
statpaths() { python3 - "$1" "$WORK/stat.list" <<'EOF'
import os, sys, time
root, lst = sys.argv[1], open(sys.argv[2]).read().split("\n")
t = time.perf_counter()
for p in lst:
    if p: os.stat(os.path.join(root, p))
print("%.1f" % ((time.perf_counter() - t) * 1000))
EOF
}
rsync_once() { rm -rf "$DEST/copy"; rsync -a --files-from="$WORK/rsync.list" "$1/" "$DEST/copy/"; }
ddread() {  # file -> MB/s
  local t0 t1 bytes
  bytes=$(stat -c %s "$1")
  t0=$(now); dd if="$1" of=/dev/null bs=1M status=none; t1=$(now)
  python3 -c 'import sys; print("%.0f" % (int(sys.argv[1]) / 1e6 / (float(sys.argv[3]) - float(sys.argv[2]))))' "$bytes" "$t0" "$t1"
}

: > "$WORK/results.tsv"
echo "bench-mount: $NFILES files (+ ${BIG:-no big file}), rsync of $NRSYNC, runs=$RUNS, root=$ROOT" >&2

walk() {  # LABEL TREE: find, ls -lR, du, rsync
  local label=$1 tree=$2
  step "$label" find bash -c 'find "$1" -type f | wc -l' _ "$tree"
  step "$label" ls_lR ls -lR "$tree"
  step "$label" du_sb du -sb "$tree"
  step "$label" rsync rsync_once "$tree"
}

# Native tree.
drop
walk native "$SRC"
drop
out native stat1000.cold "$(statpaths "$SRC")" ms ""
if [ -n "$BIG" ]; then
  drop; out native dd.first "$(ddread "$SRC/$BIG")" MB/s ""
  out native dd.reread "$(ddread "$SRC/$BIG")" MB/s ""
fi

# The mount (default options: passthrough where possible, xattrs served).
do_mount ""
out dsbfs rss.mounted "$(hwm)" MB "VmHWM right after mount"
walk dsbfs "$MNT"
do_mount ""
out dsbfs stat1000.cold "$(statpaths "$MNT")" ms "fresh mount, caches dropped"
out dsbfs stat1000.warm "$(statpaths "$MNT")" ms ""
if [ -n "$BIG" ]; then
  drop; out dsbfs dd.first "$(ddread "$MNT/$BIG")" MB/s "passthrough if root"
  out dsbfs dd.reread "$(ddread "$MNT/$BIG")" MB/s ""
fi
out dsbfs rss.peak "$(hwm)" MB "VmHWM"
do_mount "nopassthrough"
if [ -n "$BIG" ]; then
  drop; out dsbfs-plain dd.first "$(ddread "$MNT/$BIG")" MB/s "through the daemon"
  out dsbfs-plain dd.reread "$(ddread "$MNT/$BIG")" MB/s "page cache (FOPEN_KEEP_CACHE)"
fi
step dsbfs-plain rsync rsync_once "$MNT"
out dsbfs-plain rss.peak "$(hwm)" MB "VmHWM"

# xattr default: ls -lR answers 2 getxattr per file when xattrs are served.
for x in xattr noxattr; do
  do_mount "$x"
  step "dsbfs-$x" ls_lR ls -lR "$MNT"
done
unmount_it

[ -s "$WORK/errors.log" ] && echo "bench-mount: tools wrote errors, see $WORK/errors.log" >&2
echo >&2
python3 - "$WORK/results.tsv" <<'EOF' >&2
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
table = collections.OrderedDict()
labels = []
for label, name, value, unit, _ in rows:
    table.setdefault((name, unit), {})[label] = value
    if label not in labels: labels.append(label)
print("%-16s %-6s" % ("step", "unit") + "".join("%14s" % l for l in labels))
for (name, unit), vals in table.items():
    print("%-16s %-6s" % (name, unit) + "".join("%14s" % vals.get(l, "") for l in labels))
EOF
