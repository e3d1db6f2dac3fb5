"""Root URLs: the API, signed file URLs for the embedded storage, admin and login pages."""

from django.contrib import admin
from django.urls import include, path

from rawproc.api import files

urlpatterns = [
    path("api/", include("rawproc.api.urls")),
    path("files/<str:token>/", files.download, name="rawproc-file"),
    path("files/upload/<str:token>/", files.upload, name="rawproc-upload"),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    path("", include("rawproc.web.urls")),
]

handler400 = "rawproc.api.errors.bad_request"
handler403 = "rawproc.api.errors.permission_denied"
handler404 = "rawproc.api.errors.not_found"
handler500 = "rawproc.api.errors.server_error"
