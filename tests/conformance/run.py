"""Runs the conformance suite (docs/conformance.md, "Hostile input") against one real offloademud and prints
"N passed, N failed, N known". --summary FILE writes "PASSED FAILED" for scripts/test.sh (a 'known' case, one the
target is known to fail and that is marked so with its reason, counts as passed; it still runs and is listed).
Root only. Usage: sudo /usr/bin/python3 tests/conformance/run.py [-k PATTERN] [--summary FILE]
Fuzz duration: OE_CONF_FUZZ_SECONDS (default 20)."""

import argparse
import os
import sys
import time
import unittest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", help="file to write 'passed failed' into")
    parser.add_argument("-k", dest="pattern", action="append", help="only tests whose name contains this")
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import conf_suite

    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = [f"*{p}*" for p in args.pattern]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    # Artifacts of an earlier run of these tests would be mistaken for this one's.
    from conf_lab import ARTIFACTS
    import shutil

    def ids(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from ids(t)
            else:
                yield t.id().split(".", 1)[-1]
    for name in ids(suite):
        shutil.rmtree(os.path.join(ARTIFACTS, name), ignore_errors=True)
    start = time.monotonic()
    try:
        result = unittest.TextTestRunner(verbosity=2).run(suite)
    finally:
        conf_suite.shutdown()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    known = len(result.expectedFailures)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - known
    if result.testsRun == 0:
        failed += 1
    for test, _ in result.expectedFailures:
        fn = getattr(type(test), test._testMethodName, None)
        print(f"known: {test.id()}: {getattr(fn, 'known_reason', '')}")
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(f"{passed + known} {failed}\n")
    print(f"conformance: {passed} passed, {failed} failed, {known} known, {skipped} skipped "
          f"in {time.monotonic() - start:.0f} s")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
