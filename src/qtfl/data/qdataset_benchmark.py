"""QDataSet generation: the library behind ``qtfl qdataset generate`` and ``qtfl bench qdataset``.

Speed is examples per second of :func:`qtfl.data.qdataset.generate_qdataset` (pulses, noise,
evolution of all K realisations, V_O and expectations; file writing excluded), best of a few
repeats, with torch limited to one thread (the FL engine's setting on shared machines).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qtfl.data.qdataset import DEFAULT_TIME_STEPS, generate_qdataset
from qtfl.errors import require_int


def generate_summary(
    name: str,
    *,
    examples: int,
    realisations: int,
    seed: int,
    out: str | Path,
    time_steps: int = DEFAULT_TIME_STEPS,
    keep_noise: bool = False,
    evolution: str = "faithful",
) -> dict[str, Any]:
    """Generate ``name``, write it to ``out`` (.npz) and report what was written."""
    import qtfl.data._qdataset_evolution  # noqa: F401  (torch's import is not generation time)

    t0 = time.perf_counter()
    data = generate_qdataset(
        name,
        examples=examples,
        realisations=realisations,
        seed=seed,
        time_steps=time_steps,
        keep_noise=keep_noise,
        evolution=evolution,
    )
    seconds = time.perf_counter() - t0
    path = data.save(out)
    meta = data.metadata()
    return {
        "name": meta["name"],
        "out": str(path),
        "examples": meta["examples"],
        "realisations": meta["realisations"],
        "time_steps": meta["time_steps"],
        "evolution": meta["evolution"],
        "expectations_per_example": int(data.expectation_vector().shape[1]),
        "noise_profiles": meta["noise_profiles"],
        "seed": seed,
        "seconds": seconds,
        "examples_per_second": meta["examples"] / seconds,
        "bytes": path.stat().st_size,
    }


def benchmark_qdataset(
    *,
    examples_1q: int = 200,
    examples_2q: int = 8,
    realisations: int = 100,
    time_steps: int = DEFAULT_TIME_STEPS,
    repeats: int = 2,
    one_qubit: str = "G_1q_XZ_N1",
    two_qubit: str = "G_2q_IX-XI-XX_IZ-ZI_N1-N6",
) -> dict[str, Any]:
    """Examples per second for a one-qubit and a two-qubit set (best of ``repeats``)."""
    import torch

    require_int("repeats", repeats, low=1)
    torch.set_num_threads(1)
    out: dict[str, Any] = {"realisations": realisations, "time_steps": time_steps}
    for key, name, n in (
        ("one_qubit", one_qubit, examples_1q),
        ("two_qubit", two_qubit, examples_2q),
    ):
        best = float("inf")
        for r in range(repeats):
            t0 = time.perf_counter()
            generate_qdataset(
                name, examples=n, realisations=realisations, seed=r, time_steps=time_steps
            )
            best = min(best, time.perf_counter() - t0)
        out[key] = {
            "name": name,
            "examples": n,
            "seconds": best,
            "examples_per_second": n / best,
            "step_unitaries_per_second": n * realisations * time_steps / best,
        }
    for key in ("one_qubit", "two_qubit"):  # cost scales with K: the paper's 10,000 x 2,000
        seconds_per_example = 2000 / realisations / out[key]["examples_per_second"]
        out[key]["paper_size_hours"] = 10_000 * seconds_per_example / 3600
    return out
