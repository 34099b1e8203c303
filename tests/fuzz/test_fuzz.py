"""The fuzz corpus replayed, and a short fuzz campaign in CI.

Where this sits: the test face of `tests/fuzz/` (generator, spec format, checks, campaign);
`bench/fuzz.py` runs the same campaign for as long as asked and saves what fails into
`tests/fuzz/corpus/`, which every run of the suite replays here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from .campaign import CORPUS, generate_case, load_corpus, replay, run_campaign, save_case
from .checks import CaseResult, _compare, run_case
from .spec import build_model, is_polynomial, run_exact

#: the CI campaign: BLOCKS tests of CASES cases each (xdist spreads them over the workers),
#: sized to about 1-2 minutes of one worker in all (bench/README.md, "fuzz.py")
CI_SEED, BLOCKS, CASES = 17, 8, 30


def _report(result: CaseResult) -> str:
    return "\n".join(f"{o.check} {o.topology}/{o.outputs}: {o.detail}" for o in result.failures)


@pytest.mark.parametrize("name,case", load_corpus(), ids=[n for n, _ in load_corpus()])
def test_corpus_case_passes(name, case):
    result = replay(case)
    assert not result.failures, f"{name} (n={case['length']}):\n{_report(result)}"
    assert any(o.check == "compile" and o.status == "ok" for o in result.outcomes)


def test_the_corpus_is_there():
    assert len(load_corpus(CORPUS)) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("block", range(BLOCKS))
def test_short_campaign(block):
    tally = run_campaign(CI_SEED, cases=CASES, first=block * CASES)
    assert tally.cases == CASES
    assert not tally.failures, json.dumps(tally.failures, indent=1)
    # the checks ran, not only the generator
    assert tally.outcomes["fast32", "ok"] > 0 and tally.outcomes["reference", "ok"] > 0


def test_cases_regenerate_from_seed_and_index():
    assert generate_case(5, 3) == generate_case(5, 3)
    assert generate_case(5, 3) != generate_case(5, 4)


def test_a_saved_case_replays_the_same(tmp_path):
    spec, length, seed = generate_case(0, 0)
    result = run_case(spec, length, seed)
    path = save_case(str(tmp_path), result, {"seed": 0, "case": 0})
    ((_, case),) = load_corpus(str(tmp_path))
    assert case["spec"] == spec and path.endswith(".json")
    again = replay(case)
    assert [(o.check, o.status) for o in again.outcomes] == \
        [(o.check, o.status) for o in result.outcomes]


def test_a_wrong_value_is_a_failure():
    result = CaseResult({"step": "h"}, 4, 0)
    target = np.zeros((2, 4, 1))

    def add(check, status, detail=""):
        result.add(check, status, detail)

    _compare(result, add, "fast64", lambda: target + 1e-3, target, 1e-6, "float64")
    _compare(result, add, "fast64", lambda: target[:, :2], target, 1e-6, "float64")
    _compare(result, add, "fast64", lambda: 1 / 0, target, 1e-6, "float64")
    assert [o.status for o in result.outcomes] == ["fail"] * 3
    assert "ZeroDivisionError" in result.outcomes[2].detail


def test_the_exact_run_is_exact():
    spec = {"kind": "rnn", "name": "grow", "family": "scalar", "linear": True, "state": [1],
            "inputs": 1, "alphabet": None, "init": [1.0], "consts": {"w": [[3.0]]},
            "step": ["mul", ["matmul", ["c", "w"], "x"], "h"]}
    assert is_polynomial(spec)
    xs = np.full((1, 40, 1), 2, dtype=np.int64)
    assert run_exact(spec, xs)[0, -1, 0] == 6**40  # past float64's 2^53
    assert build_model(spec).run(xs)[0, 2, 0] == 216.0
