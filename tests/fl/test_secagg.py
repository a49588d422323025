"""Quantum-keyed secure aggregation (SecAgg+ over swapped pairs): Shamir sharing, the
neighbour graph, keys over a relay, exact sums under dropout, a dishonest relay caught, and
a curious server's inversion of one masked update at the noise baseline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import binom, chisquare

from qtfl.attacks.assessment import attack_metrics, client_update, noise_baseline
from qtfl.data import load_dataset
from qtfl.fl.privacy import RoundContext
from qtfl.fl.privacy_keys import PrivacyKeys
from qtfl.fl.secagg import (
    QuantumSecAgg,
    QuantumSecAggSettings,
    harary_edges,
    neighbours_needed,
)
from qtfl.models import build_model
from qtfl.security import shamir
from qtfl.security.leakage import binary_entropy
from qtfl.security.relay_keys import RelayKeySettings, distill_over_relay
from qtfl.security.run_secret import RunSecret


def test_shamir_any_t_shares_reconstruct_and_fewer_look_uniform() -> None:
    rng = np.random.default_rng(0)
    secrets_ = rng.integers(0, 256, size=(40, 16), dtype=np.uint8)
    sh = shamir.split(secrets_, threshold=7, count=15, rng=rng)
    for _ in range(5):
        pick = np.stack([np.sort(rng.choice(15, 7, replace=False)) for _ in range(40)])
        vals = np.take_along_axis(sh.values, pick[:, :, None], axis=1)
        np.testing.assert_array_equal(shamir.combine(pick + 1, vals), secrets_)
    # t - 1 = 1 share of the all-zero secret is uniform on GF(p): 64 equal bins, p > 1e-3
    zeros = np.zeros((20_000, 16), np.uint8)
    one = shamir.split(zeros, threshold=2, count=3, rng=rng).values[:, 0, 0]
    counts = np.bincount((one * 64) // shamir.PRIME, minlength=64)
    assert chisquare(counts).pvalue > 1e-3


def test_neighbour_count_meets_the_failure_bound_and_grows_like_log_n() -> None:
    ks = {}
    for n in (300, 1000, 10_000, 100_000):
        k, t = neighbours_needed(n, dropout=0.3, threshold=0.5, failure_probability=1e-6)
        assert t == math.ceil(0.5 * k)
        assert n * binom.cdf(t - 1, k, 0.7) <= 1e-6
        k2, t2 = k - 2, math.ceil(0.5 * (k - 2))  # the next smaller even degree fails
        assert n * binom.cdf(t2 - 1, k2, 0.7) > 1e-6
        ks[n] = k
    # k / ln(n / failure) stays constant within 5% over three decades of n
    ratios = [k / math.log(n / 1e-6) for n, k in ks.items()]
    assert max(ratios) / min(ratios) < 1.05


def test_harary_graph_is_k_regular_without_repeats() -> None:
    e = harary_edges(101, 10, np.random.default_rng(3))
    assert len({tuple(x) for x in e.tolist()}) == e.shape[0] == 101 * 5
    assert np.all(np.bincount(e.ravel(), minlength=101) == 10)
    assert np.all(e[:, 0] < e[:, 1])


def test_relay_key_length_is_tomamichel_eq2_and_qber_matches_swapped_visibility() -> None:
    s = RelayKeySettings()
    n, k = s.sifted_bits()
    # Eq. (2) written out here independently: ln(4/eps_sec), Q_tol fixed in advance
    mu = math.sqrt((n + k) / (n * k) * (k + 1) / k * math.log(4 / s.eps_sec))
    leak = math.ceil(1.16 * n * float(binary_entropy(0.05))) + math.ceil(math.log2(1 / 1e-15))
    ell = math.floor(
        n * (1 - float(binary_entropy(0.05 + mu))) - leak - math.log2(2 / (1e-20 * 1e-15))
    )
    assert s.key_length(n) == ell >= 128 > s.key_length(n - 1)
    edges = np.stack([np.arange(2000), np.arange(2000) + 2000], axis=1)
    keys = distill_over_relay(
        edges, link_fidelity=0.98, settings=s, rng=np.random.default_rng(1),
        secret_rng=np.random.default_rng(2),
    )  # fmt: skip
    v = ((4 * 0.98 - 1) / 3) ** 2  # visibilities multiply through the swap
    q = (1 - v) / 2
    sd = math.sqrt(q * (1 - q) / (k * edges.shape[0]))
    assert abs(keys.qber.mean() - q) < 4 * sd
    assert keys.established.all()
    assert keys.ledger.bell_pairs >= 2 * 2 * (n + k) * edges.shape[0] * 0.99  # ~2 raw per sift


def test_a_measuring_relay_is_detected_on_every_edge() -> None:
    edges = np.array([[0, 1], [1, 2], [2, 3], [0, 3]])
    keys = distill_over_relay(
        edges, link_fidelity=0.99, settings=RelayKeySettings(), relay="measure",
        rng=np.random.default_rng(4), secret_rng=np.random.default_rng(5),
    )  # fmt: skip
    assert not keys.established.any() and keys.detected == 4
    assert np.all(keys.qber > 0.2)  # ~ (Q_Z + 1/2) / 2


def _aggregate(
    n: int, dropout: float, seed: int, *, keys: PrivacyKeys | None = None
) -> tuple[np.ndarray, np.ndarray, QuantumSecAgg]:
    rng = np.random.default_rng(seed)
    updates = rng.normal(0, 0.05, (n, 300)).astype(np.float32)
    sa = QuantumSecAgg(QuantumSecAggSettings(), rng=np.random.default_rng(seed + 1), keys=keys)
    ctx = RoundContext(round=1, cohort=np.arange(n), cohort_weights=np.ones(n), rng=rng)
    alive = np.flatnonzero(rng.random(n) >= dropout)
    masked = np.stack(
        [sa.postprocess_one_user(updates[c], client=int(c), weight=1.0, context=ctx)[0]
         for c in alive]
    )  # fmt: skip
    total = sa.unmask_sum(masked, survivors=alive, cohort=np.arange(n), round_=1)
    plain = np.sum([sa.encode(updates[c], share=1 / n, cohort_size=n) for c in alive], axis=0)
    return total, plain % (1 << 24), sa


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_masked_sum_equals_the_plain_sum_exactly(dropout: float) -> None:
    total, plain, sa = _aggregate(300, dropout, seed=7)
    np.testing.assert_array_equal(total, plain)
    report = sa.rounds[-1]
    assert report.unmasked and report.neighbours == 188 and report.threshold == 94
    assert (report.dropped > 60) == (dropout > 0)
    assert report.ledger.payload_bits == 128 * report.keys_established


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_with_holder_keys_the_sum_is_exact_and_the_public_record_unchanged(
    dropout: float,
) -> None:
    # Prepare: the same round with secrets drawn by the object, and derived per holder
    keys = PrivacyKeys(RunSecret(bytes(range(32))), "s")
    # Execute
    total, plain, sa = _aggregate(60, dropout, seed=3, keys=keys)
    _, _, legacy = _aggregate(60, dropout, seed=3)
    # Assert: exact; the public record (graph, keys established, cost) does not depend on
    # where the secrets come from; and the object keeps no secret of its own
    np.testing.assert_array_equal(total, plain)
    mine, theirs = sa.rounds[-1].as_dict(), legacy.rounds[-1].as_dict()
    mine.pop("seconds"), theirs.pop("seconds")
    assert mine == theirs and mine["unmasked"]
    st = sa.round_state(1)
    assert st is not None and st.keys == {} and st.self_seeds == {} and st.shares == {}
    # the self-mask seed is the client's own: the shares any t neighbours hold give it back
    shares = sa.client_shares(1, 0)
    t = st.report.threshold
    seed = shamir.combine(np.arange(1, t + 1)[None, :], shares[None, :t])
    assert bytes(seed[0]) == keys.self_seed(1, 0)


def test_split_each_draws_each_secrets_coefficients_from_its_own_generator() -> None:
    # Prepare: two secrets, each with its owner's generator
    data = np.arange(32, dtype=np.uint8).reshape(2, 16)
    gens = [np.random.default_rng(1), np.random.default_rng(2)]
    # Execute
    both = shamir.split_each(data, threshold=3, count=5, rngs=gens)
    one = shamir.split_each(data[1:], threshold=3, count=5, rngs=[np.random.default_rng(2)])
    # Assert: secret 1's shares do not depend on secret 0 or its generator; any 3 recover it
    np.testing.assert_array_equal(both.values[1], one.values[0])
    got = shamir.combine(np.array([[2, 4, 5]]), both.values[1:, [1, 3, 4]])
    np.testing.assert_array_equal(got[0], data[1])


def test_dishonest_relay_leaves_every_client_without_keys() -> None:
    sa = QuantumSecAgg(QuantumSecAggSettings(relay="measure"), rng=np.random.default_rng(0))
    st = sa.setup(1, np.arange(20))
    assert st.report.keys_established == 0 and st.report.keys_aborted == st.report.edges
    assert st.report.refused == 20  # nobody sends an update exposed by its self mask alone


def test_curious_servers_inversion_of_a_masked_update_is_at_the_noise_baseline() -> None:
    torch.manual_seed(0)
    ds = load_dataset("digits")
    net = build_model("mlp", input_shape=ds.input_shape, num_classes=10, hidden=64, seed=0)
    start = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy()
    x, y = ds.x_train[:1], ds.y_train[:1]
    update = client_update(net, start, x, y, lr=0.1, local_steps=1)
    rng = np.random.default_rng(1)
    sa = QuantumSecAgg(QuantumSecAggSettings(), rng=np.random.default_rng(2))
    ctx = RoundContext(round=1, cohort=np.arange(10), cohort_weights=np.ones(10), rng=rng)
    masked, _ = sa.postprocess_one_user(update, client=0, weight=1.0, context=ctx)
    # the server reads the one masked row as if it were the sum, the best it can do
    view = sa.decode_sum(masked.astype(np.int64), cohort_size=10).astype(np.float32) / 10

    def attack(v: np.ndarray) -> dict:
        return attack_metrics(
            net, v, start=start, truth_x=x, truth_y=y, method="analytic", lr=0.1,
            bounds=(float(ds.x_train.min()), float(ds.x_train.max())), num_classes=10, rng=rng,
        )  # fmt: skip

    clear = attack(update)["psnr_db"]
    hidden = attack(view)["psnr_db"]
    base = noise_baseline(attack, size=start.size, bits=16, max_abs=4.0, draws=4, rng=rng)
    assert clear > 40.0  # the same attack on the unmasked update recovers the image
    assert abs(hidden - base["psnr_db"]) <= 1.0


def test_a_run_with_quantum_keyed_masking_matches_the_plain_run(tmp_path: Path) -> None:
    from qtfl.experiments.config import parse_config
    from qtfl.experiments.runner import run_experiment

    cfg = parse_config(
        {
            "data": {"name": "digits", "num_clients": 20},
            "training": {"rounds": 3, "dropout_probability": 0.3, "lr": 0.2},
            "scenarios": [
                {"name": "plain"},
                {"name": "quantum", "privacy": {"secure_aggregation": True,
                                                "secure_aggregation_keys": "quantum"}},
            ],
        }
    )  # fmt: skip
    s = run_experiment(cfg, out_dir=tmp_path / "run")["scenarios"]
    # masking is exact up to the 24-bit fixed point: the same accuracy as in the clear
    assert s["quantum"]["final_accuracy"] == pytest.approx(s["plain"]["final_accuracy"], abs=0.01)
    q = s["quantum"]["secure_aggregation"]
    assert q["rounds"] == 3 and q["rounds_not_unmasked"] == 0 and q["neighbours"] == 19
    assert q["key_bits_per_round"] == 128 * 19 * 20 / 2
    assert '<section id="secure-aggregation">' in (tmp_path / "run" / "report.html").read_text()


def test_a_resumed_quantum_keyed_run_equals_the_uninterrupted_one() -> None:
    # Prepare: 40 clients (a sparse Harary graph, so the graph generator matters), dropouts;
    # one simulation runs 3 rounds, another 2, goes through a checkpoint and a fresh object
    import tempfile

    from qtfl.experiments.config import parse_config
    from qtfl.experiments.runner import build_simulation, prepare_inputs
    from qtfl.fl.checkpoint import load_checkpoint, save_checkpoint
    from qtfl.fl.engine import FederatedSimulation
    from qtfl.security.run_secret import RunSecret

    cfg = parse_config(
        {
            "data": {"name": "digits", "num_clients": 40},
            "model": {"name": "mlp", "hidden": 8},
            "training": {"rounds": 3, "dropout_probability": 0.2, "lr": 0.2},
            "scenarios": [{"name": "quantum", "privacy": {
                "secure_aggregation": True, "secure_aggregation_keys": "quantum"}}],
        }
    )  # fmt: skip
    [sc] = cfg.resolved_scenarios()
    inputs, secret = prepare_inputs(cfg), RunSecret.generate()

    def fresh() -> FederatedSimulation:
        return build_simulation(cfg, inputs, sc, secrets=secret)

    straight = fresh()
    for _ in range(3):
        straight.run_round()
    first = fresh()
    for _ in range(2):
        first.run_round()
    # Execute: through a real checkpoint file
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(Path(tmp) / "q.pt", first.state(), config_hash="h")
        state, _ = load_checkpoint(Path(tmp) / "q.pt")
    resumed = fresh()
    resumed.restore(state)
    resumed.run_round()
    # Assert: the same global model and the same SecAgg+ record (graphs drawn alike)
    assert resumed.global_params.tobytes() == straight.global_params.tobytes()
    [post_s] = [p for p in straight.postprocessors if hasattr(p, "state_json")]
    [post_r] = [p for p in resumed.postprocessors if hasattr(p, "state_json")]
    no_clock = [{**r.as_dict(), "seconds": None} for r in post_s.rounds]
    assert [{**r.as_dict(), "seconds": None} for r in post_r.rounds] == no_clock
    assert post_r.summary()["rounds"] == 3
