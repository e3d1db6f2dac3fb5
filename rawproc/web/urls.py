"""Page routes, mounted at the site root."""

from django.urls import path

from rawproc.web import views

app_name = "web"

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("assets/<uuid:asset_id>/", views.asset, name="asset"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
]
