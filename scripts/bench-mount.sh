#!/usr/bin/env bash
# bench-mount.sh — the mount benchmark, which is the `mount` section of scripts/bench.sh:
# a fresh `dsbfs mount` of a grid tree (the fuse-anchors layout) against the native tree,
# both cold (on a loop-mounted image attached anew before each first run), in one run
# (find, ls -lR with and without xattrs, du -sb, stat of 1000 random paths, rsync -a of
# 10,000 files to a tmpfs, dd of a --big-mib file first and re-read, with passthrough and
# with -o nopassthrough, and the daemon's peak RSS), with the results table in
# WORK/results.md. It takes bench.sh's options, e.g.
#   scripts/bench-mount.sh --small 5000 --runs 1 --big-mib 256
# `scripts/bench.sh` with no arguments runs this section along with all the others.
exec "$(dirname "${BASH_SOURCE[0]}")/bench.sh" --only mount "$@"
