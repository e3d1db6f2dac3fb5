"""``rawproc token`` and the argument checks of ``rawproc serve``."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from rawproc.cli import main


@pytest.mark.django_db
def test_token_creates_the_user_once_and_prints_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["token", "carol"]) == 0
    first = capsys.readouterr()
    assert "created user carol" in first.err
    token = first.out.strip()
    assert Token.objects.get(user__username="carol").key == token
    assert not User.objects.get(username="carol").has_usable_password()

    assert main(["token", "carol"]) == 0
    assert capsys.readouterr().out.strip() == token

    assert main(["token", "carol", "--rotate"]) == 0
    rotated = capsys.readouterr().out.strip()
    assert rotated != token
    assert not Token.objects.filter(key=token).exists()


@pytest.mark.django_db
def test_token_sets_a_password_for_the_web_page(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret phrase\n"))
    assert main(["token", "dave", "--password"]) == 0
    assert Token.objects.get(user__username="dave").key == capsys.readouterr().out.strip()
    assert User.objects.get(username="dave").check_password("a long enough secret phrase")

    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["token", "dave", "--password"]) == 2
    assert "password not set" in capsys.readouterr().err
    assert User.objects.get(username="dave").check_password("a long enough secret phrase")


@pytest.mark.django_db
def test_token_refuses_an_invalid_user_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "no spaces/here"]) == 2
    assert "invalid user name" in capsys.readouterr().err
    assert not User.objects.exists()


@pytest.mark.parametrize("argv", [["--port", "0"], ["--port", "70000"], ["--concurrency", "0"]])
def test_serve_rejects_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *argv])
    assert exit_info.value.code == 2
    assert "must be" in capsys.readouterr().err
