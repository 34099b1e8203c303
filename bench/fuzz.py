"""Fuzz campaign: random step functions through every topology, outputs and evaluator.

    python bench/fuzz.py --seconds 120 --seed 1 --corpus tests/fuzz/corpus

Generates random ``@rc.rnn`` models (`tests/fuzz/generate.py`), runs every check of
`tests/fuzz/checks.py` on each, prints a summary (cases, outcomes per check, failures) and
writes it as JSON (``bench/results/fuzz.json`` unless ``--json``). Every failing case is saved
into the corpus folder, which ``tests/fuzz/test_fuzz.py`` replays. ``--replay`` runs the corpus
instead; ``--case I`` reruns case I of ``--seed`` alone, verbosely.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import table, write_json  # noqa: E402

from tests.fuzz.campaign import (  # noqa: E402
    CORPUS,
    Tally,
    generate_case,
    load_corpus,
    replay,
    run_campaign,
)
from tests.fuzz.checks import CHECKS, run_case  # noqa: E402


def summary(tally: Tally) -> str:
    statuses = ("ok", "fail", "refused", "tolerated", "skipped")
    rows = [{"check": check, **{s: tally.outcomes.get((check, s), 0) for s in statuses}}
            for check in CHECKS]
    lines = [f"{tally.cases} cases in {tally.seconds:.0f} s (seed {tally.seed}); "
             f"{len(tally.failures)} failed checks",
             "families: " + ", ".join(f"{k} {v}" for k, v in tally.families.most_common()),
             "kinds: " + ", ".join(f"{k} {v}" for k, v in tally.kinds.most_common()),
             table(rows, ["check", *statuses])]
    for failure in tally.failures[:20]:
        lines.append(f"FAIL case {failure['case']} {failure['name']} n={failure['length']} "
                     f"{failure['check']} {failure['topology']}/{failure['outputs']}: "
                     f"{failure['detail']}")
    lines += [f"saved {path}" for path in tally.saved]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--corpus", default=CORPUS, help="folder failing cases are saved in")
    parser.add_argument("--json", default=None, help="summary JSON (default bench/results/"
                                                     "fuzz.json)")
    parser.add_argument("--case", type=int, default=None, help="rerun this case and print it")
    parser.add_argument("--replay", action="store_true", help="replay the corpus")
    parser.add_argument("--quick", action="store_true", help="a 20-second smoke run")
    args = parser.parse_args(argv)
    if args.case is not None:
        spec, length, seed = generate_case(args.seed, args.case)
        result = run_case(spec, length, seed)
        print(f"spec: {spec}\nlength {length}, input seed {seed}, kind {result.kind}")
        for outcome in result.outcomes:
            print(f"  {outcome.check:9} {outcome.status:9} {outcome.topology:14} "
                  f"{outcome.outputs:4} {outcome.detail}")
        return 1 if result.failures else 0
    if args.replay:
        bad = 0
        for name, case in load_corpus(args.corpus):
            result = replay(case)
            print(f"{name}: {len(result.failures)} failures")
            for outcome in result.failures:
                print(f"  {outcome.check} {outcome.topology}/{outcome.outputs}: {outcome.detail}")
            bad += bool(result.failures)
        return 1 if bad else 0
    tally = run_campaign(args.seed, seconds=20.0 if args.quick else args.seconds,
                         corpus=args.corpus, first=args.first)
    print(summary(tally))
    print(f"wrote {write_json('fuzz', tally.to_dict(), args.json)}")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
