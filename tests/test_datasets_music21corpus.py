"""The music21 corpus plugin (real scores as the Lakh contracts), the harmony targets against expert analyses, the
melody line on multi-part files. Small selections only: the whole file runs in well under a minute."""
from __future__ import annotations

import json
import subprocess
import sys

import mido
import numpy as np
import pytest

pytest.importorskip("music21")

from conftest import REPO
from kel_contracts import harmony as HAR
from kel_midi_features import chord_labels, harmony_features, harmony_steps, load_song, melody_part
from kel_plugin_music21_corpus import Music21CorpusDataset
from kel_plugin_music21_corpus.dataset import INDEX_FILE, extract, group_pieces, materialise
from kelcore.api import RunContext


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    root = tmp_path_factory.mktemp("m21")
    materialise(root, ["chorales"], max_pieces=8, workers=1)
    return root


def test_materialise_writes_midi_an_index_and_the_pickup_as_a_short_bar(chorales):
    index = json.loads((chorales / INDEX_FILE).read_text())
    assert len(index["pieces"]) == 8 and not any("problem" in p for p in index["pieces"])
    first = index["pieces"][0]
    assert first["id"] == "chorales/bwv1.6" and (chorales / first["midi"]).exists()
    song = load_song(chorales / first["midi"])
    assert song.signatures[:2] == [(0.0, 1, 4), (1.0, 4, 4)]       # one-beat pickup, then 4/4
    assert [p.name for p in song.pitched()][:2] == ["Horn 2", "Soprano"]
    assert melody_part(song).name == "Soprano"


def test_dataset_prepares_melody_and_harmony_with_the_lakh_contracts(chorales, tmp_path):
    for task, width in (("melody", 64), ("harmony", 128)):
        options = Music21CorpusDataset.Options(root=chorales, task=task, max_pieces=8, cache_dir=tmp_path / "c",
                                               workers=1)
        dataset = Music21CorpusDataset(options)
        assert dataset.produces == {"melody": "MelodyTransformer", "harmony": "HarmonyPredictor"}[task]
        data = dataset.prepare(RunContext(run_dir=tmp_path / task, seed=0, job="t"))
        sequences = data.train + data.validation + data.test
        assert data.report.usable == 8 and all(s.inputs.shape[1] == width for s in sequences)
        groups = {s.group: set() for s in sequences}
        for side in ("train", "validation", "test"):
            for s in getattr(data, side):
                groups[s.group].add(side)
        assert all(len(sides) == 1 for sides in groups.values())     # no tune on two sides


def test_groups_join_the_same_tune_transposed_and_chorales_of_one_title():
    tune = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 71, 69, 67, 65, 64]
    other = [60, 59, 57, 59, 60, 55, 57, 53, 55, 60, 62, 63, 62, 60, 58, 57, 55]
    pieces = [{"id": "a", "collection": "chorales", "melody": tune, "title": "X"},
              {"id": "b", "collection": "chorales", "melody": [p + 5 for p in tune[:-2]], "title": "Y"},
              {"id": "c", "collection": "chorales", "melody": other, "title": "Z"},
              {"id": "d", "collection": "chorales", "melody": None, "title": "z!"},
              {"id": "e", "collection": "essen", "melody": [p + 2 for p in other[::-1]], "title": "Z"}]
    assert group_pieces(pieces) == ["a", "a", "c", "c", "e"]


def test_a_single_part_piece_has_no_harmony_and_is_counted(tmp_path):
    from kelcore.api import Track

    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="tune")])
    for i in range(40):
        track += [mido.Message("note_on", note=60 + i % 7, velocity=80, time=0),
                  mido.Message("note_off", note=60 + i % 7, velocity=0, time=480)]
    midi.tracks.append(track)
    midi.save(tmp_path / "one.mid")
    result = extract(Track("one", tmp_path / "one.mid", "one"), {"task": "harmony"})
    assert result.kind == "unsupported" and "single part" in result.reason
    assert extract(Track("one", tmp_path / "one.mid", "one"), {"task": "melody"}).kind == ""
    broken = extract(Track("x", tmp_path / "one.mid", "x", labels="music21 could not parse it"), {"task": "melody"})
    assert broken.kind == "corrupt"


def _profile(weights: dict[int, float]) -> np.ndarray:
    row = np.zeros(12)
    for pc, w in weights.items():
        row[pc] = w
    return row[None, :]


