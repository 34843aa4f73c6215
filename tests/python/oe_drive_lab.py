"""Helpers for the offloademu drive tests (docs/drive.md): a real offloademud on a TAP in a network namespace
of our own, the drive as a child process speaking JSON lines, and a raw-socket TCP peer.

Network safety: the namespace (oe-drv-<pid>) and the TAP (oedrv<pid>) are this process's own; addresses are from
198.18.0.0/15 and exist only inside the namespace; everything is removed by name/PID at the end."""

import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DAEMON_DLL = os.path.join(ROOT, "src", "OffloadEmu.Daemon", "bin", "Release", "net10.0", "offloademud.dll")
CLI_DLL = os.path.join(ROOT, "src", "OffloadEmu.Cli", "bin", "Release", "net10.0", "offloademu.dll")
DOTNET = shutil.which("dotnet") or "dotnet"

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def run(*args, check=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def in_netns(ns, fn):
    """Runs fn on a thread that entered namespace ns (setns is per thread); sockets it makes stay in ns."""
    box = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns {ns}: {os.strerror(e)}")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as ex:  # handed to the caller
            box["error"] = ex

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Lab:
    """offloademud attached to TAP oedrv<pid>, the TAP moved into namespace oe-drv<pid> (kernel at .1).
    Other suites choose their own names (ns_prefix, tap_prefix), subnet and daemon log (log_console: warnings and
    errors on the daemon's console, kept in daemon.log)."""

    SUBNET = "198.18.252"
    TICKS = 100

    def __init__(self, ns_prefix="oe-drv-", tap_prefix="oedrv", subnet=None, log_console=False):
        pid = os.getpid()
        self.SUBNET = subnet or Lab.SUBNET
        self.ns = f"{ns_prefix}{pid}"
        self.tap = f"{tap_prefix}{pid}"[:15]
        self.kernel_ip = f"{self.SUBNET}.1"
        self.emu_ip = f"{self.SUBNET}.2"
        self.peer_ip = f"{self.SUBNET}.3"
        self.emu_mac = "02:00:00:18:fc:02"
        self.log_console = log_console
        self.dir = None
        self.daemon = None
        self.socket_path = None

    def cleanup_names(self):
        run("ip", "-n", self.ns, "link", "del", self.tap, check=False)
        run("ip", "link", "del", self.tap, check=False)
        run("ip", "netns", "del", self.ns, check=False)

    def up(self):
        self.cleanup_names()  # leftovers of a crashed run of this same pid only
        self.dir = tempfile.mkdtemp(prefix="oe-drv-")
        self.socket_path = os.path.join(self.dir, "control.sock")
        self.capture = os.path.join(self.dir, "daemon.pcapng")
        run("ip", "tuntap", "add", "dev", self.tap, "mode", "tap")
        config = {
            "Link": {"Kind": "tap", "Interface": self.tap, "Create": False, "MacAddress": self.emu_mac},
            "Offload": {"TicksPerSecond": self.TICKS, "TcpDelayedAckTicks": 20, "TcpSwsPreventionTicks": 100,
                        "TcpPushTicks": 50, "NceStaleTicks": 3000},
            "Capture": {"File": self.capture, "Format": "pcapng"},
            "Control": {"Endpoint": self.socket_path},
            "Logging": {"Serilog": {"MinimumLevel": {"Default": "Warning"}, "WriteTo": []}},
        }
        for section, values in getattr(self, "extra_config", {}).items():
            config.setdefault(section, {}).update(values)
        if self.log_console:
            config["Logging"]["Serilog"]["WriteTo"] = [{"Name": "Console", "Args": {
                "outputTemplate": "{Timestamp:HH:mm:ss.fff} [{Level:u3}] ({EventId}) {SourceContext}: {Message:lj}{NewLine}{Exception}"}}]
        path = os.path.join(self.dir, "emulator.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.daemon_log = open(os.path.join(self.dir, "daemon.log"), "w")
        self.daemon = subprocess.Popen([DOTNET, DAEMON_DLL, "--config", path], cwd=self.dir,
                                       stdout=self.daemon_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket_path):
            if self.daemon.poll() is not None:
                raise RuntimeError(f"offloademud exited with {self.daemon.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"offloademud did not open {self.socket_path} within 30 s: {self.log()}")
            time.sleep(0.05)
        # The daemon holds the TAP open; it follows the TAP into the namespace.
        run("ip", "netns", "add", self.ns)
        run("ip", "netns", "exec", self.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1")
        run("ip", "-n", self.ns, "link", "set", "lo", "up")
        run("ip", "link", "set", self.tap, "netns", self.ns)
        run("ip", "-n", self.ns, "addr", "add", f"{self.kernel_ip}/24", "dev", self.tap)
        run("ip", "-n", self.ns, "link", "set", self.tap, "up")

    def log(self):
        try:
            with open(os.path.join(self.dir, "daemon.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def down(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(15)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(5)
        if self.daemon is not None:
            self.daemon_log.close()
        self.cleanup_names()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kernel_listener(self, port):
        """A listening TCP socket of the kernel inside the namespace."""
        def make():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.kernel_ip, port))
            s.listen(4)
            return s
        return in_netns(self.ns, make)


class Drive:
    """offloademu drive as a child process: requests written as JSON lines, every stdout line kept as an event."""

    def __init__(self, socket_path, args=None):
        self.proc = subprocess.Popen([DOTNET, CLI_DLL, "drive", "--daemon", socket_path] + (args or []),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.events = []
        self.bad_lines = []
        self._cv = threading.Condition()
        self._next_id = 1
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr = ""
        self.exit_code = None

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
                if not isinstance(ev, dict) or "event" not in ev or "time" not in ev:
                    raise ValueError("not an event object")
            except ValueError:
                with self._cv:
                    self.bad_lines.append(line)
                continue
            with self._cv:
                self.events.append(ev)
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def raw_line(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def request(self, op, **fields):
        rid = self._next_id
        self._next_id += 1
        msg = {"id": rid, "op": op}
        msg.update(fields)
        self.raw_line(json.dumps(msg))
        return rid

    def wait_for(self, pred, timeout=10.0, what="event"):
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(json.dumps(e) for e in self.events[-15:])
                    raise AssertionError(f"no {what} within {timeout} s; last events:\n{tail}")
                self._cv.wait(left)

    def reply(self, rid, name=None, timeout=10.0):
        return self.wait_for(lambda e: e.get("id") == rid and (name is None or e["event"] == name), timeout,
                             f"reply {name or ''} to request {rid}")

    def call(self, op, name=None, timeout=10.0, **fields):
        return self.reply(self.request(op, **fields), name, timeout)

    def all(self, name, **match):
        with self._cv:
            return [e for e in self.events if e["event"] == name and all(e.get(k) == v for k, v in match.items())]

    def close(self, timeout=20):
        if self.exit_code is not None or self.proc.stdout.closed:
            return self.exit_code
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            code = None
        self.stderr = self.proc.stderr.read()
        self._reader.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.exit_code = code
        return code


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class RawPeer:
    """A TCP end written by hand on an AF_PACKET socket on the namespace's side of the TAP: it chooses every
    sequence number and timestamp itself, so it can continue a connection the drive offloaded synthetically."""

    def __init__(self, lab, ip, mac, port, protocol=0x0800):
        """protocol: the EtherType the socket is bound to; 0x0003 (ETH_P_ALL) also sees a received frame's 802.1Q tag
        (PACKET_AUXDATA), which the kernel clears before it hands a frame to a socket bound to one protocol."""
        self.lab = lab
        self.ip = ip
        self.mac = mac
        self.port = port

        def make():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
            s.bind((lab.tap, 0))
            return s
        self.sock = in_netns(lab.ns, make)

    def close(self):
        self.sock.close()

    def send(self, remote_port, flags, seq, ack, win, payload=b"", tsval=None, tsecr=None):
        opts = b""
        if tsval is not None:
            opts = b"\x01\x01\x08\x0a" + struct.pack("!II", tsval & 0xFFFFFFFF, (tsecr or 0) & 0xFFFFFFFF)
        off = (20 + len(opts)) // 4
        src = socket.inet_aton(self.ip)
        dst = socket.inet_aton(self.lab.emu_ip)
        tcp = struct.pack("!HHIIBBHHH", self.port, remote_port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags,
                          win, 0, 0) + opts + payload
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = _mac(self.lab.emu_mac) + _mac(self.mac) + b"\x08\x00" + ip + tcp
        self.sock.send(frame)

    def receive(self, timeout=5.0, pred=None):
        """The next TCP segment to this peer (address and port) that satisfies pred, as a dict; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                frame = self.sock.recv(65536)
            except socket.timeout:
                return None
            seg = self.parse(frame)
            if seg is not None and (pred is None or pred(seg)):
                return seg

    def parse(self, frame):
        if len(frame) < 54 or frame[12:14] != b"\x08\x00":
            return None
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6 or ip[16:20] != socket.inet_aton(self.ip):
            return None
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:total]
        sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", tcp[:16])
        if dport != self.port:
            return None
        hl = (off >> 4) * 4
        seg = {"src_mac": ":".join(f"{b:02x}" for b in frame[6:12]), "dst_mac": ":".join(f"{b:02x}" for b in frame[0:6]),
               "sport": sport, "ttl": ip[8], "seq": seq, "ack": ack, "flags": flags, "win": win, "payload": tcp[hl:],
               "tsval": None, "tsecr": None, "checksum_ok": self._tcp_ok(ip, ihl, tcp)}
        opts = tcp[20:hl]
        i = 0
        while i < len(opts):
            kind = opts[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            if i + 1 >= len(opts):
                break
            length = opts[i + 1]
            if kind == 8 and length == 10:
                seg["tsval"], seg["tsecr"] = struct.unpack("!II", opts[i + 2:i + 10])
            i += max(length, 2)
        return seg

    @staticmethod
    def _tcp_ok(ip, ihl, tcp):
        pseudo = ip[12:16] + ip[16:20] + struct.pack("!BBH", 0, 6, len(tcp))
        return _checksum(pseudo + tcp) == 0
