#!/usr/bin/env python3
"""Deterministic benchmark tree for scripts/bench.sh: a photo/document archive.

Usage: bench-tree.py OUTDIR [--small N] [--large N] [--large-mib M] [--seed S]
                     [--layout archive|grid]

With --layout archive (the default) it writes into OUTDIR (created; must not exist
or be empty):
  photos/YYYY/YYYY-MM-DD <event>/IMG_NNNN.JPG      ~55 % of the small files
  documents/<area>/<year>/<name>.pdf|.docx|...      ~25 %
  music/<artist>/<year> - <album>/NN - Track.mp3    ~15 %
  projects/<name>/src/.../*.c|*.h|*.md (deeper)     ~5 %
  videos/clipNN.mp4                                 the --large files
Small files are 0..64 KiB (uniform, ~1 % empty); ~1 % of them repeat the content
of an earlier file (the same photo in two albums). Each leaf folder holds 1..~150
files. Large files hold AES-128-CTR keystream (incompressible, not sparse),
produced by `openssl enc`. Modes are 0644/0755; mtimes are fixed by the seed.

With --layout grid it writes the shape of the FUSE anchors' tree (shared/peers/
fuse-anchors, where restic and borg mounts were measured): dNN/dNN/dNN/fNNN.dat,
10 x 10 x 10 leaf folders of --small / 1000 files each (0..16 KiB, uniform), and
the --large files as large/large-N.bin. Each top folder holds a tenth of the files.

Same arguments => the same paths, bytes and mtimes (decisions come from a
SplitMix64 generator, small-file bytes from a SHAKE-128 pool: nothing depends on
Python's `random`). On success prints one line of key=value totals (files,
nonempty, bytes, dirs) that bench.sh keeps in its cache stamp.
"""
import argparse
import hashlib
import os
import subprocess
import sys

MASK = (1 << 64) - 1
BASE_S = 1_262_304_000  # 2010-01-01T00:00:00Z
POOL_SIZE = 8 << 20
MAX_SMALL = 64 << 10
GRID_MAX_SMALL = 16 << 10


class Rng:
    """SplitMix64: tiny, fast enough, and the same everywhere."""

    def __init__(self, seed):
        self.s = seed & MASK

    def u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.u64() % n

    def pick(self, seq):
        return seq[self.below(len(seq))]


EVENTS = ["Birthday", "Holidays", "Beach", "Hiking", "Wedding", "Christmas", "Garden",
          "Zoo", "School", "Paris", "Mountains", "Family", "Concert", "Snow", "Lake"]
AREAS = ["Taxes", "Bank", "Insurance", "Health", "Car", "House", "Work", "School",
         "Letters", "Manuals", "Receipts", "Contracts"]
DOC_WORDS = ["statement", "invoice", "letter", "report", "scan", "notes", "form",
             "receipt", "contract", "summary", "minutes", "draft", "final", "copy"]
DOC_EXTS = [".pdf", ".pdf", ".pdf", ".docx", ".xlsx", ".txt", ".odt", ".png"]
ARTISTS = ["The Blue Notes", "Kraftwerk Tribute", "Anna K", "Los Caminos", "Nordlys",
           "Café Society", "DJ Ö", "Miles Ahead", "Tape Loop", "Orchestra 9"]
