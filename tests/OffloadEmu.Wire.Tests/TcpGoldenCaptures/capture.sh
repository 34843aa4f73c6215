#!/usr/bin/env bash
# Re-creates the captures behind TcpGoldenFrames.cs (run as root; needs socat, tcpdump, ethtool, scapy for /usr/bin/python3).
# Uses only its own namespaces oe-t-tcpa / oe-t-tcpb and addresses from 198.18.0.0/15 and 2001:2::/48; removes them on exit.
# Output: kern4.pcap, kern6.pcap, crafted.pcap in $OUT (default ./out). Check with: tshark -r f -o tcp.check_checksum:TRUE -V
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
A=oe-t-tcpa; B=oe-t-tcpb
TD=
cleanup() {
  [ -n "$TD" ] && kill "$TD" 2>/dev/null || true
  ip netns del $A 2>/dev/null || true
  ip netns del $B 2>/dev/null || true
}
trap cleanup EXIT
ip netns add $A
ip netns add $B
ip link add oe-tcpa0 netns $A type veth peer name oe-tcpb0 netns $B
for ns in a b; do
  ip netns exec oe-t-tcp$ns ip link set lo up
  ip netns exec oe-t-tcp$ns ip link set oe-tcp${ns}0 up
  # Without this the captured checksums are partial (left to an offload that a veth never does).
  ip netns exec oe-t-tcp$ns ethtool -K oe-tcp${ns}0 tx off tso off gso off gro off >/dev/null
done
ip netns exec $A ip link set oe-tcpa0 address 02:00:c6:12:c9:01
ip netns exec $B ip link set oe-tcpb0 address 02:00:c6:12:c9:02
ip netns exec $A ip addr add 198.18.201.1/24 dev oe-tcpa0
ip netns exec $B ip addr add 198.18.201.2/24 dev oe-tcpb0
ip netns exec $A ip -6 addr add 2001:2:0:1::1/64 dev oe-tcpa0 nodad
ip netns exec $B ip -6 addr add 2001:2:0:1::2/64 dev oe-tcpb0 nodad
# scapy plays the unassigned peer .3 / ::3 behind veth a, so the kernel of a stays silent; b reaches it without ARP/ND.
ip netns exec $B ip neigh add 198.18.201.3 lladdr 02:00:c6:12:c9:01 dev oe-tcpb0 nud permanent
ip netns exec $B ip -6 neigh add 2001:2:0:1::3 lladdr 02:00:c6:12:c9:01 dev oe-tcpb0 nud permanent

start_capture() { ip netns exec $B tcpdump -U -i oe-tcpb0 -w "$1" "$2" 2>/dev/null & TD=$!; sleep 1; }
stop_capture() { sleep 0.5; kill "$TD"; wait "$TD" 2>/dev/null || true; TD=; }

for fam in 4 6; do
  if [ $fam = 4 ]; then DST=198.18.201.2; L=TCP4-LISTEN; C=TCP4; else DST='[2001:2:0:1::2]'; L=TCP6-LISTEN; C=TCP6; fi
  start_capture "$OUT/kern$fam.pcap" "tcp and port 5001"
  ip netns exec $B socat -u $L:5001,reuseaddr OPEN:/dev/null & SP=$!; sleep 0.5
  printf 'hello from the kernel over v%s\n' $fam | ip netns exec $A socat -u - $C:$DST:5001
  wait $SP
  ip netns exec $B socat -u $L:5001,reuseaddr OPEN:/dev/null & SP=$!; sleep 0.5
  ip netns exec $A /usr/bin/python3 "$HERE/sack.py" $fam
  kill $SP 2>/dev/null || true; wait $SP 2>/dev/null || true
  stop_capture
done
start_capture "$OUT/crafted.pcap" "tcp and src host 198.18.201.1"
ip netns exec $A /usr/bin/python3 "$HERE/crafted.py"
stop_capture
for f in kern4 kern6 crafted; do tcpdump -S -nr "$OUT/$f.pcap" 2>/dev/null; done
