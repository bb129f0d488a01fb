#!/usr/bin/env bash
# motion-vs-peer.sh — vigia's node against the classic Motion daemon (Debian
# `motion` 4.5, what most Raspberry Pi users run), one after the other on the
# same machine, fed the same 768x576 10 fps MJPEG stream over loopback HTTP.
#
# Footage:
#   vtest  vtest.avi from Debian's opencv-doc (people walking), as JPEG q5
#   synth  a people-free background of vtest with a 48x120 two-tone box
#          crossing every 20 s (frames 51..89 of each loop): ground truth for
#          reaction latency (first frame with the box -> event start)
#   idle   the same background with sensor noise and nobody: what a camera
#          sees most of the day; the cost of analysing every frame alone
# Printed for each program and footage: CPU ms per frame received, CPU % of
# one core, frames received/analysed per second, peak RSS, events; then
# vigia/Motion ratios. Also: H.264 encoding speed (cargo bench).
#
# usage: bench/motion-vs-peer.sh [--duration S] [--warmup S] [--footage vtest|synth|idle|all] [--keep]
# needs: motion ffmpeg python3 (apt-get install motion ffmpeg), cargo
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=60 WARMUP=8 FOOTAGE=all KEEP=0 FPS=10
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --footage) FOOTAGE=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
for tool in motion ffmpeg ffprobe python3 cargo; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install motion ffmpeg)" >&2; exit 1; }
done

log() { echo "[bench] $*" >&2; }
WORK=$(mktemp -d -t vigia-bench.XXXXXX)
PIDS=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building vigia (release)"
cargo build --release --quiet
VIGIA=${CARGO_TARGET_DIR:-target}/release/vigia

# ------------------------------------------------------------------ footage
VTEST=${VTEST:-}
for cand in "${VIGIA_FIXTURES:-}/vtest.avi" /usr/share/doc/opencv-doc/examples/data/vtest.avi fixtures-cache/opencv-doc/vtest.avi; do
    [ -z "$VTEST" ] && [ -f "$cand" ] && VTEST=$cand
done
[ -n "$VTEST" ] || { echo "vtest.avi not found: run scripts/test.sh once (it fetches it) or set VTEST=" >&2; exit 1; }
mkdir -p "$WORK/vtest" "$WORK/synth" "$WORK/idle"
log "decoding footage to JPEG frames"
ffmpeg -nostdin -v error -i "$VTEST" -q:v 5 -start_number 0 "$WORK/vtest/%05d.jpg"
ffmpeg -nostdin -v error -i "$VTEST" -vf "select='not(mod(n\,53))',tmedian=radius=7" \
    -fps_mode passthrough -frames:v 1 -update 1 "$WORK/bg.png"
ffmpeg -nostdin -v error -loop 1 -framerate 10 -t 20 -i "$WORK/bg.png" \
    -f lavfi -i "color=c=0x101010:s=48x60:r=10" -f lavfi -i "color=c=0xF0F0F0:s=48x60:r=10" \
    -filter_complex "[1:v][2:v]vstack[obj];[0:v][obj]overlay=x='100+(t-5.1)*150':y=230:enable='between(t,5.05,8.95)':shortest=1,noise=alls=4:allf=t,format=yuvj420p" \
    -q:v 5 -start_number 0 "$WORK/synth/%05d.jpg"
ffmpeg -nostdin -v error -loop 1 -framerate 10 -t 20 -i "$WORK/bg.png" \
    -vf "noise=alls=4:allf=t,format=yuvj420p" -q:v 5 -start_number 0 "$WORK/idle/%05d.jpg"
SYNTH_FIRST=51

HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_one PROGRAM FOOTAGE -> prints PROGRAM.FOOTAGE.key: value lines
run_one() {
    local prog=$1 name=$2 d=$WORK/$1-$2 cam pid port t0 t1 c0 c1 hwm
    mkdir -p "$d/out"
    python3 bench/mjpeg_camera.py "$WORK/$name" 0 "$FPS" "$d/send.log" $((DURATION + WARMUP + 60)) &
    cam=$!; PIDS+=("$cam")
    for _ in $(seq 100); do grep -q '^# listening' "$d/send.log" 2>/dev/null && break; sleep 0.1; done
    port=$(awk '/^# listening/ {print $3}' "$d/send.log")
    local url="http://127.0.0.1:$port/cam.mjpg"
    if [ "$prog" = motion ]; then
        # Detection settings as in Debian's /etc/motion/motion.conf; events end after 5 s quiet.
        cat > "$d/motion.conf" <<CONF
daemon off
setup_mode off
log_file $d/motion.log
log_level 6
target_dir $d/out
netcam_url $url
netcam_keepalive off
width 768
height 576
framerate $FPS
threshold 1500
despeckle_filter EedDl
minimum_motion_frames 1
event_gap 5
pre_capture 3
post_capture 5
picture_output first
movie_output on
movie_codec mkv
movie_max_time 60
webcontrol_port 0
stream_port 0
on_event_start /bin/sh -c 'echo "\$(date +%s.%N) event_start" >> $d/events.log'
CONF
        motion -n -c "$d/motion.conf" > "$d/stdout" 2>&1 &
        pid=$!
    else
        cat > "$d/node.toml" <<CONF
[node]
camera = "bench"
data_dir = "$d/out"
[source]
kind = "mjpeg"
url = "$url"
[event]
pre_roll_s = 10.0
post_roll_s = 5.0
CONF
        "$VIGIA" node --config "$d/node.toml" \
            > >(python3 -u -c 'import sys,time
for l in sys.stdin: print("%.6f %s" % (time.time(), l), end="", flush=True)' > "$d/events.log") \
            2> "$d/stderr" &
        pid=$!
    fi
    PIDS+=("$pid")
    sleep "$WARMUP"
    kill -0 "$pid" 2>/dev/null || { echo "$prog exited early" >&2; tail "$d"/*.log "$d/stderr" 2>/dev/null >&2; exit 1; }
    t0=$(date +%s.%N); c0=$(ticks "$pid")
    sleep "$DURATION"
    t1=$(date +%s.%N); c1=$(ticks "$pid")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    stop_pid "$pid"
    stop_pid "$cam"
    PIDS=()
    python3 - "$prog" "$name" "$d" "$t0" "$t1" "$c0" "$c1" "$HZ" "$hwm" "$SYNTH_FIRST" <<'PY'
import os, re, statistics, sys
prog, name, d = sys.argv[1], sys.argv[2], sys.argv[3]
t0, t1 = float(sys.argv[4]), float(sys.argv[5])
cpu = (int(sys.argv[7]) - int(sys.argv[6])) / int(sys.argv[8])
hwm, first = int(sys.argv[9]), int(sys.argv[10])
win = t1 - t0
sends = []
for line in open(os.path.join(d, "send.log")):
    if not line.startswith("#"):
        c, tick, idx, t = line.split()
        sends.append((int(idx), float(t)))
recv = sum(1 for _, t in sends if t0 <= t < t1)
out = lambda k, v: print("%s.%s.%s: %s" % (prog, name, k, v))
out("frames_received_per_s", "%.2f" % (recv / win))
out("cpu_ms_per_frame", "%.2f" % (1000 * cpu / max(1, recv)))
out("cpu_pct_of_one_core", "%.1f" % (100 * cpu / win))
out("peak_rss_kb", hwm)
starts = []
evf = os.path.join(d, "events.log")
if os.path.exists(evf):
    for line in open(evf):
        if "event_start" in line or "event started" in line:
            starts.append(float(line.split()[0]))
out("events", len(starts))
if prog == "vigia":
    prom = os.path.join(d, "out", "metrics.prom")
    if os.path.exists(prom):
        m = {}
        for line in open(prom):
            mm = re.match(r"^(\w+)\{[^}]*\} ([0-9.]+)", line)
            if mm:
                m[mm.group(1)] = float(mm.group(2))
        got = m.get("vigia_source_frames_total", 0)
        ana = m.get("vigia_frames_analysed_total", 0)
        out("frames_analysed_fraction", "%.3f" % (ana / max(1, got)))
        out("frames_dropped", int(m.get("vigia_frames_dropped_analysis_total", 0) + m.get("vigia_frames_dropped_recording_total", 0)))
        out("analysis_ms_per_frame", "%.3f" % (1000 * m.get("vigia_analysis_seconds_total", 0) / max(1, ana)))
        enc = m.get("vigia_frames_encoded_total", 0)
        out("frames_recorded_fraction", "%.3f" % (enc / max(1, got)))
        out("encode_ms_per_recorded_frame", "%.3f" % (1000 * m.get("vigia_encode_seconds_total", 0) / max(1, enc)))
if name == "synth":
    onsets = [t for idx, t in sends if idx == first and t < t1 - 2]
    lat = []
    for o in onsets:
        nxt = [s for s in starts if o <= s < o + 5.9]
        if nxt:
            lat.append(1000 * (nxt[0] - o))
    out("crossings", len(onsets))
    out("crossings_detected", len(lat))
    if lat:
        out("reaction_latency_ms_p50", "%.0f" % statistics.median(lat))
        out("reaction_latency_ms_max", "%.0f" % max(lat))
PY
}

RESULTS=$WORK/results.txt
: > "$RESULTS"
echo "cpu_cores: $(nproc)" | tee -a "$RESULTS"
echo "motion_version: $(motion -h 2>&1 | sed -n 's/^motion Version \([^,]*\),.*/\1/p')" | tee -a "$RESULTS"
for name in idle synth vtest; do
    case "$FOOTAGE" in all|"$name") ;; *) continue ;; esac
    for prog in motion vigia; do
        log "$prog on $name: warm-up ${WARMUP}s, window ${DURATION}s"
        run_one "$prog" "$name" | tee -a "$RESULTS"
    done
done

python3 - "$RESULTS" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    k, _, val = line.partition(": ")
    v[k.strip()] = val.strip()
for name in ("idle", "synth", "vtest"):
    for key in ("cpu_ms_per_frame", "peak_rss_kb"):
        a, b = v.get("vigia.%s.%s" % (name, key)), v.get("motion.%s.%s" % (name, key))
        if a and b and float(b) > 0:
            print("ratio.%s.%s (vigia/motion): %.3f" % (name, key, float(a) / float(b)))
PY

log "H.264 encoding speed (cargo bench -p vigia-media --bench codecs)"
cargo bench --quiet -p vigia-media --bench codecs 2>/dev/null | grep -E '^(h264|jpeg|decode|synthetic)' || true
