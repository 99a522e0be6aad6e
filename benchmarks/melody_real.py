"""MelodyTransformer on REAL melodies (music21's corpus: Bach chorales, folk tunes), in bits per note against the
bigram baseline, with the learning curve and the numbers that explain it.

The data comes through the music21corpus dataset plugin exactly as in a pipeline (split by tune group, seed 0);
training is kelcore's default trainer with the given options. Printed: the test split's bits per note and top-1 of
the model and of the bigram baseline, the best epoch, the learning curve (training loss with the training-time
regularisers, validation NLL), and diagnostics: the training split's NLL in eval mode (whole tunes, as validation is
run) against validation, validation bits by position in the tune (is the state past the training window worse?),
and how many validation/test tunes share 8-note patterns with training tunes (near duplicates across the split).

    python benchmarks/melody_real.py --root /tmp/m21-chorales --cache-dir /tmp/m21-cache         # all chorales
    python benchmarks/melody_real.py --collections folk --root /tmp/m21-folk --cache-dir /tmp/m21-cache
    python benchmarks/melody_real.py ... --set transpose=0 --set dropout=0 --set epochs=40          # other settings
    python benchmarks/melody_real.py ... --extra folk --extra-root /tmp/m21-folk   # + the folk tunes in training
    python benchmarks/melody_real.py --quick        # 24 chorales, 2 epochs: the test runs this

The field's protocol (Pearce 2005): k-fold cross-validation over tune groups, every piece tested once, bits per note
over all test notes with a 95 % interval (pieces resampled), top-1 and the bigram baseline per fold, with the key as
the plugin supplies it (the piece's) and estimated from past notes only, the published figures beside them:

    python benchmarks/melody_real.py --cv-corpus idyom185 --root /tmp/m21-chorales     # BWV 253-438, 10 folds
    python benchmarks/melody_real.py --cv-corpus chorales --root /tmp/m21-chorales     # all 409 chorales
    python benchmarks/melody_real.py --cv-corpus essen:kinder0 --root /tmp/m21-kinder  # one Essen set (213 tunes)
    ... --jobs 3 (folds in parallel processes) --only-folds 0 1 --save-folds f.json; --combine f-*.json (pool runs)
    python benchmarks/melody_real.py --cv-corpus idyom185 --cv-extra chorales-outside ...  # + the other 224 chorales
    python benchmarks/melody_real.py --cv-corpus idyom185 ... --cv-pretrain essen --pretrain-epochs 12  # Essen first

--cv-extra adds pieces outside the corpus to every fold's training (chorales-outside: every chorale file but the
idyom185 ones; or a collection), less those in a tune group with one of the fold's test or validation pieces;
--cv-validation extra early-stops on extra pieces instead (every other fold trains); --finetune-lr then trains on
the corpus alone at a lower learning rate; --cv-pretrain first trains one model on another collection (less every
tune of the corpus's tune groups) that every fold starts from. Not Pearce's protocol (he trains on the corpus alone):
say so beside it.

Extra training data leaves out every tune the dataset's grouping puts with a validation or test piece (two folk tunes
are chorale melodies). A root is converted on first use (all 409 chorales ~68 s, all 11,538 folk tunes ~27 min with
one worker) and reused after. One thread by default (--threads): the figures in docs/ML_TRAINING_GUIDE.md were
measured so, on a machine shared with other work.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dataclasses import replace

from kel_contracts import melody as MEL
from kelcore.api import PreparedData, RunContext, build_model, class_nll
from kelcore.training.default import DefaultTrainer, DefaultTrainerOptions, predict
from kel_midi_features.tunes import group_by_tune, tune_patterns
from kel_plugin_melody import MelodyTransformer
from kel_plugin_music21_corpus import Music21CorpusDataset
from kel_plugin_music21_corpus.dataset import COLLECTIONS, source_files

# Trainer settings measured best on all chorales (docs/ML_TRAINING_GUIDE.md); the model options (transposition,
# dropout, label smoothing) are the plugin's defaults. --set overrides any of them.
DEFAULTS = {"epochs": 150, "window": 32, "batch_size": 16, "learning_rate": 0.003, "patience": 10}
QUICK = {"epochs": 2, "patience": 2}
BUCKETS = ((0, 32), (32, 64), (64, 128), (128, 10**9))


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "null": None}.get(text.lower(), text)


def prepare(collections: list[str], root: Path, cache: Path, max_pieces: int | None, run_dir: Path,
            seed: int, files: list[str] | None = None) -> PreparedData:
    options = Music21CorpusDataset.Options(root=root, cache_dir=cache, task="melody", collections=collections,
                                           max_pieces=max_pieces, workers=1, files=files)
    context = RunContext(run_dir=run_dir, seed=seed, job="melody")
    return Music21CorpusDataset(options).prepare(context)


def bits(nll: float) -> float:
    return nll / math.log(2)


def shared_patterns(train, others) -> int:
    """How many of ``others`` share at least half of their 8-note patterns with one training tune (transposed or
    not): near duplicates across the split."""
    holders: dict[int, set[int]] = {}
    for index, seq in enumerate(train):
        for pattern in tune_patterns(seq.targets[:, 0].astype(int)):
            holders.setdefault(pattern, set()).add(index)
    count = 0
    for seq in others:
        found = tune_patterns(seq.targets[:, 0].astype(int))
        shared: dict[int, int] = {}
        for pattern in found:
            for index in holders.get(pattern, ()):
                shared[index] = shared.get(index, 0) + 1
        count += bool(found) and any(n >= 0.5 * len(found) for n in shared.values())
    return count


def without_held_out_tunes(extra, held_out):
    """``extra`` less every tune that the dataset's own grouping (kel_midi_features.group_by_tune) would put in one
    group with a validation or test tune: extra training data must not leak the held-out tunes (some folk tunes are
    chorale melodies). Pieces that carry one group id (the dataset's grouping, by melody and, for chorales, by
    Riemenschneider's title) are one group here too."""
    melodies = [s.targets[:, 0].astype(int) for s in held_out + extra]
    roots = group_by_tune(melodies, [s.group for s in held_out + extra])
    leaked = {roots[i] for i in range(len(held_out))}
    return [s for i, s in enumerate(extra) if roots[len(held_out) + i] not in leaked]


def pattern_coverage(train, others) -> float:
    """Share of the 8-note interval patterns of ``others`` (with repeats) that occur somewhere in ``train``."""
    known = set()
    for seq in train:
        known |= tune_patterns(seq.targets[:, 0].astype(int))
    found = [p for seq in others for p in tune_patterns(seq.targets[:, 0].astype(int))]
    return sum(p in known for p in found) / max(len(found), 1)


def nll_by_position(model, sequences) -> list[tuple[str, int, float]]:
    """Validation bits per note by the note's position in its tune (each tune run whole from a fresh state)."""
    outputs, targets = predict(model, sequences)
    lengths = sorted(len(s.inputs) for s in sequences)   # predict orders the tunes by length
    positions = torch.cat([torch.arange(n) for n in lengths])
    rows = []
    for lo, hi in BUCKETS:
        mask = (positions >= lo) & (positions < hi)
        if mask.any():
            nll = float(class_nll(outputs[mask].double(), targets[mask, 0]))
            rows.append((f"{lo}-{hi - 1 if hi < 10**9 else ''}", int(mask.sum()), bits(nll)))
    return rows


# ----------------------------------------------------------------------------- the field's protocol: k-fold CV
IDYOM_BWV = (253, 438)     # Pearce (2005): 185 chorales, BWV 253-438
PUBLISHED = {
    "chorales": "published (pitch prediction, Bach chorale melodies): IDyOM 1.911 bits/note (Pearce 2005, 10-fold "
                "CV over 185 chorales BWV 253-438, best multiple-viewpoint system; pitch viewpoint alone 2.347); "
                "Conklin & Witten 1.87 (one 95/5 split)",
    "essen": "published (pitch only, Essen folk song sets, Pearce 2005, 10-fold CV): 2.11-2.68 bits/note by set",
}
BOOTSTRAP = 2000


def idyom_chorales() -> list[str]:
    """The music21 chorale files numbered BWV 253-438 (plain ``bwvNNN``, no movement or version suffix): the
    chorales of Pearce's set, matched by BWV number as music21 names the files (186 files; Pearce counts 185)."""
    low, high = IDYOM_BWV
    return [path.stem for path in source_files("chorales")
            if (match := re.fullmatch(r"bwv(\d+)", path.stem)) and low <= int(match.group(1)) <= high]


def corpus_selection(name: str) -> tuple[list[str], list[str] | None, str]:
    """(collections, files, published reference) of a --cv corpus: idyom185, chorales or essen:<file stem>."""
    if name == "idyom185":
        return ["chorales"], idyom_chorales(), PUBLISHED["chorales"]
    if name == "chorales":
        return ["chorales"], None, PUBLISHED["chorales"]
    if name.startswith("essen:"):
        return ["essen"], [name.split(":", 1)[1]], PUBLISHED["essen"]
    raise SystemExit(f"--cv-corpus {name!r}: expected idyom185, chorales or essen:<file stem> (e.g. essen:kinder0)")


def extra_selection(name: str) -> tuple[list[str], list[str] | None]:
    """(collections, files) of a --cv-extra collection: ``chorales-outside``, the music21 chorale files that are not
    among idyom185's (every chorale file but the plain ``bwvNNN`` files numbered 253-438, matched by
    :func:`idyom_chorales`: 224 files), or any collection the music21corpus plugin offers, whole."""
    if name == "chorales-outside":
        inside = set(idyom_chorales())
        return ["chorales"], [path.stem for path in source_files("chorales") if path.stem not in inside]
    if name in COLLECTIONS:
        return [name], None
    raise SystemExit(f"--cv-extra {name!r}: expected chorales-outside or a collection ({', '.join(COLLECTIONS)})")


def extra_validation(extra: list, corpus: list, notes: int, seed: int) -> list:
    """Whole tune groups of ``extra`` that share no tune with any piece of ``corpus``, in a seeded order, until they
    hold at least ``notes`` notes: a validation set for early stopping drawn from the extra pieces."""
    groups: dict[str, list] = {}
    for seq in without_held_out_tunes(extra, corpus):
        groups.setdefault(seq.group, []).append(seq)
    order = list(groups.values())
    np.random.default_rng(seed).shuffle(order)
    chosen: list = []
    for members in order:
        if sum(len(s.inputs) for s in chosen) >= notes:
            break
        chosen += members
    return chosen


def fold_sets(sequences: list, split: list[list[int]], fold: int, extra: list = (), validation: str = "corpus",
              seed: int = 0) -> tuple[list, list, list, list]:
    """(training, extra training, validation, test) of fold ``fold``. The fold tests; with ``validation="corpus"``
    the next fold validates (early stopping) and the rest train; with ``validation="extra"`` every other fold
    trains and the validation set is drawn from the extra pieces (:func:`extra_validation`, as many notes as the
    test fold, tunes found nowhere in the corpus). The extra pieces train too, less every one in a tune group with
    a test or validation piece (the dataset's group ids and kel_midi_features' melodic grouping): no leakage."""
    folds = len(split)
    held = split[(fold + 1) % folds] if validation == "corpus" else []
    test = [sequences[i] for i in split[fold]]
    valid = [sequences[i] for i in held]
    out = set(split[fold]) | set(held)
    train = [seq for i, seq in enumerate(sequences) if i not in out]
    kept = without_held_out_tunes(list(extra), test + valid)
    if validation == "extra":
        valid = extra_validation(kept, sequences, sum(len(s.inputs) for s in test), seed + fold)
        kept = without_held_out_tunes(kept, valid)
    elif validation != "corpus":
        raise ValueError(f"validation: corpus or extra, not {validation!r}")
    return train, kept, valid, test


def group_folds(sequences: list, folds: int, seed: int) -> list[list[int]]:
    """``folds`` lists of sequence indices, every tune group whole in one fold, the folds balanced by notes (groups
    in a seeded order, largest first, each to the fold with the fewest notes so far)."""
    groups: dict[str, list[int]] = {}
    for index, seq in enumerate(sequences):
        groups.setdefault(seq.group, []).append(index)
    order = list(groups.values())
    np.random.default_rng(seed).shuffle(order)
    order.sort(key=lambda members: -sum(len(sequences[i].inputs) for i in members))
    out: list[list[int]] = [[] for _ in range(folds)]
    notes = np.zeros(folds)
    for members in order:
        fold = int(np.argmin(notes))
        out[fold] += members
        notes[fold] += sum(len(sequences[i].inputs) for i in members)
    return [sorted(fold) for fold in out]


def past_notes_key(seq):
    """The sequence with its key, mode and the valence proxy estimated from the melody's past notes only (the
    notes before each step, duration-weighted, against the contract's Krumhansl-Kessler profiles; C major before
    the first), instead of from the whole piece."""
    offsets = MEL.INPUTS.offsets()
    x = np.array(seq.inputs, dtype=np.float32)
    pc = x[:, offsets["prev_pitch_class"]:offsets["prev_pitch_class"] + 12]
    durations = np.asarray(MEL.DURATION_CLASSES, float)
    weight = x[:, offsets["prev_duration"]:offsets["prev_duration"] + len(durations)] @ durations
    histogram = np.cumsum(pc * weight[:, None], axis=0)
    profiles = np.array([np.roll(profile, tonic) for profile in (MEL.MAJOR_PROFILE, MEL.MINOR_PROFILE)
                         for tonic in range(12)])
    centred = profiles - profiles.mean(axis=1, keepdims=True)
    past = histogram - histogram.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(past, axis=1, keepdims=True) * np.linalg.norm(centred, axis=1)[None, :]
    score = np.divide(past @ centred.T, norms, out=np.full((len(x), 24), -np.inf), where=norms > 0)
    best = np.where(np.isfinite(score).any(axis=1), score.argmax(axis=1), 0)
    tonic, major = best % 12, best < 12
    x[:, offsets["key"]:offsets["key"] + 12] = 0
    x[np.arange(len(x)), offsets["key"] + tonic] = 1
    x[:, offsets["mode"]] = major
    x[:, offsets["valence"]] = np.where(major, MEL.PROXY_VALENCE_MAJOR, MEL.PROXY_VALENCE_MINOR)
    return replace(seq, inputs=x)


def piece_scores(model, sequences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per piece: notes, summed NLL (nats) and notes predicted right (top-1), each run whole from a fresh state."""
    outputs, targets = predict(model, sequences)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].inputs))   # predict's order
    notes, nll, right = np.zeros(len(sequences)), np.zeros(len(sequences)), np.zeros(len(sequences))
    at = 0
    for i in order:
        n = len(sequences[i].inputs)
        out, tgt = outputs[at:at + n].double(), targets[at:at + n, 0]
        notes[i], nll[i] = n, float(class_nll(out, tgt)) * n
        right[i] = float((out.argmax(dim=1) == tgt.long()).sum())
        at += n
    return notes, nll, right


def interval(notes: np.ndarray, nll: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval (pieces resampled) of the bits per note over all notes."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(notes), (BOOTSTRAP, len(notes)))
    values = bits(1.0) * nll[draws].sum(axis=1) / notes[draws].sum(axis=1)
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _train_fold(job: tuple) -> dict:
    """Worker: train on one fold's training tunes, early-stopped on its validation tunes, and score its test tunes
    (each run whole from a fresh state). Top-level so that folds can run in parallel processes (``--jobs``)."""
    (fold, train, extra, left_out, validation, test, normalization, report, model_options, trainer_options, seed,
     run_dir, finetune_lr, pretrained) = job
    torch.set_num_threads(1)
    model = build_model(MelodyTransformer, model_options, seed=seed + fold)
    if pretrained is not None:      # every fold starts from the one model pretrained outside the corpus
        model.load_state_dict(pretrained)
    torch.manual_seed(seed + fold)
    started = time.perf_counter()
    result = DefaultTrainer(trainer_options).fit(model, PreparedData(train + extra, validation, test, normalization,
                                                                     report),
                                                 RunContext(run_dir=run_dir, seed=seed + fold, job="melody"))
    finetune = None
    if finetune_lr:     # a second phase on the corpus's training pieces alone, from the best weights, at a lower LR
        second = DefaultTrainer(trainer_options.model_copy(update={"learning_rate": finetune_lr})).fit(
            model, PreparedData(train, validation, test, normalization, report),
            RunContext(run_dir=run_dir / "finetune", seed=seed + fold, job="melody"))
        finetune = (second.best_epoch, second.epochs)
    notes, nll, right = piece_scores(model, test)
    base = MelodyTransformer.baseline_metrics(train, test)
    return {"fold": fold, "notes": notes, "nll": nll, "right": right, "base": base, "sizes": (len(train),
            len(validation), len(test)), "extra": len(extra), "left_out": left_out, "finetune": finetune,
            "best_epoch": result.best_epoch, "epochs": result.epochs, "seconds": time.perf_counter() - started,
            "pieces": {"test": [[s.track_id, s.group] for s in test],
                       "validation": [[s.track_id, s.group] for s in validation],
                       "extra": [[s.track_id, s.group] for s in extra]}}


def _owned(seq):
    """The sequence with its own arrays (not views into a run's packed store), to hand to another process."""
    return replace(seq, inputs=np.array(seq.inputs), targets=np.array(seq.targets))


def _fold_results(work_items: list, jobs: int):
    """Each fold's result as soon as it is done (in parallel processes with ``jobs`` > 1)."""
    if jobs <= 1:
        yield from map(_train_fold, work_items)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(min(jobs, len(work_items))) as pool:
        for future in as_completed([pool.submit(_train_fold, item) for item in work_items]):
            yield future.result()


def cross_validate(sequences: list, data: PreparedData, folds: int, model_options, trainer_options, seed: int,
                   work: Path, label: str, jobs: int = 1, only: list[int] | None = None,
                   save: Path | None = None, extra: list = (), validate_on: str = "corpus",
                   finetune_lr: float | None = None, pretrained: dict | None = None) -> dict:
    """k-fold CV over tune groups: fold i is the test set, fold i+1 the validation set (early stopping), the rest
    training, plus the ``extra`` pieces outside the fold's test and validation tune groups (:func:`fold_sets`).
    Prints one line per fold; returns the pooled figures."""
    split = group_folds(sequences, folds, seed)
    if jobs > 1:
        sequences, extra = [_owned(seq) for seq in sequences], [_owned(seq) for seq in extra]
    work_items = []
    for fold in range(folds):
        if only is not None and fold not in only:
            continue
        train, kept, valid, test = fold_sets(sequences, split, fold, extra, validate_on, seed)
        work_items.append((fold, train, kept, len(extra) - len(kept) - (len(valid) if validate_on == "extra" else 0),
                           valid, test, data.normalization, data.report, model_options, trainer_options, seed,
                           work / f"{label}-fold{fold}", finetune_lr, pretrained))
    results = []
    base_nll = base_right = 0.0
    for row in _fold_results(work_items, jobs):
        results.append(row)
        n, loss, hit, base = row["notes"], row["nll"], row["right"], row["base"]
        base_nll += base["bigram_bits_per_note"] * n.sum()
        base_right += base["bigram_top1"] * n.sum()
        train, validation, test = row["sizes"]
        more = f" + {row['extra']} extra ({row['left_out']} left out: a test or validation tune)" if extra else ""
        tuned = f", fine-tuned: best epoch {row['finetune'][0]} of {row['finetune'][1]}" if row["finetune"] else ""
        print(f"  fold {row['fold'] + 1:2d}/{folds}: train {train}{more} / validation {validation} / test {test} tunes "
              f"({int(n.sum())} test notes); model {bits(loss.sum() / n.sum()):.3f} bits per note, top-1 "
              f"{hit.sum() / n.sum():.3f}; baseline bigram {base['bigram_bits_per_note']:.3f} bits, top-1 "
              f"{base['bigram_top1']:.3f}; best epoch {row['best_epoch']} of {row['epochs']}"
              f"{tuned}, {row['seconds']:.0f} s", flush=True)
    if save is not None:
        save.write_text(json.dumps([{**{k: row[k] for k in ("fold", "best_epoch", "epochs", "seconds", "sizes",
                                                            "extra", "left_out", "finetune", "pieces")},
                                     "notes": row["notes"].tolist(), "nll": row["nll"].tolist(),
                                     "right": row["right"].tolist(),
                                     "bigram_bits_per_note": row["base"]["bigram_bits_per_note"],
                                     "bigram_top1": row["base"]["bigram_top1"]} for row in results]))
    return pooled(results, folds, seed)


def pooled(results: list[dict], folds: int, seed: int = 0) -> dict:
    """The figures over every test note of the folds in ``results`` (a 95 % interval by resampling pieces)."""
    base_nll = sum(r["base"]["bigram_bits_per_note"] * np.sum(r["notes"]) for r in results)
    base_right = sum(r["base"]["bigram_top1"] * np.sum(r["notes"]) for r in results)
    notes_all = np.concatenate([r["notes"] for r in results])
    nll_all = np.concatenate([r["nll"] for r in results])
    right_all = np.concatenate([r["right"] for r in results])
    total = notes_all.sum()
    low, high = interval(notes_all, nll_all, seed)
    return {"bits_per_note": bits(nll_all.sum() / total), "interval": (low, high), "top1": right_all.sum() / total,
            "bigram_bits_per_note": base_nll / total, "bigram_top1": base_right / total, "notes": int(total),
            "tunes": len(notes_all), "folds": folds, "folds_run": len(results)}


def pretrain_outside(tunes: list, corpus: list, data: PreparedData, model_options, trainer_options, epochs: int,
                     seed: int, run_dir: Path) -> tuple[dict, str]:
    """One model trained on ``tunes`` alone, less every tune in a tune group with a piece of ``corpus`` (each is a
    test piece in some fold), early-stopped on a seeded twentieth of those tune groups: the weights every fold of
    the cross-validation starts from (no corpus piece is seen). Returns its state and a line saying what it did."""
    kept = without_held_out_tunes(list(tunes), corpus)
    groups = sorted({s.group for s in kept})
    held = set(np.random.default_rng(seed).permutation(groups)[:max(1, len(groups) // 20)])
    train = [s for s in kept if s.group not in held]
    valid = [s for s in kept if s.group in held]
    model = build_model(MelodyTransformer, model_options, seed=seed)
    torch.manual_seed(seed)
    started = time.perf_counter()
    result = DefaultTrainer(trainer_options.model_copy(update={"epochs": epochs})).fit(
        model, PreparedData(train, valid, valid, data.normalization, data.report),
        RunContext(run_dir=run_dir, seed=seed, job="melody"))
    line = (f"pretrained on {len(train)} tunes ({sum(len(s.inputs) for s in train)} notes; {len(tunes) - len(kept)} "
            f"left out: a tune group of the corpus), early-stopped on {len(valid)}: best epoch {result.best_epoch} "
            f"of {result.epochs}, {result.test_metrics['bits_per_note']:.3f} bits per note on those, "
            f"{time.perf_counter() - started:.0f} s")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, line


def run_cv(args, settings: dict, model_options, trainer_options, work: Path) -> int:
    """The field's protocol on one corpus: k-fold CV over tune groups, with the key as the plugin supplies it and
    (``--keys past``) estimated from past notes only."""
    if args.folds < 3:
        raise SystemExit("--folds: at least 3 (one fold tests, the next validates, the rest train)")
    if args.cv_pretrain and args.pretrain_epochs < 1:
        raise SystemExit("--cv-pretrain: needs --pretrain-epochs (at least 1)")
    if args.cv_validation == "extra" and not args.cv_extra:
        raise SystemExit("--cv-validation extra: needs --cv-extra (the pieces to validate on)")
    collections, files, published = corpus_selection(args.cv_corpus)
    root = args.root or work / "corpus"
    cache = args.cache_dir or root / ".cache"
    whole = collections == ["chorales"]   # one conversion of all chorales serves every chorale selection
    extras = {name: extra_selection(name) for name in args.cv_extra}
    if whole:   # all chorales, or (--max-pieces) the first pieces of the corpus's and of each extra's selection
        stems = [p.stem for p in source_files("chorales")]
        files = (files or stems)[:args.max_pieces] if args.max_pieces else files
        chosen = None if args.max_pieces is None else sorted(
            {stem for selection in [files] + [f for c, f in extras.values() if c == ["chorales"]]
             for stem in (selection or stems)[:args.max_pieces]}, key=stems.index)
        data = prepare(collections, root, cache, None, work / "data", args.seed, chosen)
    else:
        data = prepare(collections, root, cache, args.max_pieces, work / "data", args.seed, files)
    everything = data.train + data.validation + data.test
    sequences = everything
    if whole and files is not None:
        chosen_files = set(files)
        sequences = [s for s in sequences if s.track_id.split("/", 1)[1] in chosen_files]
    corpus_ids = {s.track_id for s in sequences}
    extra = []
    for name, (extra_collections, extra_files) in extras.items():
        if whole and extra_collections == ["chorales"]:      # the same conversion: the dataset's groups hold across
            wanted = None if extra_files is None else set(extra_files)
            more = [s for s in everything if wanted is None or s.track_id.split("/", 1)[1] in wanted]
        else:
            prepared = prepare(extra_collections, args.extra_root or work / name, cache, args.max_pieces,
                               work / f"extra-{name}", args.seed, extra_files)
            more = prepared.train + prepared.validation + prepared.test
        taken = {s.track_id for s in extra} | corpus_ids
        extra += [s for s in more if s.track_id not in taken]      # a piece of the corpus is never extra too
    outside = []
    for name in args.cv_pretrain:
        prepared = prepare([name], args.pretrain_root or work / f"pretrain-{name}", cache, args.max_pieces,
                           work / f"pretrain-data-{name}", args.seed)
        outside += prepared.train + prepared.validation + prepared.test
    groups = len({s.group for s in sequences})
    print(f"cross-validation: {args.cv_corpus} ({', '.join(collections)}"
          f"{f', {len(files)} source files' if files is not None else ''}): {len(sequences)} tunes in {groups} tune "
          f"groups, {sum(len(s.inputs) for s in sequences)} notes; {args.folds} folds over tune groups (test: one "
          f"fold, validation for early stopping: the next, training: the rest)")
    if extra:
        print(f"extra training data: {', '.join(args.cv_extra)}: {len(extra)} tunes, "
              f"{sum(len(s.inputs) for s in extra)} notes, in every fold less those in a tune group with one of the "
              f"fold's test or validation pieces (the dataset's groups and kel_midi_features' melodic grouping); "
              f"validation from the {args.cv_validation}"
              + (f"; then fine-tuned on the corpus alone at learning rate {args.finetune_lr}"
                 if args.finetune_lr else ""))
    print("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    for key in args.keys:
        label = {"plugin": "key as the plugin supplies it (the piece's key)",
                 "past": "key estimated from past notes only"}[key]
        print(f"{label}:")
        chosen = sequences if key == "plugin" else [past_notes_key(s) for s in sequences]
        more = extra if key == "plugin" else [past_notes_key(s) for s in extra]
        pretrained = None
        if outside:
            pretrained, line = pretrain_outside(outside if key == "plugin" else [past_notes_key(s) for s in outside],
                                                chosen, data, model_options, trainer_options, args.pretrain_epochs,
                                                args.seed, work / f"{key}-pretrain")
            print(f"  {', '.join(args.cv_pretrain)}: {line}", flush=True)
        save = args.save_folds.with_name(f"{args.save_folds.stem}-{key}{args.save_folds.suffix}") \
            if args.save_folds else None
        row = cross_validate(chosen, data, args.folds, model_options, trainer_options, args.seed, work, key,
                             args.jobs, args.only_folds, save, more, args.cv_validation, args.finetune_lr, pretrained)
        print_pooled(args.cv_corpus, label, row)
    print(published)
    return 0


def print_pooled(corpus: str, label: str, row: dict) -> None:
    print(f"  {corpus}, {label}: model {row['bits_per_note']:.3f} bits per note (95 % interval "
          f"{row['interval'][0]:.3f}-{row['interval'][1]:.3f}, pieces resampled), top-1 {row['top1']:.3f}; "
          f"baseline bigram {row['bigram_bits_per_note']:.3f} bits, top-1 {row['bigram_top1']:.3f}; "
          f"{row['notes']} test notes over {row['folds_run']} of {row['folds']} folds"
          + ("" if row["folds_run"] == row["folds"] else " (PARTIAL: not every fold ran)"))


def combine(paths: list[Path], folds: int) -> int:
    """Pool the per-piece figures that runs of some folds each saved (``--save-folds``) into one figure."""
    results = []
    for path in paths:
        for row in json.loads(path.read_text()):
            results.append({**row, "notes": np.asarray(row["notes"]), "nll": np.asarray(row["nll"]),
                            "right": np.asarray(row["right"]), "base": {"bigram_bits_per_note":
                            row["bigram_bits_per_note"], "bigram_top1": row["bigram_top1"]}})
    done = sorted(r["fold"] for r in results)
    if len(set(done)) != len(done):
        raise SystemExit(f"--combine: a fold is in two files ({done})")
    for r in sorted(results, key=lambda r: r["fold"]):
        print(f"  fold {r['fold'] + 1:2d}/{folds}: {int(np.sum(r['notes']))} test notes; model "
              f"{bits(np.sum(r['nll']) / np.sum(r['notes'])):.3f} bits per note; bigram "
              f"{r['base']['bigram_bits_per_note']:.3f}; best epoch {r['best_epoch']} of {r['epochs']}")
    print_pooled("combined", ", ".join(p.name for p in paths), pooled(results, folds))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", nargs="+", default=["chorales"])
    parser.add_argument("--root", type=Path, help="converted corpus folder (default: a temporary one)")
    parser.add_argument("--cache-dir", type=Path, help="feature cache (default: under the root)")
    parser.add_argument("--max-pieces", type=int)
    parser.add_argument("--extra", nargs="*", default=[], help="collections whose every tune is added to training")
    parser.add_argument("--extra-root", type=Path)
    parser.add_argument("--pretrain-epochs", type=int, default=0, help="with --extra: first train on the extra "
                        "tunes alone for this many epochs (judged on the main validation split), then on the main "
                        "training split from those weights, instead of one mixed training split")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a trainer or model option (model: dropout, label_smoothing, transpose)")
    parser.add_argument("--seed", type=int, default=0, help="the split's and the run's seed")
    parser.add_argument("--init-seed", type=int, help="another seed for the weights, dropout and transpositions "
                        "only (same split, same batch order): how much of a difference is luck")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--curve", type=Path, help="write the learning curve (metrics.csv) here too")
    parser.add_argument("--quick", action="store_true", help="24 chorales, 2 epochs (the test runs this)")
    parser.add_argument("--cv-corpus", help="the field's protocol instead of one split: k-fold cross-validation "
                        "over tune groups on idyom185 (BWV 253-438), chorales or essen:<file stem> (essen:kinder0)")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--only-folds", type=int, nargs="+", metavar="I", help="with --cv-corpus: run only these "
                        "folds (0-based; the figures are then partial and say so)")
    parser.add_argument("--save-folds", type=Path, help="with --cv-corpus: write each fold's per-piece figures to "
                        "this JSON (-<key> added to its name), for --combine")
    parser.add_argument("--combine", type=Path, nargs="+", help="pool the folds saved by runs with --save-folds "
                        "(each of some folds) into one figure, and exit")
    parser.add_argument("--jobs", type=int, default=1, help="with --cv-corpus: folds trained in parallel processes "
                        "(one thread each)")
    parser.add_argument("--cv-extra", nargs="+", default=[], metavar="COLLECTION", help="with --cv-corpus: pieces "
                        "added to training in every fold, less those in a tune group with the fold's test or "
                        "validation pieces: chorales-outside (the chorales outside BWV 253-438) or a collection")
    parser.add_argument("--cv-validation", choices=("corpus", "extra"), default="corpus", help="with --cv-extra: "
                        "early stopping on the next fold (corpus) or on extra pieces whose tunes are nowhere in the "
                        "corpus (extra: every other fold trains)")
    parser.add_argument("--finetune-lr", type=float, help="with --cv-extra: then train on the corpus's training "
                        "pieces alone, from the best weights, at this learning rate")
    parser.add_argument("--cv-pretrain", nargs="+", default=[], metavar="COLLECTION", help="with --cv-corpus: "
                        "first train one model on these collections alone (less every tune in a tune group with a "
                        "corpus piece) for --pretrain-epochs epochs; every fold starts from its weights")
    parser.add_argument("--pretrain-root", type=Path, help="with --cv-pretrain: the converted collection's folder")
    parser.add_argument("--keys", nargs="+", choices=("plugin", "past"), default=["plugin", "past"],
                        help="with --cv-corpus: the key input as the plugin supplies it, and/or estimated from past "
                             "notes only")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.folds)
    torch.set_num_threads(args.threads)
    settings = dict(DEFAULTS)
    if args.quick:
        settings.update(QUICK)
        args.max_pieces = args.max_pieces or 24
    for item in args.set:
        key, _, value = item.partition("=")
        settings[key] = parse_value(value)
    model_keys = set(MelodyTransformer.Options.model_fields)
    model_options = MelodyTransformer.Options(**{k: v for k, v in settings.items() if k in model_keys})
    settings = {**model_options.model_dump(), **settings}
    trainer_options = DefaultTrainerOptions(**{k: v for k, v in settings.items() if k not in model_keys},
                                            device="cpu", tensorboard=False, keep_best=0)
    with tempfile.TemporaryDirectory(prefix="kel-melody-real-") as tmp:
        work = Path(tmp)
        if args.cv_corpus:
            return run_cv(args, settings, model_options, trainer_options, work)
        root = args.root or work / "corpus"
        cache = args.cache_dir or root / ".cache"
        started = time.perf_counter()
        data = prepare(args.collections, root, cache, args.max_pieces, work / "data", args.seed)
        extra = []
        for collection in args.extra:
            more = prepare([collection], args.extra_root or work / collection, cache, None, work / collection,
                           args.seed)
            extra += more.train + more.validation + more.test
        notes = {side: sum(len(s.inputs) for s in getattr(data, side)) for side in ("train", "validation", "test")}
        lengths = np.array([len(s.inputs) for s in data.train + data.validation + data.test])
        print(f"data: {', '.join(args.collections)}: {len(data.train)} / {len(data.validation)} / {len(data.test)} "
              f"tunes (train / validation / test), {notes['train']} / {notes['validation']} / {notes['test']} notes; "
              f"tune length median {int(np.median(lengths))}, 90th percentile {int(np.percentile(lengths, 90))}, "
              f"max {lengths.max()} notes; prepared in {time.perf_counter() - started:.0f} s")
        if extra:
            kept = without_held_out_tunes(extra, data.validation + data.test)
            print(f"extra training data: {', '.join(args.extra)}: {len(kept)} tunes, "
                  f"{sum(len(s.inputs) for s in kept)} notes ({len(extra) - len(kept)} left out: the same tune as a "
                  f"validation or test piece)")
            extra = kept
        near = {side: shared_patterns(data.train + extra, getattr(data, side)) for side in ("validation", "test")}
        print(f"near duplicates across the split: {near['validation']} of {len(data.validation)} validation and "
              f"{near['test']} of {len(data.test)} test tunes share half their 8-note patterns with a training tune")
        groups = len({s.group for s in data.train})
        print(f"training tunes in groups of more than one (variants, copies): {len(data.train) - groups} of "
              f"{len(data.train)} beyond the first of their group; 8-note patterns of validation found in training: "
              f"{pattern_coverage(data.train + extra, data.validation):.1%}")
        print("settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
        mixed = extra if not args.pretrain_epochs else []
        train = PreparedData(data.train + mixed, data.validation, data.test, data.normalization, data.report)
        init_seed = args.seed if args.init_seed is None else args.init_seed
        model = build_model(MelodyTransformer, model_options, seed=init_seed)
        torch.manual_seed(init_seed)
        context = RunContext(run_dir=work / "run", seed=args.seed, job="melody")
        started = time.perf_counter()
        if args.pretrain_epochs and extra:
            first = PreparedData(extra, data.validation, data.test, data.normalization, data.report)
            pre = DefaultTrainer(trainer_options.model_copy(update={"epochs": args.pretrain_epochs})).fit(
                model, first, RunContext(run_dir=work / "pretrain", seed=args.seed, job="melody"))
            print(f"pretrained on {', '.join(args.extra)}: best epoch {pre.best_epoch} of {pre.epochs}, test "
                  f"{pre.test_metrics['bits_per_note']:.3f} bits per note")
        result = DefaultTrainer(trainer_options).fit(model, train, context)
        seconds = time.perf_counter() - started
        with open(work / "run" / "metrics.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if args.curve:
            args.curve.write_text((work / "run" / "metrics.csv").read_text())
        print("epoch  train_bits  val_bits  val_top1  lr    (train: the epoch's mean training loss, in training mode)")
        for row in rows:
            train_bits, val_bits = bits(float(row["train_loss"])), bits(float(row["val_loss"]))
            print(f"{int(row['epoch']):5d}  {train_bits:10.3f}  {val_bits:8.3f}  {float(row['val_top1']):8.3f}  "
                  f"{float(row['lr']):.2g}")
        model.eval()
        train_out, train_tgt = predict(model, data.train)
        val_out, val_tgt = predict(model, data.validation)
        train_bits = bits(float(class_nll(train_out.double(), train_tgt[:, 0])))
        val_bits = bits(float(class_nll(val_out.double(), val_tgt[:, 0])))
        print(f"best epoch {result.best_epoch} of {result.epochs} ({result.stopped_reason}); {seconds:.0f} s")
        print(f"at the best epoch, eval mode, whole tunes: train {train_bits:.3f} bits per note, validation "
              f"{val_bits:.3f} (gap {val_bits - train_bits:.3f})")
        print("validation bits per note by position in the tune: " + "; ".join(
            f"notes {name}: {value:.3f} ({n})" for name, n, value in nll_by_position(model, data.validation)))
        ours, base = result.test_metrics, result.baseline_metrics
        print(f"test ({len(data.test)} tunes, {notes['test']} notes): model {ours['bits_per_note']:.3f} bits per note, "
              f"top-1 {ours['top1']:.3f}, top-5 {ours['top5']:.3f}; baseline bigram "
              f"{base['bigram_bits_per_note']:.3f} bits, top-1 {base['bigram_top1']:.3f} (majority top-1 "
              f"{base['majority_top1']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
