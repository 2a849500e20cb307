"""Memory estimate before training starts, so a too-large choice fails in seconds with a message
instead of an out-of-memory crash an hour in.

The model is built on the meta device (no weights allocated) to count exactly which parameters
are quantised (the decoder's Linear layers), which stay in the compute dtype (embeddings, norms,
the output head) and how many LoRA weights each adapted layer adds. Activations are estimated
per token and layer for a Llama-style decoder block; the figure is a planning number (within
~25 % of measured peaks on Llama shapes), not an exact one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tuneline.errors import ConfigError
from tuneline.params import TrainParams

log = logging.getLogger(__name__)

GIB = 1024**3
# Bytes per quantised weight. NF4: 4 bits + one 8-bit absmax per 64 weights + (double
# quantisation) one fp32 constant per 256 absmax values.
QUANTISED_BYTES = {"nf4": 0.5 + 1 / 64 + 4 / (64 * 256), "int8": 1.0 + 4 / 4096}
OPTIMIZER_BYTES = {  # per trainable (fp32) parameter: Adam's two moments
    "adamw_torch": 8,
    "adamw_torch_fused": 8,
    "adamw_8bit": 2,
    "paged_adamw_8bit": 2,
}
HEADROOM = 0.9  # never plan to use more than this share of the free memory
CUDA_OVERHEAD = 1.0 * GIB  # CUDA context, cuBLAS workspaces, allocator fragmentation


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device for one training process."""

    weights: float  # the frozen base, quantised where it is
    adapters: float  # LoRA weights + their gradients (fp32)
    optimizer: float
    activations: float  # saved for backward, incl. logits and their fp32 loss copies
    overhead: float
    trainable_params: int
    quantised_params: int
    other_params: int

    @property
    def total(self) -> float:
        return self.weights + self.adapters + self.optimizer + self.activations + self.overhead

    def describe(self) -> str:
        parts = (
            ("weights", self.weights),
            ("adapters+grads", self.adapters),
            ("optimizer", self.optimizer),
            ("activations", self.activations),
            ("overhead", self.overhead),
        )
        shown = ", ".join(f"{name} {value / GIB:.2f}" for name, value in parts)
        return f"{self.total / GIB:.2f} GiB ({shown} GiB)"


def linear_layers(model: Any) -> dict[str, tuple[int, int]]:
    """Decoder Linear layers by name -> (in, out) features; the output head is excluded, as
    PEFT's `all-linear` does, since adapting it costs vocab-size weights for little gain."""
    import torch

    head = model.get_output_embeddings()
    return {
        name: (module.in_features, module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    }


def adapted_layers(model: Any, target_modules: str | tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """The Linear layers LoRA will wrap: all of them, or those whose last name part is listed."""
    layers = linear_layers(model)
    if target_modules == "all-linear":
        return layers
    wanted = {target_modules} if isinstance(target_modules, str) else set(target_modules)
    return {name: shape for name, shape in layers.items() if name.rsplit(".", 1)[-1] in wanted}


def meta_model(config: Any, trust_remote_code: bool = False) -> Any:
    """The architecture of `config` with no memory behind its weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)


def estimate(model: Any, cfg: TrainParams, dtype_bytes: int, on_gpu: bool) -> MemoryEstimate:
    """Estimate one process's peak memory for training `model` (a meta or real model) with `cfg`.

    Worst case batch: `batch_size` examples of `max_length` tokens (packed or padded alike).
    """
    config = model.config
    linear = linear_layers(model)
    adapted = adapted_layers(model, cfg.target_modules)
    quantised = sum(i * o for i, o in linear.values()) if cfg.quantization != "none" else 0
    total_params = sum(p.numel() for p in model.parameters())
    other = total_params - quantised
    # peft's prepare_model_for_kbit_training casts every non-quantised weight (embeddings,
    # output head, norms) to fp32 for stable training through 4/8-bit layers
    other_bytes = 4 if cfg.quantization != "none" else dtype_bytes
    weight_bytes = QUANTISED_BYTES.get(cfg.quantization, 0) * quantised + other_bytes * other
    trainable = sum(cfg.lora_r * (i + o) for i, o in adapted.values())
    tokens = cfg.batch_size * cfg.max_length
    return MemoryEstimate(
        weights=weight_bytes,
        adapters=trainable * (4 + 4),  # fp32 weights + fp32 gradients
        optimizer=trainable * OPTIMIZER_BYTES[cfg.optimizer],
        activations=tokens * _activation_bytes_per_token(config, cfg, dtype_bytes),
        overhead=CUDA_OVERHEAD if on_gpu else 0.0,
        trainable_params=trainable,
        quantised_params=quantised,
        other_params=other,
    )


def _activation_bytes_per_token(config: Any, cfg: TrainParams, s: int) -> float:
    """Tensors kept for backward, per token: decoder layers plus the logits and the loss.

    Per layer (Llama block, sdpa attention): norm inputs, q/k/v/o and MLP inputs/outputs
    ~ (13 h + 2 kv + 5 I) values, LoRA dropout copies included. With gradient checkpointing only
    each layer's input (h) is kept, plus one layer recomputed at a time. Logits: the model's copy
    in `s` bytes, an fp32 copy for the loss, and its fp32 gradient (V * (s + 8)).
    """
    h = config.hidden_size
    inter = getattr(config, "intermediate_size", 4 * h)
    heads = config.num_attention_heads
    kv = h * getattr(config, "num_key_value_heads", heads) // heads
    layers = config.num_hidden_layers
    per_layer = (13 * h + 2 * kv + 5 * inter) * s
    decoder = (layers * h * s + per_layer) if cfg.gradient_checkpointing else layers * per_layer
    return decoder + config.vocab_size * (s + 8)


def available_bytes(on_gpu: bool) -> float:
    """Free memory on this process's device: the GPU's free memory, or the host's available RAM."""
    if on_gpu:
        import torch

        free, _ = torch.cuda.mem_get_info(torch.cuda.current_device())
        return float(free)
    import psutil

    return float(psutil.virtual_memory().available)


def check_fits(needed: MemoryEstimate, available: float, cfg: TrainParams, device: str) -> None:
    """Fail now, naming the knobs to turn, when the estimate exceeds the usable memory."""
    usable = available * HEADROOM
    if needed.total <= usable:
        return
    hints = [f"train.batch_size ({cfg.batch_size}) or train.max_length ({cfg.max_length})"]
    if not cfg.gradient_checkpointing:
        hints.append("train.gradient_checkpointing: true")
    if cfg.quantization != "nf4":
        hints.append("train.quantization: nf4")
    if cfg.optimizer in ("adamw_torch", "adamw_torch_fused"):
        hints.append("train.optimizer: paged_adamw_8bit")
    raise ConfigError(
        f"train: estimated memory {needed.describe()} exceeds {usable / GIB:.2f} GiB usable on "
        f"{device} ({HEADROOM:.0%} of {available / GIB:.2f} GiB free). Lower "
        + "; or set ".join(hints)
        + ". (Gradient accumulation keeps the effective batch while lowering batch_size.)"
    )
