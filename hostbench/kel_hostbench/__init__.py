"""kel-hostbench: the plugin's real-time path, natively, and every inference engine against the plugin's budget.

``hostbench run MODELS_DIR [--audio FILE] [--midi FILE] --out REPORT_DIR`` writes report.json, report.md and
latency.png; ``hostbench summary RUN_DIR`` benchmarks a `kelcore run`'s exports and prints one row per model.
"""
from .native import build_host, compile_flags, FLAG_SETS

__all__ = ["build_host", "compile_flags", "FLAG_SETS"]
