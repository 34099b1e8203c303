"""Loading model files: which RNNs a file defines, and one-line errors for bad files."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import rnncirc as rc
from rnncirc.errors import ModelFileError, RnncircError
from rnncirc.frontend.loader import load_models, pick_model

DATA = Path(__file__).resolve().parent.parent / "data"


def write(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_two_models_by_variable_and_by_model_name():
    path = str(DATA / "two_models.py")
    models = load_models(path)
    assert sorted(models) == ["decay_model", "elman_small"]
    assert all(isinstance(m, rc.RNN) for m in models.values())
    assert pick_model(path, "elman_small").name == "elman_small"
    assert pick_model(path, "decay_model").name == "decay"
    assert pick_model(path, "decay").name == "decay"


def test_several_models_without_a_name_lists_them():
    with pytest.raises(ModelFileError) as info:
        pick_model(str(DATA / "two_models.py"))
    message = str(info.value)
    assert "decay_model" in message and "elman_small" in message and "--model" in message


def test_unknown_model_name_lists_the_models():
    with pytest.raises(ModelFileError, match=r"'nope'.*decay_model.*elman_small"):
        pick_model(str(DATA / "two_models.py"), "nope")


def test_an_rnn_under_two_names_counts_once(tmp_path):
    path = write(tmp_path, "alias.py", """
        import rnncirc as rc

        @rc.rnn(state=2, inputs=1)
        def model(h, x):
            return h + x

        alias = model
    """)
    assert list(load_models(path)) == ["model"]
    assert pick_model(path).name == "model"


def test_model_file_with_dataclass_and_sibling_import(tmp_path):
    write(tmp_path, "weights_helper.py", "SCALE = 0.5\n")
    path = write(tmp_path, "with_dataclass.py", """
        from __future__ import annotations

        from dataclasses import dataclass

        import rnncirc as rc
        from weights_helper import SCALE

        @dataclass
        class Config:
            size: int = 2

        @rc.rnn(state=Config().size, inputs=1)
        def scaled(h, x):
            return SCALE * h + x
    """)
    before = list(sys.path)
    assert pick_model(path).name == "scaled"
    assert sys.path == before


@pytest.mark.parametrize("name, fact", [
    ("syntax_error.py", "syntax_error.py:5: syntax error"),
    ("no_rnn.py", "defines no RNN"),
])
def test_bad_files(name, fact):
    with pytest.raises(ModelFileError) as info:
        load_models(str(DATA / name))
    assert fact in str(info.value)


def test_missing_file_and_non_python_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_models(str(tmp_path / "missing.py"))
    with pytest.raises(ModelFileError, match="not a Python file"):
        load_models(str(tmp_path))
    text = tmp_path / "model.txt"
    text.write_text("x = 1\n")
    with pytest.raises(ModelFileError, match="not a Python file"):
        load_models(str(text))


def test_exception_while_loading_names_the_line(tmp_path):
    path = write(tmp_path, "explodes.py", """
        import numpy as np

        W = np.ones((2, 3)) @ np.ones((2, 3))
    """)
    with pytest.raises(ModelFileError) as info:
        load_models(path)
    message = str(info.value)
    assert message.startswith("explodes.py:4: ") and "ValueError" in message
    assert "rnncirc_model_explodes" not in sys.modules  # a failed load leaves nothing behind


def test_tracing_error_while_loading_is_kept(tmp_path):
    path = write(tmp_path, "branchy.py", """
        import rnncirc as rc

        @rc.rnn(state=2, inputs=2)
        def branchy(h, x):
            return h if h[0] > 0 else x
    """)
    with pytest.raises(RnncircError) as info:
        load_models(path)
    assert str(info.value).startswith("branchy.py:6: ")
    assert "rc.where" in str(info.value)
