"""Benchmarks; each prints a Markdown table that BENCHMARKS.md quotes under its command."""
