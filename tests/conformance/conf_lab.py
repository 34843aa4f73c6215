"""The conformance lab (docs/conformance.md, "Hostile input"): a real offloademud on a TAP in namespace oe-conf-<pid>,
`offloademu drive` making synthetic offloads, and a scapy peer on the namespace's side of the TAP that chooses every
sequence number, window, scale and timestamp itself and checks the target's exact replies.

Built on tests/python/oe_drive_lab.py (Lab, Drive, RawPeer): only what a hostile peer needs is added here.
Network safety: the namespace and TAP are this process's own (oe-conf-<pid>, oecf<pid>); addresses from 198.18.253.0/24
exist only inside the namespace; everything is removed by exact name and PID at the end."""

import collections
import json
import os
import struct
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

from oe_drive_lab import CLI_DLL, DOTNET, ROOT, Drive, Lab, RawPeer, run  # noqa: E402

import logging  # noqa: E402

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import Ether, IP, TCP, Raw, Dot1Q, wrpcap  # noqa: E402

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# linux/if_packet.h: the VLAN tag of a received frame travels beside it (struct tpacket_auxdata).
SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
ARTIFACTS = os.path.join(ROOT, "out", "test-artifacts")


def seq_add(a, n):
    return (a + n) & 0xFFFFFFFF


