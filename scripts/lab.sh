#!/usr/bin/env bash
# OffloadEmu lab: network namespaces with Linux kernel peers for the emulator.
#
#   lab.sh up        create everything below (idempotent: existing parts are kept)
#   lab.sh down      kill the servers by their recorded PIDs and remove everything lab.sh made
#   lab.sh status    print what exists
#   lab.sh exec CMD  run CMD inside the oe-lab namespace (e.g. lab.sh exec ping -c1 198.18.0.2)
#
# Topology (addresses only from 198.18.0.0/15, IPv6 disabled, loopback up, no default routes):
#   (a) namespace oe-lab: persistent TAP oe0 created INSIDE the namespace, kernel side
#       198.18.0.1/24. The emulator attaches to oe0 from inside oe-lab (TUNSETIFF only finds a TAP
#       in the caller's namespace; `lab.sh exec` or `ip netns exec oe-lab`) and plays 198.18.0.2.
#       No static neighbour: the kernel ARPs for 198.18.0.2. oe0 shows NO-CARRIER until attached.
#   (b) veth oe-emu0 (namespace oe-emu, no address: the emulator owns 198.18.1.2 itself through
#       AF_PACKET/pcap, so the oe-emu kernel must not answer for it) <-> oe-peer0 (namespace oe-peer,
#       198.18.1.1/24). Checksum/segmentation offloads off on both ends (tx tso gso gro).
#   Kernel TCP servers on 198.18.0.1 (oe-lab) and 198.18.1.1 (oe-peer), all socat:
#       7  echo      everything received is sent back
#       9  discard   everything received is dropped
#       19 chargen   endless deterministic RFC 864 pattern (scripts/lab-chargen.py)
#   State: $OE_LAB_STATE (default /run/offloademu-lab): one <ns>-<port>.pid per server and a log.
#   `down` kills only the PIDs recorded there, never by process name.
# Names: OE_LAB_NS (default oe-lab), OE_LAB_TAP (oe0), OE_LAB_EMU_NS (oe-emu), OE_LAB_PEER_NS (oe-peer) let a
# second lab run beside the first (scripts/demo.sh makes its own, oe-demo-<pid>); namespace names must start
# with oe-. OE_LAB_VETH=0 makes only part (a). Use the same variables for up, down, status and exec.
# OE_LAB_TAP_MULTI_QUEUE=1 creates the TAP with multi_queue (for offloademud with Nic:Queues > 1; docs/configuration.md).
set -euo pipefail

