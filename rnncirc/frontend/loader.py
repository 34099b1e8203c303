"""Loading model files: a Python file holding `RNN` and `Program` objects at module level."""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback

from rnncirc.errors import ModelFileError, RnncircError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program, is_model


def load_models(path: str, *, trust_pickle: bool = False) -> dict[str, RNN | Program]:
    """Execute the model file and return its module-level RNNs and programs by variable name.

    A model bound to several names is listed once, under its first name. A file that defines
    none but recurrent torch modules (``nn.LSTM``, a custom cell) gives those, converted with
    `rc.from_torch`. A ``.pt``/``.pth`` file (a pickled module) is refused unless
    `trust_pickle`: unpickling runs code.
    """
    return _load(path, trust_pickle)[0]


def _load(path: str, trust_pickle: bool) -> tuple[dict[str, RNN | Program], bool]:
    """The models of the file, and whether they are torch modules (each a model of its own,
    where a file's rc models may be one program and its layers)."""
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path} does not exist")
    if path.endswith((".pt", ".pth")) and os.path.isfile(path):
        from rnncirc.frontend.torch_import import load_pickle

        return load_pickle(path, trust_pickle), True
    if os.path.isdir(path) or not path.endswith(".py"):
        raise ModelFileError(f"{path} is not a Python file; pass a model file such as "
                             "examples/elman.py")
    name = "rnncirc_model_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # as importlib does: dataclasses, pickle etc. look it up
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # sibling imports work
    try:
        _exec_model_file(spec, module, path)
    except BaseException:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise
    finally:
        if folder in sys.path:  # the file may have changed sys.path itself
            sys.path.remove(folder)
    models: dict[str, RNN | Program] = {}
    for var, value in vars(module).items():
        if is_model(value) and not any(value is m for m in models.values()):
            models[var] = value
    if models:
        return models, False
    from rnncirc.frontend.torch_import import torch_models

    models = torch_models(vars(module), path)
    if not models:
        raise ModelFileError(f"{path} defines no RNN or program at module level; decorate a "
                             "step function with @rc.rnn(state=..., inputs=...) (or a "
                             "function over the whole sequence with @rc.program(inputs=...)), "
                             "or define a torch module (nn.LSTM, a cell with forward(x, h))")
    return models, True


def _exec_model_file(spec, module, path: str) -> None:
    """Run the model file, turning its failures into one-line `ModelFileError`s."""
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        if err.lineno is None:  # null bytes and the like: not text at all
            raise ModelFileError(f"{path} is not Python source ({err.msg}); pass a model "
                                 "file such as examples/elman.py") from None
        raise ModelFileError(f"{os.path.basename(err.filename or path)}:{err.lineno}: syntax "
                             f"error: {err.msg}") from None
    except RnncircError:
        raise
    except SystemExit as done:
        frames = [f for f in traceback.extract_tb(done.__traceback__)
                  if os.path.abspath(f.filename) == os.path.abspath(path)]
        where = f"{os.path.basename(path)}:{frames[-1].lineno}: " if frames else f"{path}: "
        raise ModelFileError(f"{where}the model file called sys.exit({done.code!r}) while "
                             "loading; a model file should define RNNs and return (guard "
                             "script code with if __name__ == '__main__':)") from None
    except Exception as err:
        frames = [f for f in traceback.extract_tb(err.__traceback__)
                  if os.path.abspath(f.filename) == os.path.abspath(path)]
        where = f"{os.path.basename(path)}:{frames[-1].lineno}: " if frames else f"{path}: "
        hint = '; the file uses PyTorch: pip install "rnncirc[torch]"' \
            if isinstance(err, ImportError) and err.name == "torch" else ""
        raise ModelFileError(f"{where}loading the model file failed: "
                             f"{type(err).__name__}: {err}{hint}") from None


def _names(models: dict[str, RNN | Program]) -> str:
    """``"decay_model (decay), elman"``: variable names, with the model's name if different."""
    return ", ".join(var if model.name == var else f"{var} ({model.name})"
                     for var, model in sorted(models.items()))


def pick_model(path: str, name: str | None = None, *,
               trust_pickle: bool = False) -> RNN | Program:
    """The model of the file, or the one called `name` (variable or model name).

    A file that defines one program besides the RNNs it is made of means the program.
    """
    models, from_torch = _load(path, trust_pickle)
    if name is None:
        programs = [m for m in models.values() if isinstance(m, Program) and not from_torch]
        if len(programs) == 1:
            return programs[0]
        if len(models) > 1:
            what = "programs" if programs else "torch modules" if from_torch else "RNNs"
            raise ModelFileError(f"{path} defines {len(programs) or len(models)} {what} "
                                 f"({_names(_only(models, bool(programs)))}); choose one "
                                 "with --model NAME")
        return next(iter(models.values()))
    for var, model in models.items():
        if name in (var, model.name):
            return model
    raise ModelFileError(f"{path} has no RNN or program called {name!r}; it defines "
                         f"{_names(models)}")


def _only(models: dict, programs: bool) -> dict:
    """The programs of `models` (or all of them)."""
    return {var: m for var, m in models.items() if isinstance(m, Program)} if programs \
        else models
