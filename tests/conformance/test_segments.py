"""Hostile and odd segments against a real offloademud (docs/conformance.md, "Hostile input"). Every expectation comes
from the RFC or the chimney spec named in the test's docstring, not from what the code does.

A fresh synthetic offload per test (its own ports), so one test's challenge-ACK rate limit or state cannot leak into
the next. The peer's sequence space starts just below the 2^32 wrap (P_ISS), so every window straddles the wrap."""

import base64
import json
import os
import struct
import time
import unittest

from conf_lab import ACK, FIN, PSH, RST, SYN, URG, Conn, ScapyPeer, seq_add
import conf_suite
from conf_suite import ConfTestCase, known

from scapy.all import IP, TCP, Ether, Raw, IPOption_RR, defragment, fragment  # noqa: E402

P_ISS = 0xFFFFFE00  # the peer's SND.NXT = the target's RCV.NXT; RCV.NXT + 4096 wraps
W = 4096


def setUpModule():
    conf_suite.setUpModule()


def tearDownModule():
    conf_suite.tearDownModule()


class Acceptability(ConfTestCase):
    """RFC 9293 §3.10.7.4, first check (the acceptability table) and SA-2/SA-3 of tcp-requirements.md."""

    def test_zero_length_segment_with_open_window_is_acceptable_only_inside_the_window(self):
        """RFC 9293 §3.10.7.4 table, zero length × RCV.WND > 0: acceptable iff RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND.
        An unacceptable segment is answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and dropped (its ACK field is
        not processed); an acceptable one at the last window octet is processed (its ACK completes the send) and
        needs no reply."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        rid, seg = c.target_send(b"0123456789")
        self.assertIsNotNone(seg)
        t_nxt = seq_add(c.T, 10)
        for name, seq in (("right edge", seq_add(P_ISS, W)), ("left of RCV.NXT", seq_add(P_ISS, -1)),
                          ("far right", seq_add(P_ISS, 0x40000000))):
            c.send(ACK, seq=seq, ack=t_nxt)
            reply = c.ack_reply(2)
            self.assertIsNotNone(reply, f"{name}: an unacceptable segment must be answered with an ACK")
            self.assertEqual((reply.seq, reply.ack), (t_nxt, P_ISS), name)
            self.assertEqual(c.events("send_complete"), [], f"{name}: the ACK field of a dropped segment was used")
        c.send(ACK, seq=seq_add(P_ISS, W - 1), ack=t_nxt)
        done = self.drive.reply(rid, "send_complete", 3)
        self.assertEqual((done["status"], done["bytes"]), ("SUCCESS", 10))
        self.assertIsNone(c.ack_reply(0.5), "an acceptable zero-length segment needs no reply")
        self.assertEqual(c.query()["rcv_nxt"], P_ISS)

    def test_zero_window_takes_only_a_zero_length_segment_at_rcv_nxt_but_still_processes_its_ack(self):
        """RFC 9293 §3.10.7.4 table, RCV.WND = 0: a zero-length segment is acceptable iff SEG.SEQ = RCV.NXT, a
        segment with data never; MUST-66: the ACK of a data segment at RCV.NXT is still processed at zero window.
        Unacceptable segments get <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> advertising window 0 (a zero-window probe is
        answered, RFC 9293 §3.8.6.1)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, indications="refuse")
        # The target's data goes first and stays unacknowledged: its ACK rides on the probes below.
        rid, seg = c.target_send(b"abc")
        self.assertIsNotNone(seg)
        t_nxt = seq_add(c.T, 3)
        filled = self.fill_window(c)
        # zero length, SEQ = RCV.NXT + 1: unacceptable.
        c.send(ACK, seq=seq_add(c.p, 1), ack=t_nxt)
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "zero window, zero length off RCV.NXT: ACK expected")
        self.assertEqual((r.seq, r.ack, r.win), (t_nxt, c.p, 0))
        self.assertEqual(c.events("send_complete"), [])
        # One byte of data at RCV.NXT (a zero-window probe): the data is not taken, the ACK field is.
        c.send(ACK | PSH, b"Z", ack=t_nxt)
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "a zero-window probe must be answered")
        self.assertEqual((r.seq, r.ack, r.win), (t_nxt, c.p, 0))
        done = self.drive.reply(rid, "send_complete", 3)
        self.assertEqual(done["bytes"], 3, "MUST-66: the ACK of a segment at RCV.NXT is processed at zero window")
        # Linux's probe: zero length at RCV.NXT - 1 (unacceptable), answered the same way.
        c.send(ACK, seq=seq_add(c.p, -1), ack=t_nxt)
        r = c.ack_reply(2)
        self.assertIsNotNone(r)
        self.assertEqual((r.seq, r.ack, r.win), (t_nxt, c.p, 0))
        # zero length at RCV.NXT: acceptable, no reply.
        c.send(ACK, ack=t_nxt)
        self.assertIsNone(c.ack_reply(0.5))
        q = c.query()
        self.assertEqual(q["rcv_nxt"], c.p, "the probe byte must not have been taken")
        # The host reads: the window opens and exactly the bytes sent before arrive, without the probe byte.
        self.drive.request("post_receive", conn=c.conn, size=len(filled), push=False)
        got = b""
        deadline = time.monotonic() + 10
        while len(got) < len(filled) and time.monotonic() < deadline:
            got += c.read()
            time.sleep(0.1)
        self.assertEqual(got, filled)

    def test_data_straddling_the_left_edge_is_trimmed_and_only_the_new_part_delivered(self):
        """RFC 9293 §3.10.7.4: a segment whose last octet is in the window is acceptable (table, length > 0); the
        part before RCV.NXT is trimmed (SA-3) and only new bytes reach the user, once."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        first = os.urandom(300)
        c.send(ACK | PSH, first, advance=True)
        self.wait_delivered(c, 300)
        straddle = first[200:] + os.urandom(150)  # 100 old bytes then 150 new ones
        c.send(ACK | PSH, straddle, seq=seq_add(c.p, -100))
        c.p = seq_add(c.p, 150)
        self.wait_delivered(c, 450)
        self.assertEqual(c.read(), first + straddle[100:])
        r = c.receive(2, lambda s: s.ack == c.p)
        self.assertIsNotNone(r, "the trimmed segment's new bytes must be acknowledged")

    def test_data_straddling_the_right_edge_keeps_only_what_fits(self):
        """RFC 9293 §3.10.7.4 (table: first octet in window → acceptable) and SA-3: octets beyond
        RCV.NXT+RCV.WND are trimmed off, never delivered; the in-window part is held until the hole before it is
        filled (SHLD-31), so the stream is exactly the in-window bytes followed by what is sent next."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        data = os.urandom(W + 1000)
        tail = data[W - 4:W + 6]  # 4 bytes inside the window, 6 beyond it
        c.send(ACK | PSH, tail, seq=seq_add(P_ISS, W - 4))
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "out-of-order data is acknowledged at once (RFC 5681 §4.2)")
        self.assertEqual(r.ack, P_ISS)
        # Fill the hole [0, W-4): the 4 held bytes join, the 6 beyond the edge were not kept.
        off = 0
        while off < W - 4:
            n = min(1400, W - 4 - off)
            c.send(ACK, data[off:off + n], seq=seq_add(P_ISS, off))
            off += n
        r = c.receive(3, lambda s: s.ack == seq_add(P_ISS, W))
        self.assertIsNotNone(r, "after the hole fill RCV.NXT must be RCV.NXT + window (the trimmed tail not counted)")
        self.wait_delivered(c, W)
        if r.win == 0:  # the window opens again once the host took the bytes (a window update, RFC 9293 §3.8.6.2.2)
            r = c.receive(3, lambda s: s.ack == seq_add(P_ISS, W) and s.win > 0)
            self.assertIsNotNone(r, "no window update after the host took the data")
        # The six bytes beyond the old edge, sent again now that the window moved: delivered once, in place.
        c.send(ACK | PSH, data[W:W + 6], seq=seq_add(P_ISS, W))
        self.wait_delivered(c, W + 6)
        self.assertEqual(c.read(), data[:W + 6])

    def test_a_segment_wholly_outside_the_window_is_answered_and_dropped(self):
        """RFC 9293 §3.10.7.4: data wholly beyond RCV.NXT+RCV.WND, or wholly old (a duplicate), is unacceptable:
        <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, nothing delivered."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(ACK | PSH, b"x" * 100, seq=seq_add(P_ISS, W))
        r = c.ack_reply(2)
        self.assertIsNotNone(r)
        self.assertEqual((r.seq, r.ack), (c.T, P_ISS))
        old = os.urandom(100)
        c.send(ACK | PSH, old, advance=True)
        self.wait_delivered(c, 100)
        c.ack_reply(1)
        c.send(ACK | PSH, old, seq=P_ISS)  # a duplicate of what was delivered
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "a duplicate segment must be acknowledged")
        self.assertEqual((r.seq, r.ack), (c.T, seq_add(P_ISS, 100)))
        time.sleep(0.2)
        self.assertEqual(c.delivered(), 100)
        self.assertEqual(c.read(), old)

    def test_a_segment_without_the_ack_bit_is_dropped(self):
        """RFC 9293 §3.10.7.4, fifth check (SA-6): in a synchronized state a segment with the ACK bit off is dropped
        (its data not taken)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(PSH, b"no-ack-bit")
        time.sleep(0.4)
        self.assertEqual(c.delivered(), 0)
        self.assertEqual(c.query()["rcv_nxt"], P_ISS)
        self.assert_alive(c)

    def test_ethernet_padding_after_the_ip_datagram_is_not_data(self):
        """RFC 894 / RFC 1122 §3.3 (IP total length): bytes after the datagram's total length are link padding; the
        segment is what the IP header says, so the junk is never delivered."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        frame = bytes(c.peer.frame(c.tcp(ACK | PSH), b"padded")) + b"\xAA" * 20
        c.peer.send_frame(frame)
        c.p = seq_add(c.p, 6)
        self.wait_delivered(c, 6)
        self.assertEqual(c.read(), b"padded")
        r = c.receive(2, lambda s: s.ack == c.p)
        self.assertIsNotNone(r)


class Reassembly(ConfTestCase):
    """Overlap, duplicates, holes: RFC 9293 §3.10.7.4 (SA-3, SHLD-31), RFC 5681 §4.2, RFC 2018 §4."""

    def test_overlapping_and_duplicate_data_is_delivered_once_in_order(self):
        """RFC 9293 §3.10.7.4 SA-3/SA-11: overlapping segments are trimmed so every octet reaches the user once, in
        order; a segment with nothing new is acknowledged (RFC 9293 §3.10.7.4, unacceptable → ACK)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        data = os.urandom(1000)
        c.send(ACK, data[0:400], seq=P_ISS)
        c.send(ACK, data[200:700], seq=seq_add(P_ISS, 200))      # overlaps the tail of the first
        c.send(ACK, data[600:650], seq=seq_add(P_ISS, 600))      # wholly inside what came
        c.send(ACK, data[900:1000], seq=seq_add(P_ISS, 900))     # beyond a hole
        c.send(ACK, data[650:950], seq=seq_add(P_ISS, 650))      # fills the hole, overlaps both sides
        c.send(ACK | PSH, data[0:1000], seq=P_ISS)                # everything again
        self.wait_delivered(c, 1000)
        r = c.receive(2, lambda s: s.ack == seq_add(P_ISS, 1000))
        self.assertIsNotNone(r)
        time.sleep(0.2)
        self.assertEqual(c.read(), data)
        self.assertEqual(c.query()["rcv_nxt"], seq_add(P_ISS, 1000))

    def test_out_of_order_holes_are_reported_in_sack_blocks_most_recent_first(self):
        """RFC 2018 §4: every ACK while data is held out of order carries SACK blocks; the first block holds the
        segment that triggered the ACK, the rest the most recently reported blocks; RFC 5681 §4.2: out-of-order
        arrivals and hole fills are ACKed at once. Without timestamps up to 4 blocks fit (RFC 2018 §3)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, sack=True)
        data = os.urandom(1000)

        def seg(a, b):
            c.send(ACK, data[a:b], seq=seq_add(P_ISS, a))
            r = c.ack_reply(2)
            self.assertIsNotNone(r, f"[{a},{b}) must be acknowledged at once")
            return r

        def blk(a, b):
            return (seq_add(P_ISS, a), seq_add(P_ISS, b))

        r = seg(100, 200)
        self.assertEqual(r.ack, P_ISS)
        self.assertEqual(r.sack, [blk(100, 200)])
        r = seg(300, 400)
        self.assertEqual(r.sack, [blk(300, 400), blk(100, 200)])
        r = seg(500, 600)
        self.assertEqual(r.sack, [blk(500, 600), blk(300, 400), blk(100, 200)])
        r = seg(700, 800)
        self.assertEqual(r.sack, [blk(700, 800), blk(500, 600), blk(300, 400), blk(100, 200)])
        r = seg(150, 250)  # extends the oldest block: it becomes the first
        self.assertEqual(r.sack[0], blk(100, 250))
        self.assertEqual(r.sack[1:], [blk(700, 800), blk(500, 600), blk(300, 400)])
        r = seg(0, 100)  # fills the first hole: the ACK moves, the rest stay reported
        self.assertEqual(r.ack, seq_add(P_ISS, 250))
        self.assertEqual(sorted(r.sack), sorted([blk(300, 400), blk(500, 600), blk(700, 800)]))
        for a, b in ((250, 300), (400, 500), (600, 700), (800, 1000)):
            c.send(ACK, data[a:b], seq=seq_add(P_ISS, a))
        r = c.receive(3, lambda s: s.ack == seq_add(P_ISS, 1000))
        self.assertIsNotNone(r)
        self.assertEqual(r.sack, [], "no SACK blocks once nothing is held out of order")
        self.wait_delivered(c, 1000)
        self.assertEqual(c.read(), data)

    def test_with_timestamps_three_sack_blocks_fit(self):
        """RFC 2018 §3: with the 12 option bytes of timestamps (RFC 7323) at most 3 SACK blocks fit in the 40 option
        bytes; the first is the most recent (§4)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, sack=True, timestamps=True)
        for a in (100, 300, 500, 700):
            c.send(ACK, b"s" * 100, seq=seq_add(P_ISS, a))
            r = c.ack_reply(2)
            self.assertIsNotNone(r)
        self.assertEqual(len(r.sack), 3)
        self.assertEqual(r.sack[0], (seq_add(P_ISS, 700), seq_add(P_ISS, 800)))
        self.assertEqual(r.sack[1:], [(seq_add(P_ISS, 500), seq_add(P_ISS, 600)), (seq_add(P_ISS, 300), seq_add(P_ISS, 400))])
        self.assertIsNotNone(r.tsval)


