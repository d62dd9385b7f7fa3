"""Sweeps: grids of RunConfigs run through Optuna studies, and tables written from them.

Every (grid point, seed) is completed exactly once, by any number of worker processes
on any number of machines, through Ctrl-C, kill -9 and reboots. The parts, each
readable alone:

- experiments: what to sweep. The report's experiments and custom grids, each an
  Experiment that carries its points, description, figure and reference numbers;
  the planned runs (point x seed -> RunConfig) and the study they live in.
- grids: custom grids from the command line or a JSON file.
- keys: what identifies a run (its key), stored keys and configs read with today's
  RunConfig, and the keyed grids a study records.
- storage: opening a journal file, SQLite or PostgreSQL, and creating studies.
- liveness: whether a running trial's worker is still at it.
- reservations: the one reader of a study's state; reserving, withdrawing and
  releasing points.
- workers: worker processes that reserve points and train them (digits.training.train).
- tables: tables, figures and a README from the stored results, without training.
- verdicts: the report's claims, checked against the seeds.
- hparams: TensorBoard HParams logs of the stored trials.
- compaction: a journal rewritten without the records that no longer count.

Nothing here imports Optuna or TensorFlow on `import digits.sweeps`: the scripts'
--help answers at once.
"""
