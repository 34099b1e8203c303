"""`rc.classify` for programs: one `Classification` per layer, the program's kind its hardest.

Where this sits: beside `classify` (one recurrence), at the start of the lowering. A program
is as hard as its hardest layer: position-wise blocks are constant-depth, so they move no
program out of the class of its layers (the paper's Thm 3, 5, 7: the depth of an LRNN
program is that of its layers, up to constants per layer).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program, check_model
from rnncirc.lower.classify import Classification
from rnncirc.lower.classify import classify as classify_rnn

#: kinds from the easiest to the hardest; a kind not listed ranks just below "dense"
HARDNESS = ("scalar", "diagonal", "complex-diagonal", "max-plus", "min-plus",
            "permutation-diagonal", "dplr", "dense", "nonlinear")


#: complexity classes from the smallest, by their first word ("TC0 (derived, ...)" is TC0,
#: "NC1-hard (...)" ranks as NC1); a class not known ("not placed") ranks above them all
CLASSES = ("TC0", "NC1", "PNC1", "L")


def _class_rank(complexity: str) -> int:
    first = complexity.split()[0].removesuffix("-hard") if complexity else ""
    return CLASSES.index(first) if first in CLASSES else len(CLASSES)


def hardness(kind: str) -> float:
    return HARDNESS.index(kind) if kind in HARDNESS else HARDNESS.index("dense") - 0.5


@dataclass(frozen=True)
class ProgramClassification:
    """What `classify` says of a program: each layer, and the program as its hardest layer."""

    kind: str
    complexity: str
    reason: str
    #: (layer name, its classification), in the order the layers run
    layers: tuple[tuple[str, Classification], ...]
    rank: int | None = None

    @property
    def is_linear(self) -> bool:
        return self.kind != "nonlinear"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "complexity": self.complexity, "reason": self.reason,
                "rank": self.rank,
                "layers": [{"layer": name, **cls.to_dict()} for name, cls in self.layers]}


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def classify(model: RNN | Program):
    """Which class of recurrence a model is: a `Classification`, or for a program a
    `ProgramClassification` (each layer's, and the program's: its hardest layer's).

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=2, inputs=2)
    ... def decay(h, x):
    ...     return 0.5 * h + x
    >>> @rc.rnn(state=2, inputs=2)
    ... def elman(h, x):
    ...     return rc.tanh(h + x)
    >>> @rc.program(inputs=2)
    ... def net(x):
    ...     return rc.scan(elman, rc.scan(decay, x))
    >>> found = rc.classify(net)
    >>> found.kind, [(name, c.kind) for name, c in found.layers]
    ('nonlinear', [('decay', 'scalar'), ('elman', 'nonlinear')])
    """
    check_model(model, "rc.classify expects")
    if isinstance(model, RNN):
        return classify_rnn(model)
    found = _CACHE.get(model)
    if found is None:
        found = _classify_program(model)
        _CACHE[model] = found
    return found


def _classify_program(program: Program) -> ProgramClassification:
    layers = tuple((layer.name, classify_rnn(layer.model)) for layer in program.layers)
    if not layers:
        return ProgramClassification(
            "position-wise", "TC0", f"{program.name} has no recurrent layer: every output "
            "reads its own position only (constant depth in n), so it is in TC0", ())
    # by class first: a time-invariant DPLR layer is in TC0 and a gated diagonal one in TC0
    # too, but a per-symbol permutation layer beside them makes the program NC1
    name, hardest = max(layers, key=lambda pair: (_class_rank(pair[1].complexity),
                                                  hardness(pair[1].kind)))
    count = len(layers)
    reason = (f"{program.name} has {count} layer{'s' if count > 1 else ''}; its hardest is "
              f"{name} ({hardest.kind}): {hardest.reason}")
    ranks = [cls.rank for _, cls in layers if cls.kind == hardest.kind and cls.rank]
    return ProgramClassification(hardest.kind, hardest.complexity, reason, layers,
                                 max(ranks) if ranks else None)
