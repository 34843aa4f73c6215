"""offloademu drive through a real offloademud on a TAP (docs/drive.md, "Tests"). Root only: the tests make a
network namespace and a TAP. Run alone: sudo /usr/bin/python3 -m unittest -v tests/python/test_drive.py"""

import base64
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oe_drive_lab import ACK, FIN, PSH, RST, Drive, Lab, RawPeer, in_netns

LAB = None


def setUpModule():
    global LAB
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (network namespace, TAP)")
    LAB = Lab()
    try:
        LAB.up()
    except BaseException:
        LAB.down()
        raise


def tearDownModule():
    if LAB is not None:
        LAB.down()


def seq_add(a, n):
    return (a + n) & 0xFFFFFFFF


class DriveTestCase(unittest.TestCase):
    def setUp(self):
        self.drive = Drive(LAB.socket_path)

    def tearDown(self):
        code = self.drive.close()
        self.assertEqual(code, 0, f"drive exit status; stderr: {self.drive.stderr}")
        self.assertEqual(self.drive.bad_lines, [], "every stdout line is one JSON event")

    def bind(self, **fields):
        ev = self.drive.call("bind", **fields)
        self.assertEqual(ev["event"], "bound", ev)
        return ev


class BindAndParameters(DriveTestCase):
    def test_bind_reports_the_target_and_parameters_report_what_the_daemon_has_in_effect(self):
        bound = self.bind()
        self.assertEqual(bound["mac"].lower(), LAB.emu_mac)
        self.assertEqual(bound["mtu"], 1500)
        self.assertIsNone(bound["local"])
        p = self.drive.call("parameters")
        self.assertEqual(p["event"], "parameters", p)
        self.assertEqual(p["status"], "SUCCESS")
        self.assertEqual(p["ticks_per_second"], Lab.TICKS)  # the daemon's config, not the 1000/s default
        self.assertEqual(p["offload"]["tcp_delayed_ack_ticks"], 20)
        self.assertEqual(p["offload"]["tcp_push_ticks"], 50)
        self.assertEqual(p["offload"]["nce_stale_ticks"], 3000)
        self.assertEqual(p["challenge_ack_interval_ms"], 3000)
        self.assertGreater(p["min_rto_ms"], 0)
        self.assertGreaterEqual(p["max_rto_ms"], p["min_rto_ms"])
        self.assertGreater(p["fin_wait_2_ms"], 0)
        for name in ("bound", "parameters"):
            self.assertIsInstance(self.drive.all(name)[0]["time"], float)


