"""Settings built from plain values: nested settings found by their fields' type hints, unknown keys refused."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from imgclf.config import DecodeLimits, build_dataclass, refuse_unknown_keys
from imgclf.errors import ArtifactError, ConfigError


@dataclass(frozen=True)
class Inner:
    size: int = 1
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outer:
    decode: DecodeLimits = field(default_factory=DecodeLimits)  # no field of that name is nested anywhere else
    inner: Inner | None = None
    extra: dict = field(default_factory=dict)  # a plain mapping stays a mapping


def test_a_nested_settings_object_is_built_from_its_fields_type_whatever_the_fields_name() -> None:
    built = build_dataclass(Outer, {"decode": {"max_bytes": 1000}}, "")
    assert built.decode == DecodeLimits(max_bytes=1000)


def test_an_optional_nested_settings_object_is_built_and_its_lists_become_tuples() -> None:
    built = build_dataclass(Outer, {"inner": {"size": 3, "names": ["a", "b"]}}, "")
    assert built.inner == Inner(size=3, names=("a", "b"))


def test_a_field_that_is_no_settings_object_keeps_its_mapping() -> None:
    assert build_dataclass(Outer, {"extra": {"size": 3}}, "").extra == {"size": 3}


def test_a_nested_unknown_key_is_named_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"^unknown setting app\.inner\.colour; expected one of names, size$"):
        build_dataclass(Outer, {"inner": {"colour": "red"}}, "app.")


def test_a_nested_value_that_is_no_mapping_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^inner must be a mapping of settings; got 3$"):
        build_dataclass(Outer, {"inner": 3}, "")


def test_the_refusal_takes_the_callers_error_and_noun() -> None:
    with pytest.raises(ArtifactError, match=r"^unknown field colour; expected one of names, size$"):
        refuse_unknown_keys(Inner, {"size": 1, "colour": "red"}, noun="field", error=ArtifactError)
    refuse_unknown_keys(Inner, {"size": 1})  # known keys only: no error
