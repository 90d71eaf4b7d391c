"""Package-level contracts: version, lazy exports, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys

import ml_attention_mechanisms as mam


def test_version_is_a_string() -> None:
    assert isinstance(mam.__version__, str) and mam.__version__.count(".") == 2


def test_every_export_resolves() -> None:
    for name in mam.__all__:
        assert getattr(mam, name) is not None, name


def test_unknown_attribute_raises() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mam.Nope  # noqa: B018


def test_import_pulls_in_nothing_heavy() -> None:
    # A fresh interpreter: importing the package (and its attention layer) loads torch only.
    code = (
        "import sys, json, ml_attention_mechanisms as m; m.MultiHeadAttention; "
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
        "('pandas','lightning','pytorch_lightning','matplotlib','plotly','onnx','onnxruntime','sklearn','arch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
