#!/usr/bin/env bash
# OffloadEmu end-to-end demo (README "Main job"; issue 7). As root, on Debian:
#
#   scripts/demo.sh [--quick] [--size N] [--upload-every N] [--capture FILE] [--no-build]
#
# Installs what it needs (apt packages, dotnet restore), builds the daemon and the CLI in Release, brings up a lab of
# its own (scripts/lab.sh up with namespace oe-demo-<pid>: TAP oe0, the kernel at 198.18.0.1 with echo/discard/chargen
# servers), starts offloademud on that TAP with the repository's emulator.json (overriding only the capture file, the
# control socket and the log file), and runs through offloademu:
#   1. active: connect to the kernel's echo server, offloaded right after the handshake, N bytes echoed back and checked
#      by SHA-256, uploaded and re-offloaded every --upload-every bytes; our side closes first (graceful, FIN);
#   2. passive: the kernel connects in to `offloademu listen --echo`, N bytes each way, hashed on the kernel side; the
#      kernel closes first (graceful, FIN);
#   3. abortive closes: ours, `offloademu drive` connects to the kernel's discard server, sends 1 MiB while offloaded
#      and disconnects abortively (the offload target sends the RST); then the kernel's, connecting in to
#      `offloademu listen --sink` and closing with SO_LINGER 0;
# then prints the daemon's statistics, stops the daemon and gives a one-line tshark verdict of the capture.
# Tears everything down at the end and on Ctrl+C (processes by PID, the lab by lab.sh down); exit status 1 if any
# check failed, 2 for a usage error.
#
# Defaults: 256 MiB per transfer, re-offload every 32 MiB, capture out/demo.pcapng. --quick: 16 MiB, every 4 MiB.
# Environment: OE_DEMO_NS (lab namespace name, default oe-demo-<pid>, must start with oe-).
set -uo pipefail
cd "$(dirname "$0")/.."
root_dir=$(pwd)

size=256M; every=32M; capture=out/demo.pcapng; build=1; quick=0
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; size=16M; every=4M ;;
    --size) size=${2:?--size needs a value}; shift ;;
    --upload-every) every=${2:?--upload-every needs a value}; shift ;;
    --capture) capture=${2:?--capture needs a file}; shift ;;
    --no-build) build=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

