"""The publisher tells the platform an image's type from its content, never from its name."""

from __future__ import annotations

from pathlib import Path

from klapper.adapters.base import Adapter, Outgoing
from klapper.queue.model import Media
from tests.queue.repo_helpers import png_bytes
from tests.scheduler.helpers import Env, make_post


def test_a_png_named_jpg_goes_out_as_image_png(env: Env, tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(png_bytes())
    sent: list[Outgoing] = []
    build = env.publisher.adapters

    def recording(account: str) -> Adapter:
        adapter = build(account)
        publish = adapter.publish
        adapter.publish = lambda post: sent.append(post) or publish(post)  # type: ignore[method-assign]
        return adapter

    env.publisher.adapters = recording
    (delivery,) = env.plan(make_post("p1", media=(Media("photo.jpg", image, "A photo"),)))
    assert env.publisher.publish(delivery).ok
    assert [m.mime for m in sent[0].media] == ["image/png"]
