"""The one place that turns ``media_url`` and a media file into the address a platform fetches."""

from __future__ import annotations

from pathlib import Path

import pytest

from klapper.adapters.public_media import NotServed, media_base, public_url
from klapper.config.platforms import platform


def test_the_address_is_the_repository_path_under_media_url(tmp_path: Path) -> None:
    path = tmp_path / "media" / "Straße 1.jpg"
    assert (
        public_url(base="https://cdn.example/shop/", repo=tmp_path, path=path)
        == "https://cdn.example/shop/media/Stra%C3%9Fe%201.jpg"
    )


def test_a_file_outside_the_repository_is_not_served(tmp_path: Path) -> None:
    with pytest.raises(NotServed, match="outside the repository"):
        public_url(base="https://cdn.example", repo=tmp_path / "repo", path=tmp_path / "a.jpg")


def test_media_base_reads_settings_as_a_dict_or_a_model() -> None:
    model = platform("instagram").settings.model_validate(
        {"platform": "instagram", "user": "17", "media_url": "https://cdn.example/"}
    )
    assert media_base(model) == "https://cdn.example"
    assert media_base({"media_url": "https://cdn.example/x/"}) == "https://cdn.example/x"
    assert media_base({}) is None
