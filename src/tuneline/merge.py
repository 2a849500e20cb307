"""A merged model for serving: the adapter folded into a bf16/fp32 copy of the base.

Never into the 4-bit model: `merge_and_unload()` on a bitsandbytes-quantised base silently
damages the weights (the update is added to dequantised values and re-quantised). The base is
loaded again without quantisation, its sha256 is checked against the adapter's base_model.json,
and the merged weights are written as safetensors with the tokenizer.

    tuneline merge --adapter models/adapter --out models/merged --dtype bf16
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from tuneline import atomic
from tuneline.base_model import load_base_model, load_tokenizer, resolve_base, same_base
from tuneline.errors import ConfigError
from tuneline.params import Params

log = logging.getLogger(__name__)
MERGE_DTYPES = ("bf16", "fp32")  # never 4-bit or 8-bit: see the module doc


def merge_adapter(params: Params, root: Path, adapter_dir: Path, out_dir: Path, dtype: str) -> Path:
    """Write base + adapter as one plain model in `dtype` (bf16 or fp32) to `out_dir`."""
    from peft import PeftModel

    if dtype not in MERGE_DTYPES:
        raise ConfigError(f"merge: dtype {dtype!r}; use bf16 or fp32 (never a 4-bit merge)")
    if not same_base(adapter_dir / "base_model.json", resolve_base(params.model, root)):
        raise ConfigError(
            f"merge: {adapter_dir} was trained on other base weights than model.base "
            f"({params.model.base}); merging would produce a model nobody trained"
        )
    model_params = replace(params.model, compute_dtype=cast(Any, dtype))
    base = load_base_model(model_params, root, "none")
    refuse_quantised(base)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    source = json.loads((adapter_dir / "base_model.json").read_text(encoding="utf-8"))
    note = {"merged_from": {"adapter": str(adapter_dir), "base": source, "dtype": dtype}}
    with atomic.output_dir(out_dir) as folder:  # a previous merge stays until this one is whole
        merged.save_pretrained(str(folder), safe_serialization=True)
        load_tokenizer(params.model, root).save_pretrained(str(folder))
        (folder / "merge.json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    log.info("merge: %s + %s -> %s (%s)", params.model.base, adapter_dir, out_dir, dtype)
    return out_dir


def refuse_quantised(model: Any) -> None:
    """Stop before merging into 4-bit/8-bit weights, which merge_and_unload would damage."""
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        raise ConfigError("merge: the base is quantised; merge into a bf16/fp32 copy instead")
