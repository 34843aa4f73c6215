#!/usr/bin/env bash
# Regenerates kernel-traffic.pcap, the real-traffic capture that DecodeCommandTests compares
# field by field with `tcpdump -nn -r`. Root only. Everything runs between two namespaces this
# script creates (oe-t-capgen-a/b) over a veth pair, with lab addresses from 198.18.0.0/15 and
# 2001:2::/48 (benchmarking ranges) and no routes out; all of it is removed at the end.
set -euo pipefail
cd "$(dirname "$0")"
A=oe-t-capgen-a B=oe-t-capgen-b
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true
}
trap cleanup EXIT
cleanup
ip netns add $A; ip netns add $B
ip link add oecga type veth peer name oecgb
ip link set oecga netns $A; ip link set oecgb netns $B
for ns in $A $B; do ip -n $ns link set lo up; done
ip netns exec $A ethtool -K oecga tx off tso off gso off gro off >/dev/null
ip netns exec $B ethtool -K oecgb tx off tso off gso off gro off >/dev/null
ip -n $A addr add 198.18.210.1/24 dev oecga; ip -n $B addr add 198.18.210.2/24 dev oecgb
ip -n $A -6 addr add 2001:2:0:210::1/64 dev oecga nodad; ip -n $B -6 addr add 2001:2:0:210::2/64 dev oecgb nodad
ip -n $A link set oecga up; ip -n $B link set oecgb up
ip netns exec $B sysctl -qw net.ipv4.tcp_congestion_control=cubic 2>/dev/null || true

ip netns exec $A tcpdump -i oecga -nn -U -w kernel-traffic.pcap 2> /tmp/oe-capgen-tcpdump.log &
pids+=($!)
for _ in $(seq 50); do grep -q "listening on" /tmp/oe-capgen-tcpdump.log && break; sleep 0.1; done

ip netns exec $B socat -T 5 TCP-LISTEN:7,bind=198.18.210.2,reuseaddr PIPE & pids+=($!)
ip netns exec $B socat -T 5 TCP6-LISTEN:7,bind=[2001:2:0:210::2],reuseaddr PIPE & pids+=($!)
sleep 0.3
ip netns exec $A ping -c 2 -i 0.2 198.18.210.2 >/dev/null                 # ARP + echo
ip netns exec $A ping -c 1 -R 198.18.210.2 >/dev/null || true             # IPv4 options (record route)
ip netns exec $A ping -c 1 -s 3000 198.18.210.2 >/dev/null                # IPv4 fragments
# This kernel has no 8021q module: scapy puts 802.1Q-tagged frames (VLAN 42, priority 5) on the wire.
ip netns exec $A /usr/bin/python3 - <<'PY'
from scapy.all import Ether, Dot1Q, ARP, IP, ICMP, sendp, conf
conf.verb = 0
mac = open("/sys/class/net/oecga/address").read().strip()
sendp(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")/Dot1Q(vlan=42, prio=5)/ARP(hwsrc=mac, psrc="198.18.211.1", pdst="198.18.211.2"), iface="oecga")
sendp(Ether(src=mac, dst="02:00:00:00:00:02")/Dot1Q(vlan=42, prio=5)/IP(src="198.18.211.1", dst="198.18.211.2")/ICMP(id=7, seq=1)/b"vlan", iface="oecga")
PY
ip netns exec $A ping -6 -c 2 -i 0.2 2001:2:0:210::2 >/dev/null           # NS/NA + echo6
head -c 6000 /dev/urandom | ip netns exec $A socat -T 2 - TCP:198.18.210.2:7 >/dev/null
head -c 3000 /dev/urandom | ip netns exec $A socat -T 2 - TCP6:[2001:2:0:210::2]:7 >/dev/null
ip netns exec $A socat -T 1 - TCP:198.18.210.2:9 </dev/null >/dev/null 2>&1 || true   # RST (closed port)
echo -n x | ip netns exec $A socat -T 1 - UDP:198.18.210.2:9 >/dev/null 2>&1 || true   # UDP + port unreachable
ip netns exec $A ping -6 -c 1 -s 3000 2001:2:0:210::2 >/dev/null          # IPv6 fragments
# Hand-made segments the kernel would not send: ICMP frag-needed, ICMPv6 packet-too-big, SACK
# blocks, ECE/CWR/URG flags, an unknown TCP option and an illegal option length.
ip netns exec $A /usr/bin/python3 - <<'PY'
from scapy.all import *
conf.verb = 0
i = "oecga"
mac = open(f"/sys/class/net/{i}/address").read().strip()
peer = "02:00:00:00:00:02"
e = Ether(src=mac, dst=peer)
inner = IP(src="198.18.210.2", dst="198.18.210.1", flags="DF")/TCP(sport=7, dport=40000, seq=1000)
sendp(e/IP(src="198.18.210.1", dst="198.18.210.2")/ICMP(type=3, code=4, nexthopmtu=1280)/bytes(inner)[:28], iface=i)
inner6 = IPv6(src="2001:2:0:210::2", dst="2001:2:0:210::1")/TCP(sport=7, dport=40000)
sendp(e/IPv6(src="2001:2:0:210::1", dst="2001:2:0:210::2")/ICMPv6PacketTooBig(mtu=1280)/bytes(inner6), iface=i)
ip = IP(src="198.18.210.1", dst="198.18.210.2")
sendp(e/ip/TCP(sport=41000, dport=7, flags="S", seq=100, options=[("MSS",1460),("NOP",None),("WScale",7),("SAckOK",b"")]), iface=i)
sendp(e/ip/TCP(sport=41000, dport=7, flags="A", seq=101, ack=5001, window=500, options=[("NOP",None),("NOP",None),("SAck",(7000,8448,9896,11344))]), iface=i)
sendp(e/ip/TCP(sport=41000, dport=7, flags="SEC", seq=200, window=1000), iface=i)
sendp(e/ip/TCP(sport=41000, dport=7, flags="PAU", seq=101, ack=5001, urgptr=3, window=500)/b"abcdef", iface=i)
sendp(e/ip/TCP(sport=41000, dport=7, flags="A", seq=101, ack=5001, window=500, options=[(99, b"\x01\x02"),("NOP",None),("NOP",None)]), iface=i)
raw = bytes(ip/TCP(sport=41000, dport=7, flags="A", seq=101, ack=5001, window=500, options=[("NOP",None),("NOP",None),("NOP",None),("NOP",None)]))
raw = bytearray(raw); raw[40:44] = b"\x02\x00\x01\x01"   # MSS option claiming length 0
sendp(e/IP(bytes(raw)), iface=i)
PY
sleep 1
echo "captured: $(tcpdump -nn -r kernel-traffic.pcap 2>/dev/null | wc -l) frames"
