import pytest

from rawproc.imaging.specs import BUILTIN, DEFAULT_SPECS, RenditionSpec


def test_parse_full_form() -> None:
    spec = RenditionSpec.parse("preview:1600:webp:70")
    assert spec == RenditionSpec("preview", 1600, "webp", 70)
    assert spec.extension == "webp"
    assert spec.content_type == "image/webp"
    assert spec.effective_quality == 70


def test_parse_full_size_and_defaults() -> None:
    spec = RenditionSpec.parse("big:full")
    assert spec.is_full
    assert spec.format == "jpeg"
    assert spec.effective_quality == 85


@pytest.mark.parametrize(
    "text",
    ["preview", "preview:huge", "preview:2048:gif", "preview:2048:jpeg:0", "Bad Name:100", "a:8"],
)
def test_parse_rejects_bad_specs(text: str) -> None:
    with pytest.raises(ValueError):
        RenditionSpec.parse(text)


def test_builtin_defaults() -> None:
    assert BUILTIN["thumbnail"].size == 320
    assert BUILTIN["preview"].size == 2048
    assert BUILTIN["full"].is_full
    assert [s.name for s in DEFAULT_SPECS] == ["thumbnail", "preview"]


def test_with_format_keeps_name_and_size() -> None:
    assert BUILTIN["preview"].with_format("avif") == RenditionSpec("preview", 2048, "avif")
