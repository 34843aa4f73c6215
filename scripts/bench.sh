#!/usr/bin/env bash
# TAP throughput: C reference (scripts/bench/tapbench.c, built here with gcc) vs the C# TapDevice
# (OffloadEmu.Benchmarks "tap" mode), both attached to the lab TAP oe0 inside namespace oe-lab.
#
#   sudo scripts/bench.sh [all|tap|micro|target]   # default all; BENCH_SECONDS=5, BENCH_RUNS=3
#
# micro: BenchmarkDotNet (short job, memory diagnoser): Internet checksum vector vs scalar at
#        64/1500/9000/65536 bytes, TCP/IPv4 frame parse+validate and emit.
# target: the offload target over MemoryLink (BenchmarkDotNet, short job: initiate+terminate, 1-byte
#        send-completion latency, bulk send per segment with allocations), then the kernel reference
#        scripts/bench/tcploop.c (loopback TCP at MTU 1500, offloads off, one CPU) in a namespace oe-bk<pid>
#        that the script makes and removes.
# tap:   the TAP frame rate below. If the lab is not up, the script brings it up and takes it
#        down again at the end; a lab that was already up is left as it was.
#
# What is measured (frames/s, after 1 s of warm-up, frames of 64 and 1514 bytes):
#   write  the program writes frames into the TAP as fast as it can, one write() per frame. They are
#          addressed to the TAP's kernel MAC with EtherType 0x88B5, which no protocol handles, so
#          the kernel frees each one right after the tun driver built its skb.
#   read   `tapbench flood` (AF_PACKET, PACKET_QDISC_BYPASS) sends frames out of oe0 on the kernel
#          side as fast as one CPU allows; the program reads them from the TAP fd. The figure is
#          what the reader consumed; the kernel drops what it cannot queue (tun txqueue), so a
#          reader that keeps up with the flood reports the flood's rate (the ratio is then ~1).
# Ratio = C# / C. The C program uses blocking read()/write(); the C# device uses a non-blocking fd
# (poll only when nothing is queued) and batches of 32 frames per Send/Receive call.
# Run by itself: both sides share the machine's CPUs with anything else running.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SECONDS_PER_RUN="${BENCH_SECONDS:-5}"
RUNS="${BENCH_RUNS:-3}"   # each figure is the median of RUNS runs, C and C# interleaved
NS=oe-lab; TAP=oe0

MODE="${1:-all}"
case "$MODE" in all|tap|micro|target) ;; *) echo "usage: bench.sh [all|tap|micro|target]" >&2; exit 2 ;; esac

if [[ $MODE == all || $MODE == target ]]; then
    echo "== offload target (BenchmarkDotNet, short job)"
    (cd "$ROOT" && dotnet run -c Release --project tests/OffloadEmu.Benchmarks -- \
        --filter '*OffloadTargetBenchmarks*' --job short --memory --exporters markdown) \
        | grep -E '^\|' || true
    echo "== kernel reference (loopback TCP, MTU 1500, one CPU)"
    [[ $EUID -eq 0 ]] || { echo "bench: the kernel reference must run as root (namespace)" >&2; exit 1; }
    KWORK="$(mktemp -d /tmp/oe-bench.XXXXXX)"
    KNS="oe-bk$$"
    gcc -O2 -Wall -Wextra -pthread -o "$KWORK/tcploop" "$HERE/bench/tcploop.c"
    ip netns add "$KNS"
    ip -n "$KNS" link set lo mtu 1500
    ip -n "$KNS" link set lo up
    ip netns exec "$KNS" ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec "$KNS" "$KWORK/tcploop" bulk "$SECONDS_PER_RUN" || true
    ip netns exec "$KNS" "$KWORK/tcploop" pingpong "$SECONDS_PER_RUN" || true
    ip netns del "$KNS"
    rm -rf "$KWORK"
    [[ $MODE == target ]] && exit 0
fi

if [[ $MODE == all || $MODE == micro ]]; then
    echo "== micro-benchmarks (BenchmarkDotNet, short job)"
    (cd "$ROOT" && dotnet run -c Release --project tests/OffloadEmu.Benchmarks -- \
        --filter '*Checksum*' '*TcpCodec*' '*TcpMachine*' --job short --memory --exporters markdown) \
        | grep -E '^\|' || true
    [[ $MODE == micro ]] && exit 0
fi

echo "== TAP frame rate"
[[ $EUID -eq 0 ]] || { echo "bench: the TAP benchmark must run as root" >&2; exit 1; }
command -v gcc >/dev/null || { echo "bench: gcc not found (apt-get install gcc)" >&2; exit 1; }
LAB_STARTED=0
if ! ip -n "$NS" link show "$TAP" >/dev/null 2>&1; then "$HERE/lab.sh" up >/dev/null; LAB_STARTED=1; fi

WORK="$(mktemp -d /tmp/oe-bench.XXXXXX)"
FLOOD_PID=""
cleanup() {
    if [[ -n $FLOOD_PID ]] && kill -0 "$FLOOD_PID" 2>/dev/null; then kill "$FLOOD_PID" 2>/dev/null || true; wait "$FLOOD_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
    if [[ $LAB_STARTED == 1 ]]; then "$HERE/lab.sh" down >/dev/null || true; fi
}
trap cleanup EXIT

gcc -O2 -Wall -Wextra -o "$WORK/tapbench" "$HERE/bench/tapbench.c"
dotnet build -c Release "$ROOT/tests/OffloadEmu.Benchmarks" -v q -nologo >/dev/null
CS_DLL="$ROOT/tests/OffloadEmu.Benchmarks/bin/Release/net10.0/OffloadEmu.Benchmarks.dll"

fps() { sed -n 's/.*fps=\([0-9]*\).*/\1/p' | tail -1; }

run_c_write()  { ip netns exec "$NS" "$WORK/tapbench" write "$TAP" "$1" "$SECONDS_PER_RUN" | fps; }
run_cs_write() { ip netns exec "$NS" dotnet "$CS_DLL" tap write "$TAP" "$1" "$SECONDS_PER_RUN" | fps; }
run_c_read()   { ip netns exec "$NS" "$WORK/tapbench" read "$TAP" "$SECONDS_PER_RUN" | fps; }
run_cs_read()  { ip netns exec "$NS" dotnet "$CS_DLL" tap read "$TAP" "$SECONDS_PER_RUN" | fps; }

# with_flood SIZE CMD...: runs CMD while the kernel side floods SIZE-byte frames out of the TAP.
with_flood() {
    local size=$1; shift
    local duration=$((SECONDS_PER_RUN + 4))
    ip netns exec "$NS" "$WORK/tapbench" flood "$TAP" "$size" "$duration" 2>/dev/null &
    FLOOD_PID=$!
    sleep 0.2
    "$@"
    kill "$FLOOD_PID" 2>/dev/null || true
    wait "$FLOOD_PID" 2>/dev/null || true
    FLOOD_PID=""
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'; }

# measure KIND SIZE: prints "C CS" medians, C and C# runs interleaved so drift hits both alike.
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
for kind in write read; do
    for size in 64 1514; do
        read -r c cs < <(measure "$kind" "$size")
        printf '%-6s %6s %14s %14s %8s\n' "$kind" "$size" "$c" "$cs" "$(ratio "$cs" "$c")"
    done
done