class ConfLab(Lab):
    def __init__(self):
        super().__init__(ns_prefix="oe-conf-", tap_prefix="oecf", subnet="198.18.253", log_console=True)
        # The NIC is a member of VLAN 5 (Nic:VlanIds): the VLAN tests offload neighbours on it; the others use VlanId 0.
        self.extra_config = {"Nic": {"VlanIds": [5]}}

    def stats(self):
        """The daemon's counters (offloademu stats --json): {'ipv4.tcp.in_errors': n, 'target.frames_up': n, ...}."""
        p = run(DOTNET, CLI_DLL, "stats", "--json", "--daemon", self.socket_path)
        return json.loads(p.stdout)["counters"]

    def rss_kib(self):
        with open(f"/proc/{self.daemon.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "daemon.log")) as f:
                return f.read()
        except OSError:
            return ""

    def keep_artifacts(self, test_name, peer=None, drive=None):
        """On a failure: the daemon's capture and log, the peer's view and the drive's events, under
        out/test-artifacts/<test>."""
        dest = os.path.join(ARTIFACTS, test_name)
        os.makedirs(dest, exist_ok=True)
        for name in ("daemon.log", "daemon.pcapng", "emulator.json"):
            src = os.path.join(self.dir or "", name)
            if os.path.exists(src):
                shutil.copy(src, dest)
        if peer is not None and peer.frames:
            write_pcap(os.path.join(dest, "peer.pcap"), peer.frames)
        if drive is not None:
            with open(os.path.join(dest, "drive-events.jsonl"), "w") as f:
                for e in list(drive.events):
                    f.write(json.dumps(e) + "\n")
        return dest


def write_pcap(path, frames):
    """(time, bytes) frames to a classic pcap file (Ethernet), without parsing them."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, data in frames:
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(data), len(data)))
            f.write(data)


class Segment:
    """A TCP segment the target sent to the peer, parsed by scapy."""

    def __init__(self, pkt):
        self.pkt = pkt
        ip, tcp = pkt[IP], pkt[TCP]
        self.ip = ip
        self.tcp = tcp
        self.seq, self.ack, self.flags, self.win = tcp.seq, tcp.ack, int(tcp.flags), tcp.window
        self.sport, self.dport = tcp.sport, tcp.dport
        self.payload = bytes(tcp.payload)
        self.options = list(tcp.options)
        self.tsval = self.tsecr = None
        self.sack = []
        for kind, value in self.options:
            if kind == "Timestamp":
                self.tsval, self.tsecr = value
            elif kind == "SAck":
                self.sack = [(value[i], value[i + 1]) for i in range(0, len(value) - 1, 2)]
        self.vlan = pkt[Dot1Q].vlan if Dot1Q in pkt else None

    def __repr__(self):
        names = "".join(n for b, n in ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, "A"), (URG, "U")) if self.flags & b)
        return (f"<{names} seq={self.seq} ack={self.ack} win={self.win} len={len(self.payload)} ts={self.tsval}/{self.tsecr}"
                f" sack={self.sack}>")


class ScapyPeer:
    """The hostile peer: frames built with scapy, sent and read on an AF_PACKET socket bound to the TAP inside the
    namespace (RawPeer's socket). Every frame it sent or saw is kept (time, bytes) for the failure artifacts."""

    def __init__(self, lab, port, ip=None, mac="02:00:00:18:fd:03"):
        self.lab = lab
        self.ip = ip or lab.peer_ip
        self.mac = mac
        self.port = port
        self._raw = RawPeer(lab, self.ip, mac, port, protocol=0x0003)  # ETH_P_ALL: see VLAN tags (below)
        self.sock = self._raw.sock
        try:  # a deep queue: the peer is Python, the daemon is not (SO_RCVBUFFORCE, root)
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)
        except OSError:
            pass
        self.frames = collections.deque(maxlen=50_000)  # the newest, for the artifacts
        # The kernel takes an 802.1Q tag off a received frame and hands it over beside it (PACKET_AUXDATA), and only to
        # sockets of every protocol (ETH_P_ALL): bound to IPv4 alone the peer saw every frame untagged, and a VLAN check
        # could not fail.
        self.sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)

    def _recv(self):
        """One frame from the socket, its VLAN tag put back where the kernel took it from."""
        data, ancdata, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(20))
        for level, kind, aux in ancdata:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(aux) >= 20:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", aux[:20])
                if status & TP_STATUS_VLAN_VALID and len(data) >= 12:
                    data = data[:12] + struct.pack("!HH", tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100, tci) + data[12:]
        return data

    def close(self):
        self._raw.close()

    def frame(self, tcp, payload=b"", ip=None, vlan=None):
        """An Ethernet frame to the target carrying tcp (a scapy TCP layer) and payload."""
        ip = ip if ip is not None else IP(src=self.ip, dst=self.lab.emu_ip, flags="DF", ttl=64)
        eth = Ether(src=self.mac, dst=self.lab.emu_mac)
        if vlan is not None:
            eth = eth / Dot1Q(vlan=vlan)
        pkt = eth / ip / tcp
        if payload:
            pkt = pkt / Raw(payload)
        return pkt

    def send_frame(self, frame):
        data = bytes(frame) if not isinstance(frame, (bytes, bytearray)) else bytes(frame)
        self.frames.append((time.time(), data))
        self.sock.send(data)

    def drain(self):
        """Discards what is waiting on the socket (kept for the artifacts)."""
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    f = self._recv()
                except BlockingIOError:
                    break
                self.frames.append((time.time(), f))
        finally:
            self.sock.setblocking(True)

    def receive(self, timeout=3.0, pred=None, local_port=None):
        """The next segment from the target to this peer (optionally from local_port) that satisfies pred."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                f = self._recv()
            except socket.timeout:
                return None
            if len(f) < 14 or f[6:12] == bytes.fromhex(self.mac.replace(":", "")):
                continue  # our own frames, seen on the way out
            self.frames.append((time.time(), f))
            pkt = Ether(f)
            if IP not in pkt or TCP not in pkt or pkt[IP].dst != self.ip or pkt[TCP].dport != self.port:
                continue
            seg = Segment(pkt)
            if local_port is not None and seg.sport != local_port:
                continue
            if pred is None or pred(seg):
                return seg

    def collect(self, duration, local_port=None):
        """Every segment from the target in the next duration seconds."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            s = self.receive(left, local_port=local_port)
            if s is None:
                return out
            out.append(s)


