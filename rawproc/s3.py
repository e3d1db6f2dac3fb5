"""django-storages' S3 backend, signing client URLs for a public endpoint when one is set.

The servers may reach the object store at an address the clients cannot: a compose
network's service name (``http://s3:8333``), a private VPC endpoint. Presigned URLs name
the host they were signed for, so those handed to clients (downloads, direct uploads) are
signed for ``public_endpoint_url`` (``AWS_S3_PUBLIC_ENDPOINT_URL``) while every request
the servers make goes to ``endpoint_url``. Signing needs no request, so the public address
never has to be reachable from the servers. Unset, it behaves as django-storages' own.
"""

from __future__ import annotations

import threading
from typing import Any

from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class PublicEndpointS3Storage(S3Storage):  # type: ignore[misc]
    public_endpoint_url: str | None

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self._signing = threading.local()

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), "public_endpoint_url": None}

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state.pop("_signing", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._signing = threading.local()

    @property
    def signing_client(self) -> Any:
        """The boto3 client that signs URLs for clients (one per thread, as boto3 advises)."""
        if not self.public_endpoint_url:
            return self.connection.meta.client
        client = getattr(self._signing, "client", None)
        if client is None:
            client = self._create_session().client(
                "s3",
                region_name=self.region_name,
                use_ssl=self.use_ssl,
                endpoint_url=self.public_endpoint_url,
                config=self.client_config,
                verify=self.verify,
            )
            self._signing.client = client
        return client

    def url(
        self,
        name: str,
        parameters: dict[str, Any] | None = None,
        expire: int | None = None,
        http_method: str | None = None,
    ) -> str:
        if not self.public_endpoint_url or self.custom_domain or not self.querystring_auth:
            return str(super().url(name, parameters, expire, http_method))
        params = {
            **(parameters or {}),
            "Bucket": self.bucket_name,
            "Key": self._normalize_name(clean_name(name)),
        }
        return str(
            self.signing_client.generate_presigned_url(
                "get_object",
                Params=params,
                ExpiresIn=self.querystring_expire if expire is None else expire,
                HttpMethod=http_method,
            )
        )
