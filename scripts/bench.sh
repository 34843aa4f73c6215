#!/usr/bin/env bash
# OffloadEmu benchmarks against the Linux kernel on the same machine, in one run (issue 7, docs/performance.md).
#
#   sudo scripts/bench.sh [all|bulk|rr|churn|scale|cpu] [--json FILE] [--smoke] [--scale N] [--no-build]
#   sudo scripts/bench.sh tap|micro|target          # the older, separate benchmarks (below)
#
# all (default) runs bulk, rr, churn and scale and prints one table: per row the command, the figure, the Linux
# kernel's figure for the same work, the ratio, and the goal of issue 7 with pass/miss. --json FILE writes the same as
# JSON. A progress line per row goes to stderr.
#   bulk   one connection, emulator -> kernel sink and kernel source -> emulator over a TAP at MTU 1500, embedded
#          (`offloademu connect --link tap:oe0`) and through `offloademud` (`connect --daemon`); 8 connections from one
#          CLI process (`connect --parallel 8`), through the daemon and embedded; kernel <-> kernel over a veth pair with segmentation offloads off and on;
#          pasta and slirp4netns (Debian `passt`, `slirp4netns`; installed when missing) with the same C peer;
#          segmentation-offload mode (--segmentation-offload embedded, Link:SegmentationOffload=true in the daemon);
#          the embedded rows again with the optional transmit thread (--transmit-thread, rows emu-tx-tt / emu-rx-tt).
#          CPU seconds per GiB moved for each row (cpu is an alias of bulk).
#   rr     1-byte ping-pong (transactions/s, round trip p50/p99 as the kernel client sees it, and the server's send
#          completion p99): the kernel client against `offloademu listen --echo` (embedded, embedded with
#          --busy-poll 20, embedded with --inline-completions, and through the daemon) and against the kernel's echo over the veth pair, both ends taskset
#          onto one CPU, then onto two different CPUs.
#   churn  initiate+terminate per second: in-process (OffloadTargetBenchmarks.InitiateTerminate in a loop) and
#          through the daemon (synthetic connections uploaded and offloaded again over the control socket): one at a
#          time (with the latency of a pair), then BENCH_CHURN_INFLIGHT (default 32) at once.
#   scale  N idle offloaded connections (default 10,000, --scale N) through the daemon to a kernel listener that keeps
#          them (tcpbench hold, one process per 15,000): the daemon's resident memory per connection, its managed heap
#          per connection excluding buffers (diagnostics port) and the receive buffers held, CPU while idle, then the
#          write throughput of 100 active connections among them against the same 100 alone. --scale 100000 takes
#          about 3 minutes.
# --smoke: 1 s per row, scale 200 with 10 active, 2 s idle; for the CI check (tests/python/test_bench.py).
# Environment: BENCH_SECONDS (default 5) per throughput/rr/churn row, BENCH_IDLE_SECONDS (10), BENCH_ACTIVE (100);
# BENCH_KEEP=1 keeps the run's directory (every process's output) for a look after a failed row.
# BENCH_ONLY="ID ..." runs only those bulk rows (and their -cpu twins), e.g. BENCH_ONLY="k-bulk-off-8 emu-tx-d8" for
# an A/B; BENCH_PROCESSES=1 runs the 8-connection rows as 8 CLI processes of one connection each (each its own host,
# 198.18.0.11..18), as they were until 2026-12-07, to compare with one process (--parallel 8). BENCH_QUEUES=N (default
# 1) makes the lab's TAP multi_queue and gives the embedded 8-connection rows `--queues N` (N engine loops, the
# connections spread over them; the other rows attach one queue of that TAP).
#
# The kernel side of every row is one C program, scripts/bench/tcpbench.c (sink/source/send/echo/rr/hold), built here.
# Everything runs in namespaces made for the run, oe-bench-<pid> (the lab: TAP oe0, kernel 198.18.0.1, emulator
# 198.18.0.2), oe-bench-<pid>-a/-b (veth, 198.18.2.1/.2) and oe-bench-<pid>-po/-pi (pasta/slirp4netns, only a loopback
# and a veth pair inside the namespace itself, no route out). Processes are ended by PID at exit and on Ctrl+C.
#
# Older modes: tap = TAP frame rate, C reference (scripts/bench/tapbench.c) vs the C# TapDevice; micro =
# BenchmarkDotNet checksum/codec/machine; target = BenchmarkDotNet OffloadTargetBenchmarks and scripts/bench/tcploop.c.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SECONDS_PER_RUN="${BENCH_SECONDS:-5}"
RUNS="${BENCH_RUNS:-3}"   # legacy tap mode: median of RUNS runs

MODE=all; JSON_OUT=""; SMOKE=0; SCALE_N=10000; BUILD=1
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case $1 in
        all|bulk|rr|churn|scale|cpu|tap|micro|target) MODE=$1 ;;
        --json) JSON_OUT=${2:?--json needs a file}; shift ;;
        --smoke) SMOKE=1 ;;
        --scale) SCALE_N=${2:?--scale needs a number}; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ $SCALE_N =~ ^[0-9]+$ && $SCALE_N -ge 1 ]] || { echo "bench: --scale needs a positive number" >&2; exit 2; }
[[ $MODE == cpu ]] && MODE=bulk
IDLE_SECONDS="${BENCH_IDLE_SECONDS:-10}"
ACTIVE="${BENCH_ACTIVE:-100}"
if [[ $SMOKE == 1 ]]; then
    SECONDS_PER_RUN=1; IDLE_SECONDS=2; ACTIVE=10
    [[ $SCALE_N == 10000 ]] && SCALE_N=200
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# ================================================================================================ legacy modes
legacy_target() {
    echo "== offload target (BenchmarkDotNet, short job)"
    (cd "$ROOT" && dotnet run -c Release --project tests/OffloadEmu.Benchmarks -- \
        --filter '*OffloadTargetBenchmarks*' --job short --memory --exporters markdown) \
        | grep -E '^\|' || true
    echo "== kernel reference (loopback TCP, MTU 1500, one CPU)"
    [[ $EUID -eq 0 ]] || { echo "bench: the kernel reference must run as root (namespace)" >&2; exit 1; }
    local kwork kns
    kwork="$(mktemp -d /tmp/oe-bench.XXXXXX)"
    kns="oe-bk$$"
    gcc -O2 -Wall -Wextra -pthread -o "$kwork/tcploop" "$HERE/bench/tcploop.c"
    ip netns add "$kns"
    ip -n "$kns" link set lo mtu 1500
    ip -n "$kns" link set lo up
    ip netns exec "$kns" ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$kns" "$kwork/tcploop" bulk "$SECONDS_PER_RUN" || true
    ip netns exec "$kns" "$kwork/tcploop" pingpong "$SECONDS_PER_RUN" || true
    ip netns del "$kns"
    rm -rf "$kwork"
}

