"""A scenario's `compression:` wraps every uplink in the compression step, and a run with
error feedback resumes bit-identically (the residuals travel in the checkpoint)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qtfl.errors import InputError
from qtfl.experiments.config import parse_config
from qtfl.experiments.runner import build_simulation, prepare_inputs
from qtfl.fl.checkpoint import load_checkpoint, save_checkpoint
from qtfl.fl.compressed_channel import CompressedChannel
from qtfl.fl.compression import StochasticQuantizer, TopK


def _config(compression: dict[str, object] | None) -> dict[str, object]:
    scenario: dict[str, object] = {"name": "c", "channel": {"kind": "plain"}}
    if compression is not None:
        scenario["compression"] = compression
    return {
        "seed": 1,
        "data": {"num_clients": 4},
        "model": {"hidden": 16},
        "training": {"rounds": 4, "local_epochs": 1},
        "scenarios": [scenario, {"name": "none", "channel": {"kind": "plain"}}],
    }


def test_scenario_compression_wraps_every_uplink_and_only_that_scenario() -> None:
    config = parse_config(_config({"kind": "topk", "ratio": 0.05}))
    with_c, without = config.resolved_scenarios()
    ups, downs = with_c.build_channels(4)
    assert all(isinstance(u, CompressedChannel) for u in ups)
    assert all(isinstance(u.compressor, TopK) and u.compressor.ratio == 0.05 for u in ups)
    assert not any(isinstance(d, CompressedChannel) for d in downs)
    ups_none, _ = without.build_channels(4)
    assert not any(isinstance(u, CompressedChannel) for u in ups_none)
    q = parse_config(_config({"kind": "quantize", "bits": 4})).resolved_scenarios()[0]
    assert isinstance(q.build_channels(4)[0][0].compressor, StochasticQuantizer)


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"kind": "topk", "ratio": 1.5}, "ratio"),
        ({"kind": "topk", "ratio": 0}, "ratio"),
        ({"kind": "zip"}, "kind"),
        ({"kind": "quantize", "bits": 1}, "bits"),
        ({"kind": "topk", "rate": 0.1}, "rate"),
    ],
)
def test_bad_compression_sections_are_refused_by_name(
    section: dict[str, object], words: str
) -> None:
    with pytest.raises(InputError, match=words):
        parse_config(_config(section))


def test_error_feedback_residuals_survive_a_checkpoint(tmp_path: Path) -> None:
    config = parse_config(_config({"kind": "topk", "ratio": 0.1, "error_feedback": True}))
    inputs = prepare_inputs(config)
    scenario = config.resolved_scenarios()[0]
    straight = build_simulation(config, inputs, scenario)
    for _ in range(4):
        straight.run_round()

    first = build_simulation(config, inputs, scenario)
    for _ in range(2):
        first.run_round()
    state = first.state()
    assert len(state.channel_states) == 4  # one residual per client uplink
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, state, config_hash="h")
    loaded, _ = load_checkpoint(path)
    resumed = build_simulation(config, inputs, scenario)
    resumed.restore(loaded)
    for _ in range(2):
        resumed.run_round()
    np.testing.assert_array_equal(resumed.global_params, straight.global_params)

    # Without the residuals the continuation differs: the checkpoint is what makes it exact.
    lossy = build_simulation(config, inputs, scenario)
    lossy.restore(type(loaded)(**{**loaded.__dict__, "channel_states": {}}))
    for _ in range(2):
        lossy.run_round()
    assert not np.array_equal(lossy.global_params, straight.global_params)
