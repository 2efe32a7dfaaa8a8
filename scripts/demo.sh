#!/usr/bin/env bash
# The demo: builds dsbfs, makes a small sample tree, backs it up to two folder-disks,
# mounts the backup, and shows what a user sees — including a file whose only disk is
# in the drawer ("No medium found", and the log names the disk to plug in).
# Runs unattended on a fresh Debian machine (as root it installs fuse3 if missing) and
# cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v fusermount3 >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null
    else
        echo "demo: fuse3 is missing: run as root, or apt-get install fuse3 first" >&2
        exit 1
    fi
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

step "Building dsbfs (release)"
cargo build --release --quiet
dsbfs="$PWD/target/release/dsbfs"
dsbfs() { "$dsbfs" "$@"; }

work=$(mktemp -d /tmp/dsbfs-demo.XXXXXX)
mnt="$work/mnt"
cleanup() {
    if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; fi
    rm -rf "$work"
}
trap cleanup EXIT
export DSBFS_CATALOG="$work/catalog.db"
home="$work/home"

step "A sample archive in $home"
mkdir -p "$home"/{photos/2023,photos/2024,documents,videos,"empty folder"}
for i in $(seq -w 1 12); do
    head -c $((40000 + 10#$i * 7000)) /dev/urandom > "$home/photos/2023/IMG_20$i.jpg"
    head -c $((30000 + 10#$i * 5000)) /dev/urandom > "$home/photos/2024/IMG_30$i.jpg"
done
printf 'Dear family,\nthe photos are safe.\n' > "$home/documents/letter.txt"
printf 'names with odd bytes survive too\n' > "$home/documents/$(printf 'caf\xe9 menu.txt')"
head -c 3000000 /dev/urandom > "$home/videos/holiday.mp4"
ln -s ../documents/letter.txt "$home/photos/README-link"
show find "$home" -maxdepth 2

step "Map it into the backup tree and scan it"
show dsbfs source add / "$home"
show dsbfs source set /videos --copies 1
show dsbfs scan

step "Two backup disks (folders here; normally folders on USB drives)"
show dsbfs disk add red "$work/disks/red" --size 6M --create
show dsbfs disk add blue "$work/disks/blue" --size 6M --create
show dsbfs backup red
show dsbfs backup blue
show dsbfs status || true

step "Which disks hold a file?"
show dsbfs where /videos/holiday.mp4 /documents/letter.txt

step "Mount the backup as a read-only filesystem"
mkdir -p "$mnt"
show dsbfs mount "$mnt" -o xattr,log="$work/mount.log"
show ls -la "$mnt" "$mnt/documents"
show cat "$mnt/documents/letter.txt"
show getfattr -n user.dsbfs.disks "$mnt/photos/2023/IMG_2001.jpg" 2>/dev/null || true

step "Disk red goes back in the drawer"
mv "$work/disks/red" "$work/drawer-red"
printf '\033[2m$ cp %s /tmp\033[0m\n' "$mnt/videos/holiday.mp4"
if cp "$mnt/videos/holiday.mp4" "$work/copy.mp4"; then
    echo "demo: expected the copy to fail while disk red is in the drawer" >&2
    exit 1
fi
echo "(the mount's log says which disk to plug in:)"
grep -i "plug" "$work/mount.log" | tail -n 1
echo "(files on disk blue still read fine:)"
show cmp "$mnt/documents/letter.txt" "$home/documents/letter.txt"

step "Plug disk red back in: readable again, without remounting"
mv "$work/drawer-red" "$work/disks/red"
show cmp "$mnt/videos/holiday.mp4" "$home/videos/holiday.mp4"
echo "identical"

step "Unmount"
show fusermount3 -u "$mnt"
echo
echo "Done. Everything the demo made was in $work and has been removed."
