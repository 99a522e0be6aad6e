"""A small DEAM-shaped corpus: synthesized songs whose sound follows their dynamic valence and arousal."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kel_audio_features import drifting_labels, synthesize, write_demo_audio

FIRST_ANNOTATION_MS = 15_000


def write_demo(root: Path, seed: int = 0, songs: int = 30, seconds: float = 45.0) -> None:
    rng = np.random.default_rng(seed)
    audio_dir = root / "MEMD_audio"
    averaged = root / "annotations" / "annotations averaged per song"
    dynamic, static = averaged / "dynamic (per second annotations)", averaged / "song_level"
    for folder in (audio_dir, dynamic, static, root / "metadata"):
        folder.mkdir(parents=True, exist_ok=True)
    ids = sorted(int(i) for i in rng.choice(np.arange(2, 2058), size=songs, replace=False))
    frames = int(seconds * 2)
    columns = (frames - FIRST_ANNOTATION_MS // 500)
    header = "song_id," + ",".join(f"sample_{FIRST_ANNOTATION_MS + 500 * k}ms" for k in range(columns))
    arousal_rows, valence_rows, static_rows, static2_rows = [header], [header], [], []
    for index, song in enumerate(ids):
        valence, arousal = drifting_labels(rng, frames)
        audio = synthesize(valence, arousal, seed * 10_007 + song)
        if index % 3 == 0:  # not every DEAM file is 44.1 kHz stereo
            audio = np.stack([audio, audio], axis=1)
        written = write_demo_audio(audio_dir / str(song), audio)
        annotated = slice(FIRST_ANNOTATION_MS // 500 - 1, frames - 1 - (index % 4))   # frame k ends at (k+1)/2 s
        pad = "," * (index % 4)                                                      # short rows end in empty cells
        arousal_rows.append(f"{song}," + ",".join(f"{x:.4f}" for x in arousal[annotated]) + pad)
        valence_rows.append(f"{song}," + ",".join(f"{x:.4f}" for x in valence[annotated]) + pad)
        stats = f"{song}, {5 + 4 * valence.mean():.2f}, 0.9, {5 + 4 * arousal.mean():.2f}, 1.1"
        (static2_rows if song >= 2000 else static_rows).append(stats + (", 1, 9, 1, 9, 0.5, 0.5, 0.5, 0.5"
                                                                       if song >= 2000 else ""))
    (dynamic / "arousal.csv").write_text("\n".join(arousal_rows) + "\n")
    (dynamic / "valence.csv").write_text("\n".join(valence_rows) + "\n")
    (static / "static_annotations_averaged_songs_1_2000.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n" + "\n".join(static_rows) + "\n")
    (static / "static_annotations_averaged_songs_2000_2058.csv").write_text(
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std, valence_max_mean, valence_max_std, "
        "valence_min_mean, valence_min_std, arousal_max_mean, arousal_max_std, arousal_min_mean, arousal_min_std\n"
        + "\n".join(static2_rows) + "\n")
    suffix = written.suffix   # .mp3, or .wav where libsndfile cannot encode MP3
    (root / "metadata" / "metadata_2013.csv").write_text("song_id,file_name,Artist,Song title\n" + "\n".join(
        f"{song},{song}{suffix},Demo Artist,Demo Song {song}" for song in ids) + "\n")
