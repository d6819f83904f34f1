"""The serving hot path, compiled to C extension modules with mypyc.

What ``shipyard serve`` runs per request (HTTP front, decoding, validation, batching,
encoding, metrics) is plain typed Python; compiled with mypyc it costs about a fifth less
CPU per request (docs/serving.md, "Compiled hot path"). The same ``.py`` files stay the
source of truth: a compiled module is the very same code, and a pure-Python install behaves
the same, only slower.

Used two ways:

* **The wheel** (``uv build``, ``pip install .``): hatchling runs :class:`CompileHotPath`,
  which adds the compiled modules beside their ``.py`` files. Editable installs (``uv
  sync``) stay pure Python, so an edit takes effect at once. ``SHIPYARD_PURE_PYTHON=1``
  builds a pure-Python wheel.
* **An overlay** for the test suite and the benchmark: ``make compiled`` builds the wheel
  (``uv build --wheel``) and ``python hatch_build.py WHEEL build/compiled`` unpacks its
  package there; with that directory first on ``PYTHONPATH`` the code runs exactly as the
  wheel ships it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "src" / "shipyard"
EXT_SUFFIX = str(sysconfig.get_config_var("EXT_SUFFIX"))  # a compiled module's file ending here
# The modules a request passes through, relative to the package. Nothing else is compiled:
# the control plane gains nothing from it and keeps the plain-Python semantics tests rely on.
HOT_PATH = (
    "serving/app.py",
    "serving/batching.py",
    "serving/codecs/common.py",
    "serving/codecs/mlflow.py",
    "serving/codecs/v1.py",
    "serving/codecs/v2.py",
    "serving/dataplane.py",
    "serving/deadlines.py",
    "serving/http.py",
    "serving/inputs.py",
    "serving/metrics.py",
    "serving/native_http.py",
    "serving/outputs.py",
    "serving/repository.py",
    "serving/routes.py",
    "serving/runtime.py",
    "serving/tally.py",
    "serving/tensors.py",
)
# mypyc type-checks what it compiles. Third-party packages may be missing (an isolated wheel
# build has only the build requirements): their types are then Any, which compiles to the
# same behaviour. Errors outside the compiled modules are not ours to fix here.
MYPY_CONFIG = """\
[mypy]
python_version = 3.11
ignore_missing_imports = True
follow_imports = silent
"""


def compile_hot_path(work: Path) -> dict[str, Path]:
    """Compile :data:`HOT_PATH` in ``work`` (an empty directory). Returns each built file's
    path in the wheel (``shipyard/serving/http.cpython-311-x86_64-linux-gnu.so``, and mypyc's
    shared runtime library at the top) -> the file."""
    tree = work / "src"
    shutil.copytree(PACKAGE, tree / "shipyard", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (tree / "mypy.ini").write_text(MYPY_CONFIG)
    files = [f"shipyard/{module}" for module in HOT_PATH]
    done = subprocess.run(  # builds in ``tree``, each compiled module beside its .py
        [sys.executable, "-m", "mypyc", "--config-file", "mypy.ini", *files],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mypyc failed to compile the serving hot path:\n{done.stdout}\n{done.stderr}")
    built: dict[str, Path] = {}
    for module in HOT_PATH:
        relative = module.removesuffix(".py") + EXT_SUFFIX
        path = tree / "shipyard" / relative
        if not path.is_file():
            raise RuntimeError(f"mypyc did not produce {relative}")
        built[f"shipyard/{relative}"] = path
    for shared in tree.glob(f"*__mypyc{EXT_SUFFIX}"):
        built[shared.name] = shared
    return built


def unpack_overlay(wheel: Path, target: Path) -> list[str]:
    """``target``: the wheel's package and mypyc runtime, without its metadata (so the
    project's own installation stays the one ``importlib.metadata`` sees). Returns the
    compiled modules, also listed in ``target``/COMPILED."""
    if target.exists():
        shutil.rmtree(target)
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if ".dist-info/" not in name]
        archive.extractall(target, members)
    compiled = sorted(name for name in members if name.endswith(EXT_SUFFIX))
    if not any(name.startswith("shipyard/") for name in compiled):
        raise RuntimeError(f"{wheel} holds no compiled module: was it built with SHIPYARD_PURE_PYTHON set?")
    (target / "COMPILED").write_text("".join(f"{name}\n" for name in compiled))
    return compiled


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script, outside a build
    BuildHookInterface = object


class CompileHotPath(BuildHookInterface):  # type: ignore[misc]
    """hatchling's custom build hook: compiled modules in the (standard) wheel."""

    PLUGIN_NAME = "custom"
    _work: tempfile.TemporaryDirectory[str] | None = None  # the compiled files, until the wheel is written

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard" or os.environ.get("SHIPYARD_PURE_PYTHON"):
            return
        self._work = tempfile.TemporaryDirectory(prefix="shipyard-mypyc-")
        for in_wheel, path in compile_hot_path(Path(self._work.name)).items():
            build_data["force_include"][str(path)] = in_wheel
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._work is not None:
            self._work.cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python hatch_build.py WHEEL OVERLAY_DIR  (unpacks the wheel's compiled package)")
    modules = unpack_overlay(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{len(modules)} compiled modules unpacked into {sys.argv[2]}")
