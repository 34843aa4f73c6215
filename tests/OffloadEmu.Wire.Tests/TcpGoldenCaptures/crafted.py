# Crafted segments with exact option bytes, sent from 198.18.201.1 to a closed port on .2;
# only the capture matters. The TCP header is packed by hand so option bytes are exact.
import struct
from scapy.all import *
conf.verb = 0
iface = "oe-tcpa0"
eth = Ether(src="02:00:c6:12:c9:01", dst="02:00:c6:12:c9:02")
SRC, DST = "198.18.201.1", "198.18.201.2"
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def tcp(opts, flags, payload=b"", sport=40100, badsum=False, urg=0, res=0):
    opts = opts + bytes((-len(opts)) % 4)
    off = 5 + len(opts)//4
    h = struct.pack("!HHIIHHHH", sport, 5999, 0x01020304, 0xfffffff0, (off << 12) | (res << 9) | flags, 0x1234, 0, urg) + opts
    seg = h + payload
    ph = inet_aton(SRC) + inet_aton(DST) + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(ph + seg)
    if badsum: c ^= 0x5a5a
    return seg[:16] + struct.pack("!H", c) + seg[18:]
FIN,SYN,RST,PSH,ACK,URG,ECE,CWR,NS = 1,2,4,8,16,32,64,128,256
cases = [
  # 1 unknown kinds 30 (len 4) and 253 (len 6, experimental) around an MSS at an odd offset
  (bytes([1, 30,4,0xab,0xcd, 2,4,0x05,0xb4, 253,6,0xde,0xad,0xbe,0xef, 1,1,0]), SYN),
  # 2 EOL then garbage (bytes after EOL must be ignored)
  (bytes([1,1,8,10,0,0,0,1,0,0,0,2, 0, 0x99,0x02,0x00,0x77,0x55]), ACK|PSH, b"hi"),
  # 3 option length 0
  (bytes([1, 30,0,0]), ACK),
  # 4 option length 1
  (bytes([1,1,1, 5,1,0,0,0]), ACK),
  # 5 option overruns header
  (bytes([1,1, 8,10, 0,0,0,1]), ACK),
  # 6 MSS with wrong length 3
  (bytes([2,3,5,1]), SYN),
  # 7 four SACK blocks at odd alignment, window scale first
  (bytes([3,3,14, 5,34]) + struct.pack("!8I", 0xfffffff0,0x00000010, 100,200, 300,400, 500,600) + bytes([0,0,0]), ACK),
  # 8 bad checksum on an otherwise valid segment with timestamps
  (bytes([1,1,8,10,0,0,0,5,0,0,0,6]), ACK|PSH, b"payload", 40100, True),
  # 9 all flags incl. NS and ECN, reserved bits set, urgent pointer
  (bytes([]), FIN|SYN|RST|PSH|ACK|URG|ECE|CWR|NS, b"u", 40100, False, 1, 5),
  # 10 SACK-permitted + window scale + unknown kind with empty data (len 2)
  (bytes([4,2, 3,3,7, 99,2, 1,1,1]), SYN),
]
for i, c in enumerate(cases):
    opts, flags = c[0], c[1]
    payload = c[2] if len(c) > 2 else b""
    sport = 40100 + i + 1
    badsum = c[4] if len(c) > 4 else False
    urg = c[5] if len(c) > 5 else 0
    res = c[6] if len(c) > 6 else 0
    t = tcp(opts, flags, payload, sport, badsum, urg, res)
    sendp(eth/IP(src=SRC, dst=DST, id=0x1000+i+1, flags="DF", ttl=64, proto=6)/Raw(t), iface=iface)
print("sent", len(cases))
