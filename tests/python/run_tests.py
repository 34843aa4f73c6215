"""Runs the Python tests of tests/python (offloademu drive through a real daemon) and writes "PASSED FAILED" to the
file given with --summary, for scripts/test.sh's total. Exit status 0 only when nothing failed or errored."""

import argparse
import os
import sys
import unittest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", help="file to write 'passed failed' into")
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py", top_level_dir=here)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    if result.testsRun == 0:
        failed += 1  # nothing ran: count it, as test.sh does for a project without results
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(f"{passed} {failed}\n")
    print(f"python: {passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