def _bass(pitch: int) -> np.ndarray:
    row = np.zeros((1, 128))
    row[0, pitch] = 1.0
    return row


def test_estimator_keeps_a_triad_with_a_passing_tone_and_finds_diminished_triads():
    name = lambda p, b: HAR.CHORD_NAMES[int(chord_labels(p, b)[0])]   # noqa: E731
    g_with_e = _profile({7: 1.0, 11: 1.0, 2: 1.5, 4: 0.5})            # G B D + a passing E
    assert name(g_with_e, _bass(43)) == "G:maj"
    assert name(_profile({11: 1.0, 2: 1.0, 5: 1.0}), _bass(50)) == "B:dim"
    assert name(_profile({7: 1.0, 11: 1.0, 2: 1.0, 5: 1.0}), _bass(43)) == "G:7"


def test_estimator_labels_a_piece_jointly_held_notes_do_not_start_a_chord_and_bare_fifths_follow_neighbours():
    names = lambda labels: [HAR.CHORD_NAMES[int(c)] for c in labels]   # noqa: E731
    c_major, c_e_a = _profile({0: 1.0, 4: 1.0, 7: 1.0}), _profile({0: 1.0, 4: 1.0, 9: 0.6})
    profiles, bass = np.vstack([c_major, c_e_a]), np.vstack([_bass(48), _bass(48)])
    # the second beat on its own is A:min; struck afresh it is, held over (80 % of its sound) it stays C:maj
    assert names(chord_labels(profiles, bass, np.array([0.0, 0.0]))) == ["C:maj", "A:min"]
    assert names(chord_labels(profiles, bass, np.array([0.0, 0.8]))) == ["C:maj", "C:maj"]
    d_minor, d_a = _profile({2: 1.0, 5: 1.0, 9: 1.0}), _profile({2: 2.0, 9: 1.0})
    g_major = _profile({7: 1.0, 11: 1.0, 2: 1.0})
    # a bare fifth D-A between D minor and G major is D minor (not the templates' default, major)
    assert names(chord_labels(np.vstack([d_minor, d_a, g_major]), np.vstack([_bass(50), _bass(50), _bass(43)]),
                              np.array([0.0, 0.0, 0.0]))) == ["D:min", "D:min", "G:maj"]
    assert names(chord_labels(np.vstack([d_a, d_minor]), np.vstack([_bass(50), _bass(50)]))) == ["D:min", "D:min"]


def test_estimator_keeps_the_chord_through_a_short_rest_but_not_a_long_or_outer_silence():
    names = lambda labels: [HAR.CHORD_NAMES[int(c)] for c in labels]   # noqa: E731
    c_major, g_major, rest = _profile({0: 1.0, 4: 1.0, 7: 1.0}), _profile({7: 1.0, 11: 1.0, 2: 1.0}), np.zeros((1, 12))
    bass = {"C": _bass(48), "G": _bass(43), "-": np.zeros((1, 128))}

    def label(steps: str) -> list[str]:
        profiles = {"C": c_major, "G": g_major, "-": rest}
        return names(chord_labels(np.vstack([profiles[s] for s in steps]), np.vstack([bass[s] for s in steps])))

    short = "-" * HAR.REST_CARRY_STEPS
    assert label("C" + short + "G") == ["C:maj"] * (1 + HAR.REST_CARRY_STEPS) + ["G:maj"]     # a breath: C goes on
    assert label("C" + short + "-G") == ["C:maj"] + ["N"] * (1 + HAR.REST_CARRY_STEPS) + ["G:maj"]   # too long
    assert label("-C-") == ["N", "C:maj", "N"]                              # before the first, after the last sound


def test_melody_line_skips_an_instrument_doubling_the_voice(tmp_path):
    midi = mido.MidiFile(ticks_per_beat=480)
    tune = [67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 69, 71, 69, 67, 66, 67, 62]
    for name, shift in (("Flute", 12), ("Upper", 0), ("Lower", -12)):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
        notes = tune if name != "Lower" else [55 + i % 5 for i in range(len(tune))]
        for pitch in notes:
            track += [mido.Message("note_on", note=pitch + (shift if name == "Flute" else 0), velocity=80, time=0),
                      mido.Message("note_off", note=pitch + (shift if name == "Flute" else 0), velocity=0, time=480)]
        midi.tracks.append(track)
    midi.save(tmp_path / "d.mid")
    assert melody_part(load_song(tmp_path / "d.mid")).name == "Upper"      # the flute doubles it an octave up


