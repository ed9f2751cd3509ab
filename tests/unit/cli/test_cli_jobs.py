"""`imgclf jobs submit` argument handling: where the dashboard address may be given."""

import pytest

from imgclf.cli.jobs import split_submit_arguments
from imgclf.errors import ConfigError


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["--address", "http://head:8265", "--", "in", "--model", "m"], ("http://head:8265", ["in", "--model", "m"])),
        (["--address=http://head:8265", "in"], ("http://head:8265", ["in"])),
        (["--addr=http://head:8265", "in"], ("http://default:8265", ["--addr=http://head:8265", "in"])),  # no abbreviations
        (["in", "--model", "m"], ("http://default:8265", ["in", "--model", "m"])),
        (["--", "in", "--address", "auto"], ("http://default:8265", ["in", "--address", "auto"])),
    ],
)
def test_address_before_the_separator_is_the_dashboard(arguments: list[str], expected: tuple) -> None:
    assert split_submit_arguments(arguments, "http://default:8265") == expected


def test_address_without_a_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--address needs a value"):
        split_submit_arguments(["--address"], "http://default:8265")