class BlindAttacks(ConfTestCase):
    """RFC 5961 §3–§5 and the chimney spec §6.5 (blind reset / SYN / data injection)."""

    def test_rst_outside_the_window_is_dropped_silently(self):
        """RFC 5961 §3.2 (and RFC 9293 §3.10.7.4): a RST whose SEQ is outside the window is dropped without reply;
        the connection goes on."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        for seq in (seq_add(P_ISS, W), seq_add(P_ISS, -1), seq_add(P_ISS, 0x80000000)):
            c.send(RST | ACK, seq=seq)
        self.assertIsNone(c.receive(0.7), "an out-of-window RST gets no reply")
        self.assertEqual(c.events("indicate_abort"), [])
        self.assert_alive(c)

    def test_rst_in_the_window_but_not_at_rcv_nxt_gets_a_challenge_ack(self):
        """RFC 5961 §3.2: a RST with RCV.NXT < SEG.SEQ < RCV.NXT+RCV.WND is answered with a challenge ACK
        <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and dropped; the connection is not reset."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(RST, seq=seq_add(P_ISS, 1))
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "challenge ACK expected")
        self.assertEqual((r.seq, r.ack), (c.T, P_ISS))
        time.sleep(0.2)
        self.assertEqual(c.events("indicate_abort"), [])
        self.assert_alive(c)

    def test_challenge_acks_are_rate_limited(self):
        """RFC 5961 §7 and chimney spec §6.5: at most one challenge ACK per validation period (the daemon's
        challenge_ack_interval_ms, 3 s): a burst of in-window RSTs and SYNs gets one."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        interval = self.drive.call("parameters")["challenge_ack_interval_ms"]
        self.assertGreaterEqual(interval, 1000)
        for i in range(1, 6):
            c.send(RST, seq=seq_add(P_ISS, i))
            c.send(SYN, seq=seq_add(P_ISS, 100 + i), ack=0)
        acks = [s for s in c.peer.collect(min(1.0, interval / 2000), local_port=c.local_port)]
        self.assertEqual(len(acks), 1, f"one challenge ACK for the burst, got {acks}")
        self.assertEqual((acks[0].seq, acks[0].ack), (c.T, P_ISS))
        self.assertEqual(c.events("indicate_abort"), [])

    def test_rst_exactly_at_rcv_nxt_aborts_the_connection(self):
        """RFC 5961 §3.2 / RFC 9293 §3.10.7.4: a RST with SEG.SEQ = RCV.NXT resets the connection; chimney spec §6.2:
        the target indicates the abort (TcpIndicateAbort) and fails pending I/O with REQUEST_ABORTED; no reply."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        posted = self.drive.request("post_receive", conn=c.conn, size=100)
        time.sleep(0.1)
        c.send(RST)
        self.drive.wait_for(lambda e: e["event"] == "indicate_abort" and e.get("conn") == c.conn, 3, "indicate_abort")
        rc = self.drive.reply(posted, "receive_complete", 3)
        self.assertEqual(rc["status"], "REQUEST_ABORTED")
        self.assertIsNone(c.receive(0.5), "nothing answers a RST")

    def test_syn_in_the_window_gets_a_challenge_ack(self):
        """RFC 5961 §4.2 (RFC 9293 §3.10.7.4 SA-5): a SYN in a synchronized state, whatever its sequence number,
        gets a challenge ACK and is dropped; chimney spec §6.5 likewise for a SYN in the window off RCV.NXT."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(SYN, seq=seq_add(P_ISS, 10), ack=0)
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "challenge ACK expected")
        self.assertEqual((r.seq, r.ack), (c.T, P_ISS))
        self.assertEqual(c.events("indicate_abort"), [])
        self.assertEqual(c.events("indicate_retrieve"), [])
        self.assert_alive(c)

    def test_syn_outside_the_window_is_answered_with_an_ack(self):
        """Chimney spec §6.5 (SYN out of window: ACK) and RFC 5961 §4.2 (any SYN: challenge ACK)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(SYN, seq=seq_add(P_ISS, 0x40000000), ack=0)
        r = c.ack_reply(2)
        self.assertIsNotNone(r)
        self.assertEqual((r.seq, r.ack), (c.T, P_ISS))
        self.assert_alive(c)

    def test_syn_exactly_at_rcv_nxt_asks_for_upload(self):
        """Chimney spec §6.5: a SYN with SEQ = RcvNxt makes the target ask for upload (the host ends it in CLOSED);
        the target itself sends nothing for it."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(SYN, seq=P_ISS, ack=0)
        ev = self.drive.wait_for(lambda e: e["event"] == "indicate_retrieve" and e.get("conn") == c.conn, 3)
        self.assertEqual(ev["reason"], "UploadRequested")
        self.assertIsNone(c.receive(0.5, lambda s: s.flags & RST), "the target may not RST here")

    def test_ack_of_data_never_sent_is_answered_and_the_segment_dropped(self):
        """RFC 9293 §3.10.7.4 fifth check (SA-7) and RFC 5961 §5.2: SEG.ACK > SND.NXT → send an ACK, drop the
        segment (its data is not delivered)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(ACK | PSH, b"injected", ack=seq_add(c.T, 1000))
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "an ACK must answer SEG.ACK > SND.NXT")
        self.assertEqual((r.seq, r.ack), (c.T, P_ISS))
        time.sleep(0.2)
        self.assertEqual(c.delivered(), 0)
        self.assertEqual(c.query()["rcv_nxt"], P_ISS)

    def test_ack_older_than_the_largest_window_is_answered_and_dropped(self):
        """RFC 5961 §5.2 (RFC 9293 MAY-12): SEG.ACK < SND.UNA - MAX.SND.WND → ACK and drop (blind data injection);
        an older ACK still inside that range is a harmless duplicate and its data is taken."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, snd_wnd=20000)
        c.send(ACK | PSH, b"injected", ack=seq_add(c.T, -20001))
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "an ACK must answer SEG.ACK < SND.UNA - MAX.SND.WND")
        self.assertEqual((r.seq, r.ack), (c.T, P_ISS))
        time.sleep(0.2)
        self.assertEqual(c.delivered(), 0)
        c.send(ACK | PSH, b"genuine", ack=seq_add(c.T, -19999), advance=True)
        self.wait_delivered(c, 7)
        self.assertEqual(c.read(), b"genuine")


class OptionsAndWindows(ConfTestCase):
    """RFC 7323 (PAWS, window scale), RFC 9293 §3.8.6 (zero window, shrinking)."""

    def test_paws_drops_an_old_timestamp_and_acks(self):
        """RFC 7323 §5.3 R1: a non-RST segment with SEG.TSval < TS.Recent is not acceptable: send an ACK (with
        TSecr = TS.Recent) and drop it. RFC 7323 §3.2: every segment we send carries the option."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, timestamps=True)
        c.send(ACK | PSH, b"fresh", advance=True)
        self.wait_delivered(c, 5)
        recent = c.ts
        r = c.receive(2, lambda s: s.ack == c.p)
        self.assertIsNotNone(r)
        self.assertEqual(r.tsecr, recent)
        old = TCP(sport=c.peer.port, dport=c.local_port, seq=c.p, ack=c.t, flags="PA", window=65535,
                  options=[("Timestamp", ((recent - 10) & 0xFFFFFFFF, c.target_ts))])
        c.peer.send_frame(c.peer.frame(old, b"stale"))
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "PAWS: an ACK must answer the old timestamp")
        self.assertEqual(r.ack, c.p)
        self.assertEqual(r.tsecr, recent, "TS.Recent must not take the old TSval")
        time.sleep(0.2)
        self.assertEqual(c.delivered(), 5)
        c.send(ACK | PSH, b"later", advance=True)
        self.wait_delivered(c, 10)
        self.assertEqual(c.read(), b"freshlater")

    def test_a_segment_without_timestamps_after_negotiating_them_is_dropped(self):
        """RFC 7323 §3.2: once negotiated, a non-RST segment without TSopt SHOULD be silently dropped; a RST without
        it MUST still be processed."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, timestamps=True)
        c.send(ACK | PSH, b"no-timestamp", ts=False)
        time.sleep(0.5)
        self.assertEqual(c.delivered(), 0)
        self.assertEqual(c.query()["rcv_nxt"], P_ISS)
        c.send(RST, ts=False)
        self.drive.wait_for(lambda e: e["event"] == "indicate_abort" and e.get("conn") == c.conn, 3, "indicate_abort")

    def test_ts_recent_is_not_taken_from_an_out_of_order_segment(self):
        """RFC 7323 §4.3 (3): TS.Recent is updated only from a segment with SEG.SEQ =< Last.ACK.sent; an out-of-order
        segment's newer TSval is not echoed (the ACK it gets carries TSecr = the old TS.Recent)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, timestamps=True)
        c.send(ACK | PSH, b"in-order", advance=True)
        self.wait_delivered(c, 8)
        recent = c.ts
        r = c.receive(2, lambda s: s.ack == c.p)
        self.assertEqual(r.tsecr, recent)
        c.ts += 1000
        c.send(ACK, b"ooo", seq=seq_add(c.p, 100))
        r = c.ack_reply(2)
        self.assertIsNotNone(r, "out-of-order data is acknowledged at once")
        self.assertEqual(r.ack, c.p)
        self.assertEqual(r.tsecr, recent, "TS.Recent must not come from a segment beyond Last.ACK.sent")

    def test_window_scale_is_applied_both_ways(self):
        """RFC 7323 §2.3: the window field of every non-SYN segment is shifted by the sender's scale. The target
        advertises RCV.WND >> Rcv.Wind.Shift and honours SEG.WND << Snd.Wind.Shift (a window field of 150 from the peer
        lets exactly 1200 bytes through)."""
        c = self.conn(rcv_wnd=64 * 1024, p_iss=P_ISS, snd_scale=3, rcv_scale=5, snd_wnd=800)
        data = os.urandom(5000)
        rid = self.drive.request("send", conn=c.conn, base64=base64.b64encode(data).decode())
        sent = self.data_segments(c, 800)
        self.assertTrue(sent, "no data")
        self.assertEqual(sum(len(s.payload) for s in sent), 800, "800 bytes (100 << 3) fit the peer's window")
        self.assertEqual(sent[0].win, (64 * 1024) >> 5, "RCV.WND >> 5 in the window field")
        # The peer ACKs them with the window field 150: 150 << 3 = 1200 bytes may follow, no more, no less.
        got = b"".join(s.payload for s in sent)
        c.send(ACK, ack=seq_add(c.T, len(got)), win=150)
        more = self.data_segments(c, 1200)
        self.assertEqual(sum(len(s.payload) for s in more), 1200, "SEG.WND 150 << Snd.Wind.Shift 3 = 1200 bytes")
        got += b"".join(s.payload for s in more)
        # Then it opens to 2000 << 3 = 16000 bytes: the rest flows.
        c.send(ACK, ack=seq_add(c.T, len(got)), win=2000)
        deadline = time.monotonic() + 5
        while len(got) < len(data) and time.monotonic() < deadline:
            s = c.receive(1, lambda s: len(s.payload) > 0)
            if s is None:
                continue
            if s.seq == seq_add(c.T, len(got)):
                got += s.payload
            c.send(ACK, ack=seq_add(c.T, len(got)), win=2000)
        self.assertEqual(got, data)
        self.assertEqual(self.drive.reply(rid, "send_complete", 3)["bytes"], len(data))

    def test_zero_send_window_is_probed_and_reopening_resumes(self):
        """RFC 9293 §3.8.6.1 (MUST-35/36, SHLD-29): with the peer's window at zero the target probes it after an RTO
        and keeps the connection while the probes are answered; a window update resumes the transfer byte-exact."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, snd_wnd=0)
        data = os.urandom(3000)
        rid = self.drive.request("send", conn=c.conn, base64=base64.b64encode(data).decode())
        first = c.receive(1.0, lambda s: len(s.payload) > 1)
        self.assertIsNone(first, "no data beyond a zero window (only a probe)")
        probe = c.receive(4, lambda s: True)
        self.assertIsNotNone(probe, "the target must probe a zero window")
        self.assertLessEqual(len(probe.payload), 1)
        c.send(ACK, ack=c.T, win=0)  # still closed
        c.send(ACK, ack=c.T, win=65535)
        got = b""
        deadline = time.monotonic() + 5
        while len(got) < len(data) and time.monotonic() < deadline:
            s = c.receive(1, lambda s: len(s.payload) > 0)
            if s is None:
                continue
            if s.seq == seq_add(c.T, len(got)):
                got += s.payload
            elif (s.seq - c.T) & 0xFFFFFFFF < len(got) and ((s.seq - c.T) & 0xFFFFFFFF) + len(s.payload) > len(got):
                got += s.payload[len(got) - ((s.seq - c.T) & 0xFFFFFFFF):]
            c.send(ACK, ack=seq_add(c.T, len(got)))
        self.assertEqual(got, data)
        self.assertEqual(self.drive.reply(rid, "send_complete", 3)["bytes"], len(data))

    def test_a_peer_shrinking_its_window_gets_no_data_beyond_the_new_edge(self):
        """RFC 9293 §3.8.6.2.1 / MUST-34, SHLD-15: after the peer moves its right edge left the sender sends no new
        data beyond it (it may retransmit old data, MAY-7) and copes: the transfer completes byte-exact later."""
        # Three full segments fit (a multiple of the MSS, so sender SWS avoidance holds nothing back).
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, snd_wnd=3 * 1460)
        data = os.urandom(10000)
        rid = self.drive.request("send", conn=c.conn, base64=base64.b64encode(data).decode())
        segs = self.data_segments(c, 3 * 1460)
        self.assertEqual(sum(len(s.payload) for s in segs), 3 * 1460)
        # ACK 1460 with window 100: the right edge moves from T+4380 back to T+1560.
        c.send(ACK, ack=seq_add(c.T, 1460), win=100)
        later = [s for s in c.peer.collect(2.5, local_port=c.local_port) if s.payload]
        for s in later:
            end = ((s.seq - c.T) & 0xFFFFFFFF) + len(s.payload)
            self.assertLessEqual(end, 3 * 1460, f"new data beyond the old right edge after a shrink: {s}")
        # Open again and take everything.
        got = data[:1460]
        c.send(ACK, ack=seq_add(c.T, 1460), win=65535)
        deadline = time.monotonic() + 8
        while len(got) < len(data) and time.monotonic() < deadline:
            s = c.receive(1, lambda s: len(s.payload) > 0)
            if s is None:
                c.send(ACK, ack=seq_add(c.T, len(got)), win=65535)
                continue
            off = (s.seq - c.T) & 0xFFFFFFFF
            if off <= len(got) < off + len(s.payload):
                got += s.payload[len(got) - off:]
            c.send(ACK, ack=seq_add(c.T, len(got)), win=65535)
        self.assertEqual(got, data)
        self.assertEqual(self.drive.reply(rid, "send_complete", 5)["bytes"], len(data))


class Urgent(ConfTestCase):
    def test_urgent_data_asks_for_upload_is_not_acked_and_goes_up_after_terminate(self):
        """Chimney spec §6.5 (URG): validate, Retrieve(ReceivedUrgentData) (a mandatory reason, §6.3), stop ACKing,
        hold it and everything after it, pass it all up after the terminate (the host implements urgent data,
        RFC 9293 MUST-30)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(ACK | PSH | URG, b"!urgent", urgptr=1)
        ev = self.drive.wait_for(lambda e: e["event"] == "indicate_retrieve" and e.get("conn") == c.conn, 3)
        self.assertEqual(ev["reason"], "ReceivedUrgentData")
        c.send(ACK | PSH, b"after", seq=seq_add(P_ISS, 7))
        self.assertIsNone(c.receive(0.6), "no ACK for urgent data or what follows it")
        self.assertEqual(c.delivered(), 0)
        before = len(self.drive.all("frame_up"))
        term = self.drive.call("terminate", conn=c.conn)
        self.assertEqual(term["event"], "terminated", term)
        self.assertEqual(term["delegated"]["rcv_nxt"], P_ISS, "the target must not have taken the urgent bytes")
        up = self.drive.wait_for(lambda e: len(self.drive.all("frame_up")) >= before + 2, 3, "both held frames up")
        frames = [bytes.fromhex(e["hex"]) for e in self.drive.all("frame_up")[before:]]
        self.assertTrue(any(b"!urgent" in f for f in frames) and any(b"after" in f for f in frames), frames)
        self.assertLess(frames.index(next(f for f in frames if b"!urgent" in f)),
                        frames.index(next(f for f in frames if b"after" in f)), "held frames go up in arrival order")
        del up


