"""Sweeps: grids of RunConfigs run through Optuna studies, and the report rebuilt from them.

Every (grid point, seed) is completed exactly once, by any number of worker processes
on any number of machines, through Ctrl-C, kill -9 and reboots. The parts, each
readable alone:

- experiments: what to sweep. The report's experiments and custom grids, each an
  Experiment that carries its points, description, figure and reference numbers;
  the runs (point x seed -> RunConfig) and the study they live in.
- grids: custom grids from the command line or a JSON file.
- keys: what identifies a run (its key), and stored keys and configs read with
  today's RunConfig, so results survive a new field.
- storage: opening a journal file, SQLite or PostgreSQL; creating studies and
  registering their grids.
- claims: liveness of a running trial, the one reader of a study's state, and
  claiming, withdrawing and releasing points.
- workers: worker processes that claim points and train them (digits.training.train).
- report: tables, figures and a README from the stored results, without training.

Nothing here imports Optuna or TensorFlow on `import digits.sweeps`: the scripts'
--help answers at once.
"""
