"""MelodyTransformer's transposition augmentation, proved on real chorales against the real feature code, and a short
real training with it. Small selections only: the file runs in well under 30 s."""
from __future__ import annotations

import math

import mido
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.runs_long(19)  # see conftest.pytest_collection_modifyitems

pytest.importorskip("music21")

import kel_plugin_melody.model as melody_model
from kel_contracts import melody as MEL
from kel_midi_features import load_song, melody_features
from kel_plugin_melody import MelodyTransformer
from kel_plugin_melody.model import contract_encoded, draw_shifts, transpose_inputs, untranspose_outputs
from kel_plugin_music21_corpus import Music21CorpusDataset
from kel_plugin_music21_corpus.dataset import materialise
from kelcore.api import ExportContext, RunContext, build_model
from kelcore.plugins import get_registry
from kelcore.training.default import DefaultTrainer, DefaultTrainerOptions

PIECES = 6
SHIFTS = (-7, -5, -1, 1, 2, 6)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("m21")
    index = materialise(root, ["chorales"], max_pieces=PIECES, workers=1)
    return root, [root / piece["midi"] for piece in index["pieces"]]


def transposed_file(path, shift, out):
    """The MIDI file with every pitched note moved by ``shift`` semitones (drums, channel 10, stay)."""
    midi = mido.MidiFile(path)
    for track in midi.tracks:
        for index, message in enumerate(track):
            if message.type in ("note_on", "note_off") and message.channel != 9:
                track[index] = message.copy(note=message.note + shift)
    midi.save(out)
    return out


def test_augmented_inputs_equal_the_features_of_the_transposed_file(corpus, tmp_path):
    _, paths = corpus
    offsets = MEL.INPUTS.offsets()
    tonics = set()
    for path in paths:
        x, y = melody_features(load_song(path))
        tonics.add(int(x[0, offsets["key"]:offsets["key"] + 12].argmax()))
        for shift in SHIFTS:
            xt, yt = melody_features(load_song(transposed_file(path, shift, tmp_path / f"{path.stem}{shift}.mid")))
            assert np.array_equal(yt, y + shift)                        # the target moves with the file
            augmented = transpose_inputs(torch.from_numpy(x), shift).numpy()
            assert np.array_equal(augmented, xt), (path.name, shift, np.argwhere(augmented != xt)[:5])
            assert not np.array_equal(augmented, x)                     # and the inputs really changed
            back = transpose_inputs(torch.from_numpy(xt), -shift).numpy()
            assert np.array_equal(back, x)
    assert len(tonics) > 1      # the pieces are in several keys: the key rotation is exercised, not one fixed key


def test_training_forward_is_the_model_run_on_the_transposed_file(corpus, tmp_path, monkeypatch):
    """With a fixed shift, the training-mode output (moved back) is the eval-mode model on the transposed file's
    features: the loss against the original target is the loss of the transposed melody against its own."""
    _, paths = corpus
    model = build_model(MelodyTransformer, MelodyTransformer.Options(transpose=6, dropout=0.0), seed=0)  # no noise
    for path, shift in zip(paths[:3], (5, -4, 6)):
        x, y = melody_features(load_song(path))
        xt, yt = melody_features(load_song(transposed_file(path, shift, tmp_path / f"{path.stem}.mid")))
        monkeypatch.setattr(melody_model, "draw_shifts", lambda x, limit, check=True, s=shift: torch.tensor([s]))
        model.train()
        augmented = model(torch.from_numpy(x)[None])[0]
        model.eval()
        with torch.no_grad():
            plain = model(torch.from_numpy(xt)[None])[0]
        moved = plain[:, max(shift, 0):128 + min(shift, 0)]                 # pitches p + shift within 0..127
        assert torch.allclose(augmented[:, max(-shift, 0):128 + min(-shift, 0)], moved, atol=1e-6)
        model.train()
        loss = model.loss(augmented.detach(), torch.from_numpy(y))
        assert loss.item() == pytest.approx(model.loss(plain, torch.from_numpy(yt)).item(), abs=1e-5)


