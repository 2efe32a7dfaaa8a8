#!/usr/bin/env bash
# bench-context.sh — size and write time of the restore context at a large tree.
#
# Usage: scripts/bench-context.sh [--files N] [--work DIR] [--dsbfs PATH]
#
# Makes a catalog of N files (default 1000000; 1000 folders of N/1000) without touching
# a real tree: a generated context is imported, then every object is recorded on a
# disk. Then times what a backup adds at its end for that disk: the restore context
# (`dsbfs context export --disk`, the code the backup runs: the catalog's tree in path
# order, formatted, written, flushed, renamed) and, for comparison, the catalog copy
# (VACUUM INTO). Prints sizes and times, and what gzip (-1, -6) and zstd (-3) would make
# of the context.
set -euo pipefail
files=1000000
work=/tmp/dsbfs-bench-context
dsbfs=
while (($#)); do
    case $1 in
        --files) files=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --dsbfs) dsbfs=$2; shift 2 ;;
        *) echo "bench-context.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
if [ -z "$dsbfs" ]; then
    cargo build --release --quiet
    dsbfs=$PWD/target/release/dsbfs
fi
rm -rf "$work"
mkdir -p "$work"
export DSBFS_CATALOG=$work/catalog.db
secs() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# Folders like /photos/2014/2014-07-12 Holiday 123, files like IMG_012345.JPG: 60-70
# bytes a path, as in a real archive; random SHA-256s (incompressible, as real ones are).
awk -v files="$files" 'BEGIN {
    srand(1); OFS = "\t"
    print "#format\t1"
    print "d", "0755", 1000, 1000, "1500000000.000000000", 0, "-", "-", "-", "-", "/"
    print "d", "0755", 1000, 1000, "1500000000.000000000", 0, "-", "-", "-", "-", "/photos"
    per = int(files / 1000)
    for (d = 0; d < 1000; d++) {
        year = 2000 + int(d / 50)
        if (d % 50 == 0)
            print "d", "0755", 1000, 1000, "1500000000.000000000", 0, "-", "-", "-", "-", "/photos/" year
        dir = sprintf("/photos/%d/%d-%02d-%02d Holiday %d", year, year, d % 12 + 1, d % 28 + 1, d)
        print "d", "0755", 1000, 1000, "1500000000.000000000", 0, "-", "-", "-", "-", dir
        for (f = 0; f < per; f++) {
            h = ""
            for (k = 0; k < 8; k++) h = h sprintf("%08x", int(rand() * 4294967296))
            print "f", "0644", 1000, 1000, sprintf("%d.%09d", 1400000000 + d * 86400 + f, f * 7919),
                1000000 + int(rand() * 5000000), h, "-", "-", "-", sprintf("%s/IMG_%06d.JPG", dir, f)
        }
    }
}' > "$work/generated.tsv"
t0=$(date +%s%N)
"$dsbfs" -q context import "$work/generated.tsv"
echo "import of $files files: $(secs "$t0") s"
mkdir -p "$work/disk"
"$dsbfs" -q disk add --create fake "$work/disk"
sqlite3 "$DSBFS_CATALOG" "INSERT INTO copies(object, disk) SELECT id, (SELECT id FROM disks) FROM objects;"

sync
t0=$(date +%s%N)
"$dsbfs" -q context export --disk fake "$work/context.tsv"
echo "restore context: $(secs "$t0") s, $(stat -c %s "$work/context.tsv") bytes, $(grep -c . "$work/context.tsv") lines"
sync
t0=$(date +%s%N)
sqlite3 "$DSBFS_CATALOG" "VACUUM INTO '$work/catalog-copy.db'"
sync -f "$work/catalog-copy.db"
echo "catalog copy (VACUUM INTO + sync): $(secs "$t0") s, $(stat -c %s "$work/catalog-copy.db") bytes"
for z in "gzip -1" "gzip -6" "zstd -3 -q"; do
    t0=$(date +%s%N)
    $z -c "$work/context.tsv" > "$work/context.z"
    echo "$z: $(secs "$t0") s more, $(stat -c %s "$work/context.z") bytes"
done
t0=$(date +%s%N)
grep -c 'Holiday 500/' "$work/context.tsv" > /dev/null
echo "grep through the plain context: $(secs "$t0") s"
rm -rf "$work"
