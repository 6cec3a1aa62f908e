#!/usr/bin/env python
"""``audit verify`` on a long synthetic chain: the whole walk against resuming.

In a fresh database ``lightway_bench_audit`` on the same PostgreSQL server it inserts N
audit records with ``generate_series``, links them with the real sequencer
(``audit_chain_link``) while writing a checkpoint file as the worker does, then links M
more without a checkpoint (what arrived since the last one), and times
``lightway audit verify --full`` (every record) and ``lightway audit verify`` (resumes
after the last checkpoint that matches, so it walks the M newest records).

Usage: python benchmarks/audit_verify.py [--records 200000] [--since 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, say

_INSERT = """
INSERT INTO audit_record (occurred_at, actor, action, object_type, object_id, data)
SELECT now(), 'user:' || i, 'transfer.create', 'transfer', i::text,
       jsonb_build_object('amount', 1000 + i, 'currency', 'UGX')
FROM generate_series(1, %s) i
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--since", type=int, default=5_000)
    args = parser.parse_args()
    url = bench_database_url("lightway_bench_audit")
    checkpoints = Path(tempfile.mkdtemp()) / "checkpoints.log"
    os.environ["DATABASE_URL"] = url
    os.environ["LIGHTWAY_AUDIT_CHECKPOINT_FILE"] = str(checkpoints)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lightway.infrastructure.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from lightway.interfaces.cli.main import main as lightway
    from lightway.interfaces.tasks import audit_link_once

    say("migrating the benchmark database ...")
    call_command("migrate", verbosity=0)
    say(f"inserting and linking {args.records} records (checkpoints in {checkpoints}) ...")
    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(_INSERT, [args.records])
    while audit_link_once():
        pass
    say(f"  {time.monotonic() - started:.1f} s")
    from lightway.data.audit.services import audit_chain_link

    with connection.cursor() as cur:
        cur.execute(_INSERT, [args.since])
    audit_chain_link(batch=5000)  # no checkpoint for these
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE audit_record")

    figures = {}
    for label, argv in (("full", ["--full"]), ("resumed", [])):
        started = time.monotonic()
        code = lightway(["audit", "verify", *argv])
        figures[label] = time.monotonic() - started
        say(f"audit verify {' '.join(argv) or '(resume)'}: exit {code}, {figures[label]:.2f} s")
        if code != 0:
            return code
    total = args.records + args.since
    say(
        f"{total} records: full walk {figures['full']:.1f} s, resumed walk of the"
        f" {args.since} newest {figures['resumed']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