class Malformed(ConfTestCase):
    """Bad TCP headers: RFC 9293 MUST-3 (checksum), MUST-6/7 (options), chimney spec §6.5 ("Bad TCP header: pass up
    (preferred, uncounted) or drop + InErrors"). Never processed, never a crash."""

    def raw_tcp(self, c, payload=b"", options=b"", dataofs=None, checksum=None, flags=ACK | PSH):
        hdr_len = 20 + len(options)
        off = dataofs if dataofs is not None else hdr_len // 4
        tcp = struct.pack("!HHIIBBHHH", c.peer.port, c.local_port, c.p, c.t, (off & 0xF) << 4, flags, 65535, 0, 0)
        tcp += options + payload
        if checksum is None:
            checksum = conf_suite.tcp_checksum(c.peer.ip, c.lab.emu_ip, tcp)
        return tcp[:16] + struct.pack("!H", checksum) + tcp[18:]

    def send_raw(self, c, tcp):
        c.peer.send_frame(c.peer.frame(Raw(tcp), ip=IP(src=c.peer.ip, dst=c.lab.emu_ip, proto=6, flags="DF")))

    def assert_not_processed(self, c, before, what):
        """No reply, nothing delivered, and the frame accounted: a counted drop (tcp in_errors) or passed up."""
        self.assertIsNone(c.receive(0.4), f"{what}: a malformed segment must not be answered")
        self.assertEqual(c.delivered(), 0, what)
        after = self.lab.stats()
        counted = after["ipv4.tcp.in_errors"] - before["ipv4.tcp.in_errors"]
        up = after["target.frames_up"] - before["target.frames_up"]
        self.assertEqual(counted + up, 1, f"{what}: dropped and counted, or passed up (in_errors +{counted}, up +{up})")
        return counted, up

    def test_bad_checksum_is_a_counted_drop(self):
        """RFC 9293 MUST-3: verify the checksum, discard failures; chimney spec §6.10 InErrors counts them."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        before = self.lab.stats()
        good = self.raw_tcp(c, b"corrupt")
        bad = good[:16] + struct.pack("!H", struct.unpack("!H", good[16:18])[0] ^ 0x5555) + good[18:]
        self.send_raw(c, bad)
        counted, _ = self.assert_not_processed(c, before, "bad checksum")
        self.assertEqual(counted, 1, "a bad checksum is counted in InErrors")
        self.assert_alive(c)

    def test_data_offset_below_five_or_beyond_the_segment_is_not_processed(self):
        """RFC 9293 §3.1: the data offset counts 32-bit words of a header of at least 5; a value below 5 or past the
        end of the segment is a bad header (chimney §6.5)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        for what, tcp in (("offset 4", self.raw_tcp(c, b"four!", dataofs=4)),
                          ("offset 0", self.raw_tcp(c, b"zero!", dataofs=0)),
                          ("offset 15 in a 25-byte segment", self.raw_tcp(c, b"fifteen", dataofs=15)),
                          ("offset 6 in a 20-byte segment", self.raw_tcp(c, b"", dataofs=6))):
            before = self.lab.stats()
            self.send_raw(c, tcp)
            self.assert_not_processed(c, before, what)
        self.assert_alive(c)

    def test_illegal_option_lengths_are_survived(self):
        """RFC 9293 MUST-7 (an illegal option length, e.g. 0, must not crash; resetting is suggested, dropping is
        allowed), MUST-68 (every option but EOL/NOP has a length byte): lengths 0 and 1, one overrunning the header,
        and a length byte missing at the end."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        for what, opts in (("length 0", b"\x08\x00\x00\x00"), ("length 1", b"\x05\x01\x00\x00"),
                           ("overrunning", b"\x08\x28\x00\x00\x00\x00\x00\x00"),
                           ("length byte missing", b"\x01\x01\x01\x13")):
            before = self.lab.stats()
            self.send_raw(c, self.raw_tcp(c, b"opts", options=opts))
            time.sleep(0.1)
            # Either dropped and counted, or passed up: never taken as data.
            self.assert_not_processed(c, before, what)
        self.assert_alive(c)

    def test_unknown_and_unaligned_options_are_skipped_and_the_segment_processed(self):
        """RFC 9293 MUST-6 (ignore options not implemented, by their length), MUST-5 (options in any segment),
        MUST-64 (options need not be word aligned), MUST-69 (padding after EOL)."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        opts = b"\x63\x06abcd" + b"\x01" + b"\xfe\x04\x00\x00" + b"\x00" + b"\x00" * 4  # kind 99, NOP, kind 254, EOL, pad
        assert len(opts) % 4 == 0
        self.send_raw(c, self.raw_tcp(c, b"unknown-ok", options=opts))
        c.p = seq_add(c.p, 10)
        self.wait_delivered(c, 10)
        self.assertEqual(c.read(), b"unknown-ok")


