"""What the tests and the benchmarks share and the toolkit does not: driving the draw page in a
real browser, simulated photos of digits, and local servers (TensorBoard, optuna-dashboard). Not part of the `digits` package users import."""
