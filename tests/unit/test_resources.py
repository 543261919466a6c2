"""The data folders are found through one helper, and the wheel build copies the same list (issue 14, item 1).

The full proof is scripts/check_wheel.sh (CI): a wheel installed outside the checkout upgrades a database, serves
a French page and renders a letter and an email.
"""
import ast
from pathlib import Path

import pytest

from dsar import resources

ROOT = Path(__file__).resolve().parents[2]


def test_setup_copies_every_data_folder_the_code_reads():
    tree = ast.parse((ROOT / "setup.py").read_text())
    copied = next(ast.literal_eval(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DATA_DIRS")
    assert tuple(copied) == resources.DATA_DIRS


def test_checkout_paths_point_at_the_top_level_folders():
    assert resources.is_checkout()
    assert resources.data_path("workflows", "idomed.yaml") == ROOT / "workflows" / "idomed.yaml"
    assert (resources.data_path("migrations") / "env.py").is_file()
    assert (resources.data_path("templates") / "base.html").is_file()


def test_an_unknown_data_folder_is_a_programming_error():
    with pytest.raises(ValueError, match="not one of the data folders"):
        resources.data_path("instance")
