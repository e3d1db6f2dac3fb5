"""Errors raised by the services: each has a stable ``code`` the API turns into a 4xx/5xx."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service refuses; ``code`` is stable, the message is for humans."""

    code = "invalid_request"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UploadTooLarge(ServiceError):
    code = "file_too_large"


class UnsupportedUpload(ServiceError):
    code = "unsupported_format"


class EmptyUpload(ServiceError):
    code = "empty_file"


class UploadIncomplete(ServiceError):
    code = "upload_incomplete"


class UploadSizeMismatch(ServiceError):
    code = "size_mismatch"


class InvalidState(ServiceError):
    code = "invalid_state"


class UploadAlreadyWritten(ServiceError):
    """An upload grant writes once; its object is already there (and may be processed)."""

    code = "upload_already_written"


class UploadGone(ServiceError):
    """The reservation a grant belonged to no longer exists (refused, deleted or expired)."""

    code = "upload_gone"


class QuotaExceeded(ServiceError):
    code = "quota_exceeded"


class RenditionSpecInvalid(ServiceError):
    code = "rendition_spec_invalid"


class RenditionFormatUnsupported(ServiceError):
    """A format of the spec grammar that this server's engine does not render."""

    code = "rendition_format_unsupported"


class RenditionSizeNotAllowed(ServiceError):
    code = "rendition_size_not_allowed"


class RenditionFormatNotAllowed(ServiceError):
    code = "rendition_format_not_allowed"


class AssetNotReady(ServiceError):
    code = "asset_not_ready"
