"""Packaging: what is imported is declared, the conda files follow pyproject.toml, the core install is enough.

- every third-party module that the package, the tests, the benchmarks, the experiments and the
  notebooks import belongs to a distribution that pyproject.toml declares;
- environment.yml and binder/environment.yml list every dependency of pyproject.toml, extras
  included, with the same bounds, and nothing else;
- the core modules (training, forecasting, scoring, the command line) import with every optional
  package missing, so a cluster install needs no JupyterLab, Panel or JAX.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ENVIRONMENT_FILES = ("environment.yml", "binder/environment.yml")
#: pyproject name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch-cpu"}
#: installed by the Makefile / binder/postBuild with --no-deps, not declared
UNDECLARED = {"jcm"}
#: the optional extras' top-level modules, which the core install does without
OPTIONAL_MODULES = ("jax", "jaxlib", "jcm", "dinosaur", "flax", "jax_datetime", "jax_solar", "tree_math",
                    "cartopy", "shapely", "shapefile", "gcsfs", "jupyterlab", "ipykernel", "ipywidgets",
                    "nbclient", "nbformat", "IPython", "panel", "bokeh", "holoviews", "hvplot", "geoviews",
                    "playwright", "psutil", "jupyter_book", "sphinx")
CORE_MODULES = ("climax_nb", "climax_nb.train", "climax_nb.forecast", "climax_nb.evaluate", "climax_nb.cli",
                "climax_nb.data", "climax_nb.model", "climax_nb.metrics", "climax_nb.scorecard")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, Requirement]:
    """Every requirement of pyproject.toml (core and extras), by normalised name; self-references left out."""
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    found: dict[str, Requirement] = {}
    for req in reqs:
        if normalise(req.name) == normalise(PYPROJECT["project"]["name"]):
            continue
        name = normalise(req.name)
        assert name not in found or found[name].specifier == req.specifier, f"{req.name}: two different bounds"
        found[name] = req
    return found


def environment(path: Path) -> dict[str, Requirement]:
    """The conda and pip entries of an environment file, by normalised (pyproject) name."""
    entries = []
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        entries += dep["pip"] if isinstance(dep, dict) else [dep]
    pyproject_name = {conda: pip for pip, conda in CONDA_NAMES.items()}
    found = {}
    for entry in entries:
        if re.match(r"^(python|pip)\b(?![-_.\w])", entry):
            continue
        req = Requirement(entry)
        name = normalise(req.name)
        found[pyproject_name.get(name, name)] = req
    return found


@pytest.mark.parametrize("name", ENVIRONMENT_FILES)
def test_environment_file_lists_every_dependency_with_its_bounds(name):
    declared, listed = requirements(), environment(ROOT / name)
    missing = sorted(set(declared) - set(listed))
    extra = sorted(set(listed) - set(declared))
    assert not missing, f"{name} lacks {missing} (in pyproject.toml)"
    assert not extra, f"{name} lists {extra}, which pyproject.toml does not declare"
    differ = [f"{n}: {declared[n].specifier} in pyproject.toml, {listed[n].specifier} in {name}"
              for n in declared if declared[n].specifier != listed[n].specifier]
    assert not differ, differ


def test_all_extra_holds_every_other_extra():
    extras = PYPROJECT["project"]["optional-dependencies"]
    (everything,) = extras["all"]
    named = set(Requirement(everything).extras)
    assert named == set(extras) - {"all"}, "make env installs .[all]: it must name every extra"


def _imports(source: str) -> set[str]:
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _sources() -> dict[str, str]:
    files = {}
    for folder in ("climax_nb", "tests", "benchmarks", "experiments", "book", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            files[str(path.relative_to(ROOT))] = path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()]
        files[str(path.relative_to(ROOT))] = "\n".join(ln for ln in lines if not ln.lstrip().startswith(("%", "!")))
    return files


def test_every_third_party_import_is_declared():
    local = {"climax_nb", "tests", "benchmarks", "experiments", "__future__"}
    local |= {path.stem for folder in ("benchmarks", "experiments") for path in (ROOT / folder).glob("*.py")}
    distributions = importlib.metadata.packages_distributions()
    declared = set(requirements()) | UNDECLARED
    undeclared = {}
    for where, source in _sources().items():
        for module in _imports(source) - local - set(sys.stdlib_module_names):
            dists = {normalise(d) for d in distributions.get(module, [module])}
            if not dists & declared:
                undeclared.setdefault(module, where)
    assert not undeclared, f"imported but not in pyproject.toml (module: first file): {undeclared}"


def test_core_modules_import_without_the_optional_packages():
    script = (
        "import sys\n"
        f"for name in {OPTIONAL_MODULES!r}:\n"
        "    sys.modules[name] = None  # as if not installed: import fails, find_spec says None\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    __import__(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
