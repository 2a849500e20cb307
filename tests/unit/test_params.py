"""params.yaml loading: the real file loads, and every kind of mistake stops the run at load time
with a message that names the key and what would be valid.

Variants are built from the real params.yaml (so the tests follow the file as it grows), changed
in one place, and written to tmp_path.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneline.errors import ConfigError
from tuneline.params import Params, TrainParams, load_params

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture(scope="module")
def base_raw() -> dict[str, Any]:
    """The real params.yaml as a plain dict; each test deep-copies it before changing it."""
    return yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))


def _load_variant(raw: dict[str, Any], tmp_path: Path) -> Params:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_params(path)


def _variant_error(base: dict[str, Any], tmp_path: Path, change) -> str:  # noqa: ANN001
    """Apply `change` to a copy of params.yaml and return the ConfigError message it causes."""
    raw = copy.deepcopy(base)
    change(raw)
    with pytest.raises(ConfigError) as info:
        _load_variant(raw, tmp_path)
    return info.value.message


def test_real_params_yaml_loads() -> None:
    params = load_params(PARAMS_YAML)
    raw = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))
    assert isinstance(params, Params)
    assert isinstance(params.train, TrainParams)
    # values arrive typed and unchanged
    assert params.train.quantization == raw["train"]["quantization"]
    assert params.train.lora_r == raw["train"]["lora_r"]
    assert params.split.salt == raw["split"]["salt"]
    assert params.prepare.columns.question == raw["prepare"]["columns"]["question"]
    # YAML lists become tuples, so the frozen object holds no mutable sequences
    assert params.validate.question_chars == tuple(raw["validate"]["question_chars"])
    assert isinstance(params.validate.allowed_categories, tuple)


def test_unchanged_dump_of_params_yaml_loads(base_raw: dict[str, Any], tmp_path: Path) -> None:
    # guards the helper itself: a round trip through yaml.safe_dump must not change the meaning
    assert _load_variant(copy.deepcopy(base_raw), tmp_path) == load_params(PARAMS_YAML)


def test_unknown_top_level_key_names_it_and_lists_valid_keys(
    base_raw: dict[str, Any], tmp_path: Path
) -> None:
    message = _variant_error(base_raw, tmp_path, lambda r: r.update(trian={"lora_r": 8}))
    assert "trian" in message
    for section in ("train", "prepare", "split", "model", "evaluate"):
        assert section in message.split("valid keys")[1]


def test_unknown_nested_key_names_it_and_lists_valid_keys(
    base_raw: dict[str, Any], tmp_path: Path
) -> None:
    message = _variant_error(base_raw, tmp_path, lambda r: r["train"].update(lr_typo=0.1))
    assert "lr_typo" in message
    assert "train" in message  # says which section
    valid = message.split("valid keys")[1]
    for key in ("learning_rate", "lora_r", "quantization", "max_length"):
        assert key in valid


def test_unknown_key_two_levels_down(base_raw: dict[str, Any], tmp_path: Path) -> None:
    message = _variant_error(
        base_raw, tmp_path, lambda r: r["prepare"]["columns"].update(questoin="q")
    )
    assert "questoin" in message
    assert "question" in message.split("valid keys")[1]


def test_missing_key_is_named(base_raw: dict[str, Any], tmp_path: Path) -> None:
    message = _variant_error(base_raw, tmp_path, lambda r: r["train"].pop("learning_rate"))
    assert "missing" in message
    assert "learning_rate" in message


def test_missing_section_is_named(base_raw: dict[str, Any], tmp_path: Path) -> None:
    message = _variant_error(base_raw, tmp_path, lambda r: r.pop("split"))
    assert "missing" in message
    assert "'split'" in message


def test_bad_quantization_names_the_valid_options(base_raw: dict[str, Any], tmp_path: Path) -> None:
    message = _variant_error(base_raw, tmp_path, lambda r: r["train"].update(quantization="fp4"))
    assert "quantization" in message
    assert "fp4" in message
    for option in ("nf4", "int8", "none"):
        assert option in message


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("train", "lora_r"),  # int
        ("train", "learning_rate"),  # float
        ("monitor", "drift_threshold"),  # float
    ],
)
def test_bool_is_refused_for_a_number(
    base_raw: dict[str, Any], tmp_path: Path, section: str, key: str
) -> None:
    # YAML reads `yes`/`true` as a bool; Python treats True as 1, so it must be refused explicitly
    message = _variant_error(base_raw, tmp_path, lambda r: r[section].update({key: True}))
    assert key in message
    assert "number" in message


def test_int_is_accepted_for_a_float(base_raw: dict[str, Any], tmp_path: Path) -> None:
    raw = copy.deepcopy(base_raw)
    raw["train"]["lora_dropout"] = 0
    params = _load_variant(raw, tmp_path)
    assert params.train.lora_dropout == 0.0
    assert isinstance(params.train.lora_dropout, float)


def test_string_is_refused_for_a_number(base_raw: dict[str, Any], tmp_path: Path) -> None:
    message = _variant_error(base_raw, tmp_path, lambda r: r["train"].update(batch_size="16"))
    assert "batch_size" in message


def test_hub_source_without_revision_is_refused(base_raw: dict[str, Any], tmp_path: Path) -> None:
    def to_hub(raw: dict[str, Any]) -> None:
        raw["model"].update(source="hub", base="org/some-model", revision=None)

    message = _variant_error(base_raw, tmp_path, to_hub)
    assert "model.revision" in message
    assert "org/some-model" in message


def test_hub_source_with_revision_loads(base_raw: dict[str, Any], tmp_path: Path) -> None:
    raw = copy.deepcopy(base_raw)
    raw["model"].update(source="hub", base="org/some-model", revision="a" * 40)
    params = _load_variant(raw, tmp_path)
    assert params.model.source == "hub"
    assert params.model.revision == "a" * 40


@pytest.mark.parametrize(("validation", "test"), [(0.25, 0.25), (0.3, 0.3), (0.1, 0.45)])
def test_held_out_fractions_of_half_or_more_are_refused(
    base_raw: dict[str, Any], tmp_path: Path, validation: float, test: float
) -> None:
    message = _variant_error(
        base_raw,
        tmp_path,
        lambda r: r["split"].update(validation_fraction=validation, test_fraction=test),
    )
    assert "split" in message
    assert "0.5" in message


def test_held_out_fractions_just_below_half_load(base_raw: dict[str, Any], tmp_path: Path) -> None:
    raw = copy.deepcopy(base_raw)
    raw["split"].update(validation_fraction=0.2, test_fraction=0.2)
    params = _load_variant(raw, tmp_path)
    assert params.split.validation_fraction + params.split.test_fraction == pytest.approx(0.4)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_params_are_frozen() -> None:
    params = load_params(PARAMS_YAML)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train = params.train  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.train.learning_rate = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.prepare.columns.question = "other"  # type: ignore[misc]


@pytest.mark.parametrize("key", ["train.learning_rate", "monitor.drift_threshold"])
@pytest.mark.parametrize("spelling", [".nan", ".NaN", ".inf", "-.inf", ".Inf"])
def test_non_finite_numbers_are_refused_with_the_dotted_key(
    tmp_path: Path, key: str, spelling: str
) -> None:
    """A NaN threshold makes every comparison false (drift never found); .inf switches a check
    off or makes training diverge. Both keys have no range check that would catch them."""
    raw = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))
    section, name = key.split(".")
    raw[section][name] = 0.123456789
    dumped = yaml.safe_dump(raw, sort_keys=False).replace("0.123456789", spelling)
    path = tmp_path / "params.yaml"
    path.write_text(dumped, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert f"{path}:{key}:" in info.value.message and "finite" in info.value.message


@pytest.mark.parametrize("section", ["train", "split"])
def test_a_key_given_twice_is_refused_with_the_dotted_key(tmp_path: Path, section: str) -> None:
    """YAML keeps the last of two equal keys; a reader of the file sees the first."""
    raw = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))
    key = next(iter(raw[section]))
    dumped = yaml.safe_dump(raw, sort_keys=False)
    line = f"  {key}: {yaml.safe_dump(raw[section][key]).splitlines()[0]}"
    assert line in dumped.splitlines()
    path = tmp_path / "params.yaml"
    path.write_text(dumped.replace(line, f"{line}\n{line}", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert f"{section}.{key}: given twice" in info.value.message
    assert str(path) in info.value.message


def test_a_top_level_section_given_twice_is_refused(tmp_path: Path) -> None:
    text = PARAMS_YAML.read_text(encoding="utf-8")
    path = tmp_path / "params.yaml"
    path.write_text(text + "\nsplit:\n  salt: other\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params.yaml:split: given twice"):
        load_params(path)