class ConnectToTheKernel(DriveTestCase):
    def test_connect_send_receive_and_graceful_close_with_a_kernel_server(self):
        listener = LAB.kernel_listener(7007)
        got = {}

        def serve():
            conn, addr = listener.accept()
            got["peer"] = addr
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) >= 50_000 and "echoed" not in got:
                    conn.sendall(data[::-1])  # the reversed stream: not an echo the drive could fake
                    got["echoed"] = True
            got["data"] = data
            conn.close()
            listener.close()

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        self.bind(local=f"{LAB.emu_ip}/24")
        connected = self.drive.call("connect", remote=f"{LAB.kernel_ip}:7007", timeout=20)
        self.assertEqual(connected["event"], "connected", connected)
        conn = connected["conn"]
        self.assertEqual(connected["remote"], f"{LAB.kernel_ip}:7007")
        payload = os.urandom(50_000)
        half = len(payload) // 2
        first = self.drive.request("send", conn=conn, base64=base64.b64encode(payload[:half]).decode())
        second = self.drive.request("send", conn=conn, hex=payload[half:].hex())
        for rid in (first, second):
            done = self.drive.reply(rid, "send_complete", timeout=20)
            self.assertEqual(done["status"], "SUCCESS")
        self.assertEqual(sum(e["bytes"] for e in self.drive.all("send_complete", conn=conn)), len(payload))
        self.drive.wait_for(lambda e: e["event"] == "receive" and e["conn"] == conn and e["delivered_total"] == len(payload),
                            20, "all reversed bytes delivered")
        data = self.drive.call("read", conn=conn)
        self.assertEqual(data["event"], "data")
        self.assertEqual(base64.b64decode(data["base64"]), payload[::-1])
        self.assertEqual(self.drive.call("read", conn=conn)["length"], 0)  # read takes what it returned
        # The connection was offloaded after the handshake (a state event says so).
        self.drive.wait_for(lambda e: e["event"] == "state" and e["conn"] == conn and e["location"] == "offloaded", 10)
        # Graceful close: our FIN → the server's EOF → its FIN → our eof.
        closed = self.drive.call("disconnect", conn=conn, mode="graceful", timeout=20)
        self.assertEqual(closed["event"], "disconnect_complete", closed)
        self.assertEqual(closed["status"], "SUCCESS")
        server.join(10)
        self.assertFalse(server.is_alive())
        self.assertEqual(got["data"], payload)
        self.assertEqual(got["peer"][0], LAB.emu_ip)
        self.drive.wait_for(lambda e: e["event"] == "eof" and e["conn"] == conn, 10)
        # We closed first: the target hands our end back in TIME-WAIT, which the stack keeps in host mode for 2MSL
        # (docs/hoststack.md, Close); either way the connection has left the target.
        self.drive.wait_for(lambda e: e["event"] == "state" and e["conn"] == conn and e["location"] in ("host", "closed"), 10)
        self.assertEqual(self.drive.all("receive_error"), [])
        # The stack's own contract traffic is reported too: its initiate, its sends completed by the target, and the
        # release terminate at the close.
        local_port = int(connected["local"].split(":")[1])
        stack = [e for e in self.drive.events if e.get("stack") and e.get("local_port") == local_port]
        self.assertIn("SUCCESS", [e["status"] for e in stack if e["event"] == "initiate_complete"])
        sends = [e for e in stack if e["event"] == "send_complete"]
        self.assertTrue(sends and all(e["status"] == "SUCCESS" and e["conn"] == conn for e in sends), sends)
        self.assertLessEqual(sum(e["bytes"] for e in sends), len(payload))
        self.assertTrue(any(e["event"] in ("receive_indicate", "receive_complete") and e["conn"] == conn for e in stack))
        self.drive.wait_for(lambda e: e.get("stack") and e["event"] == "terminate_complete" and e.get("local_port") == local_port, 10)


class AcceptFromTheKernel(DriveTestCase):
    def test_listen_accept_a_kernel_client_then_abortive_disconnect_resets_it(self):
        self.bind(local=f"{LAB.emu_ip}/24")
        self.assertEqual(self.drive.call("listen", port=6001)["event"], "listening")
        accept = self.drive.request("accept", port=6001)
        got = {}

        def client():
            def make():
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(15)
                s.connect((LAB.emu_ip, 6001))
                return s
            s = in_netns(LAB.ns, make)
            s.sendall(b"hello from the kernel")
            try:
                got["read"] = s.recv(100)
            except OSError as ex:
                got["error"] = ex
            s.close()

        t = threading.Thread(target=client, daemon=True)
        t.start()
        acc = self.drive.reply(accept, "accepted", timeout=20)
        conn = acc["conn"]
        self.assertEqual(acc["local"], f"{LAB.emu_ip}:6001")
        self.assertTrue(acc["remote"].startswith(LAB.kernel_ip + ":"))
        self.drive.wait_for(lambda e: e["event"] == "receive" and e["conn"] == conn and e["delivered_total"] == 21, 10)
        self.assertEqual(base64.b64decode(self.drive.call("read", conn=conn)["base64"]), b"hello from the kernel")
        done = self.drive.call("disconnect", conn=conn, mode="abortive")
        self.assertEqual((done["event"], done["status"]), ("disconnect_complete", "SUCCESS"))
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertIsInstance(got.get("error"), ConnectionResetError, got)