def test_shifts_keep_every_pitch_in_range_and_padding_passes():
    x = torch.zeros(3, 4, 64)
    x[..., MEL.INPUTS.offsets()["key"]] = 1
    pc, octave = MEL.INPUTS.offsets()["prev_pitch_class"], MEL.INPUTS.offsets()["prev_octave"]
    for row, pitch in ((0, 125), (1, 2)):                         # near the top, near the bottom
        x[row, 1:, pc + pitch % 12] = 1
        x[row, 1:, octave + pitch // 12] = 1
    x[2, 2:] = 0                                                  # a padded tail (all zero), no previous pitch
    assert contract_encoded(x) and not contract_encoded(torch.randn(2, 3, 64))
    generator = torch.Generator().manual_seed(0)
    shifts = torch.stack([draw_shifts(x, 6, generator) for _ in range(300)])
    assert shifts[:, 0].max() == 2 and shifts[:, 0].min() == -6
    assert shifts[:, 1].min() == -2 and shifts[:, 1].max() == 6
    assert set(shifts[:, 2].tolist()) == set(range(-6, 7))
    y = torch.softmax(torch.randn(3, 4, 128), -1)
    shift = torch.tensor([2, -2, 5])
    assert torch.equal(untranspose_outputs(untranspose_outputs(y, shift), -shift), y)


def test_a_short_real_training_with_transposition_exports_exactly(corpus, tmp_path, monkeypatch):
    root, _ = corpus
    options = Music21CorpusDataset.Options(root=root, task="melody", max_pieces=PIECES, cache_dir=tmp_path / "c",
                                           workers=1)
    context = RunContext(run_dir=tmp_path / "run", seed=0, job="melody")
    data = Music21CorpusDataset(options).prepare(context)
    drawn = []

    def recording(x, limit, check=True):
        shifts = draw_shifts(x, limit, check=check)
        drawn.extend(shifts.tolist())
        return shifts

    monkeypatch.setattr(melody_model, "draw_shifts", recording)
    model = build_model(MelodyTransformer, MelodyTransformer.Options(transpose=6, dropout=0.3), seed=0)
    trainer = DefaultTrainer(DefaultTrainerOptions(epochs=2, window=16, batch_size=8, learning_rate=0.003,
                                                   device="cpu", tensorboard=False, keep_best=0))
    result = trainer.fit(model, data, context)
    assert result.epochs == 2 and math.isfinite(result.test_metrics["bits_per_note"])
    assert len(set(drawn)) > 5 and min(drawn) >= -6 and max(drawn) <= 6      # the windows were transposed
    exporter = get_registry().get("exporters", "rtneural").obj()
    model.train()                                                      # the exporter compares the eval-mode model
    exported = exporter.export(model, tmp_path / "MelodyTransformer.json",
                               ExportContext(normalization={"mean": [0.0] * 64, "std": [1.0] * 64}))
    assert exported.max_abs_error <= exporter.tolerance


def _melody_real():
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import melody_real
    finally:
        sys.path.pop(0)
    return melody_real


def test_cross_validation_folds_keep_every_tune_group_whole_and_balance_the_notes():
    from kelcore.api import Sequence

    bench = _melody_real()
    rng = np.random.default_rng(0)
    sequences = [Sequence(f"t{i}", np.zeros((int(rng.integers(20, 80)), 4), np.float32),
                          np.zeros((1, 1), np.float32), f"g{i // 3 if i < 30 else i}") for i in range(70)]
    folds = bench.group_folds(sequences, 10, seed=0)
    assert sorted(i for fold in folds for i in fold) == list(range(70))          # every tune tested exactly once
    fold_of = {i: k for k, fold in enumerate(folds) for i in fold}
    for group in {s.group for s in sequences}:
        assert len({fold_of[i] for i, s in enumerate(sequences) if s.group == group}) == 1
    notes = [sum(len(sequences[i].inputs) for i in fold) for fold in folds]
    assert max(notes) - min(notes) <= 80                                        # balanced within one tune


def test_the_past_notes_key_uses_only_the_notes_before_each_step(corpus):
    bench = _melody_real()
    offsets = MEL.INPUTS.offsets()
    _, paths = corpus
    from kelcore.api import Sequence

    x, y = melody_features(load_song(paths[0]))
    original = bench.past_notes_key(Sequence("a", x, y, "a"))
    changed = x.copy()
    later = len(x) // 2
    changed[later:, offsets["prev_pitch_class"]:offsets["prev_pitch_class"] + 12] = np.roll(
        changed[later:, offsets["prev_pitch_class"]:offsets["prev_pitch_class"] + 12], 6, axis=1)   # another future
    moved = bench.past_notes_key(Sequence("b", changed, y, "b"))
    key = slice(offsets["key"], offsets["key"] + 12)
    assert np.array_equal(original.inputs[:later, key], moved.inputs[:later, key])   # the past decides, only it
    assert not np.array_equal(original.inputs[:, key], moved.inputs[:, key])
    whole_piece_tonic = int(x[0, key].argmax())
    assert int(original.inputs[-1, key].argmax()) == whole_piece_tonic               # by the end: the piece's key


def test_melody_real_quick_cross_validation_prints_the_protocol_and_the_published_figures(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "melody_real.py"), "--quick", "--cv-corpus",
                           "chorales", "--folds", "3", "--max-pieces", "9", "--root", str(tmp_path / "m21")],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "3 folds over tune groups" in out and all(out.count(f"fold  {k}/3") == 2 for k in (1, 2, 3))
    assert "key as the plugin supplies it" in out and "key estimated from past notes only" in out
    assert "95 % interval" in out and "baseline bigram" in out and "IDyOM 1.911" in out


