"""The packed-token inference path computes what the Hugging Face forward computes."""

from __future__ import annotations

import pytest
import torch

from workbench.modules.fused_encoder import FusedEncoder, supports_fused
from workbench.runner import params_changed


@pytest.fixture()
def bert(tiny_bert_dir):
    from transformers import AutoModel

    return AutoModel.from_pretrained(tiny_bert_dir).eval()


def _batch():
    torch.manual_seed(0)
    ids = torch.randint(5, 60, (5, 9))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    mask[3, 1:] = 0  # a one-token sentence
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_matches_hugging_face_on_real_tokens(bert):
    features = _batch()
    with torch.inference_mode():
        reference = bert(**features).last_hidden_state
        fused = FusedEncoder(bert)(features)
    real = features["attention_mask"].bool()
    torch.testing.assert_close(fused[real], reference[real], atol=1e-5, rtol=1e-4)
    assert (fused[~real] == 0).all()


def test_follows_weight_updates(bert):
    features = _batch()
    fused = FusedEncoder(bert)
    with torch.inference_mode():
        before = fused(features)
    with torch.no_grad():  # in place, on a weight the packed cache copies (query/key/value are joined)
        bert.encoder.layer[0].attention.self.query.weight.mul_(2)
    params_changed(bert.parameters())  # what an optimizer step or load_state_dict does by itself
    with torch.inference_mode():
        after = fused(features)
        reference = bert(**features).last_hidden_state
    real = features["attention_mask"].bool()
    assert not torch.allclose(before[real], after[real])
    torch.testing.assert_close(after[real], reference[real], atol=1e-5, rtol=1e-4)


def test_only_supported_architectures(bert):
    assert supports_fused(bert)
    bert.config.hidden_act = "relu"
    assert not supports_fused(bert)


def test_training_forward_keeps_the_autograd_graph(tiny_encoder):
    transformer = tiny_encoder[0]
    transformer.train()
    features = transformer.tokenize(["a man is eating", "the dog"])
    out = transformer(features)["token_embeddings"]
    assert out.requires_grad  # the packed-token path trains too; test_fused_training.py checks its gradients
