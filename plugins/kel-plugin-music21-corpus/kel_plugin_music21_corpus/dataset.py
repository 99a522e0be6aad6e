"""music21's bundled corpus of real scores as the melody and harmony tasks (the Lakh contracts).

``root`` is the folder the plugin converts the chosen collections into, once: ``midi/<collection>/<piece>.mid``
(see :mod:`.convert`) and ``music21corpus.json``, the index (every piece's source, title, melody fingerprint and
group, and the pieces that could not be converted, with the reason). A root whose index was written for other
options is converted again. Features are then read from the MIDI files by the shared MIDI library, exactly like
Lakh's.

Groups (no leak between splits): pieces whose melodies share at least half of the transposition-invariant 8-note
interval patterns of the shorter one are one group (the same tune harmonised twice, exact and near duplicates,
folk-tune variants, the same tune in two collections converted together); chorales with the same title in music21's
list of Riemenschneider's chorales (the same hymn tune) are one group too.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kelcore.api import DatasetOptions, Extracted, IndexedDataset, Track, parallel_map
from kel_midi_features import (MidiError, TooShort, check_midi, extracted, feature_config, group_by_tune,
                               harmony_features, load_song, melody_features, melody_part)

from .convert import CONVERTER_VERSION, BarGridError, one_bar_grid, write_score

TASKS = {"melody": "MelodyTransformer", "harmony": "HarmonyPredictor"}
INDEX_FILE = "music21corpus.json"
DRIFTING = "parts drift apart (no common bar grid)"   # the problem of a refused score, as counted
NOT_A_CHORALE = "not a chorale (no soprano part)"    # music21's bach folder also holds bwv846, a keyboard prelude
# collection -> (folder of music21's corpus, file patterns, files to leave out)
COLLECTIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "chorales": ("bach", ("*.mxl", "*.xml"), ()),
    "palestrina": ("palestrina", ("*.krn",), ()),
    "monteverdi": ("monteverdi", ("*.mxl",), ()),
    "essen": ("essenFolksong", ("*.abc",), ("test0.abc", "test1.abc", "testd.abc")),
    "ryans": ("ryansMammoth", ("*.abc",), ()),
    "oneills": ("oneills1850", ("*.abc",), ()),
}
ALIASES = {"folk": ("essen", "ryans", "oneills")}
OPUS = {"essen", "ryans", "oneills"}   # ABC files holding many tunes each
DEMO_PIECES = 120             # `kelcore data demo music21corpus`: the first 120 chorales (~20 s on 2 cores)
Collection = Literal["chorales", "palestrina", "monteverdi", "essen", "ryans", "oneills", "folk"]


class Music21CorpusOptions(DatasetOptions):
    root: Path = Field(description="folder the corpus is converted into (created and filled on first use)")
    task: Literal["melody", "harmony"] = Field("melody", description="which model's features to produce")
    collections: list[Collection] = Field(["chorales"], description="music21 corpus collections (folk = essen + "
                                                                     "ryans + oneills)")
    max_pieces: int | None = Field(None, ge=1, description="convert at most this many pieces (in corpus order)")
    files: list[str] | None = Field(None, description="only these source files of the collections, by stem "
                                                      "(e.g. [\"kinder0\"]: one Essen set; [\"bwv253\", ...])")


def corpus_dir() -> Path:
    import music21.corpus

    return Path(music21.corpus.__file__).parent


def expand(collections: list[str]) -> list[str]:
    out: list[str] = []
    for name in collections:
        for item in ALIASES.get(name, (name,)):
            if item not in out:
                out.append(item)
    return out


def source_files(collection: str, stems: list[str] | None = None) -> list[Path]:
    """The collection's source files in corpus order (only those whose stem is in ``stems``, when given)."""
    folder, patterns, skip = COLLECTIONS[collection]
    base = corpus_dir() / folder
    files = {p for pattern in patterns for p in base.glob(pattern)
             if p.name not in skip and (stems is None or p.stem in stems)}
    return sorted(files)


@functools.lru_cache(maxsize=1)
def _chorale_list() -> dict[str, str]:
    from music21.corpus import chorales

    return {bwv: entry["title"] for bwv, entry in chorales.ChoraleListRKBWV().byBWV.items()}