bytes_of() { # 16M -> 16777216
  local v=$1 m=1
  case $v in *[kK]) m=1024; v=${v%?} ;; *[mM]) m=$((1024*1024)); v=${v%?} ;; *[gG]) m=$((1024*1024*1024)); v=${v%?} ;; esac
  [[ $v =~ ^[0-9]+$ ]] || { echo "demo: '$1' is not a size (e.g. 256M)" >&2; exit 2; }
  echo $((v * m))
}
size_b=$(bytes_of "$size") && every_b=$(bytes_of "$every") || exit 2
[ "$size_b" -gt 0 ] && [ "$every_b" -gt 0 ] || { echo "demo: sizes must be positive" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (network namespaces and a TAP): sudo $0" >&2; exit 2; }
case $capture in /*) ;; *) capture="$root_dir/$capture" ;; esac

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { echo; bold "== $*"; }
failures=()
check() { # check NAME CONDITION-EXIT-STATUS
  if [ "$2" -eq 0 ]; then printf '  check: %s: ok\n' "$1"; else printf '  check: %s: FAILED\n' "$1"; failures+=("$1"); fi
}

ns=${OE_DEMO_NS:-oe-demo-$$}
[[ $ns == oe-* ]] || { echo "demo: OE_DEMO_NS must start with oe-" >&2; exit 2; }
run=$(mktemp -d /run/offloademu-demo.XXXXXX)
sock=$run/control.sock
export OE_LAB_NS=$ns OE_LAB_STATE=$run/lab OE_LAB_VETH=0
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
oe=(dotnet "$root_dir/src/OffloadEmu.Cli/bin/Release/net10.0/offloademu.dll")
daemon_dll="$root_dir/src/OffloadEmu.Daemon/bin/Release/net10.0/offloademud.dll"
daemon_log="$root_dir/out/demo-offloademud.log"
pids=()       # every process the demo starts, ended by PID
daemon_pid=""
lab_up=0

stop_pid() { # TERM, wait up to $2 seconds, then KILL
  local pid=$1 secs=${2:-5} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null; echo "demo: pid $pid did not stop on TERM within $secs s; killed" >&2
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do [ "$pid" = "$daemon_pid" ] || stop_pid "$pid" 5; done
  [ -n "$daemon_pid" ] && stop_pid "$daemon_pid" 35
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ $lab_up -eq 1 ] && scripts/lab.sh down >"$run/lab-down.log" 2>&1
  rm -rf "$run"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted; tearing down" >&2; exit 130' INT TERM

start=$(date +%s)

# --- 1. packages, restore, build ---------------------------------------------------------------
if [ $build -eq 1 ]; then
  step "install and build"
  need=()
  have() { command -v "$1" >/dev/null 2>&1; }
  have ip || need+=(iproute2); have socat || need+=(socat); have ethtool || need+=(ethtool)
  have sysctl || need+=(procps); have tshark || need+=(tshark); [ -x /usr/bin/python3 ] || need+=(python3)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { echo "demo: apt-get install failed" >&2; exit 1; }
  fi
  command -v dotnet >/dev/null || { echo "demo: dotnet not found on PATH (need the .NET 10 SDK, global.json)" >&2; exit 1; }
  dotnet restore OffloadEmu.sln --nologo -v q || exit 1
  for p in src/OffloadEmu.Daemon src/OffloadEmu.Cli; do
    dotnet build "$p" -c Release --no-restore --nologo -v q -clp:ErrorsOnly || { echo "demo: build of $p failed" >&2; exit 1; }
  done
fi
[ -f "$daemon_dll" ] && [ -f "${oe[1]}" ] || { echo "demo: not built (run without --no-build)" >&2; exit 1; }

# --- 2. lab and daemon ---------------------------------------------------------------------------
step "lab ($ns) and offloademud"
lab_up=1
scripts/lab.sh up >"$run/lab-up.log" 2>&1 || { cat "$run/lab-up.log"; echo "demo: lab.sh up failed" >&2; exit 1; }
echo "lab: namespace $ns, TAP oe0, kernel 198.18.0.1/24 (echo 7, discard 9, chargen 19); emulator 198.18.0.2"
mkdir -p "$(dirname "$capture")" "$(dirname "$daemon_log")"
rm -f "$capture"
# The repository's emulator.json; only the capture file, the control socket and the log file are overridden.
OFFLOADEMU_Capture__File="$capture" OFFLOADEMU_Control__Endpoint="$sock" \
OFFLOADEMU_Logging__Serilog__WriteTo__1__Args__path="$run/logs/offloademud-.log" \
  setsid ip netns exec "$ns" dotnet "$daemon_dll" --config "$root_dir/emulator.json" </dev/null >"$daemon_log" 2>&1 &
daemon_pid=$!; pids+=("$daemon_pid")
for _ in $(seq 1 300); do
  [ -S "$sock" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
if ! [ -S "$sock" ]; then
  tail -n 20 "$daemon_log" >&2; echo "demo: offloademud did not open its control socket $sock (log: $daemon_log)" >&2; exit 1
fi
echo "offloademud pid $daemon_pid on tap:oe0, control $sock, capture $capture, log $daemon_log"

# start_oe NAME ARGS...: offloademu in the background (so Ctrl+C reaches the trap at once), its output to the
# terminal and to $run/NAME.out, its PID recorded for the teardown; sets $bg_pid. finish_oe NAME waits for it and
# for its output to be through, and sets $rc to its exit status.
start_oe() {
  local name=$1; shift
  { "${oe[@]}" "$@" 2>&1 & echo $! >"$run/$name.pid"; wait $!; echo $? >"$run/$name.rc"; } | tee "$run/$name.out" &
  local tee_pid=$!
  for _ in $(seq 1 100); do [ -s "$run/$name.pid" ] && break; sleep 0.05; done
  bg_pid=$(cat "$run/$name.pid"); pids+=("$bg_pid" "$tee_pid")
  tee_last[$name]=$tee_pid
}
declare -A tee_last
finish_oe() {
  wait "${tee_last[$1]}"
  rc=$(cat "$run/$1.rc" 2>/dev/null || echo 1)
}
run_oe() { start_oe "$@"; finish_oe "$1"; }
wait_line() { # wait_line FILE TEXT PID: until FILE has TEXT (or PID ends, or 30 s)
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; kill -0 "$3" 2>/dev/null || return 1; sleep 0.1; done
  return 1
}
timeout_s=$(( size_b / 1048576 * 2 + 60 ))

# --- 3. active connection ------------------------------------------------------------------------
step "1. active: $size to the kernel's echo server 198.18.0.1:7, offloaded after the handshake, re-offloaded every $every"
run_oe connect connect 198.18.0.1:7 --daemon "$sock" --local 198.18.0.2/24 --echo-check --send-bytes "$size_b" \
  --upload-every "$every_b" --offload immediate --timeout "$timeout_s"
check "active transfer exits 0" $rc
grep -q "bytes sent $size_b, received $size_b" "$run/connect.out"; check "echoed $size_b bytes back" $?
grep -q "^echo check: OK" "$run/connect.out"; check "SHA-256 of what was sent equals what came back" $?
cycles=$(sed -n 's/.*uploads [0-9]*, \([0-9]*\) upload\/re-offload cycles.*/\1/p' "$run/connect.out")
expect=$(( (size_b - 1) / every_b ))
[ "${cycles:-0}" -ge "$expect" ]; check "upload/re-offload cycles ${cycles:-0} >= $expect" $?

# --- 4. passive connection -----------------------------------------------------------------------
step "2. passive: the kernel connects in to 198.18.0.2:5001 (listen --echo), $size each way"
start_oe listen_echo listen 5001 --echo --daemon "$sock" --local 198.18.0.2/24 --offload immediate --timeout "$timeout_s"
listen_pid=$bg_pid
wait_line "$run/listen_echo.out" "^listening on" "$listen_pid"; check "listener up" $?
ip netns exec "$ns" /usr/bin/python3 scripts/demo-peer.py echo 198.18.0.2 5001 "$size_b" &
peer_pid=$!; pids+=("$peer_pid")
wait "$peer_pid"; peer_rc=$?
finish_oe listen_echo
check "kernel side: $size_b bytes each way, SHA-256 equal" $peer_rc
check "passive transfer exits 0" $rc
grep -q "bytes sent $size_b, received $size_b" "$run/listen_echo.out"; check "host stack echoed $size_b bytes" $?

# --- 5. abortive closes --------------------------------------------------------------------------
step "3a. abortive close from our side: offloademu drive to the kernel's discard server 198.18.0.1:9, 1 MiB, then RST"
/usr/bin/python3 scripts/demo-peer.py drive-abort "$sock" 198.18.0.1:9 1048576 -- "${oe[@]}" &
peer_pid=$!; pids+=("$peer_pid")
wait "$peer_pid"; check "our abortive disconnect of an offloaded connection completes SUCCESS" $?

step "3b. abortive close from the kernel's side: it connects in to 198.18.0.2:5002 (listen --sink), sends 1 MiB, closes with RST"
start_oe listen_sink listen 5002 --sink --daemon "$sock" --local 198.18.0.2/24 --offload immediate --timeout 60
listen_pid=$bg_pid
wait_line "$run/listen_sink.out" "^listening on" "$listen_pid"; check "listener up" $?
ip netns exec "$ns" /usr/bin/python3 scripts/demo-peer.py abort 198.18.0.2 5002 1048576 &
peer_pid=$!; pids+=("$peer_pid")
wait "$peer_pid"; peer_rc=$?
finish_oe listen_sink
check "kernel side sent 1 MiB and reset" $peer_rc
[ "$rc" -ne 0 ] && grep -qi "reset" "$run/listen_sink.out"; check "listen reports the reset (exit $rc)" $?

# --- 6. statistics -------------------------------------------------------------------------------
step "offloademud statistics"
# `offloademu status` is being added (issue 6): used when this build lists it, else the transfers' counters.
if "${oe[@]}" --help 2>/dev/null | grep -qE '^[[:space:]]+status([[:space:]]|$)'; then
  "${oe[@]}" status --daemon "$sock"; check "offloademu status" $?
else
  echo "(offloademu status is not in this build; the transfers' own counters:)"
  for f in connect listen_echo listen_sink; do
    printf '  %-12s %s\n' "$f" "$(grep -h '^offloads' "$run/$f.out" | tr '\n' ' ')"
  done
fi

# --- 7. stop the daemon, capture verdict ---------------------------------------------------------
step "capture"
stop_pid "$daemon_pid" 35; wait "$daemon_pid"; rc=$?
check "offloademud stopped cleanly (exit $rc)" $rc
daemon_pid=""
lua="$root_dir/scripts/wireshark/offloademu.lua"
if command -v tshark >/dev/null && [ -s "$capture" ]; then
  # One pass: per frame its interface, IP/TCP checksum status (0 = bad), ports, FIN/RST, malformed. About 1 million
  # frames with the default sizes: some 40 s on an idle 2-core machine.
  echo "tshark: reading $(capinfos -c -M "$capture" 2>/dev/null | sed -n 's/^Number of packets: *//p') frames..."
  tshark -n -r "$capture" -X "lua_script:$lua" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
      -o tcp.analyze_sequence_numbers:FALSE -T fields -E separator=/t -E occurrence=f \
      -e frame.interface_name -e ip.checksum.status -e tcp.checksum.status -e ip.src -e tcp.srcport -e tcp.dstport \
      -e tcp.flags.fin -e tcp.flags.reset -e _ws.malformed -e tcp.checksum -e tcp.checksum_calculated \
      >"$run/fields.tsv" 2>"$run/tshark.err" &
  tshark_pid=$!; pids+=("$tshark_pid"); t0=$(date +%s)
  wait "$tshark_pid"; check "tshark reads the capture ($(( $(date +%s) - t0 )) s)" $?
  verdict=$(awk -F'\t' '
    { frames++; ifn[$1]++
      # 0xffff for a computed 0x0000 is the same checksum in one s complement (RFC 1624); tshark 4.0 flags it.
      if ($3 == "0" && ($10 == "0xffff" || $10 == "0x0000") && ($11 == "0xffff" || $11 == "0x0000") && $2 != "0") negzero++
      else if ($2 == "0" || $3 == "0") bad++
      if ($9 != "") malformed++
      if ($7 == "1" || $7 == "True" || $8 == "1" || $8 == "True") {
        port = ($5 == 7 || $5 == 9 || $5 == 5001 || $5 == 5002) ? $5 : $6
        if (!(port in first)) first[port] = (($8 == "1" || $8 == "True") ? "RST" : "FIN") " from " $4
      } }
    END {
      line = sprintf("%d frames", frames); sep = " ("
      for (i in ifn) { line = line sprintf("%s%s %d", sep, i, ifn[i]); sep = ", " }
      if (sep == ", ") line = line ")"
      printf "%s, bad checksums: %d, malformed: %d", line, bad + 0, malformed + 0
      if (negzero) printf " (%d TCP checksum 0xffff for 0x0000 not counted: equal in one s complement)", negzero
      printf "\n"
      printf "%s\n%s\n%s\n%s\n", first[7], first[5001], first[5002], first[9] }' "$run/fields.tsv")
  summary=$(sed -n 1p <<<"$verdict")
  echo "${capture#"$root_dir"/}: $summary"
  grep -q "bad checksums: 0, malformed: 0" <<<"$summary"; check "no bad checksum, no malformed frame" $?
  [ "$(sed -n 2p <<<"$verdict")" = "FIN from 198.18.0.2" ]; check "port 7: graceful close, our FIN first" $?
  [ "$(sed -n 3p <<<"$verdict")" = "FIN from 198.18.0.1" ]; check "port 5001: graceful close, the kernel's FIN first" $?
  [ "$(sed -n 4p <<<"$verdict")" = "RST from 198.18.0.1" ]; check "port 5002: abortive close, the kernel's RST" $?
  [ "$(sed -n 5p <<<"$verdict")" = "RST from 198.18.0.2" ]; check "port 9: abortive close, our RST" $?
  echo "open it: wireshark -X lua_script:scripts/wireshark/offloademu.lua ${capture#"$root_dir"/}"
else
  check "capture $capture written and tshark present" 1
fi

echo
elapsed=$(( $(date +%s) - start ))
if [ ${#failures[@]} -eq 0 ]; then
  bold "demo: all checks passed in ${elapsed} s"
  exit 0
fi
bold "demo: ${#failures[@]} check(s) FAILED in ${elapsed} s: $(IFS=';'; echo "${failures[*]}")"
echo "daemon log: $daemon_log" >&2
exit 1