class NonOffloadPath(ConfTestCase):
    """Chimney spec §6.5: IP fragments and IPv4 options go up the non-offload path; VLAN rules."""

    def test_ip_fragments_go_up_unprocessed(self):
        """Chimney spec §6.5 (and §8 of tcp-requirements: the host reassembles and forwards): a segment for an
        offloaded connection arriving as IP fragments reaches the host as those fragments; the target takes none of it."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        pkt = IP(src=c.peer.ip, dst=c.lab.emu_ip) / c.tcp(ACK | PSH) / Raw(b"F" * 600)
        frags = fragment(pkt, fragsize=256)
        self.assertGreater(len(frags), 1)
        before = len(self.drive.all("frame_up"))
        frames = [bytes(Ether(src=c.peer.mac, dst=c.lab.emu_mac) / f) for f in frags]
        for f in frames:
            c.peer.send_frame(f)
        self.drive.wait_for(lambda e: len(self.drive.all("frame_up")) >= before + len(frames), 3, "every fragment up")
        time.sleep(0.1)
        up = [bytes.fromhex(e["hex"]) for e in self.drive.all("frame_up")[before:]]
        self.assertEqual([f for f in up if f in frames], frames, "each fragment up once, unchanged, in order")
        self.assertIsNone(c.receive(0.4), "the target must not answer fragments")
        self.assertEqual(c.delivered(), 0)

        # The host reassembles them (RFC 791) and forwards the TCP segment, header first (spec §4): the target
        # processes it as if from the wire, delivers the 600 bytes and ACKs them.
        whole = defragment([IP(f[14:]) for f in up if f in frames])
        self.assertEqual(len(whole), 1, "the fragments did not reassemble into one datagram")
        segment = bytes(whole[0][TCP])
        ev = self.drive.call("forward", "forward_complete", conn=c.conn, base64=base64.b64encode(segment).decode())
        self.assertEqual(ev["status"], "SUCCESS", ev)
        c.p = seq_add(c.p, 600)
        self.wait_delivered(c, 600)
        self.assertEqual(c.read(), b"F" * 600)
        self.assertIsNotNone(c.receive(2, lambda s: s.ack == c.p), "no ACK of the forwarded data")

    def test_ipv4_options_go_up_unprocessed(self):
        """Chimney spec §6.5 / tcp-requirements MUST-50: a datagram with IPv4 options goes to the host."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        before = len(self.drive.all("frame_up"))
        frame = c.peer.frame(c.tcp(ACK | PSH), b"ip-options",
                             ip=IP(src=c.peer.ip, dst=c.lab.emu_ip, options=[IPOption_RR(routers=["0.0.0.0"])]))
        c.peer.send_frame(frame)
        self.drive.wait_for(lambda e: e["event"] == "frame_up" and bytes.fromhex(e["hex"]) == bytes(frame), 3,
                            "the frame up, unchanged")
        self.assertIsNone(c.receive(0.4))
        self.assertEqual(c.delivered(), 0)
        # The host forwards its TCP segment back (spec §4): taken as from the wire, delivered, ACKed.
        ev = self.drive.call("forward", "forward_complete", conn=c.conn,
                             base64=base64.b64encode(bytes(Ether(bytes(frame))[TCP])).decode())
        self.assertEqual(ev["status"], "SUCCESS", ev)
        c.p = seq_add(c.p, len(b"ip-options"))
        self.wait_delivered(c, len(b"ip-options"))
        self.assertEqual(c.read(), b"ip-options")
        self.assertIsNotNone(c.receive(2, lambda s: s.ack == c.p), "no ACK of the forwarded data")

    def test_a_bad_ip_header_checksum_goes_up_unprocessed(self):
        """Chimney spec §6.5 (the target only takes well-formed IPv4 TCP for its connections) and RFC 1122 §3.2.1.2
        (a datagram with a bad header checksum is not processed as IP): it reaches the host unchanged, the target
        takes none of it."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        frame = bytearray(bytes(c.peer.frame(c.tcp(ACK | PSH), b"bad-ip-sum")))
        frame[24] ^= 0x5A  # IPv4 header checksum (bytes 10-11 of the header)
        before = len(self.drive.all("frame_up"))
        c.peer.send_frame(bytes(frame))
        self.drive.wait_for(lambda e: e["event"] == "frame_up" and bytes.fromhex(e["hex"]) == bytes(frame), 3,
                            "the frame up, unchanged")
        self.assertIsNone(c.receive(0.4))
        self.assertEqual(c.delivered(), 0)

    def test_a_vlan_tagged_segment_is_taken_when_the_neighbour_has_vlan_0_and_the_reply_is_untagged(self):
        """Chimney spec §6.5 (802.1Q): neighbour VlanId 0 accepts any tag; with VlanId 0 and priority 0 the target
        sends untagged. (The daemon's emulator.json has no VLAN of its own; a synthetic neighbour has VlanId 0.)"""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS)
        c.send(ACK | PSH, b"tagged", vlan=7, advance=True)
        self.wait_delivered(c, 6)
        self.assertEqual(c.read(), b"tagged")
        r = c.receive(2, lambda s: s.ack == c.p)
        self.assertIsNotNone(r)
        self.assertIsNone(r.vlan, "VlanId 0, priority 0: untagged")

    def test_a_neighbour_on_vlan_5_tags_its_frames_and_takes_only_that_vlan(self):
        """Chimney spec §6.5 (802.1Q): a neighbour with VlanId 5 (a VLAN the daemon's Nic:VlanIds lists) gets its frames
        tagged 5 (priority 0, CFI 0) and takes only frames tagged 5: the same segment untagged or tagged 6 is not for
        the connection and goes up the non-offload path unchanged."""
        c = self.conn(rcv_wnd=W, p_iss=P_ISS, vlan=5)
        c.send(ACK | PSH, b"vlan-five", vlan=5, advance=True)
        self.wait_delivered(c, 9)
        self.assertEqual(c.read(), b"vlan-five")
        r = c.receive(2, lambda s: s.ack == c.p)
        self.assertIsNotNone(r, "no ACK of the tagged data")
        self.assertEqual(r.vlan, 5, "the neighbour's VLAN tag on the target's frame")
        for tag in (None, 6):
            frame = bytes(c.peer.frame(c.tcp(ACK | PSH), b"not-mine", vlan=tag))
            c.peer.send_frame(frame)
            self.drive.wait_for(lambda e: e["event"] == "frame_up" and bytes.fromhex(e["hex"]) == frame, 3,
                                f"the frame with vlan {tag} up, unchanged")
        self.assertIsNone(c.receive(0.4, lambda s: s.ack != c.p), "the target acted on a frame of another VLAN")
        self.assertEqual(c.delivered(), 9)

    def test_an_offload_on_a_vlan_the_nic_is_not_in_is_refused_with_vlan_mismatch(self):
        """Chimney spec §6.5 and §7: a neighbour with a non-zero VlanId the NIC is not configured for fails the
        initiate with NDIS_STATUS_OFFLOAD_VLAN_MISMATCH (0xC023100D); nothing is offloaded."""
        peer_port = 47000
        ev = self.drive.call("offload", remote_ip=self.lab.peer_ip, remote_mac="02:00:5e:00:53:77", local_ip=self.lab.emu_ip,
                             const={"local_port": 47001, "remote_port": peer_port, "remote_mss": 1460},
                             delegated={"snd_una": 1000, "rcv_nxt": 2000, "snd_wnd": 65535, "rcv_wnd": 65535},
                             vlan=7, timeout=15)
        self.assertEqual(ev["event"], "error", ev)
        self.assertIn("VLAN_MISMATCH", json.dumps(ev).upper(), ev)


if __name__ == "__main__":
    unittest.main()