def chorale_title(stem: str) -> str:
    """The hymn tune's title of a chorale file (``bwv269`` -> "Aus meines Herzens Grunde") from music21's list of
    Riemenschneider's 371 chorales (by BWV number, a version suffix such as ``-a`` ignored); "" where the list has
    none (51 of the 410 files: chorales outside the 371). The scores themselves carry no title."""
    titles = _chorale_list()
    bwv = stem.removeprefix("bwv")
    base = bwv.split("-")[0]
    found = titles.get(bwv) or titles.get(base)
    if found is None:
        found = next((title for key, title in titles.items() if key.split("-")[0] == base), "")
    return found


def _fingerprint(path: Path) -> list[int] | None:
    try:
        line = melody_part(load_song(path))
    except (MidiError, TooShort):
        return None
    return [int(p) for p in line.pitch]


def _has_soprano(score) -> bool:
    """A chorale's melody is its soprano; a score with no part so named is something else."""
    return any("soprano" in str(part.partName or "").lower() for part in score.parts)


def convert_source(job: tuple[str, str, str, int | None]) -> list[dict]:
    """Worker: the pieces of one corpus file (an opus holds many; at most ``limit``) -> MIDI under ``out``; never
    raises."""
    collection, source, out, limit = job
    from music21 import converter, stream

    source_path = Path(source)
    base = {"collection": collection, "source": str(source_path.relative_to(corpus_dir()))}
    try:
        parsed = converter.parse(source_path)
    except Exception as exc:  # noqa: BLE001 - one bad file must not end the conversion
        return [{**base, "id": f"{collection}/{source_path.stem}", "problem": f"music21 could not parse it: "
                                                                               f"{type(exc).__name__}: {exc}"}]
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    scores = scores[:limit] if limit is not None else scores
    pieces = []
    for number, score in enumerate(scores):
        suffix = f"-{number:04d}" if isinstance(parsed, stream.Opus) else ""
        piece_id = f"{collection}/{source_path.stem}{suffix}"
        title = (score.metadata.title if score.metadata is not None and score.metadata.title else "") or ""
        if not title and collection == "chorales":
            title = chorale_title(source_path.stem)
        entry = {**base, "id": piece_id, "title": str(title)}
        if collection == "chorales" and not _has_soprano(score):
            parts = ", ".join(str(part.partName or part.id) for part in score.parts)
            pieces.append({**entry, "problem": f"{NOT_A_CHORALE}: parts {parts}"})
            continue
        try:
            repairs = one_bar_grid(score)
        except BarGridError as exc:
            pieces.append({**entry, "problem": f"{DRIFTING}: {exc}"})
            continue
        except Exception as exc:  # noqa: BLE001
            pieces.append({**entry, "problem": f"its bar grid could not be read: {type(exc).__name__}: {exc}"})
            continue
        if repairs:
            entry["repaired"] = repairs
        try:
            midi = write_score(score, Path(out) / "midi" / collection / f"{source_path.stem}{suffix}.mid",
                               in_place=True)                         # the score is not used again
        except Exception as exc:  # noqa: BLE001
            pieces.append({**entry, "problem": f"could not be written as MIDI: {type(exc).__name__}: {exc}"})
            continue
        pieces.append({**entry, "midi": str(midi.relative_to(out)), "melody": _fingerprint(midi)})
    return pieces


def group_pieces(pieces: list[dict]) -> list[str]:
    """A group id per piece (the id of the group's first piece): same tune (kel_midi_features' 8-note interval
    fingerprint) or, for chorales, the same title -> same group."""
    keys = []
    for index, piece in enumerate(pieces):
        title = re.sub(r"\W+", " ", piece.get("title", "")).strip().lower()
        keys.append(f"title:{title}" if piece["collection"] == "chorales" and title else f"piece:{index}")
    roots = group_by_tune([p.get("melody") for p in pieces], keys)
    return [pieces[root]["id"] for root in roots]


def materialise(root: Path, collections: list[str], max_pieces: int | None = None, workers: int | None = None,
                progress: bool | None = None, demo: bool = False, files: list[str] | None = None) -> dict:
    """Convert the collections into ``root`` and write its index; returns the index. A ``demo`` index is a
    deliberate selection: read without ``max_pieces`` it is used as it is."""
    import music21

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = expand(collections)
    config = {"collections": names, "max_pieces": max_pieces, "converter": CONVERTER_VERSION,
              "music21": music21.__version__, "demo": demo, "files": sorted(files) if files is not None else None}
    pieces: list[dict] = []
    for collection in names:
        todo = source_files(collection, files)
        while todo and (max_pieces is None or len(pieces) < max_pieces):
            # an opus file (ABC) holds many pieces: with max_pieces, convert a few files at a time and stop early
            left = None if max_pieces is None else max_pieces - len(pieces)
            size = len(todo) if left is None else left if collection not in OPUS else max(1, min(left, workers or 2))
            batch, todo = todo[:size], todo[size:]
            jobs = [(collection, str(f), str(root), left) for f in batch]
            for _, found in parallel_map(convert_source, jobs, workers, f"converting {collection}", progress,
                                         chunksize=1):
                pieces.extend(found)
    if max_pieces is not None:
        pieces = pieces[:max_pieces]
    usable = [p for p in pieces if "problem" not in p]
    for piece, group in zip(usable, group_pieces(usable)):
        piece["group"] = group
    index = {"config": config, "pieces": pieces}
    (root / INDEX_FILE).write_text(json.dumps(index, indent=0), encoding="utf-8")
    return index


