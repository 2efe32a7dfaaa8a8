#!/usr/bin/env bash
# bench-watch.sh — the `watch` section of scripts/bench.sh: `dsbfs watch` over a grid tree
# of --small files (bench-tree.py --layout grid, cached in WORK) with one connected
# folder-disk, everything backed up before it starts.
#   a. idle: CPU (user + system, of one core) and RSS of the daemon over --watch-idle
#      seconds (default 120) with nothing changing, after its start-up scan and backup;
#      goals < 1 % of a core and < 60 MB. The full rescan every 10 minutes does not fall
#      in that window: its CPU time (a `dsbfs scan` of the same tree with nothing changed)
#      is measured apart and added, spread over its 10 minutes, in the row's note.
#   b. latency: 20 changes (10 new files, 10 rewrites), one at a time; the time from the
#      write to the object's arrival on the disk (polled every 20 ms), median, beside the
#      debounce time (2 s, the default); goal ≤ 10 s.
#   c. SIGTERM: how long the daemon takes to exit.
# Run alone: scripts/bench-watch.sh [bench.sh options], e.g. --small 20000 --watch-idle 60.
# Sourced by bench.sh, it only defines section_watch.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    exec "$(dirname "${BASH_SOURCE[0]}")/bench.sh" --only watch "$@"
fi

WATCH_PID=  # the dsbfs watch this section started, while it runs (bench.sh's cleanup stops it)

# watch_ticks: CPU ticks the watch daemon has used.
watch_ticks() { pid_ticks "$WATCH_PID"; }
# watch_kb FIELD: VmRSS or VmHWM of the daemon, in kB.
watch_kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$WATCH_PID/status"; }
# wait_log PATTERN SECONDS: waits until the daemon's log has PATTERN.
wait_log() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -q -- "$1" "$WT_LOG" && return 0
        kill -0 "$WATCH_PID" 2>/dev/null || { tail -20 "$WT_LOG" >&2; echo "bench.sh: dsbfs watch died" >&2; exit 1; }
        sleep 0.1
    done
    tail -20 "$WT_LOG" >&2
    echo "bench.sh: dsbfs watch never logged '$1'" >&2
    exit 1
}
# object_of FILE DISK: where the object of FILE's content lives on DISK.
object_of() {
    local h
    h=$(sha256sum "$1" | cut -c1-64)
    printf '%s/objects/%s/%s' "$2" "${h:0:2}" "$h"
}

section_watch() {
    local tree=$WORK/watch-tree-s$SMALL-seed$SEED
    local id="grid $SMALL files, seed $SEED, $(sha256sum "$HERE/bench-tree.py" | cut -c1-16)"
    if [ ! -d "$tree" ] || [ "$(cat "$tree.stamp" 2>/dev/null)" != "$id" ]; then
        log "  generating the grid tree $tree ($SMALL files)"
        rm -rf -- "$tree" "$tree.stamp"
        python3 "$HERE/bench-tree.py" "$tree" --small "$SMALL" --large 0 --seed "$SEED" \
            --layout grid >/dev/null
        printf '%s\n' "$id" >"$tree.stamp"
    fi
    local changes=$tree/bench-changes
    rm -rf -- "$changes"
    local files
    files=$(find "$tree" -type f | wc -l)
    new_catalog WT_CAT watch-catalog.db
    new_catalog WT_DISK watch-disk
    WT_LOG=$LOGS/watch-daemon.log
    CAT=$WT_CAT
    log "  scan and backup of the grid tree before watch starts (untimed)"
    dsbfs source add / "$tree" >/dev/null
    dsbfs scan -q
    dsbfs disk add wdisk "$WT_DISK" -q
    dsbfs backup wdisk -q
    # The full rescan watch runs every 10 minutes: a scan that finds nothing new.
    local rescan_cpu
    measure rescan dsbfs scan -q
    rescan_cpu=$(awk -F'\t' '$1 == "watch" && $2 == "rescan" {c = $5 + $6} END {printf "%.2f", c}' "$RAW")

    DSBFS_CATALOG=$CAT "$DSBFS" watch --poll 30s >"$WT_LOG" 2>&1 &
    WATCH_PID=$!
    wait_log "backup to wdisk ended" 600
    sleep 5
    local idle=$WATCH_IDLE c0 c1 cpu rss hwm
    log "  idle for $idle s"
    c0=$(watch_ticks)
    sleep "$idle"
    c1=$(watch_ticks)
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v s="$idle" 'BEGIN{printf "%.3f", (b - a) / hz / s * 100}')
    rss=$(awk -v k="$(watch_kb VmRSS)" 'BEGIN{printf "%.1f", k / 1024}')
    hwm=$(awk -v k="$(watch_kb VmHWM)" 'BEGIN{printf "%.1f", k / 1024}')
    local with_rescan
    with_rescan=$(awk -v c="$cpu" -v r="$rescan_cpu" 'BEGIN{printf "%.3f", c + r / 600 * 100}')
    add_row "watch: $files files watched, idle $idle s: CPU of one core" "(no baseline)" "n/a" \
        "$cpu %" "$(ratio "$cpu" 1)" "< 1 %" "<=" 1 \
        "$with_rescan % with the full rescan every 10 min ($rescan_cpu s of CPU each)"
    add_row "watch: $files files watched, idle: RSS" "(no baseline)" "n/a" "$rss MB" \
        "$(ratio "$rss" 60)" "< 60 MB" "<=" 1 "peak $hwm MB, during its start-up scan and backup"

    # Latency: each change waits for the one before to arrive.
    local lat=() i f start obj done_at
    mkdir -p "$changes"
    sleep 3  # the new folder's own rescan and backup
    for ((i = 0; i < 20; i++)); do
        if ((i < 10)); then
            f=$changes/new-$i.txt
        else
            f=$changes/new-$((i - 10)).txt
        fi
        printf 'change %d at %s\n' "$i" "$EPOCHREALTIME" >"$f.tmp-bench"
        obj=$(object_of "$f.tmp-bench" "$WT_DISK")
        start=$EPOCHREALTIME
        mv "$f.tmp-bench" "$f"
        done_at=
        while [ -z "$done_at" ]; do
            if [ -e "$obj" ]; then done_at=$EPOCHREALTIME; fi
            awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{exit !(b - a > 60)}' && {
                tail -20 "$WT_LOG" >&2
                echo "bench.sh: change $i never reached the disk" >&2
                exit 1
            }
            sleep 0.02
        done
        lat+=("$(awk -v a="$start" -v b="$done_at" 'BEGIN{printf "%.2f", b - a}')")
        sleep 1
    done
    local med
    med=$(median "${lat[@]}")
    add_row "watch: a change until its copy is on a connected disk, median of 20 (10 new files, 10 rewrites)" \
        "the debounce (quiet time)" "2.0" "$med" "$(ratio "$med" 10)" "≤ 10 s" "<=" 1
    note "watch: change-to-copy latencies (s), in order: $(join "${lat[@]}")"

    local stop_t
    stop_t=$(now)
    kill -TERM "$WATCH_PID"
    wait "$WATCH_PID" || true
    note "watch: exited $(elapsed "$stop_t") s after SIGTERM; $(grep -c ' INFO ' "$WT_LOG") INFO lines, $(grep -cE ' (WARN|ERROR) ' "$WT_LOG") warnings or errors in $WT_LOG"
    WATCH_PID=
    rm -rf -- "$changes"
}