CODE_EXTS = [".c", ".h", ".py", ".rs", ".md", ".json", ".txt", ".o"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--small", type=int, default=100_000, help="number of small files")
    ap.add_argument("--large", type=int, default=4, help="number of large files")
    ap.add_argument("--large-mib", type=int, default=256, help="size of each large file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layout", choices=["archive", "grid"], default="archive")
    a = ap.parse_args()

    root = os.path.abspath(a.outdir)
    os.makedirs(root, exist_ok=True)
    if os.listdir(root):
        sys.exit(f"bench-tree.py: {root} is not empty")
    os.umask(0o022)
    rng = Rng(a.seed)
    pool = hashlib.shake_128(b"dsbfs-bench-pool-%d" % a.seed).digest(POOL_SIZE + MAX_SMALL)

    files = nonempty = total = 0
    dirs = set()
    dir_mtimes = {}
    written = []  # (path, size, header) of earlier files, for duplicates

    def put(rel, size, mtime, header, mode=0o644):
        nonlocal files, nonempty, total
        path = os.path.join(root, rel)
        d = os.path.dirname(path)
        if d not in dirs:
            os.makedirs(d, exist_ok=True)
            dirs.add(d)
        with open(path, "wb") as f:
            if size:
                # A unique 32-byte header, then a slice of the pool: distinct contents, fast.
                off = (header[0] | header[1] << 8 | header[2] << 16) % POOL_SIZE
                f.write((header + pool[off:off + size])[:size])
        if mode != 0o644:
            os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))
        dir_mtimes[d] = max(dir_mtimes.get(d, 0), mtime)
        files += 1
        nonempty += size > 0
        total += size
        written.append((rel, size, header, mtime))

    def small_size():
        return 0 if rng.below(100) == 0 else 1 + rng.below(MAX_SMALL)

    n = 0

    def emit(rel, mtime, mode=0o644):
        nonlocal n
        if written and rng.below(100) == 0:  # same content as an earlier file
            _, size, header, _ = written[rng.below(len(written))]
        else:
            size = small_size()
            header = hashlib.sha256(b"%d/%d" % (a.seed, n)).digest()
        put(rel, size, mtime, header, mode)
        n += 1

    if a.layout == "grid":
        per_leaf = -(-a.small // 1000)
        while n < a.small:
            leaf, i = divmod(n, per_leaf)
            size = rng.below(GRID_MAX_SMALL + 1)
            header = hashlib.sha256(b"%d/%d" % (a.seed, n)).digest()
            rel = "d%02d/d%02d/d%02d/f%03d.dat" % (leaf // 100, leaf // 10 % 10, leaf % 10, i)
            put(rel, size, header=header, mtime=(BASE_S + n) * 10**9)
            n += 1

    folder = 0
    photo_folders = set()
    while a.layout == "archive" and n < a.small:
        folder += 1
        left = a.small - n
        count = min(left, 1 + rng.below(40) + (rng.below(110) if rng.below(3) == 0 else 0))
        kind = rng.below(100)
        year = 2010 + rng.below(15)
        day = BASE_S + (year - 2010) * 365 * 86400 + rng.below(365) * 86400
        if kind < 55:
            date = "%04d-%02d-%02d" % (year, 1 + rng.below(12), 1 + rng.below(28))
            folder_rel = f"photos/{year}/{date} {rng.pick(EVENTS)}"
            if folder_rel in photo_folders:  # the same day and event twice: a 2nd folder
                folder_rel += f" {folder}"
            photo_folders.add(folder_rel)
            first = rng.below(9000)
            for i in range(count):
                ext = ".JPG" if rng.below(10) else rng.pick([".MOV", ".PNG", ".HEIC"])
                emit(f"{folder_rel}/IMG_{first + i:04d}{ext}",
                     (day + i * 37) * 10**9 + rng.below(10**9))
        elif kind < 80:
            folder_rel = f"documents/{rng.pick(AREAS)}/{year}"
            if rng.below(4) == 0:
                folder_rel += f"/{rng.pick(DOC_WORDS)}s"
            for i in range(count):
                name = f"{rng.pick(DOC_WORDS)}-{year}-{folder:05d}-{i:03d}{rng.pick(DOC_EXTS)}"
                emit(f"{folder_rel}/{name}", (day + rng.below(86400 * 30)) * 10**9)
        elif kind < 95:
            folder_rel = f"music/{rng.pick(ARTISTS)}/{year} - Album {folder:05d}"
            for i in range(min(count, 24)):
                emit(f"{folder_rel}/{i + 1:02d} - Track {i + 1}.mp3", day * 10**9)
            if count > 24:
                emit(f"{folder_rel}/cover.jpg", day * 10**9)
        else:
            folder_rel = f"projects/proj{folder:05d}"
            for i in range(count):
                depth = rng.below(5)
                sub = "/".join(f"m{rng.below(4)}" for _ in range(depth))
                rel = f"{folder_rel}/src/{sub}/f{i:04d}{rng.pick(CODE_EXTS)}".replace("//", "/")
                emit(rel, (day + i) * 10**9, 0o755 if rng.below(20) == 0 else 0o644)

    # Large files: AES-128-CTR keystream, deterministic (fixed key and IV, no salt).
    for k in range(a.large):
        rel = f"videos/clip{k:02d}.mp4" if a.layout == "archive" else f"large/large-{k}.bin"
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        dirs.add(os.path.dirname(path))
        key = hashlib.sha256(b"large-%d-%d" % (a.seed, k)).hexdigest()[:32]
        size = a.large_mib << 20
        with open(path, "wb") as out:
            enc = subprocess.Popen(
                ["openssl", "enc", "-aes-128-ctr", "-nosalt", "-K", key, "-iv", "0" * 32,
                 "-in", "/dev/zero"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            left = size
            while left:
                chunk = enc.stdout.read(min(left, 8 << 20))
                if not chunk:
                    sys.exit("bench-tree.py: openssl enc stopped early")
                out.write(chunk)
                left -= len(chunk)
            enc.kill()
            enc.wait()
        t = (BASE_S + 86400 * (1000 + k)) * 10**9
        os.utime(path, ns=(t, t))
        dir_mtimes[os.path.dirname(path)] = t
        files += 1
        nonempty += size > 0
        total += size

    # Folder mtimes last (writing files moved them), deepest first.
    for d in sorted(dirs | {p for d in dirs for p in parents(d, root)}, key=len, reverse=True):
        t = dir_mtimes.get(d, BASE_S * 10**9)
        os.utime(d, ns=(t, t))
        parent = os.path.dirname(d)
        if parent.startswith(root):
            dir_mtimes[parent] = max(dir_mtimes.get(parent, 0), t)
    t = dir_mtimes.get(root, BASE_S * 10**9)
    os.utime(root, ns=(t, t))
    all_dirs = sum(len(ds) for _, ds, _ in os.walk(root)) + 1
    print(f"files={files} nonempty={nonempty} bytes={total} dirs={all_dirs}")


def parents(d, root):
    while True:
        d = os.path.dirname(d)
        if len(d) <= len(root):
            return
        yield d


if __name__ == "__main__":
    main()
