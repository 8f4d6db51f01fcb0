"""The course notebooks: stored without outputs, and each one runs from top to bottom.

Each notebook runs in a fresh Python kernel (nbclient + ipykernel, as Jupyter would run it);
a cell that raises, including a failed exercise check, fails the test.
"""

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
PARTS = ["01_why_learned_features", "02_logistic_regression", "03_one_neuron_to_many",
         "04_activations", "05_backpropagation", "06_initialization", "07_optimizers",
         "08_end_to_end"]


def test_the_eight_parts_are_there_in_order():
    assert [p.stem for p in NOTEBOOKS] == PARTS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook with no code"
    for i, cell in enumerate(nb["cells"]):
        where = f"{path.name} cell {i}"
        assert "execution" not in cell.get("metadata", {}), f"{where} keeps timing metadata"
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{where} has outputs: strip them before committing"
            assert cell["execution_count"] is None, f"{where} has an execution count"
    assert "widgets" not in nb["metadata"], f"{path.name} stores widget state"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    # the kernel imports this checkout's neuralab, installed or not
    paths = [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    # the exercises' check cells ran (an assert that fails raises above)
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
