"""Shared code for the digit-recognition scripts: data, model, training, run folders, figures.

Importing the package is cheap: nothing here loads TensorFlow until a script asks
for a model, so every script's --help answers at once.
"""

__version__ = "0.1.0"

from digits.hardware import quiet_tensorflow  # noqa: E402  (before anything imports TensorFlow)

quiet_tensorflow()
