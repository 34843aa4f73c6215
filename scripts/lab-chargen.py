#!/usr/bin/python3
"""Deterministic chargen-style source for the lab's port 19 (RFC 864 pattern).

Line i (i = 0, 1, ...) is the 72 printable ASCII characters starting at offset i mod 95 of the
cyclic sequence ' '..'~', followed by CR LF. The stream repeats every 95 lines (7030 bytes), so a
receiver can check any byte at stream offset n against this rule. Writes until the peer closes.
"""
import sys

printable = bytes(range(32, 127))
cycle = printable + printable
block = b"".join(cycle[i:i + 72] + b"\r\n" for i in range(95))
out = sys.stdout.buffer
try:
    while True:
        out.write(block)
        out.flush()
except (BrokenPipeError, ConnectionResetError):
    pass
