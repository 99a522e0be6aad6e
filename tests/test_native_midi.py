"""The MIDI feature contracts in C++ (kel_contracts/native/KelMidiFeatures.h, through
kel_runtime/native/drivers/midi_driver.cpp) against the Python training features, element by element, with no heap allocation while streaming; focused tests
of the Python features (tempo map, bar map, causal dynamics, kick 35); and the one definition of time (training's
times are the grid ticks a plugin computes from its host's ppq; kel::timing equals kel_contracts.timing; tempo per
block against the file's tempo map, benchmarks/tempo_per_block.py)."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import mido
import numpy as np
import pytest

import kel_contracts
from conftest import SHARED, build_cxx
from kel_contracts import dynamics as DYN
from kel_contracts import groove as GRV
from kel_contracts import melody as MEL
from kel_midi_features import (dynamics_features, groove_features, harmony_features, harmony_steps,
                                      load_song, melody_features)
from kel_runtime import native_dir as runtime_dir
from kel_runtime.midi_parity import build_midi_driver, compare_midi

REAL = SHARED / "data" / "real"
TOLERANCE = 1e-6
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed: cannot build the driver")
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real is not present in this checkout")
M, D = MEL.INPUTS.offsets(), DYN.INPUTS.offsets()


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: cannot build the driver")
    return build_midi_driver(tmp_path_factory.mktemp("build"))


def assert_matches(driver: Path, paths: list[Path], expect: set[str]) -> dict[str, float]:
    """Every applicable model of every file within TOLERANCE and allocation-free; returns the worst per model."""
    worst: dict[str, float] = {}
    for path in paths:
        for model, result in compare_midi(driver, path).items():
            if "skipped" in result:
                continue
            assert "error" not in result, (path, model, result)
            assert result["worst"] <= TOLERANCE, (path, model, result)
            assert result["allocations"] == 0 and result["dropped"] == 0, (path, model, result)
            worst[model] = max(worst.get(model, 0.0), result["worst"])
    assert expect <= set(worst), f"compared {sorted(worst)}, expected at least {sorted(expect)}"
    return worst


# ----------------------------------------------------------------------------- a file with tempo and metre changes
def _track(events: list[tuple[float, int, mido.Message]]) -> mido.MidiTrack:
    track, now = mido.MidiTrack(), 0
    for beat, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        tick = int(round(beat * 480))
        track.append(message.copy(time=tick - now))
        now = tick
    return track


def _notes(channel: int, notes: list[tuple[float, float, int, int]], extra=()) -> list:
    events = [(t, 1, m) for t, m in extra]
    for onset, duration, pitch, velocity in notes:
        events.append((onset, 2, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((onset + duration, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    return events


def changing_song(path: Path) -> Path:
    """Tempo changes (off the bar lines, two at one time), time-signature changes (one cutting a 4/4 bar short,
    two at one time, 6/8, 5/4, 7/8), chords straddling a bar line, a sustain pedal, drums with notes 35 and 36."""
    midi = mido.MidiFile(ticks_per_beat=480)
    meta = [(0.0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(96))),
            (5.25, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150))),
            (13.0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(80))),
            (13.0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(132))),
            (6.0, 0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
            (12.0, 0, mido.MetaMessage("time_signature", numerator=2, denominator=4)),
            (12.0, 0, mido.MetaMessage("time_signature", numerator=6, denominator=8)),
            (21.0, 0, mido.MetaMessage("time_signature", numerator=5, denominator=4)),
            (41.0, 0, mido.MetaMessage("time_signature", numerator=7, denominator=8))]
    midi.tracks.append(_track(meta))
    rng = np.random.default_rng(7)
    melody, chords, t = [], [], 0.0
    while t < 60:
        duration = float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.5]))
        played = max(t + float(rng.normal(0, 0.04)), 0.0)                  # off the grid: rounding matters
        melody.append((played, duration * 0.9, int(rng.integers(64, 84)), int(rng.integers(40, 120))))
        t += duration + (1.5 if rng.random() < 0.08 else 0.0)
    for onset in np.arange(0, 60, 1.5):
        straddle = -0.02 if int(onset) % 4 == 0 and onset > 0 else 0.0     # 1/50 beat early: same onset group
        chords += [(onset + straddle, 1.2, 48 + k, 60) for k in (0, 4, 7)] + [(onset + 0.01, 1.0, 55, 50)]
    pedal = [(b, mido.Message("control_change", channel=1, control=64, value=v))
             for b, v in ((0.0, 127), (7.9, 0), (8.0, 100), (20.0, 10), (33.3, 64), (45.0, 63))]
    midi.tracks.append(_track([(0.0, 0, mido.MetaMessage("track_name", name="Lead"))] + _notes(0, melody)))
    midi.tracks.append(_track([(0.0, 0, mido.MetaMessage("track_name", name="Piano"))] + _notes(1, chords, pedal)))
    drums = [(b + s / 4 + float(rng.normal(0, 0.05)) + 0.1, 0.1, p, 90)
             for b in range(0, 60, 4) for s, p in ((0, 35), (4, 38), (8, 36), (12, 42), (15.7, 46))]
    midi.tracks.append(_track(_notes(9, drums)))
    midi.save(path)
    return path


@needs_gxx
def test_changing_tempo_and_metre_matches(driver, tmp_path):
    path = changing_song(tmp_path / "changes.mid")
    song = load_song(path)
    assert list(song.bar_map.start) == [0.0, 6.0, 12.0, 21.0, 41.0] and song.bar_map.length[2] == 3.0
    assert len(song.tempo_qpm) == 4
    assert_matches(driver, [path], {"MelodyTransformer", "HarmonyPredictor", "DynamicsEngine", "GroovePredictor"})


# ----------------------------------------------------------------------------- real and demo corpora
@needs_gxx
@needs_real
def test_real_groove_performances_match(driver):
    paths = sorted((REAL / "groove").rglob("*.mid"))
    assert len(paths) == 9
    assert_matches(driver, paths, {"GroovePredictor"})


@needs_gxx
@needs_real
def test_real_lakh_songs_match(driver):
    paths = sorted((REAL / "lakh").rglob("*.mid"))
    assert len(paths) == 2
    assert_matches(driver, paths, {"MelodyTransformer", "HarmonyPredictor", "DynamicsEngine", "GroovePredictor"})


@needs_gxx
def test_demo_corpora_match(driver, tmp_path):
    from kel_plugin_groove_midi import GrooveMidiDataset
    from kel_plugin_lakh import LakhDataset
    from kel_plugin_maestro import MaestroDataset

    LakhDataset.write_demo(tmp_path / "lakh", seed=0, songs=4)
    MaestroDataset.write_demo(tmp_path / "maestro", seed=0, pieces=3)
    GrooveMidiDataset.write_demo(tmp_path / "groove", seed=0)
    assert_matches(driver, sorted((tmp_path / "lakh").rglob("*.mid")),
                   {"MelodyTransformer", "HarmonyPredictor", "DynamicsEngine", "GroovePredictor"})
    assert_matches(driver, sorted((tmp_path / "maestro").rglob("*.midi")),
                   {"MelodyTransformer", "HarmonyPredictor", "DynamicsEngine"})
    assert_matches(driver, sorted((tmp_path / "groove").rglob("*.mid"))[:12], {"GroovePredictor"})


@needs_gxx
def test_driver_selftest_decoders_and_allocation_counter(driver):
    done = subprocess.run([str(driver), "--selftest"], capture_output=True, text=True)
    assert done.returncode == 0 and "selftest ok" in done.stdout, done.stdout + done.stderr


@needs_gxx
@pytest.mark.parametrize("flags", [["-O3", "-march=native"], ["-O0"]])
def test_header_is_warning_free(flags):
    native = kel_contracts.native_dir()
    build_cxx(runtime_dir() / "drivers" / "midi_driver.cpp",
              ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-Wshadow", *flags, f"-I{native}"],
              sorted(native.glob("*.h")), name=f"midi_driver{''.join(flags)}")


def test_build_is_cached_by_source_hash(tmp_path):
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    first = build_midi_driver(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert build_midi_driver(tmp_path) == first and first.stat().st_mtime_ns == stamp


# ----------------------------------------------------------------------------- v2 Python features
def simple_song(path: Path, tempos=(), signatures=(), notes=(), drums=()) -> Path:
    midi = mido.MidiFile(ticks_per_beat=480)
    meta = [(t, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(q))) for t, q in tempos]
    meta += [(t, 0, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in signatures]
    midi.tracks.append(_track(meta))
    midi.tracks.append(_track([(0.0, 0, mido.MetaMessage("track_name", name="melody"))] + _notes(0, list(notes))))
    if drums:
        midi.tracks.append(_track(_notes(9, list(drums))))
    midi.save(path)
    return path


def test_tempo_at_onset_follows_the_tempo_map(tmp_path):
    notes = [(float(i), 0.25 + 0.05 * i, 60 + i, 80) for i in range(12)]
    song = load_song(simple_song(tmp_path / "t.mid", tempos=[(2.0, 100), (7.5, 150)], notes=notes))
    assert list(song.tempo_at([0.0, 1.99, 2.0, 7.49, 7.5, 11.0])) == pytest.approx([120, 120, 100, 100, 150, 150])
    x, _ = melody_features(song)
    assert x[:, M["tempo"]] == pytest.approx([min(q / MEL.TEMPO_SCALE, 1) for q in [120] * 2 + [100] * 6 + [150] * 4])
    d, _ = dynamics_features(song)
    assert d[:, D["tempo"]] == pytest.approx([120] * 2 + [100] * 6 + [150] * 4)


def test_bar_map_follows_every_time_signature(tmp_path):
    notes = [(t, 0.25, 70, 80) for t in (0.0, 4.0, 5.0, 6.0, 7.0, 9.0, 10.75, 12.0, 13.5, 20.0)]
    signatures = [(6.0, 3, 4), (12.0, 2, 4), (12.0, 6, 8)]   # 4/4 cut short at 6; of two at 12 the last counts
    song = load_song(simple_song(tmp_path / "b.mid", signatures=signatures, notes=notes))
    index, start, length = song.bar_at(np.array([0.0, 5.0, 5.99, 6.0, 10.75, 12.0, 13.5, 20.0]))
    assert list(index) == [0, 1, 1, 2, 3, 4, 4, 6]
    assert list(start) == [0.0, 4.0, 4.0, 6.0, 9.0, 12.0, 12.0, 18.0]
    assert list(length) == [4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    x, _ = melody_features(song)
    positions = x[:, M["position"]:M["position"] + MEL.POSITIONS].argmax(axis=1)
    assert list(positions) == [0, 0, 4, 0, 4, 0, 7, 0, 6, 8]      # round(4 x beats since the bar start) mod 16
    starts, ends = song.bar_map.bars_before(song.end)
    assert list(starts[:6]) == [0.0, 4.0, 6.0, 9.0, 12.0, 15.0] and list(ends[:3]) == [4.0, 6.0, 9.0]
    inputs, _ = harmony_features(song)
    assert len(starts) == 7                    # bars starting before the end (20.25)
    assert len(inputs) == 4 + 2 + 5 * 3        # harmony contract 3: one step per beat of each bar
    step_start, step_end = harmony_steps(song)
    assert list(step_start[:7]) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and step_end[-1] == 21.0
    d, _ = dynamics_features(song)
    assert d[:, D["phrase_position"]][:4] == pytest.approx([0, 1 / 4, (1 + 0.25) / 4, 2 / 4])
    assert d[:, D["bar_position"]][[1, 2, 6]] == pytest.approx([0, 0.25, 1.75 / 3])


def test_a_pickup_written_as_a_short_bar_gives_short_steps(tmp_path):
    """A one-beat pickup (1/4, then 3/8): steps follow the bars, the last step of a 3/8 bar is half a beat."""
    notes = [(t, 0.5, 70, 80) for t in (0.0, 1.0, 1.5, 2.5, 3.0, 4.0, 5.5, 6.0, 7.0)]
    song = load_song(simple_song(tmp_path / "p.mid", signatures=[(0.0, 1, 4), (1.0, 3, 8)], notes=notes))
    start, end = harmony_steps(song)
    assert list(start[:5]) == [0.0, 1.0, 2.0, 2.5, 3.5] and list(end[:5]) == [1.0, 2.0, 2.5, 3.5, 4.0]


def test_no_time_signature_is_four_four(tmp_path):
    song = load_song(simple_song(tmp_path / "n.mid", notes=[(float(i), 0.5, 60, 80) for i in range(10)]))
    index, start, length = song.bar_at(np.array([3.9, 4.0, 9.0]))
    assert list(index) == [0, 1, 2] and list(start) == [0, 4, 8] and set(length) == {4.0}


def test_dynamics_is_causal(tmp_path):
    rng = np.random.default_rng(3)
    notes = [(round(float(t), 3), float(rng.choice([0.25, 0.5, 2.0])), int(p), 70)
             for t, p in zip(np.cumsum(rng.choice([0.0, 0.25, 0.5, 1.0, 2.5], 80)), rng.integers(40, 90, 80))]
    full = load_song(simple_song(tmp_path / "full.mid", notes=notes, tempos=[(0, 90), (30.0, 140)],
                                 signatures=[(10.0, 3, 4)]))
    last_onset = sorted(n[0] for n in notes)[50]
    head = [n for n in notes if n[0] < last_onset]
    part = load_song(simple_song(tmp_path / "head.mid", notes=head, tempos=[(0, 90), (30.0, 140)],
                                 signatures=[(10.0, 3, 4)]))
    a, _ = dynamics_features(full)
    b, _ = dynamics_features(part)
    assert np.array_equal(a[:len(b)], b)      # appending later notes changes no earlier note's features
    assert len(a) == 80 and 40 <= len(b) < 80


def test_dynamics_inputs_are_the_documented_ones(tmp_path):
    notes = [(0.0, 1.0, 60, 80), (0.0, 1.0, 64, 80), (1.0, 0.5, 67, 80), (3.0, 0.5, 65, 80), (3.5, 1.0, 62, 80),
             (4.0, 1.0, 60, 80), (4.25, 1.0, 72, 80), (6.0, 1.0, 48, 80), (6.0, 2.0, 55, 80)]
    d, _ = dynamics_features(load_song(simple_song(tmp_path / "d.mid", notes=notes)))
    log = lambda beats: np.log2(beats + DYN.DURATION_OFFSET)  # noqa: E731
    assert d[2, D["log_duration_previous"]] == pytest.approx(log(1.0))       # previous note's duration
    assert d[1, D["log_ioi_previous"]] == pytest.approx(log(0.0))           # chord: IOI 0
    assert d[:, D["density"]] == pytest.approx(np.array([2, 2, 3, 4, 5, 4, 5, 6, 6]) / DYN.DENSITY_BEATS)
    # the rest of 1.5 beats before beat 3 starts a phrase; the 0.5-beat gap before beat 6 does not
    assert d[:, D["since_rest"]] == pytest.approx(np.array([0, 0, 1, 0, 0.5, 1, 1.25, 3, 3]) / 16)
    assert list(d[:2, D["group_size"]]) == [2, 2] and list(d[:2, D["group_lowest"]]) == [1, 0]


def test_kick_35_is_a_kick(tmp_path):
    melody = [(float(i), 0.5, 70, 80) for i in range(8)]
    drums = [(0.0, 0.1, 35, 100), (1.0, 0.1, 36, 100), (2.0, 0.1, 38, 100), (3.96, 0.1, 35, 100)]
    song = load_song(simple_song(tmp_path / "k.mid", notes=melody, drums=drums))
    x, y = groove_features(song, 120.0)
    kick = GRV.CONTRACT.inputs.offsets()["hit_kick"]
    assert x[0, kick + 0] == 1 and x[0, kick + 4] == 1 and x[0, 16 + 8] == 1     # 35 and 36 kick, 38 snare
    assert x[1, kick + 0] == 1 and x.shape[0] == 2       # just before the bar line: the next bar's step 0
    assert GRV.drum_group_of(35) == 0


def test_feature_config_holds_the_contract_cache_key(tmp_path, monkeypatch):
    from kel_plugin_lakh import LakhDataset
    from kel_plugin_maestro import MaestroDataset
    from kel_plugin_groove_midi import GrooveMidiDataset
    from kelcore.data import config_digest

    lakh = LakhDataset(LakhDataset.Options(root=tmp_path, task="harmony"))
    maestro = MaestroDataset(MaestroDataset.Options(root=tmp_path, task="dynamics"))
    groove = GrooveMidiDataset(GrooveMidiDataset.Options(root=tmp_path))
    for dataset, model in ((lakh, "HarmonyPredictor"), (maestro, "DynamicsEngine"), (groove, "GroovePredictor")):
        config = dataset.feature_config()
        assert config["contract_key"] == kel_contracts.contract(model).cache_key() and config["task"] == dataset.task
    before = config_digest(lakh.feature_config())
    bumped = dataclasses.replace(kel_contracts.contract("HarmonyPredictor"), version="9.9.9")
    monkeypatch.setitem(kel_contracts.CONTRACTS, "HarmonyPredictor", bumped)
    assert config_digest(lakh.feature_config()) != before


def test_changed_contract_misses_the_feature_cache(tmp_path, monkeypatch):
    from kel_plugin_lakh import LakhDataset
    from kelcore.api import RunContext
    LakhDataset.write_demo(tmp_path / "lakh", seed=1, songs=6)
    options = LakhDataset.Options(root=tmp_path / "lakh", task="melody", cache_dir=tmp_path / "cache", workers=1)
    dataset = LakhDataset(options)
    dataset.prepare(RunContext(run_dir=tmp_path / "a", seed=0, job="test"))
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1
    bumped = dataclasses.replace(kel_contracts.contract("MelodyTransformer"), version="9.9.9")
    monkeypatch.setitem(kel_contracts.CONTRACTS, "MelodyTransformer", bumped)
    dataset.prepare(RunContext(run_dir=tmp_path / "b", seed=0, job="test"))
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 2


# ----------------------------------------------------------------------------- one definition of time
def _grid_ticks(file_ticks: list[int], resolution: int) -> list[int]:
    """The contract's time arithmetic written out independently: ppq = file tick / resolution (a double),
    grid tick = round-half-even(ppq x 960)."""
    return [round(t / resolution * 960) for t in file_ticks]


def _odd_resolution_song(path: Path) -> Path:
    """ticks_per_beat 384 (960 / 384 = 2.5: odd file ticks fall on half grid ticks) and notes at odd ticks."""
    midi = mido.MidiFile(ticks_per_beat=384)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    for i in range(40):
        track.append(mido.Message("note_on", note=60 + i % 12, velocity=80, time=1 + 2 * (i % 3)))
        track.append(mido.Message("note_off", note=60 + i % 12, velocity=0, time=97 + i))
    midi.save(path)
    return path


def test_training_times_are_what_a_plugin_computes_from_its_hosts_ppq(tmp_path):
    import symusic

    paths = [_odd_resolution_song(tmp_path / "odd.mid"), changing_song(tmp_path / "changes.mid")]
    paths += sorted((REAL / "lakh").rglob("*.mid")) if REAL.is_dir() else []
    for path in paths:
        score, song = symusic.Score(str(path), ttype="tick"), load_song(path)
        for track, part in zip(score.tracks, song.parts):
            on = _grid_ticks([n.time for n in track.notes], score.ticks_per_quarter)
            off = _grid_ticks([n.time + n.duration for n in track.notes], score.ticks_per_quarter)
            expected = sorted(((a / 960, (b - a) / 960, n.pitch) for a, b, n in zip(on, off, track.notes)),
                              key=lambda e: (e[0], e[2]))
            assert list(zip(part.onset.tolist(), part.duration.tolist(), part.pitch.tolist())) == expected, path
        tempo = _grid_ticks([t.time for t in score.tempos if t.mspq > 0], score.ticks_per_quarter)
        assert set(song.tempo_times.tolist()) <= {t / 960 for t in tempo}, path.name
    odd = load_song(paths[0])
    assert odd.parts[0].onset[0] == round(1 / 384 * 960) / 960 == 2 / 960      # 2.5 ticks: half to even


TIMING_PROBE = r"""
#include "KelMidiFeatures.h"
#include <cstdio>
#include <cstdlib>
int main() {
    char a[7][64];
    while (std::scanf("%63s %63s %63s %63s %63s %63s %63s", a[0], a[1], a[2], a[3], a[4], a[5], a[6]) == 7) {
        double v[7];
        for (int i = 0; i < 7; ++i)
            v[i] = std::strtod(a[i], nullptr);
        const double ppq = v[0], offset = v[1], qpm = v[2], rate = v[3], nextPpq = v[5], nextQpm = v[6];
        const int frames = static_cast<int>(v[4]);
        const double at = kel::timing::ppqAtOffset(ppq, offset, qpm, rate);
        const kel::NoteEvent note = kel::noteFromTicks(60, kel::timing::ticksFromPpq(ppq),
                                                       kel::timing::ticksFromPpq(at), 90);
        kel::timing::ResolvedBlock block;
        block.ppq = ppq;
        block.qpm = qpm;
        block.change = kel::timing::tempoChangeOffset(ppq, qpm, frames, nextPpq, nextQpm, rate);
        block.nextQpm = nextQpm;
        block.sampleRate = rate;
        std::printf("%lld %a %lld %a %a %a %a %a %a\n", static_cast<long long>(kel::timing::ticksFromPpq(ppq)),
                    kel::timing::beatsFromTicks(kel::timing::ticksFromPpq(ppq)),
                    static_cast<long long>(kel::timing::ticksFromPpq(at)), at, note.durationBeats,
                    kel::timing::qpmFromMicroseconds(qpm * 1000.0), block.change, block.ppqAt(offset),
                    block.qpmAt(offset));
    }
    return 0;
}
"""


@needs_gxx
def test_cpp_time_arithmetic_is_trainings_bit_for_bit(tmp_path):
    """kel::timing (ticksFromPpq, beatsFromTicks, ppqAtOffset, noteFromTicks, qpmFromMicroseconds,
    tempoChangeOffset, ResolvedBlock) against kel_contracts.timing on half-tick positions, file resolutions, sample
    offsets, tempi and blocks with one tempo change, which the next block's play head gives back exactly."""
    from kel_contracts import timing

    native = kel_contracts.native_dir()
    (tmp_path / "probe.cpp").write_text(TIMING_PROBE)
    probe = build_cxx(tmp_path / "probe.cpp", ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
                                               f"-I{native}"], sorted(native.glob("*.h")))
    rng = np.random.default_rng(0)
    n = 4000
    resolution = rng.choice([96, 192, 384, 480, 960, 1024, 220], n)
    ppq = np.concatenate([rng.integers(0, 200_000, n // 2) / resolution[: n // 2],        # file positions
                          (rng.integers(0, 400_000, n // 2) + 0.5) / 960])                 # exact half ticks
    frames = rng.choice([1, 37, 64, 480, 4096], n).astype(np.float64)
    offset = np.floor(rng.uniform(0, 1, n) * frames)
    qpm = rng.uniform(20, 400, n)
    rate = rng.choice([44100.0, 48000.0, 96000.0], n)
    changed = rng.random(n) < 0.7                      # a tempo change at sample `true_change` of the block
    next_qpm = np.where(changed, rng.uniform(20, 400, n), qpm)
    true_change = np.where(changed, np.floor(rng.uniform(0, 1, n) * frames), frames)
    next_ppq = ppq + (true_change * qpm + (frames - true_change) * next_qpm) / 60 / rate
    columns = (ppq, offset, qpm, rate, frames, next_ppq, next_qpm)
    lines = "\n".join(" ".join(float(c).hex() for c in row) for row in zip(*columns))
    run = subprocess.run([str(probe)], input=lines + "\n", capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines()]
    assert len(rows) == n

    def column(i: int) -> list[float]:
        return [float.fromhex(r[i]) for r in rows]

    at = timing.ppq_at_offset(ppq, offset, qpm, rate)
    longest = timing.ticks(timing.MAX_NOTE_BEATS)
    assert [int(r[0]) for r in rows] == timing.ticks(ppq).tolist()
    assert column(1) == timing.beats(timing.ticks(ppq)).tolist()
    assert [int(r[2]) for r in rows] == timing.ticks(at).tolist()
    assert column(3) == at.tolist()
    assert column(4) == timing.beats(np.minimum(timing.ticks(at) - timing.ticks(ppq), longest)).tolist()
    assert column(5) == timing.qpm_of(qpm * 1000.0).tolist()
    change = timing.tempo_change_offset(ppq, qpm, frames, next_ppq, next_qpm, rate)
    resolved_ppq, resolved_qpm = timing.ppq_in_resolved_block(ppq, qpm, offset, change, next_qpm, rate)
    assert column(6) == change.tolist()
    assert column(7) == resolved_ppq.tolist() and column(8) == resolved_qpm.tolist()
    recovered = np.mean(change == true_change)
    assert recovered > 0.99, recovered            # one change per block comes back from the next play head
    truth = np.where(offset < true_change, at, ppq + (true_change * qpm + (offset - true_change) * next_qpm) / 60
                     / rate)
    assert np.mean(timing.ticks(resolved_ppq) == timing.ticks(truth)) > 0.99


def test_hand_written_headers_state_no_contract_version_of_their_own():
    """Versions live in KelContracts.h (generated); a version number typed into a header goes stale."""
    import re

    native = kel_contracts.native_dir()
    for header in sorted(native.glob("*.h")):
        if header.name == "KelContracts.h":
            continue
        assert not re.search(r"\b\d+\.\d+\.\d+\b", header.read_text()), header.name


@needs_real
def test_tempo_per_block_measurement_on_the_file_with_the_most_tempo_changes():
    """benchmarks/tempo_per_block.py --quick: on the real file with 65 tempo changes and on the tempo/metre ramp,
    every input equals training's with 1-frame blocks and, at every block size, when each block's tempo change is
    recovered from the next block's play head (kel::timing::ResolvedBlock); the block-start tempo alone drifts."""
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "tempo_per_block.py"
    done = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.split() and line.split()[0].endswith(".mid")]
    assert {r[0] for r in rows} >= {"ramp_48_tempi_4_metres.mid"} and len({r[0] for r in rows}) == 2
    assert sorted({int(r[3]) for r in rows}) == [1, 64, 480, 4096] and {r[4] for r in rows} == {"block", "next"}
    for row in rows:
        cells = [c for c in row[6:] if "/" in c]
        if int(row[3]) == 1 or row[4] == "next":      # every input equal to training's
            assert row[5].startswith("0/") and all(c.startswith("0/") for c in cells), row
    lakh_4096 = next(r for r in rows if int(r[1]) >= 50 and int(r[3]) == 4096 and r[4] == "block")
    assert any(not c.startswith("0/") for c in lakh_4096[6:] if "/" in c), lakh_4096   # block tempo alone drifts
