"""Reads checkov's JSON report (-o json) on stdin and says whether it is clean, for tests/deploy/run.sh.

    checkov ... -o json | python checkov_report.py cloudformation dockerfile

Exits 0 only if every framework named on the command line was scanned, ran at least one check, parsed
every file and failed none. Checkov's own exit status is not enough: a file it cannot parse, or a
framework that finds nothing to scan, gives "0 passed, 0 failed" and status 0, and CI would stay
green while nothing was checked.
"""

import json
import sys


def main(expected):
    text = sys.stdin.read()
    try:
        reports = json.loads(text)
    except json.JSONDecodeError:
        print("checkov: no JSON report (did it crash? its output follows)", file=sys.stderr)
        print(text, file=sys.stderr)
        return 1
    if isinstance(reports, dict):
        reports = [reports]
    by_type = {r.get("check_type"): r for r in reports}
    clean = True
    for kind in expected:
        report = by_type.get(kind)
        if report is None:
            print(f"not ok - checkov scanned no {kind} file", file=sys.stderr)
            clean = False
            continue
        s = report["summary"]
        print(f"#   {kind}: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
              f"{s['parsing_errors']} parsing errors (checkov {s['checkov_version']})")
        for check in report.get("results", {}).get("failed_checks", []):
            lines = "-".join(str(n) for n in check.get("file_line_range", []))
            print(f"not ok - {check['check_id']} {check['check_name']}: {check['resource']} "
                  f"({check['file_path']}:{lines})", file=sys.stderr)
        if s["failed"] or s["parsing_errors"] or not s["passed"]:
            clean = False
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
