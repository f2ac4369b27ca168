"""The screen's translation files: every language says everything, with the same placeholders."""

from __future__ import annotations

import json
import string
from importlib import resources

import pytest

from kiosk_client.screen.texts import Texts, languages


def _catalogue(language: str) -> dict[str, str]:
    folder = resources.files("kiosk_client.screen").joinpath("translations")
    data: dict[str, str] = json.loads(folder.joinpath(f"{language}.json").read_text(encoding="utf-8"))
    return data


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_screen_speaks_english_and_spanish() -> None:
    assert languages()[0] == "en"
    assert "es" in languages()


@pytest.mark.parametrize("language", [lang for lang in languages() if lang != "en"])
def test_every_language_has_every_text_with_the_same_placeholders(language: str) -> None:
    english, other = _catalogue("en"), _catalogue(language)
    assert set(other) == set(english), set(other) ^ set(english)
    for key, text in english.items():
        assert _placeholders(other[key]) == _placeholders(text), key
        assert other[key].strip(), key


def test_a_text_is_filled_in_and_an_unknown_topic_is_shown_by_its_name() -> None:
    t = Texts("es")
    assert t("waiting.position", position=3) == "Es usted el número 3 de la cola"
    assert t.topic("cash") == "Retirar efectivo"
    assert t.topic("foreign_exchange") == "Foreign exchange"


def test_a_language_without_a_translation_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="no 'xx' translation"):
        Texts("xx")