STATE="${OE_LAB_STATE:-/run/offloademu-lab}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHARGEN="$HERE/lab-chargen.py"
PY=/usr/bin/python3
LAB_NS=${OE_LAB_NS:-oe-lab}; TAP=${OE_LAB_TAP:-oe0}; TAP_ADDR=198.18.0.1; TAP_PREFIX=24
EMU_NS=${OE_LAB_EMU_NS:-oe-emu}; EMU_IF=oe-emu0
PEER_NS=${OE_LAB_PEER_NS:-oe-peer}; PEER_IF=oe-peer0; PEER_ADDR=198.18.1.1; PEER_PREFIX=24
VETH=${OE_LAB_VETH:-1}
PORTS=(7 9 19)
for n in "$LAB_NS" "$EMU_NS" "$PEER_NS"; do
    [[ $n == oe-* && ${#n} -le 64 && $n != */* ]] || { printf 'lab: error: namespace name %s must start with oe-\n' "$n" >&2; exit 2; }
done

log() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [[ $EUID -eq 0 ]] || die "must run as root"
    for t in ip socat ethtool sysctl; do command -v "$t" >/dev/null || die "'$t' not found"; done
    [[ -x $PY ]] || die "$PY not found (needed for the chargen server)"
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

make_ns() {
    local ns=$1
    if ! ns_exists "$ns"; then ip netns add "$ns"; log "namespace $ns created"; fi
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    # Reno/CUBIC-shaped behaviour for comparisons (the host default may be BBR); optional.
    in_ns "$ns" sysctl -qw net.ipv4.tcp_congestion_control=cubic 2>/dev/null || true
    ip -n "$ns" link set lo up
}

offloads_off() { in_ns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start_server NS ADDR PORT: one socat per port, PID recorded in $STATE/NS-PORT.pid.
start_server() {
    local ns=$1 addr=$2 port=$3 pidf="$STATE/$1-$3.pid" listen
    if pid_alive "$pidf"; then return; fi
    listen="TCP-LISTEN:$port,bind=$addr,fork,reuseaddr"
    local -a cmd
    case $port in
        # -b 4096: with socat's default 8 KiB blocks, PIPE deadlocks under bulk traffic (socat blocks
        # writing into its own full pipe, of which it is the only reader, and the window stays shut).
        7)  cmd=(socat -b 4096 "$listen" PIPE) ;;
        9)  cmd=(socat -u "$listen" OPEN:/dev/null) ;;
        # -U: data flows right to left; the listener comes first so each connection gets its own
        # generator from the start of the pattern.
        19) cmd=(socat -U "$listen" EXEC:"$PY $CHARGEN") ;;
    esac
    # setsid (no -f) execs in place when not a group leader, and so does `ip netns exec`:
    # $! is socat's own PID, and socat leads a new process group holding its per-connection children.
    setsid ip netns exec "$ns" "${cmd[@]}" </dev/null >>"$STATE/$ns-$port.log" 2>&1 &
    echo $! >"$pidf"
    sleep 0.2
    pid_alive "$pidf" || die "server $ns $addr:$port did not start (see $STATE/$ns-$port.log)"
    log "server $addr:$port in $ns pid $(cat "$pidf")"
}

up() {
    need_root
    mkdir -p "$STATE"

    # (a) oe-lab with the persistent TAP created inside it.
    make_ns "$LAB_NS"
    if ! ip -n "$LAB_NS" link show "$TAP" >/dev/null 2>&1; then
        if [[ ${OE_LAB_TAP_MULTI_QUEUE:-0} == 1 ]]; then in_ns "$LAB_NS" ip tuntap add dev "$TAP" mode tap multi_queue
        else in_ns "$LAB_NS" ip tuntap add dev "$TAP" mode tap; fi
        touch "$STATE/tap-created"
        log "TAP $TAP created (persistent) in $LAB_NS"
    fi
    in_ns "$LAB_NS" sysctl -qw "net.ipv6.conf.$TAP.disable_ipv6=1"
    ip -n "$LAB_NS" addr replace "$TAP_ADDR/$TAP_PREFIX" dev "$TAP"
    ip -n "$LAB_NS" link set "$TAP" up

    for p in "${PORTS[@]}"; do start_server "$LAB_NS" "$TAP_ADDR" "$p"; done
    if [[ $VETH == 0 ]]; then log "up: emulator at 198.18.0.2 on $TAP (ns $LAB_NS); no veth part (OE_LAB_VETH=0)"; return; fi

    # (b) veth between oe-emu and oe-peer.
    make_ns "$EMU_NS"
    make_ns "$PEER_NS"
    if ! ip -n "$EMU_NS" link show "$EMU_IF" >/dev/null 2>&1; then
        ip -n "$EMU_NS" link add "$EMU_IF" type veth peer name "$PEER_IF" netns "$PEER_NS"
        log "veth $EMU_NS/$EMU_IF <-> $PEER_NS/$PEER_IF created"
    fi
    in_ns "$EMU_NS" sysctl -qw "net.ipv6.conf.$EMU_IF.disable_ipv6=1"
    in_ns "$PEER_NS" sysctl -qw "net.ipv6.conf.$PEER_IF.disable_ipv6=1"
    offloads_off "$EMU_NS" "$EMU_IF"
    offloads_off "$PEER_NS" "$PEER_IF"
    ip -n "$PEER_NS" addr replace "$PEER_ADDR/$PEER_PREFIX" dev "$PEER_IF"
    ip -n "$EMU_NS" link set "$EMU_IF" up
    ip -n "$PEER_NS" link set "$PEER_IF" up

    for p in "${PORTS[@]}"; do start_server "$PEER_NS" "$PEER_ADDR" "$p"; done
    log "up: emulator at 198.18.0.2 on $TAP (ns $LAB_NS) and 198.18.1.2 on $EMU_IF (ns $EMU_NS)"
}

down() {
    need_root
    if [[ -d $STATE ]]; then
        for pidf in "$STATE"/*.pid; do
            [[ -e $pidf ]] || continue
            local pid; pid=$(cat "$pidf")
            if kill -0 "$pid" 2>/dev/null; then
                # The recorded PID leads its own process group (setsid): signal the group so the
                # per-connection children and chargen generators go too.
                kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
                for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || true; }
                log "killed pid $pid and its group ($(basename "$pidf" .pid))"
            fi
            rm -f "$pidf"
        done
    fi
    if ns_exists "$LAB_NS" && ip -n "$LAB_NS" link show "$TAP" >/dev/null 2>&1; then
        in_ns "$LAB_NS" ip tuntap del dev "$TAP" mode tap || true
    fi
    for ns in "$LAB_NS" "$EMU_NS" "$PEER_NS"; do
        if ns_exists "$ns"; then ip netns del "$ns"; log "namespace $ns removed"; fi
    done
    rm -rf "$STATE"
    log "down"
}

status() {
    for ns in "$LAB_NS" "$EMU_NS" "$PEER_NS"; do
        if ns_exists "$ns"; then
            echo "namespace $ns:"
            ip -n "$ns" -br addr show | sed 's/^/  /'
        else
            echo "namespace $ns: absent"
        fi
    done
    echo "servers (state $STATE):"
    local any=0
    for pidf in "$STATE"/*.pid; do
        [[ -e $pidf ]] || continue
        any=1
        if pid_alive "$pidf"; then echo "  $(basename "$pidf" .pid) pid $(cat "$pidf") running"
        else echo "  $(basename "$pidf" .pid) pid $(cat "$pidf") DEAD"; fi
    done
    [[ $any -eq 1 ]] || echo "  none"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    exec) shift; [[ $# -gt 0 ]] || die "usage: lab.sh exec CMD..."; need_root; exec ip netns exec "$LAB_NS" "$@" ;;
    *) echo "usage: $0 up|down|status|exec CMD..." >&2; exit 2 ;;
esac
