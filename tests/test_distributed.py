"""Distributed training: 2 gloo processes under torchrun follow the single-process loss trajectory.

Run as a script by torchrun (see :func:`test_two_gloo_processes_match_one_process`),
this file trains the tiny BERT with :func:`workbench.distributed.fit_distributed`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.distributed import all_gather_with_grad, shard_rows, world

STEPS, GLOBAL_BATCH = 20, 8
SUBJECTS = ["a man", "a woman", "the child", "the dog", "the cat", "someone", "the men", "the women"]
ACTIONS = [
    "is eating bread",
    "plays the guitar",
    "rides a horse",
    "drives a car",
    "sits on the street",
    "is playing piano",
    "eats pasta",
    "is happy",
    "is sad",
    "sits in the car",
]


def pairs() -> list:
    from workbench.data import Example

    return [Example([f"{s} {a}", f"{s} {a} with music"]) for s in SUBJECTS for a in ACTIONS]


def train(model_dir: str, distributed: bool) -> dict[str, list[float]]:
    """Loss and gradient norm of 20 MNRL steps on the tiny BERT (dropout off: it draws other numbers per process)."""
    from workbench import SentenceEncoder
    from workbench.distributed import fit_distributed
    from workbench.losses import MultipleNegativesRankingLoss
    from workbench.modules import Pooling, Transformer
    from workbench.training import fit

    transformer = Transformer(
        model_dir, max_seq_length=32, config_args={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    )
    model = SentenceEncoder(modules=[transformer, Pooling(32)], device="cpu")
    options = dict(
        batch_size=GLOBAL_BATCH, steps_per_epoch=STEPS, seed=3, lr=1e-3, scheduler="constant", show_progress_bar=False
    )
    run = fit_distributed if distributed else fit
    history = run(model, [(pairs(), MultipleNegativesRankingLoss(model))], **options)
    return {key: [float(x) for x in history[key]] for key in ("loss", "grad_norm")}


def test_two_gloo_processes_match_one_process(tiny_bert_dir, tmp_path):
    out = tmp_path / "losses.json"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        __file__,
        str(tiny_bert_dir),
        str(out),
    ]
    launched = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    single = train(str(tiny_bert_dir), distributed=False)  # meanwhile, in this process
    log, _ = launched.communicate(timeout=300)
    assert launched.returncode == 0, log[-3000:]
    ranks = json.loads(out.read_text())
    assert len(single["loss"]) == STEPS and single["loss"][-1] < single["loss"][0]  # it learns
    for run in ranks.values():  # every process computes the loss of the whole global batch
        assert run["loss"] == pytest.approx(single["loss"], rel=2e-4, abs=1e-5)
        # AdamW would hide a wrongly scaled gradient; its norm does not
        assert run["grad_norm"] == pytest.approx(single["grad_norm"], rel=2e-3)


def test_single_process_helpers_are_identities():
    x = torch.randn(3, 2, requires_grad=True)
    assert world() == (0, 1)
    assert all_gather_with_grad(x) is x
    batch = {"input_ids": torch.arange(10).view(5, 2), "attention_mask": torch.ones(5, 2), "note": "kept"}
    parts = [shard_rows(batch, r, 3) for r in range(3)]
    assert [p["input_ids"][:, 0].tolist() for p in parts] == [[0], [2, 4], [6, 8]]
    assert all(p["note"] == "kept" for p in parts)


if __name__ == "__main__":  # one torchrun process
    model_dir, out = sys.argv[1], Path(sys.argv[2])
    trajectory = train(model_dir, distributed=True)
    rank, size = world()
    gathered: list = [None] * size
    torch.distributed.all_gather_object(gathered, trajectory)
    if rank == 0:
        out.write_text(json.dumps({str(r): values for r, values in enumerate(gathered)}))
