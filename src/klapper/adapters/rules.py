"""Each platform's published limits as data, importable without the client libraries."""

from __future__ import annotations

from klapper.adapters.base import Rules

_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MB = 1024 * 1024

RULES: dict[str, Rules] = {
    # The local outbox takes anything; generous limits so it never refuses what others accept.
    "outbox": Rules(
        counting="chars", text_limit=100_000, max_media=20, media_types=_IMAGES,
        max_media_bytes=100 * MB, alt_limit=10_000, credentials=False,
    ),
    # docs.joinmastodon.org: 500 chars by default (instances may differ: /api/v2/instance),
    # 4 attachments, images up to 16 MB, descriptions up to 1500 chars.
    "mastodon": Rules(
        counting="mastodon", text_limit=500, max_media=4, media_types=_IMAGES,
        max_media_bytes=16 * MB, alt_limit=1500,
    ),
    # app.bsky.feed.post lexicon: 300 graphemes and 3000 bytes of text, 4 images;
    # app.bsky.embed.images: 1,000,000 bytes per image; alt text has no lexicon limit,
    # Bluesky's app caps it at 2000.
    "bluesky": Rules(
        counting="graphemes", text_limit=300, max_media=4,
        media_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
        max_media_bytes=1_000_000, alt_limit=2000, max_text_bytes=3000,
    ),
    # twitter-text v3 weighted length 280; 4 images of up to 5 MB; alt text up to 1000 chars.
    "x": Rules(
        counting="x-weighted", text_limit=280, max_media=4, media_types=_IMAGES,
        max_media_bytes=5 * MB, alt_limit=1000,
    ),
    # LinkedIn posts API: commentary up to 3000 chars; up to 20 images (multiImage);
    # images API: JPG, PNG, GIF; alt text up to 4086 chars. Posts have no replies: thread
    # follow-ups go out as the author's comments on the first post (one image each, no alt).
    "linkedin": Rules(
        counting="chars", text_limit=3000, max_media=20,
        media_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
        max_media_bytes=36_152_320, alt_limit=4086, threads=True,
    ),
}