def load_index(root: Path, collections: list[str], max_pieces: int | None, workers: int | None = None,
               files: list[str] | None = None) -> dict:
    """The index in ``root`` if it was written for these collections and holds the pieces asked for (the first
    ``max_pieces`` of a larger conversion will do; without ``max_pieces`` a demo selection is used as it is), else a
    fresh conversion."""
    import music21

    path = Path(root) / INDEX_FILE
    if path.exists():
        index = json.loads(path.read_text(encoding="utf-8"))
        config = index.get("config", {})
        same = (config.get("collections") == expand(collections) and config.get("converter") == CONVERTER_VERSION
                and config.get("music21") == music21.__version__
                and config.get("files") == (sorted(files) if files is not None else None))
        complete = (config.get("max_pieces") is None or (max_pieces is None and config.get("demo"))
                    or (max_pieces is not None and max_pieces <= config["max_pieces"]))
        if same and complete:
            if max_pieces is not None:
                index = {**index, "pieces": index["pieces"][:max_pieces]}
            return index
    return materialise(Path(root), collections, max_pieces, workers, files=files)


def tracks_of(root: Path, index: dict) -> list[Track]:
    tracks = []
    for piece in index["pieces"]:
        if "problem" in piece:   # counted as a problem by extract (the source file stands in for the MIDI)
            tracks.append(Track(piece["id"], corpus_dir() / piece["source"], piece["id"], labels=piece["problem"]))
        else:
            tracks.append(Track(piece["id"], Path(root) / piece["midi"], piece["group"]))
    return tracks


def _harmony(song, *_):
    if sum(1 for part in song.pitched() if len(part.pitch)) < 2:
        raise TooShort("a single part: no harmony to estimate")
    return harmony_features(song)


def _refused(problem: str) -> Extracted:
    """A piece the conversion refused: a score whose parts drift apart, or that is not of its collection, is
    unsupported; an unreadable one corrupt."""
    unsupported = problem.startswith((DRIFTING, NOT_A_CHORALE))
    return Extracted(kind="unsupported" if unsupported else "corrupt", reason=problem)


def extract(track: Track, config: Any) -> Extracted:
    if track.labels:
        return _refused(str(track.labels))
    return extracted(melody_features if config["task"] == "melody" else _harmony, track.path)


def check(track: Track, config: Any) -> Extracted:
    if track.labels:
        return _refused(str(track.labels))
    return check_midi(track, config)


class Music21CorpusDataset(IndexedDataset):
    """music21's corpus -> melody (one step per note) or harmony sequences, same contracts as Lakh."""

    Options = Music21CorpusOptions
    name = "music21corpus"
    tasks = TASKS
    real = True           # real music (not synthesised): the run report can say so
    extract = staticmethod(extract)
    check = staticmethod(check)

    def read_index(self, root: Path) -> list[Track]:
        index = load_index(root, list(self.options.collections), self.options.max_pieces, self.options.workers,
                           self.options.files)
        return tracks_of(root, index)

    def feature_config(self) -> Any:
        return feature_config(self)

    def provenance(self) -> str:
        """What the data is, for the run report: real scores from music21's corpus (never synthetic)."""
        return f"real: music21 corpus ({', '.join(expand(list(self.options.collections)))})"

    @classmethod
    def write_demo(cls, path: Path, seed: int = 0, collections: tuple[str, ...] = ("chorales",),
                   max_pieces: int | None = DEMO_PIECES) -> None:
        """Not synthetic: converts the first DEMO_PIECES of music21's Bach chorales (real scores; ``max_pieces=None``
        for all ~410) into ``path``; ``seed`` is unused (the corpus is what it is)."""
        materialise(Path(path), list(collections), max_pieces, demo=True)
