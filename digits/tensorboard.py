"""TensorBoard event files written without TensorFlow: a run's per-epoch history as Keras's
TensorBoard callback logs it.

digits.training.train logs every epoch of a run with a run folder through Keras's TensorBoard
callback, into the run folder's tensorboard/ unless told otherwise: train/ and validation/ hold
epoch_loss, epoch_accuracy, epoch_learning_rate (the rate at the end of the epoch, a schedule's
included) and epoch_seconds, at step epoch - 1, as Keras counts. A resumed run continues its
logs; an epoch logged just before a crash but not yet checkpointed is trained and logged again,
and TensorBoard keeps the later of the two (its default loader does; with --load_fast=false it
shows both). `history_summaries` and `write_events` write a stored history the same way, for the
sweeps' logs (digits.sweeps.hparams), with the tensorboard package alone.
"""

from pathlib import Path
import shutil
import time

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.summary.writer.record_writer import RecordWriter

# Where the callback logs a history's metric, by its prefix in the logs: val_loss -> validation/epoch_loss.
PARTS = {"val_": "validation", "test_": "test"}


def start_epoch_logs(folder, resumed):
    """Prepare `folder` for a run's epoch logs (training.TensorBoardEpochs). A run started afresh first drops
    the logs an earlier run left there (train/ and validation/), as it drops that run's checkpoint;
    a resumed run adds to them, from the epoch it resumes at."""
    if not resumed:
        for part in ("train", "validation"):
            shutil.rmtree(Path(folder) / part, ignore_errors=True)


def history_summaries(history):
    """{part: [(step, summary), ...]}: a run record's per-epoch history with the callback's tags and steps."""
    parts = {}
    for name, values in history.items():
        if name == "epoch":
            continue
        prefix = next((prefix for prefix in PARTS if name.startswith(prefix)), "")
        summaries = parts.setdefault(PARTS.get(prefix, "train"), [])
        summaries += [(epoch - 1, scalar_pb(f"epoch_{name[len(prefix):]}", value))
                      for epoch, value in zip(history["epoch"], values)]
    return parts


def write_events(path, summaries):
    """Write an event file of (step, Summary) pairs, as TensorFlow's summary writer would."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        writer = RecordWriter(file)
        writer.write(Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        for step, summary in summaries:
            writer.write(Event(wall_time=time.time(), step=step, summary=summary).SerializeToString())