legacy_micro() {
    echo "== micro-benchmarks (BenchmarkDotNet, short job)"
    (cd "$ROOT" && dotnet run -c Release --project tests/OffloadEmu.Benchmarks -- \
        --filter '*Checksum*' '*TcpCodec*' '*TcpMachine*' --job short --memory --exporters markdown) \
        | grep -E '^\|' || true
}

# TAP frame rate: frames of 64 and 1514 bytes, write (to the TAP's kernel MAC, EtherType 0x88B5, dropped at once)
# and read (tapbench flood sends out of oe0 on the kernel side); ratio C# / C, median of RUNS runs of SECONDS.
legacy_tap() {
    echo "== TAP frame rate"
    [[ $EUID -eq 0 ]] || { echo "bench: the TAP benchmark must run as root" >&2; exit 1; }
    command -v gcc >/dev/null || { echo "bench: gcc not found (apt-get install gcc)" >&2; exit 1; }
    local NS=oe-lab TAP=oe0 LAB_STARTED=0 WORKT
    if ! ip -n "$NS" link show "$TAP" >/dev/null 2>&1; then "$HERE/lab.sh" up >/dev/null; LAB_STARTED=1; fi
    WORKT="$(mktemp -d /tmp/oe-bench.XXXXXX)"
    FLOOD_PID=""
    # shellcheck disable=SC2064
    trap "[[ -n \$FLOOD_PID ]] && kill \$FLOOD_PID 2>/dev/null; rm -rf '$WORKT'; [[ $LAB_STARTED == 1 ]] && '$HERE/lab.sh' down >/dev/null" EXIT
    gcc -O2 -Wall -Wextra -o "$WORKT/tapbench" "$HERE/bench/tapbench.c"
    dotnet build -c Release "$ROOT/tests/OffloadEmu.Benchmarks" -v q -nologo >/dev/null
    local CS_DLL="$ROOT/tests/OffloadEmu.Benchmarks/bin/Release/net10.0/OffloadEmu.Benchmarks.dll"
    fps() { sed -n 's/.*fps=\([0-9]*\).*/\1/p' | tail -1; }
    run_c_write()  { ip netns exec "$NS" "$WORKT/tapbench" write "$TAP" "$1" "$SECONDS_PER_RUN" | fps; }
    run_cs_write() { ip netns exec "$NS" dotnet "$CS_DLL" tap write "$TAP" "$1" "$SECONDS_PER_RUN" | fps; }
    run_c_read()   { ip netns exec "$NS" "$WORKT/tapbench" read "$TAP" "$SECONDS_PER_RUN" | fps; }
    run_cs_read()  { ip netns exec "$NS" dotnet "$CS_DLL" tap read "$TAP" "$SECONDS_PER_RUN" | fps; }
    with_flood() {
        local size=$1; shift
        ip netns exec "$NS" "$WORKT/tapbench" flood "$TAP" "$size" $((SECONDS_PER_RUN + 4)) 2>/dev/null &
        FLOOD_PID=$!
        sleep 0.2
        "$@"
        kill "$FLOOD_PID" 2>/dev/null || true; wait "$FLOOD_PID" 2>/dev/null || true; FLOOD_PID=""
    }
    median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'; }
    measure() {
        local kind=$1 size=$2 c_all="" cs_all="" i
        for ((i = 0; i < RUNS; i++)); do
            if [[ $kind == write ]]; then
                c_all+="$(run_c_write "$size")"$'\n'; cs_all+="$(run_cs_write "$size")"$'\n'
            else
                c_all+="$(with_flood "$size" run_c_read)"$'\n'; cs_all+="$(with_flood "$size" run_cs_read)"$'\n'
            fi
        done
        echo "$(printf '%s' "$c_all" | median) $(printf '%s' "$cs_all" | median)"
    }
    echo "TAP $TAP in $NS, ${SECONDS_PER_RUN}s per run, median of $RUNS runs; load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
    printf '%-6s %6s %14s %14s %8s\n' "test" "bytes" "C frames/s" "C# frames/s" "C#/C"
    local kind size c cs
    for kind in write read; do
        for size in 64 1514; do
            read -r c cs < <(measure "$kind" "$size")
            printf '%-6s %6s %14s %14s %8s\n' "$kind" "$size" "$c" "$cs" "$(awk -v a="$cs" -v b="$c" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
        done
    done
}

case $MODE in
    target) legacy_target; exit 0 ;;
    micro) legacy_micro; exit 0 ;;
    tap) legacy_tap; exit 0 ;;
esac

# ================================================================================================ the suite
[[ $EUID -eq 0 ]] || { echo "bench: run as root (network namespaces, a TAP): sudo $0" >&2; exit 2; }

say() { printf 'bench: %s\n' "$*" >&2; }

