"""The platform registry: every built-in platform is described once, completely."""

from __future__ import annotations

import pytest

from klapper.config.platforms import BUILT_IN, PlatformError, platform, registry


def test_every_built_in_platform_is_described_and_loads_its_adapter() -> None:
    found = registry()
    assert set(BUILT_IN) <= set(found)
    for name, described in found.items():
        assert described.name == name
        assert described.settings.model_fields["platform"].annotation.__args__ == (name,)
        assert described.adapter_class().rules == described.rules
        assert described.lookup_batch >= 1 and described.colour.startswith("#")


def test_an_unknown_platform_names_the_known_ones() -> None:
    with pytest.raises(PlatformError, match="known: outbox, mastodon"):
        platform("myspace")
