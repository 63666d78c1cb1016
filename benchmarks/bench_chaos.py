"""The chaos run, longer: more articles and repeated faults (tests/harness/chaos.py does the work).

Each round SIGKILLs a worker, then Redis (append-only file, as in docker-compose.yml), then SeaweedFS,
each restarted after a few seconds, while the articles are being archived. Prints, per run, how
many articles got a version and how many items a final result, how long until everything was done
(from the first submit, and after the last fault ended), and every broken promise. `--no-sweeper`
runs the same without the beat, to show what the sweeper recovers.

    .venv/bin/python benchmarks/bench_chaos.py [--articles 100] [--rounds 3] [--no-sweeper]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.chaos import run_chaos  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait", type=float, default=180.0, help="seconds to wait after the faults")
    parser.add_argument("--no-sweeper", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        out = run_chaos(Path(tmp), articles=args.articles, rounds=args.rounds, wait=args.wait,
                        sweeper=not args.no_sweeper, tag="b")
    last_fault = out.faults[-1][0] if out.faults else 0.0
    print(f"articles {out.articles} ({out.items} items), {args.rounds} round(s) of faults, "
          f"sweeper {'off' if args.no_sweeper else 'on'}")
    for at, what in out.faults:
        print(f"  {at:6.1f} s  {what}")
    print(f"submitted by        {out.submitted_after:6.1f} s")
    print(f"with a version      {out.with_version}/{out.articles}")
    print(f"final results       {out.final_items}/{out.items}  {dict(out.statuses)}")
    if out.finished_after is not None:
        print(f"all done after      {out.finished_after:6.1f} s "
              f"({out.finished_after - last_fault:.1f} s after the last fault began)")
    else:
        print("all done after      never, within the wait")
    for problem in out.problems:
        print(f"PROBLEM: {problem}")
    return 0 if not out.problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
