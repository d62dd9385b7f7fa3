"""Execute the report notebook top to bottom and save it with its outputs.

    python notebooks/run.py                  # the full run: all 60,000 images, 15 epochs, outputs saved into
                                             # notebooks/report.ipynb itself (about 10 minutes on 2 cores)
    python notebooks/run.py --limit 2000 --epochs 1 --to /tmp/report.ipynb --out /tmp/notebook   # a quick look

The notebook runs in a fresh Jupyter kernel (ipykernel's own "python3"), in its own folder,
with NOTEBOOK_LIMIT, NOTEBOOK_EPOCHS and NOTEBOOK_OUT set from the flags (the flags left out
leave the notebook's defaults: all the training images, 15 epochs, models/notebook/). The
executed notebook is written only if every cell ran, under a temporary name renamed into
place, so a failure or Ctrl-C leaves the file as it was. tests/test_notebook.py runs the
notebook through `execute` below.
"""

import argparse
import os
from pathlib import Path
import sys

NOTEBOOK = Path(__file__).resolve().parent / "report.ipynb"
ROOT = NOTEBOOK.parent.parent


def settings_env(limit=None, epochs=None, out=None):
    """The environment variables the notebook's first cell reads, for the settings given."""
    values = {"NOTEBOOK_LIMIT": limit, "NOTEBOOK_EPOCHS": epochs, "NOTEBOOK_OUT": out}
    return {name: str(value) for name, value in values.items() if value is not None}


def execute(path=NOTEBOOK, env=None, timeout=None):
    """Run the notebook at `path` in a new kernel, with `env` added to this process's environment;
    return it with its outputs (the file is not written). `timeout`: seconds per cell, None for no limit.
    A cell that raises stops the run with nbclient's CellExecutionError, naming the cell and the error."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    kernel_env = {**os.environ, **(env or {})}
    # Without the project installed, the kernel still imports digits (the notebook also finds its root itself).
    kernel_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), kernel_env.get("PYTHONPATH")]))
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=kernel_env)
    return notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, metavar="N", help="train on the first N images (default: all 60,000)")
    parser.add_argument("--epochs", type=int, metavar="N", help="training epochs (default: the report's 15)")
    parser.add_argument("--out", metavar="DIR", help="folder for the notebook's run and figures (default: models/notebook)")
    parser.add_argument("--to", metavar="IPYNB", default=str(NOTEBOOK),
                        help="where to save the executed notebook (default: in place, %(default)s)")
    parser.add_argument("--timeout", type=int, metavar="SECONDS", help="limit per cell (default: none)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    import nbformat

    from digits.files import write_text

    notebook = execute(NOTEBOOK, settings_env(args.limit, args.epochs, args.out), args.timeout)
    write_text(args.to, nbformat.writes(notebook))
    print(f"Saved the executed notebook to {args.to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
