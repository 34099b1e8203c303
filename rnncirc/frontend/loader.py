"""Loading model files: a Python file holding one or more `RNN` objects at module level."""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback

from rnncirc.errors import ModelFileError, RnncircError
from rnncirc.frontend.model import RNN


def load_models(path: str) -> dict[str, RNN]:
    """Execute the model file and return its module-level RNNs by variable name."""
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path} does not exist")
    if os.path.isdir(path) or not path.endswith(".py"):
        raise ModelFileError(f"{path} is not a Python file; pass a model file such as "
                             "examples/elman.py")
    name = "rnncirc_model_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))  # sibling imports work
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ModelFileError(f"{os.path.basename(err.filename or path)}:{err.lineno}: syntax "
                             f"error: {err.msg}") from None
    except RnncircError:
        raise
    except Exception as err:
        frames = [f for f in traceback.extract_tb(err.__traceback__)
                  if os.path.abspath(f.filename) == os.path.abspath(path)]
        where = f"{os.path.basename(path)}:{frames[-1].lineno}: " if frames else f"{path}: "
        raise ModelFileError(f"{where}loading the model file failed: "
                             f"{type(err).__name__}: {err}") from None
    finally:
        sys.path.pop(0)
    models = {var: value for var, value in vars(module).items() if isinstance(value, RNN)}
    if not models:
        raise ModelFileError(f"{path} defines no RNN at module level; decorate a step "
                             "function with @rc.rnn(state=..., inputs=...)")
    return models


def pick_model(path: str, name: str | None = None) -> RNN:
    """The one RNN of the file, or the one called `name` (variable or model name)."""
    models = load_models(path)
    if name is None:
        if len(models) > 1:
            raise ModelFileError(f"{path} defines {len(models)} RNNs "
                                 f"({', '.join(sorted(models))}); choose one with --model NAME")
        return next(iter(models.values()))
    for var, model in models.items():
        if name in (var, model.name):
            return model
    raise ModelFileError(f"{path} has no RNN called {name!r}; it defines "
                         f"{', '.join(sorted(models))}")
