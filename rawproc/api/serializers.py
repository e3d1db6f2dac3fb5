"""Explicit input serializers (what a request may say) and output serializers (what we answer).

Output serializers need ``request`` in their context: signed URLs on file storage are paths
made absolute against the request's host.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rawproc import storage
from rawproc.imaging.specs import CONTENT_TYPES
from rawproc.models import Asset, AssetStatus, Variant
from rawproc.selectors import ORDERINGS


def absolute(request: Any, url: str) -> str:
    return str(request.build_absolute_uri(url)) if url.startswith("/") else url


class ExpiryInputSerializer(serializers.Serializer[Any]):
    expires_in = serializers.IntegerField(
        required=False, min_value=1, help_text="Lifetime of signed URLs in seconds (capped)."
    )

    def validate_expires_in(self, value: int) -> int:
        if value > settings.RAWPROC_URL_EXPIRY_SECONDS:
            raise serializers.ValidationError(
                f"Ensure this value is at most {settings.RAWPROC_URL_EXPIRY_SECONDS}."
            )
        return value


def expiry_from(query: Any) -> int:
    """Validated ``expires_in`` query parameter, or the configured default."""
    params = ExpiryInputSerializer(data=query)
    params.is_valid(raise_exception=True)
    return int(params.validated_data.get("expires_in", settings.RAWPROC_URL_EXPIRY_SECONDS))


class AssetUploadInputSerializer(serializers.Serializer[Any]):
    """Documents the multipart body of ``POST /api/assets/``."""

    file = serializers.FileField(help_text="The RAW file.")


class UploadCreateInputSerializer(serializers.Serializer[Any]):
    filename = serializers.CharField(max_length=1024)
    # 0 passes here so the service answers with its own ``empty_file`` code.
    size = serializers.IntegerField(min_value=0, help_text="Exact size of the file in bytes.")
    content_type = serializers.CharField(
        max_length=100, required=False, default="application/octet-stream"
    )


class AssetListFilterSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    status = serializers.ChoiceField(choices=AssetStatus.choices, required=False)
    camera_make = serializers.CharField(required=False, max_length=100)
    camera_model = serializers.CharField(required=False, max_length=100)
    lens_model = serializers.CharField(required=False, max_length=200)
    iso_min = serializers.IntegerField(required=False, min_value=0)
    iso_max = serializers.IntegerField(required=False, min_value=0)
    taken_after = serializers.DateTimeField(required=False)
    taken_before = serializers.DateTimeField(required=False)
    updated_after = serializers.DateTimeField(
        required=False,
        help_text="Sync: only assets changed at or after this instant, oldest change first "
        "(ordered by updated_at, then id; ordering cannot be given with it).",
    )
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A range whose lower bound is above its upper one matches nothing: it is a mistake."""
        ranges = (
            ("iso_min", "iso_max", "The maximum ISO is below the minimum."),
            ("taken_after", "taken_before", "The end date is before the start date."),
        )
        for low, high, message in ranges:
            if low in attrs and high in attrs and attrs[low] > attrs[high]:
                raise serializers.ValidationError({high: message})
        if "updated_after" in attrs and "ordering" in attrs:
            raise serializers.ValidationError(
                {"ordering": "A sync with updated_after is always in the order of the changes."}
            )
        return attrs


class SignedLinkSerializer(serializers.Serializer[storage.SignedUrl]):
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()


class VariantOutputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    spec = serializers.CharField(source="spec_key")
    format = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    size = serializers.IntegerField()
    # A declared field, taken off the class by DRF: it does not shadow ``Field.source``.
    source = serializers.CharField()  # type: ignore[assignment]
    url = serializers.SerializerMethodField()
    expires_at = serializers.SerializerMethodField()

    def _link(self, variant: Variant) -> storage.SignedUrl:
        cache: dict[int, storage.SignedUrl] = self.context.setdefault("_links", {})
        if variant.pk not in cache:
            cache[variant.pk] = variant_link(variant, self.context["expires_in"])
        return cache[variant.pk]

    def get_url(self, variant: Variant) -> str:
        return absolute(self.context["request"], self._link(variant).url)

    def get_expires_at(self, variant: Variant) -> str:
        return self._link(variant).expires_at.isoformat().replace("+00:00", "Z")


class RenditionErrorOutputSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(source="error_code")
    message = serializers.CharField(source="error_message")
    detail = serializers.CharField(source="error_detail")


class RenditionStatusOutputSerializer(serializers.Serializer[Any]):
    """A spec of an asset: ``ready`` (with its variant), ``pending``, ``failed`` (with the
    error) or ``missing`` (nothing asked for it yet)."""

    spec = serializers.CharField(source="spec.key")
    name = serializers.CharField(source="spec.name")
    status = serializers.CharField()
    url = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()
    variant = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    def get_url(self, state: Any) -> str:
        return absolute(self.context["request"], self.context["rendition_path"])

    def get_status_url(self, state: Any) -> str:
        return absolute(self.context["request"], self.context["status_path"])

    @extend_schema_field(VariantOutputSerializer(allow_null=True))
    def get_variant(self, state: Any) -> dict[str, Any] | None:
        if state.variant is None:
            return None
        return dict(VariantOutputSerializer(state.variant, context=self.context).data)

    @extend_schema_field(RenditionErrorOutputSerializer(allow_null=True))
    def get_error(self, state: Any) -> dict[str, Any] | None:
        if state.job is None or state.status != "failed":
            return None
        return dict(RenditionErrorOutputSerializer(state.job).data)


