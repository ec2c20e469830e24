"""Benchmarks: the till at chain scale, each figure against a baseline measured in the same run."""
