"""The serving hot path as the wheel ships it (``hatch_build.py``).

``make test`` runs the whole suite on the package with its hot path compiled by mypyc
(``build/compiled`` first on ``PYTHONPATH``, ``SHIPYARD_EXPECT_COMPILED=1``); a plain
``pytest`` runs ``src/`` as it is. Either way each hot-path module must be what that run
promises."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import shipyard

ROOT = Path(__file__).resolve().parents[2]


def _hatch_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hot_path_lists_existing_serving_modules() -> None:
    hot_path = _hatch_build().HOT_PATH
    assert hot_path
    assert len(set(hot_path)) == len(hot_path)
    for module in hot_path:
        assert module.startswith("serving/"), module
        assert (ROOT / "src" / "shipyard" / module).is_file(), module


def test_hot_path_modules_are_compiled_exactly_when_run_from_the_overlay() -> None:
    package = Path(shipyard.__file__).resolve().parent
    overlay = (package.parent / "COMPILED").is_file()
    if os.environ.get("SHIPYARD_EXPECT_COMPILED") == "1":
        assert overlay, f"make test promised the compiled package, but shipyard came from {package}"
    hatch_build = _hatch_build()
    for module in hatch_build.HOT_PATH:
        name = "shipyard." + module.removesuffix(".py").replace("/", ".")
        loaded = importlib.import_module(name)
        assert loaded.__file__ is not None
        assert loaded.__file__.endswith(hatch_build.EXT_SUFFIX) == overlay, f"{name} loaded from {loaded.__file__}"