class RenditionJobOutputSerializer(serializers.Serializer[Any]):
    spec = serializers.CharField(source="spec_key")
    name = serializers.CharField()
    status = serializers.CharField()
    error = serializers.SerializerMethodField()

    @extend_schema_field(RenditionErrorOutputSerializer(allow_null=True))
    def get_error(self, job: Any) -> dict[str, Any] | None:
        return None if job.status != "failed" else dict(RenditionErrorOutputSerializer(job).data)


class RenditionListOutputSerializer(serializers.Serializer[Any]):
    variants = VariantOutputSerializer(many=True)
    jobs = RenditionJobOutputSerializer(many=True)


def variant_link(variant: Variant, expires_in: int) -> storage.SignedUrl:
    stem = variant.asset.original_filename.rsplit(".", 1)[0]
    extension = variant.storage_key.rsplit(".", 1)[-1]
    return storage.signed_url(
        variant.storage_key,
        expires_in,
        download_name=f"{stem}-{variant.name}.{extension}",
        content_type=CONTENT_TYPES.get(variant.format, f"image/{variant.format}"),  # type: ignore[call-overload]
    )


def original_link(asset: Asset, expires_in: int) -> storage.SignedUrl:
    return storage.signed_url(
        asset.storage_key,
        expires_in,
        download_name=asset.original_filename,
        content_type=asset.content_type,
        attachment=True,
    )


class ErrorOutputSerializer(serializers.Serializer[dict[str, str]]):
    code = serializers.CharField()
    message = serializers.CharField()


class ProblemOutputSerializer(serializers.Serializer[Any]):
    """A processing error or warning: a stable code, a sentence for people, technical detail."""

    code = serializers.CharField()
    message = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)


class AssetOutputSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    status = serializers.CharField()
    error = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField(
        help_text="Why the renditions are less than they could be (e.g. from the preview)."
    )
    original_filename = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    raw_format = serializers.CharField()
    sha256 = serializers.CharField(
        allow_null=True, help_text="Set by the worker once it has read the original."
    )
    duplicate_of = serializers.UUIDField(
        source="duplicate_of_id",
        allow_null=True,
        help_text="The owner's asset with the same content, when this upload repeated it "
        "(the asset is then failed with the code duplicate and keeps no original).",
    )
    camera_make = serializers.CharField()
    camera_model = serializers.CharField()
    lens_model = serializers.CharField()
    iso = serializers.IntegerField(allow_null=True)
    taken_at = serializers.DateTimeField(allow_null=True)
    degraded = serializers.BooleanField()
    thumbhash = serializers.SerializerMethodField(
        help_text="ThumbHash placeholder of the photo (base64), once it is ready."
    )
    metadata = serializers.SerializerMethodField(
        help_text="The metadata record (docs/metadata.md)."
    )
    timings = serializers.JSONField(help_text="Milliseconds per processing stage.")
    attempts = serializers.IntegerField()
    variants = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField(
        help_text="API link that redirects to a fresh signed URL of the original."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, asset: Asset) -> str:
        return absolute(self.context["request"], reverse("asset-detail", args=[asset.pk]))

    def get_metadata(self, asset: Asset) -> dict[str, Any]:
        return asset.metadata if isinstance(asset.metadata, dict) else {}

    def get_thumbhash(self, asset: Asset) -> str | None:
        return asset.thumbhash or None

    def get_original_url(self, asset: Asset) -> str:
        return absolute(self.context["request"], reverse("asset-original", args=[asset.pk]))

    @extend_schema_field(ProblemOutputSerializer(allow_null=True))
    def get_error(self, asset: Asset) -> dict[str, str] | None:
        if not asset.error_code:
            return None
        return {
            "code": asset.error_code,
            "message": asset.error_message,
            "detail": asset.error_detail,
        }

    @extend_schema_field(ProblemOutputSerializer(many=True))
    def get_warnings(self, asset: Asset) -> list[dict[str, str]]:
        return [
            {
                "code": str(w.get("code", "")),
                "message": str(w.get("message", "")),
                "detail": str(w.get("detail", "")),
            }
            for w in asset.warnings or []
            if isinstance(w, dict)
        ]

    def get_variants(self, asset: Asset) -> list[dict[str, Any]]:
        return list(
            VariantOutputSerializer(asset.variants.all(), many=True, context=self.context).data
        )


# The raw tag map of the metadata record: the detail carries it, list items do not.
RAW_EXIF_KEY = "exif"


class AssetListItemOutputSerializer(AssetOutputSerializer):
    """A list item: the asset without the raw EXIF map (5-20 KB per asset), so listing and
    re-listing a library stays light; ``GET /api/assets/{id}/`` has the whole record."""

    metadata = serializers.SerializerMethodField(
        help_text="The normalised metadata record, without its raw `exif` tag map."
    )

    def get_metadata(self, asset: Asset) -> dict[str, Any]:
        record = asset.metadata if isinstance(asset.metadata, dict) else {}
        return {key: value for key, value in record.items() if key != RAW_EXIF_KEY}


class UploadTargetOutputSerializer(serializers.Serializer[storage.UploadTarget]):
    method = serializers.CharField()
    url = serializers.SerializerMethodField()
    # A declared field, taken off the class by DRF: it does not shadow ``Serializer.fields``.
    fields = serializers.DictField(child=serializers.CharField())  # type: ignore[assignment]
    file_field = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    max_bytes = serializers.IntegerField()

    def get_url(self, target: storage.UploadTarget) -> str:
        return absolute(self.context["request"], target.url)

    def get_file_field(self, target: storage.UploadTarget) -> str:
        return "file"


class UploadCreateOutputSerializer(serializers.Serializer[dict[str, Any]]):
    asset = AssetOutputSerializer()
    upload = UploadTargetOutputSerializer()
    complete_url = serializers.CharField()


class HealthOutputSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.CharField()
    checks = serializers.DictField()
