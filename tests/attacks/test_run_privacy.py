"""Run-level privacy assessment on a trained digits federation."""

from __future__ import annotations

import numpy as np
import torch

from qtfl.attacks.run_privacy import assess_simulation, privacy_tables
from qtfl.channel import PlainChannel
from qtfl.data import load_dataset
from qtfl.fl.client import LocalTraining
from qtfl.fl.engine import FederatedSimulation, SimulationSettings
from qtfl.fl.privacy import make_postprocessors
from qtfl.fl.strategies import FedAvg
from qtfl.models.registry import build_model
from qtfl.present.privacy import privacy_section_html


def _sim(model: str, *, masked: bool, rounds: int = 2, n: int = 200) -> FederatedSimulation:
    torch.set_num_threads(1)
    ds = load_dataset("digits")
    clients = np.array_split(np.arange(n, dtype=np.int64), 5)
    sim = FederatedSimulation(
        model=build_model(model, input_shape=ds.input_shape, num_classes=10, hidden=32, seed=0),
        x_train=ds.x_train[:n],
        y_train=ds.y_train[:n],
        x_test=ds.x_test,
        y_test=ds.y_test,
        client_indices=clients,
        strategy=FedAvg(),
        uplink=PlainChannel(),
        downlink=PlainChannel(),
        training=LocalTraining(local_epochs=1, batch_size=10, lr=0.1),
        settings=SimulationSettings(
            rounds=rounds, backend="loop" if model == "convnet" else "auto"
        ),
        seed=0,
        postprocessors=make_postprocessors(dp=None, secure_aggregation=masked, max_abs=4.0),
    )
    for _ in range(rounds):
        sim.run_round()
    return sim


def test_plaintext_run_leaks_to_both_attackers_and_masking_stops_both() -> None:
    open_ = assess_simulation(_sim("mlp", masked=False), methods=["analytic"])
    for who in ("eavesdropper", "server"):
        assert open_["inversion"][f"{who}/analytic"]["psnr_db"] >= 40.0
    m = open_["membership"]
    assert 0.0 <= m["loss"]["auc"] <= 1.0 and 0.0 <= m["lira"]["tpr_at_1pct_fpr"] <= 1.0
    masked = assess_simulation(_sim("mlp", masked=True), methods=["analytic"], membership=False)
    eve = masked["inversion"]["eavesdropper/analytic"]
    assert abs(eve["psnr_db"] - eve["baseline_psnr_db"]) <= 1.5
    assert masked["inversion"]["server/analytic"]["psnr_db"] < 20.0  # a blend of 5 examples
    html = privacy_section_html(privacy_tables({"plain": open_, "masked": masked}))
    assert html.count("<tr>") == 1 + 4 + 1 + 2  # two headers, 4 inversion and 2 membership rows


def test_unsupported_method_is_reported_not_raised() -> None:
    out = assess_simulation(
        _sim("convnet", masked=False, rounds=1, n=25), methods=["analytic"], membership=False
    )
    assert "fully connected first layer" in out["inversion"]["server/analytic"]["unsupported"]
