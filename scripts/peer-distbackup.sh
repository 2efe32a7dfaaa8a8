#!/usr/bin/env bash
# Placement against the peer distbackup, on its own dataset: three disks of 950 MB
# (decimal, as distbackup counts), each plugged once, then each plugged a second time.
# Prints bytes by copy count after each pass. distbackup's measured result for one
# pass (../shared/peers/distbackup/REPORT.md): 1.07 GB of 1.74 GB left with a single copy.
#
# Usage: scripts/peer-distbackup.sh [WORKDIR]   (default /tmp/dsbfs-peer)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/dsbfs-peer}
make_dataset="$here/../shared/peers/distbackup/make-dataset.sh"
[ -x "$make_dataset" ] || make_dataset="bash $make_dataset"
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
dsbfs="$here/target/release/dsbfs"

mkdir -p "$work"
[ -d "$work/dataset" ] || $make_dataset "$work/dataset" >/dev/null
rm -rf "$work/disks" "$work/catalog.db"*
export DSBFS_CATALOG="$work/catalog.db"
"$dsbfs" -q source add / "$work/dataset"
"$dsbfs" -q scan
for d in disk1 disk2 disk3; do "$dsbfs" -q disk add --create "$d" "$work/disks/$d" --size 950000000; done

report() {
    { "$dsbfs" status --json || true; } | python3 -c '
import json, sys
s = json.load(sys.stdin)["protection"]["by_copies"]
total = sum(b for _, b in s)
labels = ["0", "1", "2", "3+"]
parts = [f"{labels[i]} copies {b/1e9:.2f} GB ({n} files)" for i, (n, b) in enumerate(s)]
print(f"  {sys.argv[1]}: " + ", ".join(parts) + f"; total {total/1e9:.2f} GB")
' "$1"
}
for pass in 1 2; do
    for d in disk1 disk2 disk3; do "$dsbfs" -q backup "$d" || [ $? -eq 3 ]; done
    report "after pass $pass"
done
