"""Nothing lost under faults: real workers, Redis (append-only, as in compose) and SeaweedFS, each
SIGKILLed and restarted while 30 articles of 5 items are archived (tests/harness/chaos.py).

Afterwards, with no manual step: every article has a version, every item a final result, no post is
captured twice and no version repeats another. benchmarks/bench_chaos.py runs it longer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.chaos import run_chaos

pytestmark = pytest.mark.integration


def test_nothing_is_lost_when_a_worker_redis_and_s3_are_killed(tmp_path: Path) -> None:
    out = run_chaos(tmp_path, articles=30, rounds=1, wait=75.0)
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(tmp_path.glob("*.log")))
    assert out.problems == [], (out, logs)
    assert out.with_version == 30 and out.final_items == 150
    assert [what for _, what in out.faults if what.startswith("SIGKILL")] == \
        ["SIGKILL worker 0", "SIGKILL redis", "SIGKILL seaweedfs"]
    assert out.finished_after is not None
