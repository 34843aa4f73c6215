#!/usr/bin/env bash
# OffloadEmu test command (README): installs what the tests need, builds with warnings as errors,
# runs every test project (unit and privileged end-to-end), prints "N passed, N failed" and exits
# non-zero on any failure. Run as root for the privileged tests (CI does); otherwise they are
# skipped with a loud note and only the unit tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$(pwd)

log() { printf '== %s\n' "$*"; }

# --- 1. system packages (Debian); apt-get update at most once --------------------------------
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have tshark   || need_pkgs+=(tshark)
have tcpdump  || need_pkgs+=(tcpdump)
have ip       || need_pkgs+=(iproute2)
have ethtool  || need_pkgs+=(ethtool)
have nft      || need_pkgs+=(nftables)
have socat    || need_pkgs+=(socat)
have ping     || need_pkgs+=(iputils-ping)
have sysctl   || need_pkgs+=(procps)
have gcc      || need_pkgs+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libpcap.so.0.8 ] || [ -e /usr/lib/aarch64-linux-gnu/libpcap.so.0.8 ] || ldconfig -p 2>/dev/null | grep -q 'libpcap.so.0.8' || need_pkgs+=(libpcap0.8)
/usr/bin/python3 -c 'import scapy' >/dev/null 2>&1 || need_pkgs+=(python3-scapy)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    log "installing: ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer it up front.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    log "missing packages (${need_pkgs[*]}) and not root: tests that need them will fail"
  fi
fi
have dotnet || { echo "dotnet SDK not found on PATH (need .NET 10 SDK)" >&2; exit 1; }

# --- 2. restore and build (warnings are errors through Directory.Build.props) ------------------
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
log "restore"
dotnet restore OffloadEmu.sln --nologo -v q
log "build (Release, warnings as errors)"
dotnet build OffloadEmu.sln -c Release --no-restore --nologo -v q -warnaserror

# --- 3. tests ------------------------------------------------------------------------------------
results="$root_dir/out/test-results"
rm -rf "$results"; mkdir -p "$results"
filter=""
if [ "$(id -u)" -ne 0 ] || [ "${OFFLOADEMU_SKIP_PRIVILEGED:-0}" = "1" ]; then
  log "NOTE: not root (or OFFLOADEMU_SKIP_PRIVILEGED=1): privileged end-to-end tests are NOT run"
  export OFFLOADEMU_SKIP_PRIVILEGED=1
  filter="Category!=Privileged"
fi

status=0
for proj in tests/*.Tests/*.Tests.csproj; do
  name=$(basename "$proj" .csproj)
  log "test $name"
  args=(test "$proj" -c Release --no-build --nologo
        --logger "trx;LogFileName=$name.trx" --results-directory "$results"
        --blame-hang-timeout 5m)
  [ -n "$filter" ] && args+=(--filter "$filter")
  dotnet "${args[@]}" || status=1
done

# Python tests of `offloademu drive` through a real offloademud on a TAP (docs/drive.md): root only, like the
# privileged tests; their counts join the summary below.
py_passed=0; py_failed=0
if [ -z "$filter" ]; then
  log "test python (offloademu drive)"
  /usr/bin/python3 tests/python/run_tests.py --summary "$results/python-summary.txt" || status=1
  read -r py_passed py_failed < "$results/python-summary.txt" || { py_passed=0; py_failed=1; }
  # Conformance (docs/conformance.md, "Hostile input"): a scapy peer against a real offloademud, fuzz included.
  log "test conformance (scapy peer)"
  /usr/bin/python3 tests/conformance/run.py --summary "$results/conformance-summary.txt" || status=1
  read -r c_passed c_failed < "$results/conformance-summary.txt" || { c_passed=0; c_failed=1; }
  py_passed=$((py_passed + c_passed)); py_failed=$((py_failed + c_failed))
fi

# The README's main command end to end (scripts/demo.sh --quick: 16 MiB per transfer in a lab namespace of its own,
# oe-demo-<pid>; about 15 s plus the tshark pass), counted as one test; its output is kept in the results.
demo_passed=0; demo_failed=0
if [ -z "$filter" ]; then
  log "test demo (scripts/demo.sh --quick)"
  if timeout 300 scripts/demo.sh --quick --no-build --capture "$results/demo.pcapng" >"$results/demo.txt" 2>&1; then
    demo_passed=1; tail -n 1 "$results/demo.txt"
  else
    demo_failed=1; status=1; tail -n 40 "$results/demo.txt"
  fi
  rm -f "$results/demo.pcapng"
fi

# --- 4. one summary line from the TRX counters ---------------------------------------------------
passed=0; failed=0; total=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); p=${p:-0}
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=${f:-0}
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters"); t=${t:-0}
  passed=$((passed + p)); failed=$((failed + f)); total=$((total + t))
done
passed=$((passed + py_passed + demo_passed)); failed=$((failed + py_failed + demo_failed))
total=$((total + py_passed + py_failed + demo_passed + demo_failed))
# The failed tests by name, with the first lines of their messages, just above the summary line: a CI log that
# keeps only its tail still says what failed.
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  /usr/bin/python3 - "$trx" <<'PY' || true
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") != "Failed":
        continue
    msg = r.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip().splitlines()
    print(f"FAILED {r.get('testName')} ({r.get('duration')})")
    for line in msg[:4]:
        print(f"    {line[:300]}")
PY
done
# A project that crashed before writing its TRX shows up as status=1 with fewer results: count it.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
[ "$total" -gt 0 ] || { echo "no tests were executed" >&2; status=1; }
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