class SyntheticOffload(DriveTestCase):
    T_ISS = 0xFFFFFFF0  # the target's side wraps within the first segment
    P_ISS = 0x12345678
    PEER_TS = 3_000_000_000

    def offload(self, peer, local_port, **delegated):
        d = {"snd_una": self.T_ISS, "rcv_nxt": self.P_ISS, "snd_wnd": 65536, "rcv_wnd": 65536,
             "ts_recent": self.PEER_TS}
        d.update(delegated)
        ev = self.drive.call("offload", remote_ip=peer.ip, remote_mac=peer.mac, local_ip=LAB.emu_ip,
                             const={"local_port": local_port, "remote_port": peer.port, "remote_mss": 1460,
                                    "timestamps": True, "sack": True, "snd_wind_scale": 7, "rcv_wind_scale": 6},
                             cached={"initial_rcv_wnd": 65536, "ttl": 64},
                             delegated=d, timeout=15)
        self.assertEqual(ev["event"], "offloaded", ev)
        return ev

    def test_synthetic_offload_continues_the_peers_connection_exactly_then_query_and_terminate(self):
        self.bind()
        peer = RawPeer(LAB, LAB.peer_ip, "02:00:00:18:fc:03", 40001)
        try:
            off = self.offload(peer, 5001)
            conn = off["conn"]
            self.assertEqual(off["ticks_per_second"], Lab.TICKS)
            self.assertIsInstance(off["ts_time"], int)
            self.drive.wait_for(lambda e: e["event"] == "state" and e.get("conn") == conn and e["location"] == "offloaded")

            # Target → peer: the first segment carries exactly the chosen SEQ/ACK, our TsRecent as TSecr and the
            # target's clock (ts_time from the reply, a few ticks later at most) as TSval.
            out = b"target->peer across the wrap"
            sent = self.drive.request("send", conn=conn, text=out.decode())
            seg = peer.receive(5, lambda s: len(s["payload"]) > 0)
            self.assertIsNotNone(seg, "no data segment from the target")
            self.assertTrue(seg["checksum_ok"])
            self.assertEqual(seg["sport"], 5001)
            self.assertEqual(seg["dst_mac"], peer.mac)
            self.assertEqual(seg["src_mac"], LAB.emu_mac)
            self.assertEqual(seg["seq"], self.T_ISS)
            self.assertEqual(seg["ack"], self.P_ISS)
            self.assertTrue(seg["flags"] & ACK)
            self.assertEqual(seg["payload"], out)
            self.assertEqual(seg["tsecr"], self.PEER_TS)
            self.assertLessEqual((seg["tsval"] - off["ts_time"]) & 0xFFFFFFFF, Lab.TICKS)  # within a second
            self.assertEqual(seg["win"] << 6, 65536)  # rcv_wnd in the chosen scale
            target_ts = seg["tsval"]
            t_next = seq_add(self.T_ISS, len(out))
            peer.send(5001, ACK, self.P_ISS, t_next, 512, tsval=self.PEER_TS + 1, tsecr=target_ts)
            done = self.drive.reply(sent, "send_complete")
            self.assertEqual((done["status"], done["bytes"]), ("SUCCESS", len(out)))

            # Peer → target: a 5-byte post takes the first bytes, the rest is indicated; read returns them in order.
            posted = self.drive.request("post_receive", conn=conn, size=5)
            time.sleep(0.2)
            inbound = b"peer->target!!!"
            peer.send(5001, ACK | PSH, self.P_ISS, t_next, 512, inbound, tsval=self.PEER_TS + 2, tsecr=target_ts)
            rc = self.drive.reply(posted, "receive_complete")
            self.assertEqual((rc["status"], rc["bytes"]), ("SUCCESS", 5))
            self.drive.wait_for(lambda e: e["event"] == "receive_indicate" and e["conn"] == conn
                                and e["delivered_total"] == len(inbound))
            data = self.drive.call("read", conn=conn)
            self.assertEqual(base64.b64decode(data["base64"]), inbound)
            p_next = seq_add(self.P_ISS, len(inbound))
            acked = peer.receive(3, lambda s: s["ack"] == p_next)
            self.assertIsNotNone(acked, "the target did not acknowledge the peer's data")
            self.assertEqual(acked["tsecr"], self.PEER_TS + 2)

            q = self.drive.call("query", conn=conn)
            self.assertEqual(q["event"], "queried", q)
            self.assertEqual(q["delegated"]["state"], "Established")
            self.assertEqual(q["delegated"]["snd_una"], t_next)
            self.assertEqual(q["delegated"]["snd_nxt"], t_next)
            self.assertEqual(q["delegated"]["rcv_nxt"], p_next)
            self.assertEqual(q["delegated"]["ts_recent"], self.PEER_TS + 2)

            # Terminate returns the delegated state: what the peer saw, exactly.
            term = self.drive.call("terminate", conn=conn)
            self.assertEqual(term["event"], "terminated", term)
            self.assertEqual(term["status"], "SUCCESS")
            self.assertEqual(term["delegated"]["snd_nxt"], t_next)
            self.assertEqual(term["delegated"]["rcv_nxt"], p_next)
            self.assertEqual(term["send_data_returned"], 0)
            self.assertEqual(term["buffered_length"], 0)
            self.drive.wait_for(lambda e: e["event"] == "state" and e.get("conn") == conn and e["location"] == "terminated")
            again = self.drive.call("send", conn=conn, text="x")
            self.assertEqual(again["event"], "error")
        finally:
            peer.close()

    def test_graceful_disconnect_and_the_peers_fin_then_abortive_disconnect_of_another(self):
        self.bind()
        peer = RawPeer(LAB, LAB.peer_ip, "02:00:00:18:fc:03", 40002)
        try:
            conn = self.offload(peer, 5002)["conn"]
            fin = self.drive.request("disconnect", conn=conn, mode="graceful")
            seg = peer.receive(5, lambda s: s["flags"] & FIN)
            self.assertIsNotNone(seg, "no FIN from the target")
            self.assertEqual(seg["seq"], self.T_ISS)
            peer.send(5002, ACK | FIN, self.P_ISS, seq_add(self.T_ISS, 1), 512, tsval=self.PEER_TS + 1, tsecr=seg["tsval"])
            done = self.drive.reply(fin, "disconnect_complete")
            self.assertEqual(done["status"], "SUCCESS")
            self.drive.wait_for(lambda e: e["event"] == "indicate_disconnect" and e["conn"] == conn)
            q = self.drive.call("query", conn=conn)
            self.assertIn(q["delegated"]["state"], ("TimeWait", "Closed"))
            self.assertEqual(q["delegated"]["rcv_nxt"], seq_add(self.P_ISS, 1))
            self.assertEqual(self.drive.call("terminate", conn=conn)["event"], "terminated")
        finally:
            peer.close()
        peer = RawPeer(LAB, LAB.peer_ip, "02:00:00:18:fc:03", 40003)
        try:
            conn = self.offload(peer, 5003)["conn"]
            ab = self.drive.request("disconnect", conn=conn, mode="abortive")
            seg = peer.receive(5, lambda s: s["flags"] & RST)
            self.assertIsNotNone(seg, "no RST from the target")
            self.assertEqual(seg["seq"], self.T_ISS)
            self.assertEqual(self.drive.reply(ab, "disconnect_complete")["status"], "SUCCESS")
        finally:
            peer.close()


    def test_update_takes_the_new_ttl_invalidate_answers_and_stdin_eof_aborts_what_is_left(self):
        self.bind()
        peer = RawPeer(LAB, LAB.peer_ip, "02:00:00:18:fc:03", 40004)
        try:
            conn = self.offload(peer, 5004)["conn"]
            sent = self.drive.request("send", conn=conn, text="a")
            seg = peer.receive(5, lambda s: s["payload"] == b"a")
            self.assertEqual(seg["ttl"], 64)
            peer.send(5004, ACK, self.P_ISS, seq_add(self.T_ISS, 1), 512, tsval=self.PEER_TS + 1, tsecr=seg["tsval"])
            self.drive.reply(sent, "send_complete")
            up = self.drive.call("update", conn=conn, cached={"ttl": 32, "initial_rcv_wnd": 65536})
            self.assertEqual((up["event"], up["status"]), ("updated", "SUCCESS"))
            self.drive.request("send", conn=conn, text="b")
            seg = peer.receive(5, lambda s: s["payload"] == b"b")
            self.assertEqual(seg["ttl"], 32)
            peer.send(5004, ACK, self.P_ISS, seq_add(self.T_ISS, 2), 512, tsval=self.PEER_TS + 2, tsecr=seg["tsval"])
            inv = self.drive.call("invalidate", conn=conn)
            self.assertEqual(inv["event"], "invalidated", inv)
            self.assertEqual(inv["status"], "SUCCESS")
            # The session ends with the connection still offloaded: the drive aborts it (the peer sees a RST).
            self.assertEqual(self.drive.close(), 0)
            rst = peer.receive(5, lambda s: s["flags"] & RST)
            self.assertIsNotNone(rst, "no RST after stdin EOF")
            self.assertEqual(rst["seq"], seq_add(self.T_ISS, 2))
        finally:
            peer.close()