def _tune(name: str, group: str, melody) -> "Sequence":
    from kelcore.api import Sequence

    melody = np.asarray(melody, np.float32)
    return Sequence(name, np.zeros((len(melody), 4), np.float32), melody[:, None], group)


def test_extra_pieces_never_share_a_tune_group_with_the_folds_test_or_validation_pieces():
    """Extra training pieces in the same group as a test or validation piece (by the dataset's group id, or by
    melody under another id: the same hymn tune elsewhere) are left out of that fold, and only of that fold."""
    bench = _melody_real()
    rng = np.random.default_rng(1)
    melodies = [60 + rng.integers(-7, 8, 40).cumsum() % 24 for _ in range(12)]
    corpus = [_tune(f"chorales/bwv{300 + i}", f"g{i}", melodies[i]) for i in range(12)]
    split = bench.group_folds(corpus, 4, seed=0)
    extra = [_tune("chorales/bwv1.6", corpus[split[0][0]].group, 60 + rng.integers(-7, 8, 40).cumsum() % 24),
             _tune("chorales/bwv2.6", "other", melodies[split[1][0]]),       # a validation tune under another id
             _tune("chorales/bwv3.6", "new", 60 + rng.integers(-7, 8, 40).cumsum() % 24)]
    train, kept, valid, test = bench.fold_sets(corpus, split, 0, extra)
    assert [s.track_id for s in kept] == ["chorales/bwv3.6"]
    assert {s.track_id for s in test} == {corpus[i].track_id for i in split[0]}
    assert {s.track_id for s in valid} == {corpus[i].track_id for i in split[1]}
    assert len(train) == 12 - len(test) - len(valid)
    _, kept, _, _ = bench.fold_sets(corpus, split, 2, extra)                 # another fold: all three train
    assert len(kept) == 3
    train, kept, valid, test = bench.fold_sets(corpus, split, 0, extra, validation="extra")
    assert len(train) == 12 - len(test) and [s.track_id for s in valid] == ["chorales/bwv3.6"]  # no corpus twin
    assert [s.track_id for s in kept] == ["chorales/bwv2.6"]      # its twin trains now: no longer held out


@pytest.fixture(scope="module")
def cv_extra_root(tmp_path_factory):
    return tmp_path_factory.mktemp("m21-cv-extra")


@pytest.mark.parametrize("options", [[], ["--cv-validation", "extra", "--finetune-lr", "0.001"]],
                         ids=["validation-corpus", "validation-extra-finetuned"])