def test_harmony_steps_are_beats_of_the_corpus_bar_grid(chorales):
    song = load_song(chorales / "midi" / "chorales" / "bwv1.6.mid")
    inputs, targets = harmony_features(song)
    start, end = harmony_steps(song)
    assert len(inputs) == len(start) and list(start[:3]) == [0.0, 1.0, 2.0]     # pickup beat, then bar 1's beats
    assert np.all(end - start <= 1.0) and (targets[:, 0] < HAR.NO_CHORD).mean() > 0.9


def test_harmony_agreement_quick_mode_meets_the_targets(tmp_path):
    out = tmp_path / "agreement.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "harmony_agreement.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    bach, monteverdi = result["corpora"]["bach"], result["corpora"]["monteverdi"]
    assert bach["pieces"] == 4 and bach["beat"]["steps"] > 150 and len(bach["beat"]["pieces"]) == 4
    assert bach["beat"]["root"] >= 0.85 and bach["beat"]["root_quality"] >= 0.75
    assert bach["beat"]["root"] > bach["bar"]["root"]
    assert monteverdi["pieces"] == 2 and monteverdi["beat"]["steps"] > 500       # madrigal.3.1 on one bar grid
    assert monteverdi["beat"]["root"] >= 0.7
    assert "AugmentedNet" in done.stdout and "monteverdi:" in done.stdout
    for corpus in (bach, monteverdi):       # 95 % intervals over pieces: around the figure, no wider than the pieces
        beat = corpus["beat"]
        for key in ("root", "root_quality"):
            low, high = beat["interval"][key]
            shares = [piece[key] for piece in beat["pieces"].values()]
            assert min(shares) <= low <= beat[key] <= high <= max(shares) and low < high
    assert f"root {100 * bach['beat']['root']:.1f} % (" in done.stdout      # printed with its interval


def test_an_analysis_with_a_repeat_is_laid_on_the_score_that_writes_it_out():
    """bwv277: the analysis has 12 bars and a repeat, the score 16 bars: mapped bar for bar with the repeat
    expanded, the pickup not played again (its upbeat is bar 4's last beat), so the second pass starts on the
    score's bar 5 (beat 17: V2, the chord of bar 1) -- not a beat late as music21's expandRepeats lays it."""
    from music21 import converter

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import harmony_agreement as bench
    finally:
        sys.path.pop(0)
    base = bench.corpus_base() / "bach"
    onsets, classes, _, _, how, stop = bench.expert_timeline(base / "choraleAnalyses" / "riemenschneider015.rntxt",
                                                    converter.parse(base / "bwv277.mxl"))
    assert how == "repeats expanded, bar for bar" and onsets[-1] > 60 and np.all(np.diff(onsets) >= 0)
    assert len(classes) == len(onsets) and stop == 65.0                      # the score's 16 bars and the pickup
    assert classes[list(onsets).index(17.0)] == classes[list(onsets).index(1.0)]   # bar 5 = bar 1 played again


def _two_part_score(second_bar_of_alto):
    """Soprano and alto in 4/4, two bars each; the alto's second bar as given (a list of music21 notes/rests)."""
    from music21 import meter, note, stream

    score = stream.Score()
    for name, second in (("Soprano", [note.Note("C5", quarterLength=4)]), ("Alto", second_bar_of_alto)):
        part = stream.Part()
        part.partName = name
        first = stream.Measure(number=1)
        first.append([meter.TimeSignature("4/4"), note.Note("E4", quarterLength=4)])
        last = stream.Measure(number=2)
        last.append(second)
        third = stream.Measure(number=3)
        third.append(note.Note("G4", quarterLength=4))
        part.append([first, last, third])
        score.insert(0, part)
    return score


def test_a_whole_bar_rest_read_twice_is_cut_back_to_the_bar_and_the_parts_stay_in_time():
    from music21 import note

    from kel_plugin_music21_corpus.convert import one_bar_grid, score_notes

    score = _two_part_score([note.Rest(quarterLength=4), note.Rest(quarterLength=4)])   # 8 beats in a 4/4 bar
    assert [n[0] for n in score_notes(score)[1]["notes"]] == [0.0, 12.0]                  # drifted: G4 a bar late
    assert one_bar_grid(score) == ["bar 2 of Alto: rests past 4 beats removed"]
    soprano, alto = score_notes(score)
    assert [n[0] for n in soprano["notes"]] == [0.0, 4.0, 8.0] and [n[0] for n in alto["notes"]] == [0.0, 8.0]


