"""Privacy tables: what each attacker recovers per channel and defence, and what DP costs.

These functions run the experiments of :mod:`qtfl.attacks.assessment` and
:mod:`qtfl.attacks.membership_run` over a grid and return rows (for JSON, the tables of
``benchmarks/privacy.py`` and the privacy section of the end-to-end report); the formatting
lives in :mod:`qtfl.present.privacy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qtfl.attacks.assessment import invert_assessment
from qtfl.attacks.membership_run import membership_assessment
from qtfl.fl.privacy import DPSettings

#: (label, channel, attacker, extra options) of the per-channel table.
VIEWS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("plaintext eavesdropper", "plain", "tap", {}),
    ("AEAD eavesdropper (ciphertext)", "aead", "tap", {}),
    ("teleportation classical tap", "teleport", "tap", {}),
    ("teleportation intercept-resend 0.3% (Z)", "teleport", "intercept-resend", {}),
    ("curious server, plaintext", "plain", "server", {}),
    ("curious server, teleportation F=0.95 raw", "teleport", "server", {}),
    ("curious server, teleportation F=0.95 + FEC", "teleport", "server", {"fec": "auto"}),
    (
        "curious server, local DP sigma=1 (C=1)",
        "plain",
        "server",
        {"dp": DPSettings(clip_norm=1.0, noise_multiplier=1.0, placement="client")},
    ),
    ("curious server, masked sum of 10", "plain", "server", {"secure_aggregation_clients": 10}),
    ("eavesdropper, one masked update", "plain", "tap", {"secure_aggregation_clients": 10}),
)


def channel_rows(
    *,
    methods: Sequence[str] = ("analytic", "idlg", "ig"),
    seeds: Sequence[int] = (0, 1, 2),
    dataset: str = "digits",
    model: str = "mlp",
    batch: int = 1,
) -> list[dict[str, Any]]:
    """One row per (view, method): metrics averaged over ``seeds`` (None where nothing held)."""
    rows = []
    for label, channel, attacker, extra in VIEWS:
        for method in methods:
            runs = [
                invert_assessment(
                    dataset=dataset,
                    model=model,
                    channel=channel,
                    attacker=attacker,
                    method=method,
                    batch=batch,
                    seed=s,
                    baseline_draws=2,
                    **extra,
                )
                for s in seeds
            ]
            rows.append({"view": label, "method": method, **_mean(runs)})
    return rows


def _mean(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": len(runs)}
    held = [r for r in runs if r["psnr_db"] is not None]
    out["attacker_held_payload"] = len(held)
    for key in ("psnr_db", "ssim", "label_accuracy", "baseline_psnr_db"):
        vals = [float(r[key]) for r in (held if key != "baseline_psnr_db" else runs)]
        out[key] = sum(vals) / len(vals) if vals else None
    out["detected"] = sum(bool(r["detected"]) for r in runs)
    return out


def dp_rows(
    *,
    sigmas: Sequence[float] = (0.0, 0.02, 0.1, 0.5, 1.0, 2.0, 4.0),
    clip_norm: float = 1.0,
    rounds: int = 30,
    fraction: float = 0.5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """DP-FedAvg on digits per noise multiplier: epsilon, accuracy, membership AUC, PSNR.

    * accuracy and central epsilon: 10 clients on the full training set, ``rounds`` rounds,
      ``fraction`` sampled, noise on the aggregate (``placement="server"``);
    * membership AUC (loss attack, global model): the same defence on a 100-example
      federation that memorises its data;
    * inversion PSNR: the curious server's analytic and IG attacks on one client's update
      with the same sigma added by the client (local DP; one release: its epsilon is
      ``epsilon_local``). Central DP leaves the server the clipped update itself.
    """
    rows = []
    for sigma in sigmas:
        central = None if sigma == 0 else DPSettings(clip_norm=clip_norm, noise_multiplier=sigma)
        local = (
            None
            if sigma == 0
            else DPSettings(clip_norm=clip_norm, noise_multiplier=sigma, placement="client")
        )
        full = membership_assessment(
            attack="loss",
            train_examples=1437,
            rounds=rounds,
            fraction=fraction,
            local_epochs=2,
            dp=central,
            seed=seed,
        )
        small = membership_assessment(
            attack="loss", train_examples=100, rounds=30, local_epochs=10, dp=central, seed=seed
        )
        inv = {
            m: invert_assessment(attacker="server", method=m, dp=local, seed=seed)["psnr_db"]
            for m in ("analytic", "ig")
        }
        rows.append(
            {
                "sigma": sigma,
                "epsilon_central": full.get("epsilon", float("inf")),
                "test_accuracy": full["test_accuracy"],
                "membership_auc": small["auc"],
                "epsilon_membership_run": small.get("epsilon", float("inf")),
                "psnr_db_analytic_local_dp": inv["analytic"],
                "psnr_db_ig_local_dp": inv["ig"],
                "epsilon_local": None if local is None else local.epsilon(rounds=1, sample_rate=1),
            }
        )
    return rows


def membership_rows(*, seeds: Sequence[int] = (0, 1, 2)) -> list[dict[str, Any]]:
    """Loss and LiRA AUC / TPR@1%FPR against the global model and a client's update."""
    grid: tuple[tuple[str, dict[str, Any]], ...] = (
        ("global model (100 training examples)", {"train_examples": 100, "local_epochs": 10}),
        ("client update, server sees it", {"target": "client"}),
        ("client update, masked sum of 10", {"target": "client", "secure_aggregation": True}),
        (
            "global model, DP sigma=1",
            {"train_examples": 100, "local_epochs": 10, "dp": DPSettings(noise_multiplier=1.0)},
        ),
    )
    rows = []
    for label, opts in grid:
        runs = [membership_assessment(rounds=30, seed=s, **opts) for s in seeds]
        row: dict[str, Any] = {"target": label, "runs": len(runs)}
        for attack in ("loss", "lira"):
            for key in ("auc", "tpr_at_1pct_fpr"):
                row[f"{attack}_{key}"] = sum(r["attacks"][attack][key] for r in runs) / len(runs)
        rows.append(row)
    return rows