def test_melody_real_quick_cv_extra_trains_on_the_other_chorales_without_leaking_a_tune(cv_extra_root, tmp_path,
                                                                                         options):
    import json
    import subprocess
    import sys

    from conftest import REPO

    bench = _melody_real()
    save = tmp_path / "folds.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "melody_real.py"), "--quick", "--cv-corpus",
                           "idyom185", "--cv-extra", "chorales-outside", "--folds", "3", "--max-pieces", "9",
                           "--keys", "plugin", "--root", str(cv_extra_root), "--save-folds", str(save), *options],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "extra training data: chorales-outside: 9 tunes" in done.stdout
    assert ("validation from the extra" in done.stdout) == bool(options)
    assert ("fine-tuned: best epoch" in done.stdout) == bool(options)
    inside = set(bench.idyom_chorales())
    rows = json.loads((tmp_path / "folds-plugin.json").read_text())
    assert sorted(row["fold"] for row in rows) == [0, 1, 2]
    tested = [piece for row in rows for piece, _ in row["pieces"]["test"]]
    assert len(tested) == len(set(tested)) == 9 and all(p.split("/")[1] in inside for p in tested)
    for row in rows:
        held = {group for side in ("test", "validation") for _, group in row["pieces"][side]}
        extra = row["pieces"]["extra"]
        assert extra and all(piece.split("/")[1] not in inside for piece, _ in extra)   # BWV 253-438 never extra
        assert not held & {group for _, group in extra}                                 # no leaked tune group
        if options:     # validation from extra pieces, none of them in training as well
            validation = {p for p, _ in row["pieces"]["validation"]}
            assert validation and not {p.split("/")[1] for p in validation} & inside
            assert not validation & {p for p, _ in extra}


def test_pretraining_outside_the_corpus_leaves_out_its_tunes_and_every_fold_starts_from_its_weights(tmp_path,
                                                                                                    monkeypatch):
    """--cv-pretrain: the pretraining tunes lose every tune of the corpus's tune groups (here a corpus melody under
    another collection's group id), the model trains, and a fold's training starts from exactly its weights."""
    from kelcore.api import PreparedData, Sequence

    bench = _melody_real()
    rng = np.random.default_rng(3)
    width = melody_model.SPEC.input_size

    def tune(name: str, group: str, melody) -> Sequence:
        melody = np.asarray(melody, np.float32)
        return Sequence(name, rng.random((len(melody), width)).astype(np.float32), melody[:, None], group)

    melodies = [60 + rng.integers(-5, 6, 30).cumsum() % 24 for _ in range(26)]
    corpus = [tune(f"chorales/bwv{300 + i}", f"chorales/g{i}", melodies[i]) for i in range(6)]
    outside = [tune(f"essen/t{i}", f"essen/g{i}", melodies[i]) for i in range(6, 26)]
    outside.append(tune("essen/twin", "essen/twin", melodies[0]))     # a corpus tune in another collection
    seen: list[tuple[list[str], dict]] = []

    class Recording(bench.DefaultTrainer):
        def fit(self, model, data, context):
            seen.append(([s.track_id for s in data.train + data.validation],
                         {k: v.detach().clone() for k, v in model.state_dict().items()}))
            return super().fit(model, data, context)

    monkeypatch.setattr(bench, "DefaultTrainer", Recording)
    options = bench.DefaultTrainerOptions(epochs=1, window=8, batch_size=4, device="cpu", tensorboard=False,
                                          keep_best=0)
    model_options = MelodyTransformer.Options()
    data = PreparedData(corpus, [], [])
    state, line = bench.pretrain_outside(outside, corpus, data, model_options, options, 1, 0, tmp_path / "pre")
    assert "1 left out" in line and "pretrained on" in line
    assert "essen/twin" not in seen[0][0] and len(seen[0][0]) == 20 and not any("chorales" in t for t in seen[0][0])
    fresh = bench.build_model(MelodyTransformer, model_options, seed=0).state_dict()
    assert any(not torch.equal(state[k], fresh[k]) for k in state)                      # it trained
    job = (0, corpus[:4], [], 0, corpus[4:5], corpus[5:], {}, None, model_options, options, 0, tmp_path / "fold",
           None, state)
    bench._train_fold(job)
    assert all(torch.equal(seen[1][1][k], state[k]) for k in state)     # the fold started from the pretrained weights
