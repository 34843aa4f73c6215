"""Shared pieces of the conformance tests: one lab (daemon + namespace) per run, a drive per test, helpers, the
`known` marker and the failure artifacts."""

import functools
import os
import re
import struct
import time
import unittest

from conf_lab import ACK, PSH, Conn, ConfLab, Drive, ScapyPeer, seq_add

LAB = None
_PORTS = iter(range(20000, 60000))


def setUpModule():
    global LAB
    if LAB is not None:
        return
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (network namespace, TAP)")
    LAB = ConfLab()
    try:
        LAB.up()
    except BaseException:
        LAB.down()
        LAB = None
        raise


def tearDownModule():
    pass  # the runner takes the lab down once, after every module (run.py)


def shutdown():
    global LAB
    if LAB is not None:
        LAB.down()
        LAB = None


def known(reason):
    """Marks a check the target is known to fail today (reason says why and what fixing it takes). It still runs:
    a failure is reported as 'known' (expected failure), a pass as an unexpected success that fails the run, so a
    fixed target makes someone remove the marker."""
    def wrap(fn):
        f = unittest.expectedFailure(fn)
        f.known_reason = reason
        return f
    return wrap


def tcp_checksum(src, dst, tcp):
    import socket
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    data = pseudo + tcp
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


ERROR_LINE = re.compile(r"\[(ERR|FTL)\]|Unhandled exception|unhandled exception")


class ConfTestCase(unittest.TestCase):
    """A drive bound with frames reported (frame_up), fresh ports per connection, artifacts on failure."""

    REPORT_FRAMES = True  # bind's "frames": every frame passed up becomes an event

    def setUp(self):
        self.lab = LAB
        self.drive = Drive(LAB.socket_path)
        self.peers = []
        self._log_mark = len(LAB.log_text())
        bound = self.drive.call("bind", frames=self.REPORT_FRAMES)
        self.assertEqual(bound["event"], "bound", bound)

    def conn(self, **kw):
        port = next(_PORTS)
        peer = ScapyPeer(self.lab, port)
        self.peers.append(peer)
        return Conn(self.lab, self.drive, peer, next(_PORTS), **kw)

    def run(self, result=None):
        # Artifacts are kept when the test itself failed (not for a 'known' one).
        before_f = len(result.failures) + len(result.errors) if result is not None else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before_f:
            dest = LAB.keep_artifacts(self.id().split(".", 1)[-1],
                                      drive=getattr(self, "drive", None))
            from conf_lab import write_pcap
            for i, p in enumerate(getattr(self, "peers", [])):
                if p.frames:
                    write_pcap(os.path.join(dest, f"peer{i}.pcap"), p.frames)
            print(f"  artifacts: {dest}")
        return out

    def tearDown(self):
        for p in self.peers:
            p.close()
        code = self.drive.close()
        self.assertEqual(code, 0, f"drive exit status; stderr: {self.drive.stderr}")
        self.assertEqual(self.drive.bad_lines, [])
        self.assertIsNotNone(LAB.daemon) 
        self.assertIsNone(LAB.daemon.poll(), "the daemon exited")
        errors = [l for l in LAB.log_text()[self._log_mark:].splitlines() if ERROR_LINE.search(l)]
        self.assertEqual(errors, [], "the daemon logged errors")

    # ---- helpers ---------------------------------------------------------------------------------------------------

    def wait_delivered(self, c, n, timeout=3):
        self.drive.wait_for(lambda e: e["event"] == "receive_indicate" and e.get("conn") == c.conn
                            and not e.get("stack") and e["delivered_total"] >= n, timeout, f"{n} bytes delivered")
        time.sleep(0.05)
        self.assertEqual(c.delivered(), n, "more bytes delivered than sent")

    def data_segments(self, c, expected, timeout=3.0, settle=0.4):
        """The target's data segments until `expected` payload bytes came (or the timeout), then whatever else comes
        within `settle` seconds (so a sender that goes beyond what it may send is seen)."""
        segs, total = [], 0
        deadline = time.monotonic() + timeout
        while total < expected and time.monotonic() < deadline:
            s = c.receive(deadline - time.monotonic(), lambda s: len(s.payload) > 0)
            if s is None:
                break
            segs.append(s)
            total += len(s.payload)
        segs += [s for s in c.peer.collect(settle, local_port=c.local_port) if s.payload]
        return segs

    def assert_alive(self, c):
        """The connection still works: a new byte from the peer is delivered and acknowledged."""
        before = c.delivered()
        c.send(ACK | PSH, b"+", advance=True)
        self.wait_delivered(c, before + 1)
        r = c.receive(2, lambda s: s.ack == c.p)
        self.assertIsNotNone(r, "the connection no longer acknowledges")

    def fill_window(self, c, limit=4 << 20):
        """The peer fills the target's receive window until it advertises zero (the host refuses indications; the
        daemon's control server first takes up to MaxUnconsumedReceiveBytes, 1 MiB, for the client, docs/control.md).
        Sends a window's worth per round, then waits for the ACK. Returns the bytes the target took."""
        sent = bytearray()
        edge = seq_add(c.p, c.rcv_wnd)
        while len(sent) < limit:
            room = (edge - c.p) & 0xFFFFFFFF
            if room == 0 or room > 0x7FFFFFFF:
                break
            while room > 0:
                n = min(1400, room)
                chunk = os.urandom(n)
                c.send(ACK, chunk, advance=True)
                sent += chunk
                room -= n
            r = c.receive(3, lambda s: s.ack == c.p)
            self.assertIsNotNone(r, "no ACK while filling the window")
            edge = seq_add(r.ack, r.win << c.rcv_scale)
            # A later window update (the same ACK number) may follow at once: take the newest.
            while True:
                more = c.receive(0.02, lambda s: s.ack == c.p)
                if more is None:
                    break
                edge = seq_add(more.ack, more.win << c.rcv_scale)
            if (edge - c.p) & 0xFFFFFFFF == 0:
                # Closed. The bytes the control server took for the client free target buffer a moment later, which
                # may reopen the window: ask again (a segment left of RCV.NXT is always answered) and go on filling.
                time.sleep(0.1)
                c.send(ACK, seq=seq_add(c.p, -1))
                r = c.receive(2, lambda s: s.ack == c.p)
                self.assertIsNotNone(r, "no ACK to a segment left of the window")
                edge = seq_add(r.ack, r.win << c.rcv_scale)
        self.assertEqual((edge - c.p) & 0xFFFFFFFF, 0, "the window never closed")
        return bytes(sent)