# --- packages and build ---------------------------------------------------------------------------------------------
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have gcc || need+=(gcc libc6-dev); have ip || need+=(iproute2); have socat || need+=(socat)
have ethtool || need+=(ethtool); have taskset || need+=(util-linux); [[ -x /usr/bin/python3 ]] || need+=(python3)
if [[ $MODE == all || $MODE == bulk ]]; then have pasta || need+=(passt); have slirp4netns || need+=(slirp4netns); fi
if [[ ${#need[@]} -gt 0 ]]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
        || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 && \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; } \
        || say "apt-get install ${need[*]} failed; rows that need them are skipped"
fi
for t in gcc ip ethtool taskset python3; do have "$t" || { say "'$t' not found"; exit 1; }; done

OE_DLL="${BENCH_OE_DLL:-$ROOT/src/OffloadEmu.Cli/bin/Release/net10.0/offloademu.dll}"
DAEMON_DLL="${BENCH_DAEMON_DLL:-$ROOT/src/OffloadEmu.Daemon/bin/Release/net10.0/offloademud.dll}"
BENCH_DLL="$ROOT/tests/OffloadEmu.Benchmarks/bin/Release/net10.0/OffloadEmu.Benchmarks.dll"
if [[ $BUILD == 1 ]]; then
    for p in src/OffloadEmu.Cli src/OffloadEmu.Daemon tests/OffloadEmu.Benchmarks; do
        say "building $p (Release)"
        (cd "$ROOT" && dotnet build "$p" -c Release --nologo -v q -clp:ErrorsOnly >/dev/null) || { say "build of $p failed"; exit 1; }
    done
fi
for f in "$OE_DLL" "$DAEMON_DLL" "$BENCH_DLL"; do [[ -f $f ]] || { say "$f missing (run without --no-build)"; exit 1; }; done

WORK="$(mktemp -d /tmp/oe-bench-run.XXXXXX)"
TB="$WORK/tcpbench"
gcc -O2 -Wall -Wextra -o "$TB" "$HERE/bench/tcpbench.c" || { say "tcpbench.c does not build"; exit 1; }

# --- namespaces, processes, cleanup ---------------------------------------------------------------------------------
LAB_NS="oe-bench-$$"; KA="oe-bench-$$-a"; KB="oe-bench-$$-b"; PO="oe-bench-$$-po"; PI="oe-bench-$$-pi"
SOCK="$WORK/control.sock"
PIDS=()
DAEMON_PID=""
LAB_UP=0
NCPU=$(nproc)
ALLCPUS="0-$((NCPU - 1))"

stop_pid() { # TERM, wait up to $2 s, KILL
    local pid=$1 secs=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do [[ $pid == "$DAEMON_PID" ]] || stop_pid "$pid" 3; done
    [[ -n $DAEMON_PID ]] && stop_pid "$DAEMON_PID" 20
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    [[ $LAB_UP == 1 ]] && OE_LAB_NS=$LAB_NS OE_LAB_STATE="$WORK/lab" OE_LAB_VETH=0 "$HERE/lab.sh" down >/dev/null 2>&1
    local ns
    for ns in "$KA" "$KB" "$PI" "$PO"; do ip netns list | awk '{print $1}' | grep -qx "$ns" && ip netns del "$ns"; done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then say "kept $WORK (BENCH_KEEP=1)"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted; cleaning up"; exit 130' INT TERM

# spawn PIDFILE OUT CMD...: CMD in the background, its PID appended to PIDFILE (before it runs, so a measuring
# tcpbench that reads PIDFILE sees it) and to PIDS; sets SPAWNED. `ip netns exec` and taskset exec in place.
spawn() {
    local pidfile=$1 out=$2; shift 2
    bash -c 'echo $$ >> "$0"; exec "$@"' "$pidfile" "$@" >"$out" 2>&1 </dev/null &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}
# wait_pid PID SECS: wait for PID to end, at most SECS seconds, then end it; returns its exit status.
wait_pid() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { say "pid $pid still running after ${secs}s; ended"; stop_pid "$pid" 3; }
    wait "$pid" 2>/dev/null
}
kv() { sed -n "s/.*\b$1=\([-0-9.e+]*\).*/\1/p" "$2" | tail -1; }

# --- rows -------------------------------------------------------------------------------------------------------------
ROWS="$WORK/rows.tsv"; : >"$ROWS"
ROWN=0
# row ID SECTION LABEL VALUE UNIT KERNEL_ID GOAL COMMAND [NOTE]
#   KERNEL_ID: the row whose value is this row's kernel figure ("-" none). GOAL: comma-separated checks of
#   min:X, max:X (the value), rmin:X, rmax:X (value / kernel figure), vs:ID:rmin:X (value / row ID's value); "-" none.
row() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" "$5" "$6" "$7" "$8" "${9:-}" >>"$ROWS"
    local shown=${4:-failed}; [[ -z ${4:-} && ( $8 == skipped* || $8 == - ) ]] && shown="skipped"
    say "  -> $3: $shown $5"
}
progress() { ROWN=$((ROWN + 1)); say "$(date -u +%H:%M:%S) [$ROWN] $*"; }
gbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0 && b > 0) printf "%.3f", b * 8 / s / 1e9 }'; }
per_gib() { awk -v c="$1" -v b="$2" 'BEGIN { if (b > 0 && c != "") printf "%.3f", c / (b / 1073741824) }'; }

PORT=5100
next_port() { PORT=$((PORT + 1)); }

# --- topology ---------------------------------------------------------------------------------------------------------
lab_up() {
    [[ $LAB_UP == 1 ]] && return
    say "lab $LAB_NS: TAP oe0, kernel 198.18.0.1/24, emulator 198.18.0.2"
    LAB_UP=1
    OE_LAB_NS=$LAB_NS OE_LAB_STATE="$WORK/lab" OE_LAB_VETH=0 "$HERE/lab.sh" up >"$WORK/lab-up.log" 2>&1 \
        || { cat "$WORK/lab-up.log" >&2; say "lab.sh up failed"; exit 1; }
}

EMB_QUEUES=${BENCH_QUEUES:-1}
[[ $EMB_QUEUES =~ ^[0-9]+$ && $EMB_QUEUES -ge 1 && $EMB_QUEUES -le 64 ]] || { say "BENCH_QUEUES: 1..64"; exit 2; }
[[ $EMB_QUEUES -gt 1 ]] && export OE_LAB_TAP_MULTI_QUEUE=1