class BadInput(DriveTestCase):
    def test_bad_lines_get_errors_echoing_the_id_and_the_session_goes_on(self):
        d = self.drive
        d.raw_line('{"id": 1000, "op": "send", "conn": 1, "text": "x"}')
        self.assertIn("not bound", d.reply(1000, "error")["error"])
        self.bind()
        cases = [
            ('{"id": 10, "op": "nope"}', 10, "unknown op"),
            ('{"id": 11, "op": "send", "text": "x"}', 11, "'conn' is required"),
            ('{"id": 12, "op": "send", "conn": 99, "text": "x"}', 12, "unknown conn 99"),
            ('{"id": 13, "op": "send", "conn": 1}', 13, "exactly one of"),
            ('{"id": 14, "op": "post_receive", "conn": 1, "size": -1}', 14, "out of range"),
            ('{"id": 15, "op": "offload", "remote_ip": "198.18.252.3", "remote_mac": "zz", "const": {}, "delegated": {}}', 15, "MAC"),
            ('{"id": 16, "op": "offload", "remote_ip": "198.18.252.3", "remote_mac": "02:00:00:00:00:01",'
             ' "const": {"local_port": 1, "remote_port": 2, "remote_mss": 1460, "snd_wind_scale": 15},'
             ' "delegated": {"snd_una": 1, "rcv_nxt": 1, "snd_wnd": 1, "rcv_wnd": 1}}', 16, "const.snd_wind_scale"),
            ('{"id": "s-17", "op": "disconnect", "conn": 1, "mode": "sideways"}', "s-17", "graceful or abortive"),
            ('{"id": 18, "op": "connect", "remote": "198.18.252.1:7"}', 18, "no host stack"),
            ('{"id": 19, "op": "bind"}', 19, "already bound"),
        ]
        for line, rid, text in cases:
            d.raw_line(line)
            ev = d.reply(rid)
            self.assertEqual(ev["event"], "error", line)
            self.assertIn(text, ev["error"], line)
        d.raw_line("this is not json")
        d.raw_line('{"op": "parameters"}')
        d.raw_line("[1, 2]")
        d.wait_for(lambda e: len([x for x in d.events if x["event"] == "error" and x["id"] is None]) >= 3, 5,
                   "three errors without an id")
        self.assertEqual(d.call("parameters")["event"], "parameters")  # still serving


class Fatal(unittest.TestCase):
    def test_no_daemon_on_the_socket_is_one_line_and_exit_1(self):
        drive = Drive(os.path.join(LAB.dir, "nobody.sock"))
        code = drive.close()
        self.assertEqual(code, 1)
        lines = [l for l in drive.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, drive.stderr)
        self.assertIn("no offloademud answers", lines[0])


if __name__ == "__main__":
    unittest.main()
