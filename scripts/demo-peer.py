#!/usr/bin/python3
"""Kernel-side client for scripts/demo.sh, run inside the demo's lab namespace (the Linux TCP stack's side).

  demo-peer.py echo  HOST PORT BYTES   connect, send BYTES while receiving them back, FIN first (a graceful close
                                       from the kernel side), compare length and SHA-256 of both directions
  demo-peer.py abort HOST PORT BYTES   connect, send BYTES, then close with SO_LINGER 0: the kernel sends a RST
                                       (an abortive close from the kernel side)
  demo-peer.py drive-abort SOCKET HOST:PORT BYTES -- OFFLOADEMU...
                                       our side instead (run outside the namespace): `offloademu drive --daemon
                                       SOCKET` connects to HOST:PORT, waits until the connection is offloaded, sends
                                       BYTES, then disconnects abortively: the offload target sends the RST

Exit 0 when the check holds, 1 otherwise, with one line saying what.
"""
import base64
import hashlib
import json
import random
import signal
import subprocess
import socket
import struct
import sys
import threading
import time

CHUNK = 1 << 20


def connect(host: str, port: int, deadline_s: float = 30.0) -> socket.socket:
    end = time.monotonic() + deadline_s
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((host, port))
            s.settimeout(120)
            return s
        except OSError as e:
            s.close()
            if time.monotonic() > end:
                raise SystemExit(f"kernel peer: cannot connect to {host}:{port}: {e}")
            time.sleep(0.3)


def chunks(total: int):
    """Deterministic pseudo-random bytes: one random MiB, each chunk stamped with its index."""
    block = random.Random(7).randbytes(CHUNK)
    sent = 0
    i = 0
    while sent < total:
        n = min(CHUNK, total - sent)
        yield (struct.pack("<Q", i) + block[8:])[:n]
        sent += n
        i += 1


def echo(s: socket.socket, total: int) -> int:
    h_sent = hashlib.sha256()
    failure: list[str] = []

    def sender() -> None:
        try:
            for c in chunks(total):
                h_sent.update(c)
                s.sendall(c)
            s.shutdown(socket.SHUT_WR)  # our FIN first
        except OSError as e:
            failure.append(f"send failed: {e}")

    t = threading.Thread(target=sender)
    start = time.monotonic()
    t.start()
    h_recv = hashlib.sha256()
    received = 0
    try:
        while True:
            data = s.recv(CHUNK)
            if not data:
                break
            h_recv.update(data)
            received += len(data)
    except OSError as e:
        failure.append(f"receive failed after {received} bytes: {e}")
    t.join()
    s.close()
    secs = time.monotonic() - start
    sent_hex, recv_hex = h_sent.hexdigest().upper(), h_recv.hexdigest().upper()
    ok = not failure and received == total and sent_hex == recv_hex
    rate = 8 * received / secs / 1e6 if secs > 0 else 0.0
    print(f"kernel peer: sent {total}, received {received} back in {secs:.2f} s ({rate:.1f} Mbits/sec each way), "
          f"closed first (FIN); SHA-256 {'match' if ok else 'MISMATCH'} {recv_hex[:16]}...", flush=True)
    for f in failure:
        print(f"kernel peer: {f}", flush=True)
    return 0 if ok else 1


def abort(s: socket.socket, total: int) -> int:
    for c in chunks(total):
        s.sendall(c)
    time.sleep(0.5)  # let the data be acknowledged, so the RST carries the close and not lost data
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print(f"kernel peer: sent {total}, then closed with SO_LINGER 0 (RST)", flush=True)
    return 0


def drive_abort(sock: str, remote: str, total: int, offloademu: list[str]) -> int:
    proc = subprocess.Popen(offloademu + ["drive", "--daemon", sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)
    signal.signal(signal.SIGTERM, lambda *_: (proc.kill(), sys.exit(143)))
    next_id = [0]

    def request(op: str, **fields) -> int:
        next_id[0] += 1
        proc.stdin.write(json.dumps({"id": next_id[0], "op": op, **fields}) + "\n")
        proc.stdin.flush()
        return next_id[0]

    # Every event is kept: one may come before the reply it follows (a state change before `connected`).
    events: list[dict] = []
    arrived = threading.Condition()

    def reader() -> None:
        for line in proc.stdout:
            with arrived:
                events.append(json.loads(line))
                arrived.notify_all()
        with arrived:
            events.append({"event": "eof"})
            arrived.notify_all()

    threading.Thread(target=reader, daemon=True).start()

    def until(pred, what: str, secs: float = 20.0) -> dict:
        end = time.monotonic() + secs
        with arrived:
            while True:
                for ev in events:
                    if ev.get("event") == "error":
                        raise SystemExit(f"our side: drive error while waiting for {what}: {ev.get('error')}")
                    if pred(ev):
                        return ev
                if events and events[-1]["event"] == "eof":
                    break
                left = end - time.monotonic()
                if left <= 0:
                    break
                arrived.wait(left)
        raise SystemExit(f"our side: no {what} from offloademu drive within {secs:.0f} s")

    try:
        host, _, port = remote.rpartition(":")
        request("bind", local="198.18.0.2/24")
        until(lambda e: e["event"] == "bound", "bound")
        request("connect", remote=remote)
        conn = until(lambda e: e["event"] == "connected", "connected")["conn"]
        until(lambda e: e["event"] == "state" and e.get("conn") == conn and e.get("location") == "offloaded", "offload")
        chunk = random.Random(9).randbytes(min(total, 1 << 20))
        sent = 0
        while sent < total:
            n = min(len(chunk), total - sent)
            rid = request("send", conn=conn, base64=base64.b64encode(chunk[:n]).decode())
            done = until(lambda e, r=rid: e["event"] == "send_complete" and e.get("id") == r, "send_complete")
            if done["status"] != "SUCCESS":
                raise SystemExit(f"our side: send completed {done['status']}")
            sent += n
        rid = request("disconnect", conn=conn, mode="abortive")
        done = until(lambda e: e["event"] == "disconnect_complete" and e.get("id") == rid, "disconnect_complete")
        request("quit")
        proc.stdin.close()
        proc.wait(20)
        print(f"our side: offloademu drive sent {sent} bytes to {remote} while offloaded, then an abortive disconnect: "
              f"{done['status']}", flush=True)
        return 0 if done["status"] == "SUCCESS" else 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    if len(sys.argv) >= 6 and sys.argv[1] == "drive-abort" and sys.argv[5] == "--":
        return drive_abort(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[6:])
    if len(sys.argv) != 5 or sys.argv[1] not in ("echo", "abort"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, host, port, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = connect(host, port)
    return echo(s, total) if mode == "echo" else abort(s, total)


if __name__ == "__main__":
    sys.exit(main())