def test_a_note_past_the_bar_is_not_repaired_the_piece_is_refused():
    from music21 import note

    from kel_plugin_music21_corpus.convert import BarGridError, one_bar_grid

    score = _two_part_score([note.Rest(quarterLength=4), note.Note("A4", quarterLength=4)])
    with pytest.raises(BarGridError, match="bar 2 is 8 beats long in Alto, 4 in another part|bar 2 is 4 beats long"
                                           " in Soprano, 8 in another part"):
        one_bar_grid(score)


@pytest.mark.parametrize("piece", ["madrigal.3.2", "madrigal.5.3"])
def test_monteverdi_madrigals_music21_misreads_are_converted_on_one_bar_grid(tmp_path, piece):
    """music21 reads whole-bar rests twice in these madrigals: the MIDI has every part on the score's bar grid."""
    from kel_plugin_music21_corpus.dataset import convert_source, corpus_dir

    source = corpus_dir() / "monteverdi" / f"{piece}.mxl"
    [entry] = convert_source(("monteverdi", str(source), str(tmp_path), None))
    assert "problem" not in entry and entry["repaired"]
    song = load_song(tmp_path / entry["midi"])
    ends = [float(p.onset[-1] + p.duration[-1]) for p in song.pitched()]
    assert max(ends) - min(ends) <= 4.0                   # the voices end together, not bars apart


def test_tune_grouping_on_a_sample_of_the_patterns_still_joins_copies_and_keeps_other_tunes_apart(monkeypatch):
    """Past the pattern budget only a consistent sample of the patterns is kept (full-size Lakh): the same tune,
    transposed and with one note changed, still joins; unrelated random tunes do not."""
    import kel_midi_features.tunes as tunes

    rng = np.random.default_rng(1)
    melodies = [60 + np.cumsum(rng.integers(-5, 6, 120)) for _ in range(40)]
    twin = melodies[3] + 5
    twin[60] += 1
    melodies.append(twin)
    exact = tunes.group_by_tune(melodies)
    monkeypatch.setattr(tunes, "PATTERN_BUDGET", 1_000)            # ~4,700 patterns in all: a 1/8 sample
    assert tunes._sample_bits(melodies) == 3
    sampled = tunes.group_by_tune(melodies)
    for roots in (exact, sampled):
        assert roots[40] == roots[3] == 3 and len(set(roots)) == 40


def test_a_refused_score_is_counted_as_unsupported_with_its_reason(tmp_path):
    from kelcore.api import Track

    from kel_plugin_music21_corpus.dataset import DRIFTING

    reason = f"{DRIFTING}: bar 2 is 8 beats long in Alto (notes past 4), 4 in another part"
    for task in ("melody", "harmony"):
        result = extract(Track("x", tmp_path / "x.mxl", "x", labels=reason), {"task": task})
        assert result.kind == "unsupported" and result.reason == reason
    assert extract(Track("y", tmp_path / "y.mxl", "y", labels="music21 could not parse it: X"),
                   {"task": "melody"}).kind == "corrupt"


def test_the_chorales_collection_refuses_bach_files_that_are_not_chorales(tmp_path):
    """music21's bach folder holds the Well-Tempered Clavier's C major prelude (bwv846, two piano staves) beside
    the chorales: counted as refused, with its parts named, and never a melody to train on."""
    from kel_plugin_music21_corpus.dataset import NOT_A_CHORALE

    index = materialise(tmp_path, ["chorales"], workers=1, files=["bwv846", "bwv1.6"])
    problems = {p["id"]: p.get("problem") for p in index["pieces"]}
    assert problems == {"chorales/bwv1.6": None, "chorales/bwv846": f"{NOT_A_CHORALE}: parts Piano, Piano"}
    dataset = Music21CorpusDataset(Music21CorpusDataset.Options(root=tmp_path, files=["bwv846", "bwv1.6"],
                                                                cache_dir=tmp_path / "c", workers=1))
    report = dataset.prepare(RunContext(run_dir=tmp_path / "run", seed=0, job="t")).report
    assert report.usable == 1 and report.unsupported == 1
