"""Dense: a feed-forward layer on the sentence embedding."""

from __future__ import annotations

from typing import Any

from torch import nn

from .base import Module, non_default, refuse_unknown_fields, register

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}
#: every field of a Dense config.json that this module honours (others are refused)
CONFIG_FIELDS = (
    "in_features",
    "out_features",
    "bias",
    "activation_function",
    "activation",
    "module_input_name",
    "module_output_name",
    "use_residual",
)


def _activation_from_name(name: str) -> str:
    """Accept our short names and the ``torch.nn.modules.activation.Tanh`` strings sentence-transformers writes."""
    short = name.rsplit(".", 1)[-1].lower().replace("leakyrelu", "leaky_relu")
    if short not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return short


@register
class Dense(Module):
    """``activation(W x + b)`` on ``sentence_embedding``.

    Parameters
    ----------
    in_features, out_features:
        Input and output widths.
    bias:
        Whether the layer has a bias.
    activation:
        One of ``tanh`` (default, as in sentence-transformers), ``relu``,
        ``gelu``, ``sigmoid``, ``silu``, ``leaky_relu`` or ``identity``.
    module_input_name, module_output_name:
        The features read and written (default: ``sentence_embedding``, and
        the input's name for the output).
    use_residual:
        Add the input to the output (through a bias-free linear map when the
        widths differ), as sentence-transformers' option of that name does.

    Example
    -------
    >>> import torch
    >>> from workbench.modules import Dense
    >>> Dense(4, 2)({"sentence_embedding": torch.ones(3, 4)})["sentence_embedding"].shape
    torch.Size([3, 2])
    """

    st_name = "Dense"
    config_keys = (
        "in_features",
        "out_features",
        "bias",
        "activation",
        "module_input_name",
        "module_output_name",
        "use_residual",
    )

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "tanh",
        module_input_name: str = "sentence_embedding",
        module_output_name: str | None = None,
        use_residual: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.bias = int(in_features), int(out_features), bool(bias)
        self.activation = _activation_from_name(activation)
        self.linear = nn.Linear(self.in_features, self.out_features, bias=self.bias)
        self.activation_function = ACTIVATIONS[self.activation]()
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name or module_input_name
        self.use_residual = bool(use_residual)
        if self.use_residual and self.in_features != self.out_features:
            self.residual = nn.Linear(self.in_features, self.out_features, bias=False)

    def get_sentence_embedding_dimension(self) -> int | None:
        return self.out_features if self.module_output_name == "sentence_embedding" else None

    def get_config(self) -> dict[str, Any]:
        cls = ACTIVATIONS[self.activation]
        config: dict[str, Any] = {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "activation_function": f"{cls.__module__}.{cls.__name__}",
        }
        # The newer fields only when not at their defaults: older sentence-transformers releases refuse them.
        return config | non_default(
            self,
            {
                "module_input_name": "sentence_embedding",
                "module_output_name": self.module_input_name,
                "use_residual": False,
            },
        )

    @classmethod
    def config_from_file(cls, config: dict[str, Any]) -> dict[str, Any]:
        refuse_unknown_fields(config, CONFIG_FIELDS, "Dense", "; the model would compute differently than intended")
        return {
            "in_features": config["in_features"],
            "out_features": config["out_features"],
            "bias": config.get("bias", True),
            "activation": config.get("activation_function", config.get("activation", "tanh")),
            "module_input_name": config.get("module_input_name", "sentence_embedding"),
            "module_output_name": config.get("module_output_name"),
            "use_residual": config.get("use_residual", False),
        }

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        x = features[self.module_input_name]
        out = self.activation_function(self.linear(x))
        if self.use_residual:
            out = out + (self.residual(x) if hasattr(self, "residual") else x)
        features[self.module_output_name] = out
        return features
