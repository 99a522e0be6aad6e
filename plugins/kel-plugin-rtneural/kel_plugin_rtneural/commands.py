"""RTNeural's part of the core's ``kelcore export``: ``--cpp`` writes the plugin's C++ folder beside the files.

``kelcore export`` and ``kelcore validate`` themselves are core commands that dispatch to this exporter
(:meth:`RTNeuralExporter.add_arguments`, :meth:`RTNeuralExporter.finish`, :meth:`RTNeuralExporter.check_file`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from kelcore.api import SPEC_HEADER, write_text_atomic

from .cpp_header import cpp_header


def write_plugin_folder(out: Path, documents: dict) -> list[Path]:
    """Beside the JSON files: the ModelT header of these exports, the ModelSpec header, the feature library
    (KelFeatures.h and what it includes), the plugin's runtime (KelRuntime.h and its JUCE adapter, when kel-runtime
    is installed) and the example that runs them."""
    from kel_contracts import native_dir

    header = out / "KelModels.h"
    write_text_atomic(header, cpp_header(documents))
    written = [header]
    sources = [SPEC_HEADER, *sorted(native_dir().glob("*.h")), native_dir() / "example_plugin_side.cpp"]
    try:   # the runtime is the top floor (kel-runtime): written beside the models where it is installed
        from kel_runtime import RUNTIME_HEADERS, native_dir as runtime_dir
    except ImportError:
        pass
    else:
        sources += [runtime_dir() / name for name in RUNTIME_HEADERS if (runtime_dir() / name).is_file()]
    for source in sources:
        target = out / source.name
        shutil.copyfile(source, target)
        written.append(target)
    return written


def documents_of(paths: list[Path]) -> dict:
    """``{ModelSpec name: RTNeural JSON document}`` of written files."""
    documents = {}
    for path in paths:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        documents[document["metadata"]["model"]] = document
    return documents
