"""Benchmarks for Four Links: `fourlinks bench` and `make bench`."""
