"""What the tests and the benchmarks share and the toolkit does not: driving the draw page in a
real browser, and simulated photos of digits. Not part of the `digits` package users import."""
