"""Memory estimates against built sizes: how honest the refusal of a prefix lowering is.

`rc.compile` refuses a prefix lowering that would not fit in memory from
`lower.linear_estimate.estimate_gates_from_n` (closed forms in n, no building), and names the
largest length that fits by it: an estimate below the built size lets a user build past the planned
memory at that length, one far above refuses lengths that would fit. For every linear example
model (examples/*.py), prefix topology and outputs, this prints the estimate over the size of
the circuit `rc.compile` builds, and the range of those ratios per model.

``--own-form``: the kind's own form of A against its own estimate, whichever form `best_form`
picks (the lowering builds it where the other form would not fit, at long n).

Run: python bench/estimate_bench.py [--lengths 256,2048] [--topologies T,...] [--models M,...]
     [--own-form]
"""

from __future__ import annotations

import argparse
import os
import sys

import rnncirc as rc
from rnncirc.compiler import classify_model
from rnncirc.frontend.loader import load_models
from rnncirc.lower.linear import lower_form
from rnncirc.lower.linear_estimate import _form_gates_from_n, estimate_gates_from_n

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import table, write_json  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
TOPOLOGIES = ("sklansky", "ladner-fischer", "brent-kung", "kogge-stone", "han-carlson")


def linear_examples(names: list[str] | None):
    """(name, model) of every example file defining one linear RNN."""
    for file in sorted(os.listdir(EXAMPLES)):
        name = file[:-3]
        if not file.endswith(".py") or (names and name not in names):
            continue
        try:
            models = load_models(os.path.join(EXAMPLES, file))
        except Exception:  # noqa: BLE001 - a torch example without torch, a program
            continue
        if len(models) == 1:
            model = next(iter(models.values()))
            if not isinstance(model, rc.RNN) or not classify_model(model).is_linear:
                continue
            yield name, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="256,2048")
    parser.add_argument("--topologies", default=",".join(TOPOLOGIES))
    parser.add_argument("--models", default="")
    parser.add_argument("--own-form", action="store_true")
    args = parser.parse_args()
    lengths = [int(k) for k in args.lengths.split(",")]
    rows, summary = [], []
    for name, model in linear_examples([m for m in args.models.split(",") if m]):
        cls = classify_model(model)
        ratios = []
        for topology in args.topologies.split(","):
            for outputs in ("all", "last"):
                for n in lengths:
                    if args.own_form:
                        built = lower_form(model, cls, n, topology, outputs).size
                        estimate = _form_gates_from_n(cls, n, topology, outputs)
                    else:
                        built = rc.compile(model, n, topology=topology, outputs=outputs).size
                        estimate = estimate_gates_from_n(cls, n, topology, outputs)
                    ratios.append(estimate / built)
                    rows.append({"model": name, "kind": cls.kind, "topology": topology,
                                 "outputs": outputs, "n": n, "built": built,
                                 "estimate": estimate, "ratio": f"{estimate / built:.2f}"})
        summary.append({"model": name, "kind": cls.kind, "min": f"{min(ratios):.2f}",
                        "max": f"{max(ratios):.2f}"})
    print(table(rows, ["model", "kind", "topology", "outputs", "n", "built", "estimate",
                       "ratio"]))
    print()
    print(table(summary, ["model", "kind", "min", "max"]))
    print(write_json("estimate_bench", {"rows": rows, "summary": summary}))


if __name__ == "__main__":
    main()
