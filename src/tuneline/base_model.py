"""The base model: loading it (hub id pinned by revision, or a local path hashed) and building the
tiny offline demo model that stands in for a real one where nothing can be downloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuneline.errors import ConfigError
from tuneline.params import DemoModelParams, ModelParams, Quantization

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>"]
# One turn per role marker; the prompt for generation ends with the assistant marker.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|eos|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


@dataclass(frozen=True)
class BaseModelRef:
    """What an auditor needs to get the exact same base weights back."""

    source: str  # local | hub
    base: str  # path (as configured) or hub id
    revision: str | None  # hub commit; None for local
    weight_sha256: dict[str, str]  # local: file name -> sha256 of each weight file

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def same_base(recorded: Path, current: BaseModelRef) -> bool:
    """Was the adapter whose base_model.json is `recorded` trained on these exact base weights?"""
    if not recorded.is_file():
        return False
    return json.loads(recorded.read_text(encoding="utf-8")) == asdict(current)


def resolve_base(params: ModelParams, root: Path) -> BaseModelRef:
    """Reference to the configured base; a local base must exist and is hashed file by file."""
    if params.source == "hub":
        return BaseModelRef("hub", params.base, params.revision, {})
    path = _local_path(params, root)
    weights = sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not weights:
        raise ConfigError(f"model.base: no weight files ({', '.join(WEIGHT_SUFFIXES)}) in {path}")
    return BaseModelRef("local", params.base, None, {p.name: sha256_file(p) for p in weights})


def _local_path(params: ModelParams, root: Path) -> Path:
    path = (root / params.base).resolve()
    if not path.is_dir():
        hint = " Build the demo model with `tuneline demo-model`." if "demo" in params.base else ""
        raise ConfigError(f"model.base: local model directory {path} does not exist.{hint}")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def quantization_config(quantization: Quantization, compute_dtype: Any) -> Any:
    """bitsandbytes settings: QLoRA's 4-bit NF4 with double quantisation, 8-bit, or none."""
    from transformers import BitsAndBytesConfig

    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,  # quantises the constants too: ~0.4 bit/param saved
            bnb_4bit_compute_dtype=compute_dtype,
        )
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def compute_dtype(choice: str = "auto") -> Any:
    """`model.compute_dtype`; auto = bf16 on GPUs that support it, fp32 otherwise (CPU matmuls
    in bf16 are slow and lossy, and fp16 overflows without loss scaling)."""
    import torch

    if choice != "auto":
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[choice]
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def device_map() -> str | dict[str, int]:
    """Where the weights go: under DDP (`accelerate launch`, WORLD_SIZE > 1) each process holds a
    whole copy on its own GPU; otherwise "auto" spreads one copy over the visible GPUs."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return "auto"


def load_tokenizer(params: ModelParams, root: Path) -> Any:
    from transformers import AutoTokenizer

    name, kwargs = _location(params, root)
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs, **_remote_code(params))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_config(params: ModelParams, root: Path) -> Any:
    """The base's architecture (config.json only): enough to estimate memory before loading."""
    from transformers import AutoConfig

    name, kwargs = _location(params, root)
    return AutoConfig.from_pretrained(name, **kwargs, **_remote_code(params))


def load_base_model(params: ModelParams, root: Path, quantization: Quantization) -> Any:
    """The base causal LM, quantised as asked; the same code path for hub ids and local dirs."""
    from transformers import AutoModelForCausalLM

    dtype = compute_dtype(params.compute_dtype)
    name, kwargs = _location(params, root)
    model = AutoModelForCausalLM.from_pretrained(
        name,
        **kwargs,
        quantization_config=quantization_config(quantization, dtype),
        dtype=dtype,
        device_map=device_map(),
        **_remote_code(params),
    )
    log.info("loaded base %s (%s, %s)", params.base, quantization, dtype)
    return model


def _remote_code(params: ModelParams) -> dict[str, bool]:
    """trust_remote_code as configured; when on, say so, since it runs the model's own Python."""
    if params.trust_remote_code:
        log.warning(
            "model.trust_remote_code is on: running Python code shipped with %s", params.base
        )
    return {"trust_remote_code": params.trust_remote_code}


def _location(params: ModelParams, root: Path) -> tuple[str, dict[str, Any]]:
    """from_pretrained arguments: hub id + revision, or the resolved local directory."""
    if params.source == "hub":
        return params.base, {"revision": params.revision}
    return str(_local_path(params, root)), {}


def _pretrain(model: Any, tokenizer: Any, texts: list[str], params: DemoModelParams) -> None:
    """Next-token training on each text alone (no question/answer pairing), full parameters."""
    import torch

    from tuneline.prompts import PadCollator

    docs = [
        [
            tokenizer.bos_token_id,
            *tokenizer(t, add_special_tokens=False)["input_ids"],
            tokenizer.eos_token_id,
        ][: params.max_positions]
        for t in texts
    ]
    collate = PadCollator(tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    order = torch.Generator().manual_seed(params.seed)
    model.train()
    for epoch in range(params.pretrain_epochs):
        total = 0.0
        batches = torch.randperm(len(docs), generator=order).split(32)
        for batch in batches:
            examples = [{"input_ids": docs[i], "labels": docs[i]} for i in batch.tolist()]
            inputs = collate(examples)
            loss = model(**inputs).loss  # padded positions carry -100 labels: no loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            total += float(loss)
        log.info(
            "demo base pre-training: epoch %d/%d, loss %.3f",
            epoch + 1,
            params.pretrain_epochs,
            total / len(batches),
        )
    model.eval()


def build_demo_model(corpus: Iterable[str], out_dir: Path, params: DemoModelParams) -> Path:
    """Train a BPE tokenizer on `corpus` and save a random-init tiny Llama beside it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=params.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte stays encodable
    )
    corpus_texts = list(corpus)
    bpe.train_from_iterator(corpus_texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=params.hidden_size,
        intermediate_size=params.hidden_size * 4,
        num_hidden_layers=params.layers,
        num_attention_heads=params.heads,
        num_key_value_heads=params.heads,
        max_position_embeddings=params.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(params.seed)
    model = LlamaForCausalLM(config)
    if params.pretrain_epochs:
        _pretrain(model, tokenizer, list(corpus_texts), params)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    log.info("demo base model: %d parameters -> %s", model.num_parameters(), out_dir)
    return out_dir
