"""Per-epoch training and validation metrics, appended to CSV or JSONL."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Literal


class TrainingMetrics:
    """One row per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``lr`` and task metrics.

    Rows are kept in memory and rewritten to disk after each epoch (small files),
    so a resumed run continues the same file and a killed run loses nothing
    that was logged.
    """

    def __init__(self, path: Path, fmt: Literal["csv", "jsonl"] = "csv") -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.rows: list[dict[str, float]] = []

    def log(self, row: dict[str, float]) -> None:
        self.rows.append(dict(row))
        self._write()

    def truncate(self, epochs: int) -> None:
        """Keep only rows of epochs < ``epochs`` (used when resuming)."""
        self.rows = [r for r in self.rows if r["epoch"] < epochs]
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            if self.fmt == "jsonl":
                for row in self.rows:
                    handle.write(json.dumps(row) + "\n")
            else:
                fields: list[str] = []
                for row in self.rows:
                    fields += [k for k in row if k not in fields]
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(self.rows)
        tmp.replace(self.path)

    @classmethod
    def read(cls, path: Path) -> list[dict[str, float]]:
        """Rows of an existing metrics file (CSV or JSONL by suffix)."""
        path = Path(path)
        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        rows = list(csv.DictReader(text.splitlines()))
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in rows]