KPAIR=0
kpair_up() {
    [[ $KPAIR == 1 ]] && return
    KPAIR=1
    local ns
    for ns in "$KA" "$KB"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=cubic 2>/dev/null || true
    done
    ip -n "$KA" link add oe-ka0 type veth peer name oe-kb0 netns "$KB"
    ip -n "$KA" addr add 198.18.2.1/24 dev oe-ka0
    ip -n "$KB" addr add 198.18.2.2/24 dev oe-kb0
    ip -n "$KA" link set oe-ka0 up
    ip -n "$KB" link set oe-kb0 up
}
kpair_offloads() { # on|off: segmentation offloads (tso gso gro) on both ends
    ip netns exec "$KA" ethtool -K oe-ka0 tso "$1" gso "$1" gro "$1" >/dev/null 2>&1 || true
    ip netns exec "$KB" ethtool -K oe-kb0 tso "$1" gso "$1" gro "$1" >/dev/null 2>&1 || true
}

# start_daemon [segoff]: offloademud on the lab's TAP; "segoff" with Link:SegmentationOffload=true.
start_daemon() {
    [[ -n $DAEMON_PID ]] && return
    lab_up
    local segoff=false; [[ ${1:-} == segoff ]] && segoff=true
    say "offloademud on tap:oe0 in $LAB_NS (capture off, capacity $((SCALE_N + ACTIVE + 1024)), log level Warning, segmentation offload $segoff)"
    OFFLOADEMU_Capture__File="" OFFLOADEMU_Control__Endpoint="$SOCK" OFFLOADEMU_Link__SegmentationOffload=$segoff \
    OFFLOADEMU_Nic__Capabilities__Capacity=$((SCALE_N + ACTIVE + 1024)) \
    OFFLOADEMU_Logging__Serilog__MinimumLevel__Default=Warning \
    OFFLOADEMU_Logging__Serilog__WriteTo__1__Args__path="$WORK/logs/offloademud-.log" \
        spawn /dev/null "$WORK/daemon.out" ip netns exec "$LAB_NS" dotnet "$DAEMON_DLL" --config "$ROOT/emulator.json"
    DAEMON_PID=$SPAWNED
    local i
    for ((i = 0; i < 300; i++)); do [[ -S $SOCK ]] && break; kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    [[ -S $SOCK ]] || { tail -20 "$WORK/daemon.out" >&2; say "offloademud did not open $SOCK"; exit 1; }
}
stop_daemon() {
    [[ -n $DAEMON_PID ]] || return 0
    stop_pid "$DAEMON_PID" 20; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
}

OE=(dotnet "$OE_DLL")
EMB=(--link tap:oe0 --local 198.18.0.2/24)
DMN=(--daemon "$SOCK" --local 198.18.0.2/24)

# --- bulk -------------------------------------------------------------------------------------------------------------
# kernel_bulk ID LABEL on|off P: tcpbench send (ns b) -> tcpbench sink (ns a) over the veth pair.
# wanted ID: the row is to run (BENCH_ONLY unset, or ID among its words).
wanted() { [[ -z ${BENCH_ONLY:-} || " $BENCH_ONLY " == *" $1 "* ]]; }

kernel_bulk() {
    local id=$1 label=$2 offl=$3 par=$4
    wanted "$id" || return 0
    progress "$label"
    kpair_up; kpair_offloads "$offl"; next_port
    local pids="$WORK/$id.pids"; : >"$pids"
    spawn /dev/null "$WORK/$id.srv" ip netns exec "$KA" "$TB" sink 198.18.2.1 "$PORT" "$SECONDS_PER_RUN" -P "$par" -c "$pids"
    local srv=$SPAWNED; sleep 0.2
    spawn "$pids" "$WORK/$id.cli" ip netns exec "$KB" "$TB" send 198.18.2.1 "$PORT" "$SECONDS_PER_RUN" -P "$par"
    local cli=$SPAWNED
    wait_pid "$srv" $((SECONDS_PER_RUN + 60)); wait_pid "$cli" 30
    local b s c; b=$(kv bytes "$WORK/$id.srv"); s=$(kv seconds "$WORK/$id.srv"); c=$(kv cpu_s "$WORK/$id.srv")
    row "$id" bulk "$label" "$(gbps "$b" "$s")" "Gb/s" - - "tcpbench send 198.18.2.1 -P $par | tcpbench sink (veth, tso/gso/gro $offl)"
    row "$id-cpu" cpu "$label: CPU per GiB" "$(per_gib "$c" "$b")" "cpu-s/GiB" - - "(same run)" "utime+stime of both tcpbench processes"
}

