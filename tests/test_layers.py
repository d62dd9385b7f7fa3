"""The package's layers (.importlinter, drawn in docs/architecture.md): lint-imports keeps them, every module
of digits/ is placed in one, and a back-arrow planted in the core breaks them."""

import configparser
from pathlib import Path
import pkgutil
import shutil
import subprocess

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(folder):
    """lint-imports run in `folder` on its .importlinter: (exit code, output)."""
    result = subprocess.run(["lint-imports", "--no-cache"], cwd=folder, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def unplaced_modules(folder):
    """The modules of `folder`/digits that no layer of its .importlinter names."""
    config = configparser.ConfigParser()
    config.read(folder / ".importlinter")
    placed = set()
    for section in config.sections():
        if config[section].get("type") == "layers":
            containers = config[section]["containers"].split()
            names = {name.strip() for line in config[section]["layers"].splitlines()
                     for name in line.replace(":", "|").split("|") if name.strip()}
            placed |= {f"{container}.{name}" for container in containers for name in names}
    modules = {info.name for info in pkgutil.walk_packages([str(folder / "digits")], prefix="digits.")}
    # A module is placed when it, or a package holding it, is in a layer.
    return sorted(module for module in modules
                  if not any(module == name or module.startswith(name + ".") for name in placed))


def copy_of_the_package(tmp_path):
    shutil.copytree(ROOT / "digits", tmp_path / "digits", ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_layers_hold_and_place_every_module():
    code, output = lint_imports(ROOT)
    assert code == 0, output
    assert "0 broken" in output
    assert unplaced_modules(ROOT) == []


def test_a_back_arrow_from_the_core_to_the_sweeps_breaks_the_layers(tmp_path):
    folder = copy_of_the_package(tmp_path)
    config = folder / "digits" / "config.py"
    config.write_text(config.read_text() + "\nimport digits.sweeps.storage  # noqa: E402\n")
    code, output = lint_imports(folder)
    assert code != 0
    assert "BROKEN" in output and "digits.config -> digits.sweeps.storage" in output


def test_a_module_left_out_of_the_layers_is_found(tmp_path):
    folder = copy_of_the_package(tmp_path)
    linter = folder / ".importlinter"
    linter.write_text(linter.read_text().replace("    augment | exposure |", "    exposure |"))
    assert unplaced_modules(folder) == ["digits.augment"]
