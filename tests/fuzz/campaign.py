"""The fuzz loop and its regression corpus: generate, check, tally, save what failed.

Where this sits: shared by `bench/fuzz.py` (a campaign for a given time) and
`tests/fuzz/test_fuzz.py` (a short campaign of a fixed number of cases in CI, and the corpus
replay). Case i of seed S draws everything from ``np.random.default_rng([S, i])``, so
``--seed S`` with case i regenerates it; a failing case is also saved whole (its spec with the
weights, the length and the input seed) as one JSON file of the corpus, which replays without
the generator.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from .checks import CaseResult, run_case
from .generate import random_length, random_spec

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def generate_case(seed: int, index: int) -> tuple[dict, int, int]:
    """Spec, length and input seed of case `index` of campaign `seed`."""
    rng = np.random.default_rng([seed, index])
    spec = random_spec(rng, index)
    length = random_length(rng, spec)
    return spec, length, int(rng.integers(2**31))


@dataclass
class Tally:
    """What a campaign ran and found."""

    seed: int
    cases: int = 0
    seconds: float = 0.0
    #: (check, status) -> count, over every topology and outputs
    outcomes: Counter = field(default_factory=Counter)
    families: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    lengths: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)

    def add(self, result: CaseResult, index: int | None) -> None:
        self.cases += 1
        self.families[result.spec.get("family", "?")] += 1
        self.kinds[result.kind or "-"] += 1
        self.lengths[result.length] += 1
        for outcome in result.outcomes:
            self.outcomes[outcome.check, outcome.status] += 1
        for outcome in result.failures:
            self.failures.append({"case": index, "name": result.spec.get("name"),
                                  "length": result.length, **asdict(outcome)})

    def to_dict(self) -> dict:
        return {"seed": self.seed, "cases": self.cases, "seconds": round(self.seconds, 1),
                "outcomes": {f"{c}:{s}": k for (c, s), k in sorted(self.outcomes.items())},
                "families": dict(self.families), "kinds": dict(self.kinds),
                "lengths": {str(k): v for k, v in sorted(self.lengths.items())},
                "failures": self.failures, "saved": self.saved}


def run_campaign(seed: int, *, seconds: float | None = None, cases: int | None = None,
                 corpus: str | None = None, first: int = 0, progress=None) -> Tally:
    """Cases ``first, first + 1, ...`` of `seed` until `cases` ran or `seconds` passed;
    failing ones are saved into `corpus` (a folder) when given."""
    tally = Tally(seed)
    start = time.perf_counter()
    index = first
    while (cases is None or tally.cases < cases) and \
            (seconds is None or time.perf_counter() - start < seconds):
        spec, length, input_seed = generate_case(seed, index)
        result = run_case(spec, length, input_seed)
        tally.add(result, index)
        if result.failures and corpus:
            tally.saved.append(save_case(corpus, result, {"seed": seed, "case": index}))
        if progress:
            progress(index, result)
        index += 1
    tally.seconds = time.perf_counter() - start
    return tally


def save_case(corpus: str, result: CaseResult, found_by: dict | None = None) -> str:
    """Write `result`'s case as ``corpus/<check>-<family>-<hash>.json``; returns the path."""
    case = {"spec": result.spec, "length": result.length, "seed": result.seed}
    digest = hashlib.sha1(json.dumps(case, sort_keys=True).encode()).hexdigest()[:10]
    first = result.failures[0] if result.failures else None
    name = f"{first.check if first else 'case'}-{result.spec.get('family', 'model')}-{digest}"
    case["found_by"] = found_by
    case["failures"] = [asdict(o) for o in result.failures]
    os.makedirs(corpus, exist_ok=True)
    path = os.path.join(corpus, f"{name}.json")
    with open(path, "w") as out:
        json.dump(case, out, indent=1)
        out.write("\n")
    return path


def load_corpus(corpus: str = CORPUS) -> list[tuple[str, dict]]:
    """Every case of `corpus`, by file name."""
    cases = []
    for name in sorted(os.listdir(corpus)) if os.path.isdir(corpus) else []:
        if name.endswith(".json"):
            with open(os.path.join(corpus, name)) as f:
                cases.append((name, json.load(f)))
    return cases


def replay(case: dict) -> CaseResult:
    return run_case(case["spec"], case["length"], case["seed"])