# emu_bulk ID LABEL tx|rx embedded|daemon|daemon-segoff P KERNEL_ID GOAL [EXTRA]: EXTRA (words split on spaces) goes to every
# offloademu connect; daemon-segoff is the daemon with Link:SegmentationOffload=true (started by the caller).
emu_bulk() {
    local id=$1 label=$2 dir=$3 where=$4 par=$5 kid=$6 goal=$7 extra=${8:-}
    wanted "$id" || return 0
    local procs=1; [[ $par -gt 1 && ${BENCH_PROCESSES:-0} == 1 ]] && { procs=$par; label="${label/one process/$par processes}"; }
    progress "$label"
    lab_up; next_port
    local target=("${EMB[@]}") tag="--link tap:oe0"
    [[ $where == daemon-segoff ]] && { start_daemon segoff; where=daemon; }
    [[ $where == daemon ]] && { start_daemon; target=("${DMN[@]}"); tag="--daemon SOCK"; }
    local pids="$WORK/$id.pids"; : >"$pids"
    [[ -n $DAEMON_PID && $where == daemon ]] && echo "$DAEMON_PID" >>"$pids"
    local mode cli_args
    if [[ $dir == tx ]]; then mode=sink; cli_args=(--send-bytes 1000G); else mode=source; cli_args=(--receive); fi
    # shellcheck disable=SC2206
    [[ -n $extra ]] && { cli_args+=($extra); tag="$tag $extra"; }
    spawn /dev/null "$WORK/$id.srv" ip netns exec "$LAB_NS" "$TB" "$mode" 198.18.0.1 "$PORT" "$SECONDS_PER_RUN" -P "$par" -c "$pids"
    local srv=$SPAWNED i clis=(); sleep 0.2
    # Several connections: one CLI process with --parallel (iperf3 -P), or with BENCH_PROCESSES=1 one process each.
    [[ $par -gt 1 && $procs == 1 ]] && { cli_args+=(--parallel "$par"); tag="$tag --parallel $par"; }
    for ((i = 0; i < procs; i++)); do
        # Several host stacks bound to one daemon get every non-offloaded frame (docs/control.md); with one address
        # they reset each other's handshakes (seen 2026-12-07), so each CLI process is its own host: 198.18.0.2, .11...
        [[ $procs -gt 1 ]] && target[${#target[@]}-1]="198.18.0.$((10 + i + 1))/24"
        spawn "$pids" "$WORK/$id.cli$i" ip netns exec "$LAB_NS" "${OE[@]}" connect "198.18.0.1:$PORT" "${target[@]}" \
            "${cli_args[@]}" --json --timeout $((SECONDS_PER_RUN + 90))
        clis+=("$SPAWNED")
    done
    wait_pid "$srv" $((SECONDS_PER_RUN + 120))
    for i in "${clis[@]}"; do wait_pid "$i" 30; done
    local b s c; b=$(kv bytes "$WORK/$id.srv"); c=$(kv cpu_s "$WORK/$id.srv")
    if [[ $dir == tx ]]; then s=$(kv seconds "$WORK/$id.srv"); else s=$(kv total_seconds "$WORK/$id.srv"); fi
    local cmd
    [[ $procs -gt 1 ]] && tag="$tag --local 198.18.0.11..$((10 + par))"
    local times=""; [[ $procs -gt 1 ]] && times=" (x$procs)"
    if [[ $dir == tx ]]; then cmd="offloademu connect 198.18.0.1 $tag --send-bytes 1000G$times | tcpbench sink -P $par"
    else cmd="tcpbench source -P $par | offloademu connect 198.18.0.1 $tag --receive$times"; fi
    if [[ -z $b || -z $s ]]; then
        say "  row $id failed: $(cat "$WORK/$id.srv" "$WORK/$id.cli0" 2>/dev/null | tail -3 | tr '\n' ' ')"
    fi
    row "$id" bulk "$label" "$(gbps "$b" "$s")" "Gb/s" "$kid" "$goal" "$cmd"
    local note="utime+stime of tcpbench and the offloademu process(es)"
    [[ $where == daemon ]] && note="$note and offloademud"
    row "$id-cpu" cpu "$label: CPU per GiB" "$(per_gib "$c" "$b")" "cpu-s/GiB" "$kid-cpu" "rmax:1.5" "(same run)" "$note"
}

# userspace_bulk ID LABEL pasta|slirp: tcpbench send from namespace pi through pasta/slirp4netns (run in namespace
# po, which has only lo and a veth pair of its own, oe-pt0/oe-pt1) to tcpbench sink on po's loopback.
userspace_bulk() {
    local id=$1 label=$2 kind=$3
    wanted "$id" || return 0
    progress "$label"
    local tool=pasta; [[ $kind == slirp ]] && tool=slirp4netns
    if ! have "$tool"; then row "$id" bulk "$label" "" "Gb/s" - - "skipped: $tool not installed (apt-get install ${tool/pasta/passt})"; return; fi
    local ns
    for ns in "$PO" "$PI"; do ip netns list | awk '{print $1}' | grep -qx "$ns" && ip netns del "$ns"; ip netns add "$ns"; ip -n "$ns" link set lo up; done
    # pasta copies its addresses and default route from an interface of its own namespace: give po a veth pair whose
    # both ends stay in po, so a "default route" leads nowhere but back into po.
    ip -n "$PO" link add oe-pt0 type veth peer name oe-pt1
    ip -n "$PO" addr add 198.18.10.1/24 dev oe-pt0
    ip -n "$PO" link set oe-pt0 up; ip -n "$PO" link set oe-pt1 up
    ip -n "$PO" route add default via 198.18.10.254 dev oe-pt0
    next_port
    local pids="$WORK/$id.pids"; : >"$pids"
    spawn /dev/null "$WORK/$id.srv" ip netns exec "$PO" "$TB" sink 127.0.0.1 "$PORT" "$SECONDS_PER_RUN" -c "$pids"
    local srv=$SPAWNED gw cmd
    if [[ $kind == pasta ]]; then
        spawn "$pids" "$WORK/$id.tool" ip netns exec "$PO" pasta -f -q -4 --runas 0:0 -m 1500 --no-dhcp --netns "/run/netns/$PI" --config-net
        gw=198.18.10.254
        cmd="pasta -f -4 -m 1500 --netns PI --config-net; tcpbench send $gw (in PI) | tcpbench sink 127.0.0.1 (in PO)"
    else
        spawn "$pids" "$WORK/$id.tool" ip netns exec "$PO" slirp4netns --configure --mtu=1500 --cidr=198.18.11.0/24 --disable-dns --netns-type=path "/run/netns/$PI" oe-sl0
        gw=198.18.11.2
        cmd="slirp4netns --configure --mtu=1500 --cidr=198.18.11.0/24 PI; tcpbench send $gw (in PI) | tcpbench sink 127.0.0.1 (in PO)"
    fi
    local tool_pid=$SPAWNED i
    for ((i = 0; i < 50; i++)); do ip -n "$PI" route 2>/dev/null | grep -q default && break; sleep 0.1; done
    spawn /dev/null "$WORK/$id.cli" ip netns exec "$PI" "$TB" send "$gw" "$PORT" "$SECONDS_PER_RUN"
    local cli=$SPAWNED
    wait_pid "$srv" $((SECONDS_PER_RUN + 60)); wait_pid "$cli" 30
    stop_pid "$tool_pid" 3; wait "$tool_pid" 2>/dev/null
    local b s c; b=$(kv bytes "$WORK/$id.srv"); s=$(kv seconds "$WORK/$id.srv"); c=$(kv cpu_s "$WORK/$id.srv")
    [[ -z $b ]] && say "  row $id failed: $(tail -3 "$WORK/$id.tool" "$WORK/$id.cli" 2>/dev/null | tr '\n' ' ')"
    row "$id" bulk "$label" "$(gbps "$b" "$s")" "Gb/s" k-bulk-off - "$cmd"
    row "$id-cpu" cpu "$label: CPU per GiB" "$(per_gib "$c" "$b")" "cpu-s/GiB" k-bulk-off-cpu - "(same run)" "utime+stime of tcpbench and $tool"
    ip netns del "$PI"; ip netns del "$PO"
}

run_bulk() {
    kernel_bulk k-bulk-off "kernel<->kernel veth, offloads off, 1 conn" off 1
    kernel_bulk k-bulk-on "kernel<->kernel veth, offloads on, 1 conn" on 1
    kernel_bulk k-bulk-off-8 "kernel<->kernel veth, offloads off, 8 conns" off 8
    kernel_bulk k-bulk-on-8 "kernel<->kernel veth, offloads on, 8 conns" on 8
    userspace_bulk pasta-bulk "pasta, MTU 1500, 1 conn" pasta
    userspace_bulk slirp-bulk "slirp4netns, MTU 1500, 1 conn" slirp
    local g1="min:4,rmin:0.65,vs:pasta-bulk:rmin:3,vs:slirp-bulk:rmin:3"
    emu_bulk emu-tx "emulator -> kernel, embedded, 1 conn" tx embedded 1 k-bulk-off "$g1"
    emu_bulk emu-rx "kernel -> emulator, embedded, 1 conn" rx embedded 1 k-bulk-off "$g1"
    emu_bulk emu-tx-d "emulator -> kernel, daemon, 1 conn" tx daemon 1 k-bulk-off "$g1"
    emu_bulk emu-rx-d "kernel -> emulator, daemon, 1 conn" rx daemon 1 k-bulk-off "$g1"
    emu_bulk emu-tx-d8 "emulator -> kernel, daemon, 8 conns, one process" tx daemon 8 k-bulk-off-8 "rmin:0.65"
    emu_bulk emu-rx-d8 "kernel -> emulator, daemon, 8 conns, one process" rx daemon 8 k-bulk-off-8 "rmin:0.65"
    # Segmentation-offload mode (TSO/LRO through the TAP's virtio-net header): against the kernel with offloads on. An
    # embedded target opens the TAP itself: the daemon of the rows above must let go of it first.
    stop_daemon
    # 8 connections from one embedded process (connect --parallel 8 --link tap:oe0): one target, one host stack.
    # BENCH_QUEUES=2: over two queues of the (then multi_queue) TAP, one engine loop each.
    local q=() ql=""; [[ $EMB_QUEUES -gt 1 ]] && { q=("--queues $EMB_QUEUES"); ql=", $EMB_QUEUES queues"; }
    emu_bulk emu-tx-8 "emulator -> kernel, embedded, 8 conns, one process$ql" tx embedded 8 k-bulk-off-8 "rmin:0.65" "${q[@]}"
    emu_bulk emu-rx-8 "kernel -> emulator, embedded, 8 conns, one process$ql" rx embedded 8 k-bulk-off-8 "rmin:0.65" "${q[@]}"
    # The same embedded rows with the optional transmit thread (Nic:TransmitThread, docs/target.md): off by default,
    # measured here so a quiet run says whether it should be on.
    emu_bulk emu-tx-tt "emulator -> kernel, embedded, 1 conn, transmit thread" tx embedded 1 k-bulk-off "$g1" --transmit-thread
    emu_bulk emu-rx-tt "kernel -> emulator, embedded, 1 conn, transmit thread" rx embedded 1 k-bulk-off "$g1" --transmit-thread
    emu_bulk seg-offload-tx "emulator -> kernel, segmentation offload, embedded, 1 conn" tx embedded 1 k-bulk-on "min:15,rmin:1" --segmentation-offload
    emu_bulk seg-offload-rx "kernel -> emulator, segmentation offload, embedded, 1 conn" rx embedded 1 k-bulk-on "min:15,rmin:1" --segmentation-offload
    # The same mode through offloademud (Link:SegmentationOffload=true): no goal of its own; against the same kernel pair.
    emu_bulk seg-offload-tx-d "emulator -> kernel, segmentation offload, daemon, 1 conn" tx daemon-segoff 1 k-bulk-on -
    emu_bulk seg-offload-rx-d "kernel -> emulator, segmentation offload, daemon, 1 conn" rx daemon-segoff 1 k-bulk-on -
    stop_daemon
}

# --- request/response ---------------------------------------------------------------------------------------------------
# Placement: "1cpu" both ends on CPU 0; "2cpu" server on CPU 0, client on CPU 1 (the emulator's threads all on CPU 0).
cpus_of() { if [[ $1 == 1cpu || $NCPU -lt 2 ]]; then echo "0 0"; else echo "0 1"; fi; }

kernel_rr() {
    local id=$1 place=$2 c0 c1
    read -r c0 c1 < <(cpus_of "$place")
    progress "kernel<->kernel 1-byte ping-pong, CPUs $c0/$c1"
    kpair_up; kpair_offloads off; next_port
    spawn /dev/null "$WORK/$id.srv" taskset -c "$c0" ip netns exec "$KA" "$TB" echo 198.18.2.1 "$PORT"
    local srv=$SPAWNED; sleep 0.2
    spawn /dev/null "$WORK/$id.cli" taskset -c "$c1" ip netns exec "$KB" "$TB" rr 198.18.2.1 "$PORT" "$SECONDS_PER_RUN"
    local cli=$SPAWNED
    wait_pid "$cli" $((SECONDS_PER_RUN + 30)); wait_pid "$srv" 5
    local cmd="taskset -c $c0 tcpbench echo | taskset -c $c1 tcpbench rr (veth)"
    row "$id" rr "kernel<->kernel ping-pong, CPUs $c0/$c1" "$(kv tps "$WORK/$id.cli")" "trans/s" - - "$cmd"
    row "$id-p50" rr "  round trip p50" "$(kv p50_us "$WORK/$id.cli")" "us" - - "(same run)"
    row "$id-p99" rr "  round trip p99" "$(kv p99_us "$WORK/$id.cli")" "us" - - "(same run)"
}

emu_rr() {
    local id=$1 place=$2 where=$3 kid=$4 c0 c1
    local extra=("${@:5}")   # more `listen` options (--busy-poll US)
    read -r c0 c1 < <(cpus_of "$place")
    progress "emulator ($where${extra[*]:+ ${extra[*]}}) 1-byte ping-pong, CPUs $c0/$c1"
    lab_up; next_port
    local srv tag
    if [[ $where == daemon ]]; then
        start_daemon
        taskset -a -p -c "$c0" "$DAEMON_PID" >/dev/null
        spawn /dev/null "$WORK/$id.srv" taskset -c "$c0" ip netns exec "$LAB_NS" "${OE[@]}" listen "$PORT" --echo "${DMN[@]}" --json --timeout $((SECONDS_PER_RUN + 90))
        tag="--daemon SOCK (offloademud on CPU $c0)"
    else
        spawn /dev/null "$WORK/$id.srv" taskset -c "$c0" ip netns exec "$LAB_NS" "${OE[@]}" listen "$PORT" --echo "${EMB[@]}" "${extra[@]}" --json --timeout $((SECONDS_PER_RUN + 90))
        tag="--link tap:oe0${extra[*]:+ ${extra[*]}}"
        local i
        for ((i = 0; i < 200; i++)); do ip -n "$LAB_NS" link show oe0 | grep -q NO-CARRIER || break; sleep 0.1; done
    fi
    srv=$SPAWNED
    sleep 1
    spawn /dev/null "$WORK/$id.cli" taskset -c "$c1" ip netns exec "$LAB_NS" "$TB" rr 198.18.0.2 "$PORT" "$SECONDS_PER_RUN"
    local cli=$SPAWNED
    wait_pid "$cli" $((SECONDS_PER_RUN + 40)); wait_pid "$srv" 15
    [[ $where == daemon ]] && taskset -a -p -c "$ALLCPUS" "$DAEMON_PID" >/dev/null
    local cmd="taskset -c $c0 offloademu listen --echo $tag | taskset -c $c1 tcpbench rr 198.18.0.2"
    [[ -z $(kv tps "$WORK/$id.cli") ]] && say "  row $id failed: $(tail -3 "$WORK/$id.cli" "$WORK/$id.srv" 2>/dev/null | tr '\n' ' ')"
    row "$id" rr "emulator ($where${extra[*]:+ ${extra[*]}}) ping-pong, CPUs $c0/$c1" "$(kv tps "$WORK/$id.cli")" "trans/s" "$kid" "rmin:0.8" "$cmd"
    row "$id-p50" rr "  round trip p50" "$(kv p50_us "$WORK/$id.cli")" "us" "$kid-p50" - "(same run)"
    # Goal 3's "send completion p99 <= 2x the round trip": the kernel client's p99 round trip through the emulator
    # against the kernel pair's p50 round trip (a send completes when the peer's ACK is back, about one round trip).
    row "$id-p99" rr "  round trip p99" "$(kv p99_us "$WORK/$id.cli")" "us" "$kid-p50" "rmax:2" "(same run)" "ratio: against the kernel pair's p50"
    # The same goal measured directly: the server's offloaded sends, TcpOffloadSend to its completion (the CLI's
    # send_completion_us, the whole run), against this run's round trip p50.
    local sc; sc=$(grep -o '"send_completion_us":{[^}]*}' "$WORK/$id.srv" | tail -1 | sed -n 's/.*"p99":\([0-9.e+]*\).*/\1/p')
    row "$id-sc-p99" rr "  send completion p99 (server)" "$sc" "us" "$id-p50" "rmax:2" "(same run)" "ratio: against this run's round trip p50"
}

run_rr() {
    kernel_rr k-rr-1 1cpu
    emu_rr emu-rr-1 1cpu embedded k-rr-1
    [[ $NCPU -ge 2 ]] && { kernel_rr k-rr-2 2cpu; emu_rr emu-rr-2 2cpu embedded k-rr-2; }
    # The engine's busy poll (Nic:BusyPollMicroseconds): it keeps polling 20 us (sched_yield between rounds) before it
    # sleeps, so the reply's send request usually finds it awake.
    emu_rr emu-rr-1-bp 1cpu embedded k-rr-1 --busy-poll 20
    [[ $NCPU -ge 2 ]] && emu_rr emu-rr-2-bp 2cpu embedded k-rr-2 --busy-poll 20
    # Inline completions (Nic:InlineCompletions): the engine runs the host stack's handlers itself, so a turn costs the
    # kernel client's wake-up and the engine's, as the kernel pair's does, without the completion worker in between.
    emu_rr emu-rr-1-ic 1cpu embedded k-rr-1 --inline-completions
    [[ $NCPU -ge 2 ]] && emu_rr emu-rr-2-ic 2cpu embedded k-rr-2 --inline-completions
    emu_rr emu-rr-d1 1cpu daemon k-rr-1
    [[ $NCPU -ge 2 ]] && emu_rr emu-rr-d2 2cpu daemon k-rr-2
}

# --- churn ------------------------------------------------------------------------------------------------------------
run_churn() {
    progress "offload churn in-process"
    dotnet "$BENCH_DLL" churn-local "$SECONDS_PER_RUN" >"$WORK/churn-local.out" 2>&1
    row churn-local churn "initiate+terminate in-process (neighbour+path+TCP tree)" "$(kv ops_per_s "$WORK/churn-local.out")" "ops/s" - "min:100000" \
        "OffloadEmu.Benchmarks churn-local $SECONDS_PER_RUN" "no kernel figure: the kernel has no offload; MemoryLink, one thread"
    progress "offload churn through the daemon"
    start_daemon
    # One connection alone (the latency of a pair), then BENCH_CHURN_INFLIGHT (32) cycling at once, as a host stack
    # offloading many connections keeps several initiates and terminates in flight.
    local inflight="${BENCH_CHURN_INFLIGHT:-32}"
    dotnet "$BENCH_DLL" churn-daemon "$SOCK" 198.18.0.2/24 "$SECONDS_PER_RUN" "$inflight" >"$WORK/churn-daemon.out" 2>&1
    [[ -z $(kv ops_per_s "$WORK/churn-daemon.out") ]] && say "  churn-daemon failed: $(tail -3 "$WORK/churn-daemon.out" | tr '\n' ' ')"
    row churn-daemon-1 churn "terminate+initiate through the daemon, one at a time" "$(kv serial_ops_per_s "$WORK/churn-daemon.out")" "ops/s" - - \
        "OffloadEmu.Benchmarks churn-daemon SOCK 198.18.0.2/24 $SECONDS_PER_RUN $inflight" "p50 $(kv serial_p50_us "$WORK/churn-daemon.out") us, p99 $(kv serial_p99_us "$WORK/churn-daemon.out") us per pair"
    row churn-daemon churn "terminate+initiate through the daemon, $inflight in flight (TCP object)" "$(kv ops_per_s "$WORK/churn-daemon.out")" "ops/s" - "min:20000" \
        "OffloadEmu.Benchmarks churn-daemon SOCK 198.18.0.2/24 $SECONDS_PER_RUN $inflight" "synthetic connections uploaded and offloaded again (RemoteOffloadTarget); $(kv alloc_bytes_per_op "$WORK/churn-daemon.out") B allocated per pair in the client"
}

# --- scale ------------------------------------------------------------------------------------------------------------
run_scale() {
    progress "scale: $SCALE_N idle + $ACTIVE active connections through the daemon"
    start_daemon
    # One listener port per 15,000 connections (the emulator's k-th connection goes to port + k / 15,000) and one
    # `tcpbench hold` per port: a process may hold only as many sockets as its open-file limit, and where the hard
    # limit is low and cannot be raised (20,000 in the project's sandbox) one process would stop accepting there.
    local total=$((SCALE_N + ACTIVE)) nports
    nports=$(( (total + 14999) / 15000 ))
    next_port; local port=$((PORT + 1000))
    local holds=() i j
    for ((j = 0; j < nports; j++)); do
        spawn /dev/null "$WORK/hold.$j.out" ip netns exec "$LAB_NS" "$TB" hold 198.18.0.1 "$((port + j))" 1
        holds+=("$SPAWNED")
        for ((i = 0; i < 50; i++)); do grep -qs ready "$WORK/hold.$j.out" && break; sleep 0.1; done
    done
    ip netns exec "$LAB_NS" sysctl -qw net.ipv4.tcp_max_syn_backlog=65536 net.core.somaxconn=65536 2>/dev/null || true
    spawn /dev/null "$WORK/scale.out" ip netns exec "$LAB_NS" dotnet "$BENCH_DLL" scale "$SOCK" "$DAEMON_PID" 198.18.0.2/24 198.18.0.1 \
        "$port" "$nports" "$SCALE_N" "$ACTIVE" "$SECONDS_PER_RUN" "$IDLE_SECONDS"
    local sc=$SPAWNED
    while kill -0 "$sc" 2>/dev/null; do
        sleep 1
        [[ -s $WORK/scale.out ]] && grep -h '^scale:' "$WORK/scale.out" | tail -1 | grep -v -x -F -f "$WORK/scale.seen" 2>/dev/null >&2
        grep -h '^scale:' "$WORK/scale.out" >"$WORK/scale.seen" 2>/dev/null
    done
    wait "$sc" 2>/dev/null
    for j in "${holds[@]}"; do stop_pid "$j" 5; wait "$j" 2>/dev/null; done
    local f="$WORK/scale.out"
    [[ -z $(kv bytes_per_conn "$f") ]] && say "  scale failed: $(tail -3 "$f" | tr '\n' ' ')"
    local cmd="OffloadEmu.Benchmarks scale SOCK DAEMON_PID ... $SCALE_N idle $ACTIVE active (tcpbench hold)"
    row scale-mem scale "daemon VmRSS per idle offloaded conn ($SCALE_N), everything" "$(kv bytes_per_conn "$f")" "bytes" - - "$cmd" \
        "VmRSS delta / N: objects, buffers, heap slack; $(kv idle_offloaded "$f") offloaded, opened in $(kv open_s "$f") s"
    row scale-heap scale "daemon managed heap per idle offloaded conn ($SCALE_N), excluding buffers" "$(kv heap_bytes_per_conn "$f")" "bytes" - "max:2048" "(same run)" \
        "live bytes after a full GC (diagnostics port), delta / N, less the receive buffers held"
    row scale-rcvbuf scale "receive buffers held per idle offloaded conn ($SCALE_N)" "$(kv rcvbuf_bytes_per_conn "$f")" "bytes" - - "(same run)" \
        "gauge offloademu.target.receive_buffer_bytes / N (pooled storage, taken only while data is buffered)"
    row scale-cpu scale "daemon CPU while $SCALE_N conns idle" "$(awk -v c="$(kv idle_cpu_core "$f")" 'BEGIN { if (c != "") printf "%.3f", c * 100 }')" "% of a core" - "max:2" "(same run)" \
        "utime+stime of offloademud over ${IDLE_SECONDS} s"
    row scale-alone scale "$ACTIVE active conns alone" "$(gbps "$(kv alone_Bps "$f")" 1)" "Gb/s" - - "(same run)" "bytes written between 1 s and 1+${SECONDS_PER_RUN} s"
    row scale-among scale "$ACTIVE active among $SCALE_N idle" "$(gbps "$(kv among_Bps "$f")" 1)" "Gb/s" scale-alone "rmin:0.9" "(same run)" "ratio: against the same $ACTIVE alone"
}

# --- run ----------------------------------------------------------------------------------------------------------------
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_TIME=$(date -u +%Y-%m-%dT%H:%M:%SZ)
say "$NCPU CPUs, kernel $(uname -r), load $START_LOAD; ${SECONDS_PER_RUN}s per row$([[ $SMOKE == 1 ]] && echo ', smoke')"
# Embedded rows need the TAP to themselves: each part runs its embedded rows before it starts the daemon.
if [[ $MODE == all || $MODE == bulk ]]; then run_bulk; fi
if [[ $MODE == all || $MODE == rr ]]; then stop_daemon; run_rr; fi
if [[ $MODE == all || $MODE == churn ]]; then run_churn; fi
if [[ $MODE == all || $MODE == scale ]]; then run_scale; fi
stop_daemon

COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo "+dirty")
python3 "$HERE/bench/report.py" "$ROWS" --cpus "$NCPU" --kernel "$(uname -r)" --load-start "$START_LOAD" \
    --load-end "$(cut -d' ' -f1-3 /proc/loadavg)" --time "$START_TIME" --commit "$COMMIT" --seconds "$SECONDS_PER_RUN" \
    --mode "$MODE" ${JSON_OUT:+--json "$JSON_OUT"}
