"""check_posts: every post against every account's platform rules, with precise positions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from klapper.queue import check_posts, load_repository
from tests.queue.repo_helpers import CONFIG, make_repo, png_bytes

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _check(root: Path, **kwargs) -> list[tuple[str, str, str | None, str]]:
    repo = load_repository(root)
    assert repo.problems == []
    return [
        (str(p.source), p.severity, p.account, p.message)
        for p in check_posts(repo, now=NOW, **kwargs)
    ]


def test_text_length_by_each_platform_counting(tmp_path: Path) -> None:
    url = "https://example.com/" + "a" * 100
    root = make_repo(
        tmp_path,
        {
            # X: 257 letters + space + a URL counted as 23 = 281 > 280; Mastodon: same, fits 500
            "posts/x.yaml": f"text: {'a' * 257} {url}\nto: [x, masto]\n",
            # Bluesky counts graphemes: 301 family emoji are 301, not 2107 code points
            "posts/bsky.yaml": "text: " + "👨‍👩‍👧" * 301 + "\nto: [bsky, li]\n",
            "posts/ok.yaml": f"text: {'a' * 256} {url}\nto: [x]\n",
        },
    )
    assert _check(root) == [
        (
            "posts/bsky.yaml:1:7",
            "error",
            "bsky",
            "text is 301 characters as bluesky counts them; the limit is 300 (account bsky)",
        ),
        (
            "posts/bsky.yaml:1:7",
            "error",
            "bsky",
            "text is 5418 bytes in UTF-8; bluesky takes at most 3000 (account bsky): shorten it",
        ),
        (
            "posts/x.yaml:1:7",
            "error",
            "x",
            "text is 281 characters as x counts them; the limit is 280 (account x)",
        ),
    ]


def test_bluesky_also_caps_the_text_at_3000_bytes(tmp_path: Path) -> None:
    # 200 graphemes fit the 300, but each family emoji is 18 bytes: 3600 > 3000.
    root = make_repo(
        tmp_path, {"posts/b.yaml": "text: " + "👨‍👩‍👧" * 200 + "\nto: [bsky, masto]\n"}
    )
    assert _check(root) == [
        (
            "posts/b.yaml:1:7",
            "error",
            "bsky",
            "text is 3600 bytes in UTF-8; bluesky takes at most 3000 (account bsky): shorten it",
        ),
    ]


def test_thread_parts_per_overrides_and_account_limits(tmp_path: Path) -> None:
    config = CONFIG.replace(
        'instance: "https://masto.example"}', 'instance: "https://masto.example", text_limit: 20}'
    )
    root = make_repo(
        tmp_path,
        {
            "posts/a.yaml": """\
        text: short
        to: [masto, x]
        cw: CW
        thread:
          - fine
          - text: this follow-up is longer than twenty
        per:
          x:
            text: also short
            thread: ["{}"]
        """.replace("{}", "y" * 281)
        },
        config=config,
    )
    assert _check(root) == [
        (
            "posts/a.yaml:6:11",
            "error",
            "masto",
            "follow-up 2: text is 38 characters with the "
            "content warning as mastodon counts them; the limit is 20 (account masto)",
        ),
        (
            "posts/a.yaml:10:14",
            "error",
            "x",
            "follow-up 1: text is 281 characters as x counts them; the limit is 280 (account x)",
        ),
    ]


def test_mastodon_counts_the_content_warning(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path, {"posts/a.yaml": f"text: {'a' * 490}\ncw: {'b' * 11}\nto: [masto]\n"}
    )
    ((_, _, _, message),) = _check(root)
    assert message == (
        "text is 501 characters with the content warning as mastodon counts "
        "them; the limit is 500 (account masto)"
    )


def test_media_rules(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "media/small.png": png_bytes(),
            "media/big.png": png_bytes(1_100_000),
            "media/fake.png": b"GIF89a" + b"\x00" * 20,
            "media/photo.webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
            "posts/a.yaml": """\
            text: pictures
            to: [bsky, li]
            media:
              - {file: ../media/small.png}
              - {file: ../media/big.png, alt: big}
              - {file: ../media/fake.png, alt: "a GIF named .png"}
              - {file: ../media/photo.webp, alt: "x"}
              - {file: ../media/missing.png, alt: gone}
            """,
        },
    )
    found = _check(root)
    assert (
        "posts/a.yaml:4:5",
        "error",
        None,
        "../media/small.png has no alt text; add `alt:` describing the image "
        "(or set defaults › alt_required: false)",
    ) in found
    assert (
        "posts/a.yaml:5:5",
        "error",
        "bsky",
        "../media/big.png is 1,100,000 bytes; bluesky takes at most 1,000,000",
    ) in found
    assert (
        "posts/a.yaml:7:5",
        "error",
        "li",
        "../media/photo.webp is image/webp; linkedin takes image/gif, image/jpeg, image/png",
    ) in found
    assert ("posts/a.yaml:8:5", "error", "bsky", "5 images; bluesky takes at most 4") in found
    missing = [m for _, _, _, m in found if "not found" in m]
    assert len(missing) == 1 and missing[0].startswith("media file '../media/missing.png'")
    assert not any("fake.png" in m for _, _, _, m in found)  # a real GIF is fine everywhere


def test_alt_text_optional_by_config_and_limited_per_platform(tmp_path: Path) -> None:
    config = CONFIG.replace(
        "defaults:\n  to: [outbox]\n", "defaults:\n  to: [outbox]\n  alt_required: false\n"
    )
    root = make_repo(
        tmp_path,
        {
            "media/a.png": png_bytes(),
            "posts/a.yaml": "text: t\nto: [x]\nmedia: [../media/a.png]\n",
            "posts/b.yaml": f"text: t\nto: [x, masto]\nmedia: [{{file: ../media/a.png, alt: "
            f"{'d' * 1001}}}]\n",
        },
        config=config,
    )
    assert _check(root) == [
        (
            "posts/b.yaml:3:9",
            "error",
            "x",
            "alt text of ../media/a.png is 1001 characters; x takes at most 1000",
        )
    ]


def test_past_posts_warn_unless_published_and_drafts_only_warn(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {
            "posts/past.yaml": "text: old\nat: 2026-05-01 09:00\n",
            "posts/gone.yaml": "text: out\nat: 2026-05-02 09:00\n",
            "posts/ended.yaml": "text: r\nevery: '0 9 * * *'\nuntil: 2026-05-03 09:00\n",
            "posts/draft.yaml": f"text: {'z' * 301}\nto: [bsky]\ndraft: true\nat: 2026-01-01 09:00\n",
            "posts/often.yaml": "text: r\nevery: '*/10 9 * * *'\n",
        },
    )
    found = _check(root, published=lambda post_id: post_id == "posts/gone.yaml")
    assert [(where, severity) for where, severity, _, _ in found] == [
        ("posts/draft.yaml:1:7", "warning"),
        ("posts/ended.yaml:3:8", "warning"),
        ("posts/often.yaml:2:8", "warning"),
        ("posts/past.yaml:2:5", "warning"),
    ]
    assert found[0][3].startswith("(draft) text is 301 characters")
    assert "is in the past and this post has not been published" in found[3][3]
    assert "6 times a day" in found[2][3]


def test_examples_repository_has_no_errors() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    repo = load_repository(examples)
    assert repo.problems == []
    found = check_posts(repo, now=datetime.now(UTC))
    assert [p for p in found if p.severity == "error"] == []
    assert len(repo.posts) >= 12


def test_instagram_rules_media_required_caption_hashtags_mentions(tmp_path: Path) -> None:
    config = CONFIG.replace(
        "defaults:",
        '  ig: {platform: instagram, user: "1784", media_url: "https://example.com/m"}\ndefaults:',
    )
    tags = " ".join(f"#t{n}" for n in range(31))
    people = " ".join(f"@p{n}" for n in range(21))
    root = make_repo(
        tmp_path,
        {
            "media/a.png": png_bytes(),
            "posts/bare.yaml": "text: no picture\nto: [ig, li]\n",
            "posts/long.yaml": f"text: {'a' * 2201}\nto: [ig]\nmedia: {{file: ../media/a.png,"
            " alt: a}\n",
            "posts/tags.yaml": f"text: '{tags} {people} a@b.de'\nto: [ig]\n"
            "media: {file: ../media/a.png, alt: a}\n"
            f"per: {{instagram: {{first_comment: '{tags}'}}}}\n",
            "posts/fine.yaml": "text: 'Neu #werkbank @anna'\nto: [ig]\n"
            "media: {file: ../media/a.png, alt: a}\nfirst_comment: '#holz'\n",
        },
        config=config,
    )
    found = _check(root)
    errors = [
        (where, account, message)
        for where, severity, account, message in found
        if severity == "error" and "image/png" not in message
    ]
    assert errors == [
        (
            "posts/bare.yaml:1:7",
            "ig",
            "instagram posts need an image; add `media:` (or use per: to give account ig one)",
        ),
        (
            "posts/long.yaml:1:7",
            "ig",
            "text is 2201 characters as instagram counts them; the limit is 2200 (account ig)",
        ),
        ("posts/tags.yaml:1:7", "ig", "31 hashtags; instagram takes at most 30 (account ig)"),
        ("posts/tags.yaml:1:7", "ig", "21 mentions; instagram takes at most 20 (account ig)"),
        (
            "posts/tags.yaml:4:34",
            "ig",
            "first_comment: 31 hashtags; instagram takes at most 30 (account ig)",
        ),
    ]
    # Instagram takes JPEG only: a PNG is an error for it, not for LinkedIn.
    assert (
        "posts/fine.yaml:3:8",
        "error",
        "ig",
        "../media/a.png is image/png; instagram takes image/jpeg",
    ) in found


def test_threads_rules_500_characters_20_images_and_a_thread_is_fine(tmp_path: Path) -> None:
    config = CONFIG.replace(
        "defaults:", '  th: {platform: threads, media_url: "https://example.com/m"}\ndefaults:'
    )
    pictures = {f"media/{n}.png": png_bytes() for n in range(21)}
    many = ", ".join(f"{{file: ../media/{n}.png, alt: a}}" for n in range(21))
    root = make_repo(
        tmp_path,
        {
            **pictures,
            "posts/long.yaml": f"text: {'a' * 501}\nto: [th]\n",
            # Meta counts an emoji as its UTF-8 bytes: 490 letters and three 😀 are 502
            "posts/emoji.yaml": f"text: {'a' * 490}{chr(0x1F600) * 3}\nto: [th]\n",
            "posts/fits.yaml": f"text: {'a' * 500}\nto: [th]\nthread: ['{'b' * 500}']\n",
            "posts/many.yaml": f"text: Bretter\nto: [th]\nmedia: [{many}]\n",
        },
        config=config,
    )
    errors = [
        (where, message) for where, severity, _, message in _check(root) if severity == "error"
    ]
    assert errors == [
        (
            "posts/emoji.yaml:1:7",
            "text is 502 characters as threads counts them; the limit is 500 (account th)",
        ),
        (
            "posts/long.yaml:1:7",
            "text is 501 characters as threads counts them; the limit is 500 (account th)",
        ),
        ("posts/many.yaml:3:659", "21 images; threads takes at most 20"),
    ]
