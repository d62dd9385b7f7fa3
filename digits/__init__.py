"""Shared code for the digit-recognition scripts: data, model, training, run folders, figures.

Importing the package is cheap: nothing here loads TensorFlow until a script asks
for a model, so every script's --help answers at once.
"""

import os

__version__ = "0.1.0"

# TensorFlow prints a screenful of start-up notices (oneDNN, CUDA not found) on
# import; keep its own warnings and errors, drop the notices.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