class Conn:
    """One synthetic offload the peer continues: the target's side starts at T (SND.UNA = SND.NXT), the peer's at P
    (the target's RCV.NXT), with the windows, scales and options the test chose. The peer's own sequence state is
    tracked in `p` (next byte it sends) and `t` (next byte it expects from the target)."""

    PEER_TS = 3_000_000_000

    def __init__(self, lab, drive, peer, local_port, *, t_iss=0xFFFFF000, p_iss=0x7FFFFF00, snd_wnd=65535, rcv_wnd=65535,
                 snd_scale=0, rcv_scale=0, timestamps=False, sack=False, mss=1460, cached=None, delegated=None, indications="accept",
                 vlan=0):
        self.lab, self.drive, self.peer, self.local_port = lab, drive, peer, local_port
        self.T, self.P = t_iss, p_iss
        self.t, self.p = t_iss, p_iss
        self.rcv_wnd, self.snd_wnd = rcv_wnd, snd_wnd
        self.snd_scale, self.rcv_scale = snd_scale, rcv_scale
        self.timestamps = timestamps
        self.ts = self.PEER_TS
        self.target_ts = 0
        const = {"local_port": local_port, "remote_port": peer.port, "remote_mss": mss, "timestamps": timestamps,
                 "sack": sack, "snd_wind_scale": snd_scale, "rcv_wind_scale": rcv_scale,
                 "window_scaling": bool(snd_scale or rcv_scale)}
        c = {"initial_rcv_wnd": rcv_wnd, "ttl": 64}
        c.update(cached or {})
        d = {"snd_una": t_iss, "rcv_nxt": p_iss, "snd_wnd": snd_wnd, "rcv_wnd": rcv_wnd}
        if timestamps:
            d["ts_recent"] = self.PEER_TS
        d.update(delegated or {})
        ev = drive.call("offload", remote_ip=peer.ip, remote_mac=peer.mac, local_ip=lab.emu_ip, const=const,
                        cached=c, delegated=d, indications=indications, vlan=vlan, timeout=15)
        if ev["event"] != "offloaded":
            raise AssertionError(f"offload refused: {ev}")
        self.conn = ev["conn"]
        self.target_ts = ev["ts_time"]
        drive.wait_for(lambda e: e["event"] == "state" and e.get("conn") == self.conn and e["location"] == "offloaded")

    def tcp(self, flags=ACK, seq=None, ack=None, win=None, options=None, ts=True, **fields):
        """A scapy TCP layer from the peer; seq/ack default to the peer's state, win to 65535 >> snd_scale... or the
        caller's raw field value, options get the timestamp when negotiated (ts=False leaves it out)."""
        opts = list(options or [])
        if self.timestamps and ts:
            self.ts += 1
            opts.append(("Timestamp", (self.ts & 0xFFFFFFFF, self.target_ts & 0xFFFFFFFF)))
        return TCP(sport=self.peer.port, dport=self.local_port, seq=self.p if seq is None else seq & 0xFFFFFFFF,
                   ack=self.t if ack is None else ack & 0xFFFFFFFF, flags=flags,
                   window=min(65535, self.snd_wnd >> self.snd_scale) if win is None else win, options=opts, **fields)

    def send(self, flags=ACK, payload=b"", advance=False, vlan=None, **kw):
        self.peer.send_frame(self.peer.frame(self.tcp(flags, **kw), payload, vlan=vlan))
        if advance:
            self.p = seq_add(self.p, len(payload) + (1 if flags & (SYN | FIN) else 0))

    def receive(self, timeout=3.0, pred=None):
        seg = self.peer.receive(timeout, pred, local_port=self.local_port)
        if seg is not None and seg.tsval is not None:
            self.target_ts = seg.tsval
        return seg

    def ack_reply(self, timeout=3.0):
        """The next pure ACK (no data, no SYN/FIN/RST) from the target."""
        return self.receive(timeout, lambda s: not s.payload and not (s.flags & (SYN | FIN | RST)))

    def target_send(self, data):
        """The target sends data; returns the drive request id and the data segment the peer saw."""
        rid = self.drive.request("send", conn=self.conn, base64=__import__("base64").b64encode(data).decode())
        seg = self.receive(5, lambda s: len(s.payload) > 0)
        return rid, seg

    def delivered(self):
        """Bytes the target handed to the drive for this connection so far (indications and completions)."""
        total = 0
        for e in list(self.drive.events):
            if e.get("conn") == self.conn and e["event"] == "receive_indicate" and not e.get("stack"):
                total = max(total, e["delivered_total"])
        return total

    def read(self):
        ev = self.drive.call("read", conn=self.conn)
        return __import__("base64").b64decode(ev["base64"])

    def query(self):
        q = self.drive.call("query", conn=self.conn)
        if q["event"] != "queried":
            raise AssertionError(f"query failed: {q}")
        return q["delegated"]

    def events(self, name):
        return [e for e in list(self.drive.events) if e["event"] == name and e.get("conn") == self.conn and not e.get("stack")]
