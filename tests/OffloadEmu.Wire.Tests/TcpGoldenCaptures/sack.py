# Runs inside oe-t-tcpa as the unassigned peer .3/::3 so the local kernel stays silent.
import sys, time
from scapy.all import *
conf.verb = 0
fam = sys.argv[1]
iface = "oe-tcpa0"
if fam == "4":
    L3 = lambda: IP(src="198.18.201.3", dst="198.18.201.2")
    flt = "tcp and src host 198.18.201.2 and dst port 40001"
else:
    L3 = lambda: IPv6(src="2001:2:0:1::3", dst="2001:2:0:1::2")
    flt = "tcp and src host 2001:2:0:1::2 and dst port 40001"
eth = Ether(src="02:00:c6:12:c9:01", dst="02:00:c6:12:c9:02")
sport, dport, isn = 40001, 5001, 1000
def xchg(pkt, timeout=2):
    ans = srp1(eth/pkt, iface=iface, filter=flt, timeout=timeout)
    return ans
synack = xchg(L3()/TCP(sport=sport, dport=dport, flags="S", seq=isn, window=64240,
    options=[("MSS",1460),("SAckOK",b""),("Timestamp",(100,0)),("NOP",None),("WScale",7)]))
assert synack is not None, "no syn-ack"
t = synack[TCP]
rcv = t.seq + 1
ts = t.options
tsecr = [o[1][0] for o in ts if o[0]=="Timestamp"][0]
seq = isn + 1
sendp(eth/L3()/TCP(sport=sport, dport=dport, flags="A", seq=seq, ack=rcv, window=502, options=[("NOP",None),("NOP",None),("Timestamp",(101,tsecr))]), iface=iface)
# hole of 100 bytes at seq, then two islands -> Linux answers with dup ACKs carrying SACK blocks
a1 = xchg(L3()/TCP(sport=sport, dport=dport, flags="PA", seq=seq+100, ack=rcv, window=502, options=[("NOP",None),("NOP",None),("Timestamp",(102,tsecr))])/(b"B"*100))
a2 = xchg(L3()/TCP(sport=sport, dport=dport, flags="PA", seq=seq+300, ack=rcv, window=502, options=[("NOP",None),("NOP",None),("Timestamp",(103,tsecr))])/(b"D"*100))
a3 = xchg(L3()/TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=rcv, window=502, options=[("NOP",None),("NOP",None),("Timestamp",(104,tsecr))])/(b"A"*100))
time.sleep(0.2)
sendp(eth/L3()/TCP(sport=sport, dport=dport, flags="RA", seq=seq+200, ack=rcv, window=0), iface=iface)
print("ok", a1 is not None, a2 is not None, a3 is not None)
