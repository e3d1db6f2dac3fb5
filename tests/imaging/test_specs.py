import pytest
from hypothesis import given
from hypothesis import strategies as st

from rawproc.imaging.specs import (
    BUILTIN,
    DEFAULT_QUALITY,
    DEFAULT_SPECS,
    FORMATS,
    LOSSLESS,
    RenditionSpec,
    SpecError,
    parse_rendition,
    parse_spec_text,
)


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


# --- the text form shared by the settings, the CLI and the API -------------------------

sizes = st.one_of(st.none(), st.integers(16, 65535))
qualities = st.one_of(st.none(), st.integers(1, 100))
LOSSY = tuple(f for f in FORMATS if f not in LOSSLESS)


def spec_text(size: int | None, fmt: str | None, quality: int | None) -> str:
    parts = ["full" if size is None else str(size)]
    if fmt is not None:
        parts.append(fmt)
        if quality is not None:
            parts.append(str(quality))
    return ".".join(parts)


@given(sizes, st.sampled_from(LOSSY), qualities)
def test_every_valid_spec_parses_to_its_values_and_its_key_is_canonical(
    size: int | None, fmt: str, quality: int | None
) -> None:
    spec = parse_spec_text(spec_text(size, fmt, quality)).spec()
    effective = DEFAULT_QUALITY[spec.format] if quality is None else quality
    assert (spec.size, spec.format, spec.effective_quality) == (size, fmt, effective)
    assert spec.key == f"{'full' if size is None else size}.{fmt}.{effective}"
    # The key is a spec text naming the same spec, and its own key.
    again = parse_spec_text(spec.key).spec()
    assert again.key == spec.key
    assert (again.size, again.format, again.effective_quality) == (size, fmt, effective)
    assert spec.name == spec.key.replace(".", "-")


@given(sizes, st.sampled_from(sorted(LOSSLESS)), qualities)
def test_a_lossless_spec_has_no_quality_in_text_or_key(
    size: int | None, fmt: str, quality: int | None
) -> None:
    if quality is not None:
        with pytest.raises(SpecError, match="lossless"):
            parse_spec_text(spec_text(size, fmt, quality))
        return
    spec = parse_spec_text(spec_text(size, fmt, None)).spec()
    assert spec.key == f"{'full' if size is None else size}.{fmt}"
    assert parse_spec_text(spec.key).spec() == spec


@given(sizes, st.sampled_from(LOSSY))
def test_the_key_spells_the_default_quality_out(size: int | None, fmt: str) -> None:
    implicit = parse_spec_text(spec_text(size, fmt, None)).spec()
    explicit = parse_spec_text(spec_text(size, fmt, DEFAULT_QUALITY[fmt])).spec()  # type: ignore[index]
    assert implicit.key == explicit.key
    other = parse_spec_text(spec_text(size, fmt, DEFAULT_QUALITY[fmt] % 100 + 1)).spec()  # type: ignore[index]
    assert other.key != implicit.key


@given(sizes, qualities, st.sampled_from(FORMATS))
def test_a_spec_without_a_format_takes_the_one_given(
    size: int | None, quality: int | None, fmt: str
) -> None:
    parsed = parse_spec_text(spec_text(size, None, None))
    assert parsed.format is None
    assert parsed.spec(fmt).format == fmt
    assert parsed.spec().format == "jpeg"


@given(
    st.one_of(
        st.integers(-100000, 15).map(str),  # too small
        st.integers(65536, 10**6).map(str),  # too large
        st.text(max_size=12).filter(lambda t: not all(c.isdigit() or c in ".full" for c in t)),
        st.builds(
            "{}.{}".format, st.integers(16, 4000), st.sampled_from(["gif", "png", "JPEG", ""])
        ),
        st.builds(
            "{}.webp.{}".format, st.integers(16, 4000), st.sampled_from(["0", "101", "x", "-5", ""])
        ),
        st.builds("{}.jpeg.85.{}".format, st.integers(16, 4000), st.text(max_size=3)),
        st.sampled_from(["", ".", "full.", ".webp", "1080..webp", "1080 .webp", "1e3", "Full"]),
    )
)
def test_invalid_spec_texts_are_refused_with_the_stable_code(text: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec_text(text).spec()
    assert refused.value.code in ("rendition_spec_invalid", "rendition_format_unsupported")
    assert str(refused.value)


@given(
    st.from_regex(r"[a-z][a-z0-9_-]{0,31}", fullmatch=True),
    sizes,
    st.sampled_from(LOSSY),
    qualities,
)
def test_list_items_name_specs_by_alias_by_assignment_or_by_key(
    name: str, size: int | None, fmt: str, quality: int | None
) -> None:
    text = spec_text(size, fmt, quality)
    named = parse_rendition(f"{name}={text}", BUILTIN)
    unnamed = parse_rendition(text, BUILTIN)
    assert named.name == name
    assert named.key == unnamed.key
    assert unnamed.name == unnamed.key.replace(".", "-")
    aliases = {name: named}
    assert parse_rendition(name, aliases) == named


def test_builtin_aliases_and_the_older_form() -> None:
    assert parse_rendition("thumbnail", BUILTIN).key == "320.jpeg.85"
    assert parse_rendition("preview", BUILTIN).key == "2048.jpeg.85"
    assert parse_rendition("full", BUILTIN).key == "full.jpeg.85"
    assert parse_rendition("zoom:full:avif", BUILTIN) == RenditionSpec("zoom", None, "avif")
    for bad in ("Thumb=320", "1x=320", "a=320.gif", "zoom:big", "nonesuch"):
        with pytest.raises(SpecError):
            parse_rendition(bad, BUILTIN)
