from klapper.adapters.rules import RULES
from klapper.adapters import PLATFORMS


def test_every_platform_has_rules():
    assert set(RULES) == set(PLATFORMS)
