"""Reads a fuzzingclient report (index.json) and says whether it passes:
every case's behavior OK, NON-STRICT, INFORMATIONAL or UNIMPLEMENTED, and its
close OK or INFORMATIONAL (so FAILED and UNCLEAN fail). Prints the counts,
each case that fails, and exits 1 if any does. Python 2 and 3.

    autobahn-verdict.py reports/index.json [seconds]
"""
import json
import os
import sys
from collections import Counter

PASSING_BEHAVIOR = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED")
PASSING_CLOSE = ("OK", "INFORMATIONAL")


def case_key(case):
    return [int(part) for part in case.split(".")]


def main():
    path = sys.argv[1]
    with open(path) as f:
        index = json.load(f)
    results = {}
    for agent in index.values():
        results.update(agent)
    if not results:
        print("autobahn: no case ran (a pattern that matches none?)")
        return 1
    behaviors = Counter(r["behavior"] for r in results.values())
    closes = Counter(r["behaviorClose"] for r in results.values())
    failed = [c for c in sorted(results, key=case_key)
              if results[c]["behavior"] not in PASSING_BEHAVIOR
              or results[c]["behaviorClose"] not in PASSING_CLOSE]
    for case in failed:
        r = results[case]
        print("autobahn: case %s: behavior %s, close %s (close code %s; %s)" % (
            case, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode"),
            os.path.join(os.path.dirname(path), r["reportfile"])))
    took = " in %s s" % sys.argv[2] if len(sys.argv) > 2 else ""
    print("autobahn: %d cases%s; behavior: %s; close: %s" % (
        len(results), took,
        ", ".join("%d %s" % (n, b) for b, n in sorted(behaviors.items())),
        ", ".join("%d %s" % (n, b) for b, n in sorted(closes.items()))))
    print("autobahn: %d passed, %d failed" % (len(results) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
