"""What an attacker recovers from each channel, and what the classical defences cost.

Run ``python benchmarks/privacy.py --part all`` (Markdown tables) or ``--json``. Parts:

* ``channels`` — digits MLP, batch 1, one SGD step: analytic / iDLG / Inverting Gradients
  for every attacker view (plaintext, AEAD, teleportation tap and intercept-resend, the
  curious server with and without FEC, local DP, masking), 3 seeds;
* ``batch`` — the plaintext attacks on batches of 1, 4 and 8 and on 5-step updates;
* ``cnn`` — Inverting Gradients and iDLG on LeNet / Fashion-MNIST (Debian's package) and
  the ConvNet on CIFAR-10-format batches cut from scikit-learn's two bundled photographs
  (no CIFAR-10 download here: 32x32 natural-image patches written in the CIFAR python
  batch format, labels arbitrary);
* ``dp`` — DP-FedAvg noise multiplier vs epsilon (delta 1e-5), accuracy, membership AUC,
  inversion PSNR;
* ``membership`` — loss and LiRA AUC / TPR at 1% FPR against the global model and a
  client's update, with masking and DP.

Figures, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from qtfl.attacks.assessment import invert_assessment
from qtfl.attacks.tables import channel_rows, dp_rows, membership_rows
from qtfl.present.privacy import markdown_table

PARTS = ("channels", "batch", "cnn", "dp", "membership")


def batch_rows() -> list[dict[str, Any]]:
    rows = []
    for batch in (1, 4, 8):
        for steps in (1, 5):
            for method in ("analytic", "ig"):
                r = invert_assessment(
                    method=method, batch=batch, local_steps=steps, baseline_draws=2
                )
                rows.append(
                    {
                        "batch": batch,
                        "local_steps": steps,
                        "method": method,
                        "psnr_db": r["psnr_db"],
                        "ssim": r["ssim"],
                        "label_accuracy": r["label_accuracy"],
                        "baseline_psnr_db": r["baseline_psnr_db"],
                    }
                )
    return rows


def write_cifar_format_photos(directory: Path, *, per_batch: int = 64, seed: int = 0) -> Path:
    """32x32 patches of scikit-learn's sample photographs in the CIFAR-10 python format."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        rows, labels = [], []
        for k in range(per_batch):
            img = photos[k % len(photos)]
            r = rng.integers(0, img.shape[0] - 32)
            c = rng.integers(0, img.shape[1] - 32)
            patch = img[r : r + 32, c : c + 32]  # HWC uint8
            rows.append(patch.transpose(2, 0, 1).reshape(-1))
            labels.append(int(k % 10))
        batch = {b"data": np.stack(rows).astype(np.uint8), b"labels": labels}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
    return directory


def cnn_rows() -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cifar = str(write_cifar_format_photos(Path(tmp)))
        cases = (
            ("fashion-mnist", "lenet", None),
            ("cifar10", "convnet", cifar),
        )
        for dataset, model, root in cases:
            plan = [(c, m, 1) for c in ("plain", "teleportation") for m in ("idlg", "ig")]
            plan.append(("plain", "ig", 5))  # a 5-step FedAvg update treated as a gradient
            for channel, method, steps in plan:
                t0 = time.perf_counter()
                r = invert_assessment(
                    dataset=dataset,
                    model=model,
                    channel=channel,
                    attacker="tap",
                    method=method,
                    root=root,
                    local_steps=steps,
                    iterations=300 if method == "ig" else 100,
                    baseline_draws=1,
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "view": f"{channel} tap",
                        "method": method,
                        "local_steps": steps,
                        "psnr_db": r["psnr_db"],
                        "ssim": r["ssim"],
                        "label_accuracy": r["label_accuracy"],
                        "baseline_psnr_db": r["baseline_psnr_db"],
                        "seconds": time.perf_counter() - t0,
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=(*PARTS, "all"), default="channels")
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    parts = PARTS if a.part == "all" else (a.part,)
    build = {
        "channels": channel_rows,
        "batch": batch_rows,
        "cnn": cnn_rows,
        "dp": dp_rows,
        "membership": membership_rows,
    }
    out = {}
    for part in parts:
        t0 = time.perf_counter()
        out[part] = build[part]()
        if not a.json:
            print(f"\n### {part} ({time.perf_counter() - t0:.0f} s)\n")
            print(markdown_table(out[part]))
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
