"""scripts/bench.sh --smoke (docs/performance.md, "scripts/bench.sh"): the whole benchmark suite with 1 s per row and
a scale of 200, checked through its --json output: every row is there, every measured figure is positive, the kernel
figures the ratios need are there, and nothing was left behind (namespaces oe-bench-<pid>*). About 70 s on the
project's loaded 2-CPU machine. Root only, and it needs the Release build of the CLI, the daemon and
tests/OffloadEmu.Benchmarks (scripts/test.sh builds them). OE_BENCH_SMOKE=0 skips it.
Run alone: sudo /usr/bin/python3 -m unittest -v tests/python/test_bench.py"""

import json
import os
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILT = [
    "src/OffloadEmu.Cli/bin/Release/net10.0/offloademu.dll",
    "src/OffloadEmu.Daemon/bin/Release/net10.0/offloademud.dll",
    "tests/OffloadEmu.Benchmarks/bin/Release/net10.0/OffloadEmu.Benchmarks.dll",
]

# Every row bench.sh makes; "-cpu" twins of the bulk rows are added below.
BULK = ["k-bulk-off", "k-bulk-on", "k-bulk-off-8", "k-bulk-on-8", "pasta-bulk", "slirp-bulk",
        "emu-tx", "emu-rx", "emu-tx-d", "emu-rx-d", "emu-tx-d8", "emu-rx-d8", "emu-tx-8", "emu-rx-8", "seg-offload-tx", "seg-offload-rx",
        "seg-offload-tx-d", "seg-offload-rx-d", "emu-tx-tt", "emu-rx-tt"]
RR = ["k-rr-1", "emu-rr-1", "emu-rr-1-bp", "emu-rr-1-ic", "emu-rr-d1"]
RR_2CPU = ["k-rr-2", "emu-rr-2", "emu-rr-2-bp", "emu-rr-2-ic", "emu-rr-d2"]
# Emulator rr rows also report the server's send completion p99 (rr rows of the kernel pair do not).
RR_SC = [r + "-sc-p99" for r in RR + RR_2CPU if r.startswith("emu-")]
OTHER = ["churn-local", "churn-daemon-1", "churn-daemon", "scale-mem", "scale-heap", "scale-rcvbuf", "scale-cpu", "scale-alone",
         "scale-among"]


class BenchSmokeTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (network namespaces, a TAP)")
        if os.environ.get("OE_BENCH_SMOKE") == "0":
            self.skipTest("OE_BENCH_SMOKE=0")
        missing = [p for p in BUILT if not os.path.exists(os.path.join(ROOT, p))]
        if missing:
            self.skipTest(f"not built: {', '.join(missing)}")

    def test_smoke_run_reports_every_row_with_positive_figures(self):
        with tempfile.TemporaryDirectory(prefix="oe-bench-test.") as tmp:
            out = os.path.join(tmp, "bench.json")
            proc = subprocess.run(["bash", os.path.join(ROOT, "scripts/bench.sh"), "--smoke", "--no-build", "--json", out],
                                  cwd=ROOT, capture_output=True, text=True, timeout=400)
            tail = (proc.stdout[-3000:] + "\n" + proc.stderr[-3000:])
            self.assertEqual(proc.returncode, 0, f"bench.sh --smoke failed:\n{tail}")
            with open(out, encoding="utf-8") as f:
                report = json.load(f)
            pid_prefix = None
            for line in proc.stderr.splitlines():
                if line.startswith("bench: lab oe-bench-"):
                    pid_prefix = line.split()[2].rstrip(":")
        self.assertGreaterEqual(report["cpus"], 1)
        self.assertTrue(report["kernel"])
        rows = {r["id"]: r for r in report["rows"]}
        expected = BULK + [r + "-cpu" for r in BULK] + RR + [r + s for r in RR for s in ("-p50", "-p99")] + OTHER
        expected += [r for r in RR_SC if not r.startswith(("emu-rr-2", "emu-rr-d2"))]
        if report["cpus"] >= 2:
            expected += RR_2CPU + [r + s for r in RR_2CPU for s in ("-p50", "-p99")]
            expected += [r for r in RR_SC if r.startswith(("emu-rr-2", "emu-rr-d2"))]
        for rid in expected:
            with self.subTest(row=rid):
                self.assertIn(rid, rows, f"row {rid} missing")
                r = rows[rid]
                if rid.startswith(("pasta", "slirp")) and r["skipped"]:
                    continue   # the tool could not be installed: reported as skipped, not as a figure
                self.assertIsNotNone(r["value"], f"{rid}: no figure ({r['command']})")
                if rid == "scale-mem":
                    # the smoke's few idle conns move the daemon's VmRSS by less than the GC gives back or takes in
                    # between (seen: -20.5 bytes/conn); only a figure is asserted (scale-heap, the goal's row, is
                    # still asserted positive)
                    self.assertIsInstance(r["value"], (int, float))
                elif rid in ("scale-cpu", "scale-rcvbuf"):
                    # an idle daemon may use 0.0 % in 2 s; idle conns hold no buffer
                    self.assertGreaterEqual(r["value"], 0)
                else:
                    self.assertGreater(r["value"], 0, f"{rid}: {r['value']}")
                if r["kernel_row"]:
                    self.assertIsNotNone(r["kernel_value"], f"{rid}: no reference figure from {r['kernel_row']}")
                    self.assertGreater(r["ratio"], 0)
                if r["goal"]:
                    tools_skipped = any(rows.get(t, {}).get("skipped") for t in ("pasta-bulk", "slirp-bulk"))
                    allowed = ("pass", "miss", "n/a") if tools_skipped else ("pass", "miss")
                    self.assertIn(r["verdict"], allowed, f"{rid}: {r['checks']}")
        # The segmentation-offload rows are real figures against the kernel with offloads on (no "not built" row).
        self.assertNotIn("seg-offload", rows)
        self.assertEqual(rows["seg-offload-tx"]["kernel_row"], "k-bulk-on")
        self.assertEqual(rows["seg-offload-tx-d"]["kernel_row"], "k-bulk-on")
        # Everything the run made is gone.
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if pid_prefix:
            self.assertNotIn(pid_prefix, names)


if __name__ == "__main__":
    unittest.main()
