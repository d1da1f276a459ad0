"""Passwords told in Spanish and French are recognised as such, as they are in English: the words
that say a message is about a password ("contraseña", "clave", "mot de passe", "mdp", the
temporary one) and the ones that introduce a chosen password ("voy a usar", "j'ai choisi") are
every language's, so the guard keeps share_password and the message is hidden."""

from __future__ import annotations

import pytest

from bot.privacy.password_shape import looks_like_password, mentions_a_password

PASSWORDS = [
    "mi clave era maria1985",
    "la contraseña anterior es lorex2019",
    "la contrasena de antes era casa2020",
    "la temporal es QK7WP2MD",
    "el codigo temporal es NC6QP2WT",
    "voy a usar Limon7verde",
    "escogi pinonavidad24",
    "mon mdp c'etait minou123",
    "l'ancien mot de passe c'est lorex2019",
    "le temporaire c'est QK7WP2MD",
    "mot de passe temporaire KT2WX9PL",
    "j'ai choisi sapinnoel24",
]

NOT_PASSWORDS = [
    "olvide mi contraseña",
    "la contraseña temporal no funciona",
    "la temporal del ND4810273945KXQ no sirve",
    "mi caso de la contraseña es LX-4K7Q9M",
    "voy a usar la app",
    "j'ai oublie mon mot de passe",
    "le mot de passe temporaire pour ND48-1027-3945-KXQ marche pas",
    "le code de mon dossier c'est LX-4K7Q9M",
    "j'ai choisi l'etape 3",
    "el modelo es LNR600",
]


@pytest.mark.parametrize("message", PASSWORDS)
def test_a_password_told_in_spanish_or_french_is_recognised(message: str) -> None:
    assert looks_like_password(message) is True


@pytest.mark.parametrize("message", NOT_PASSWORDS)
def test_spanish_and_french_sentences_about_passwords_are_not_passwords(message: str) -> None:
    assert looks_like_password(message) is False


@pytest.mark.parametrize(
    "message",
    ["mi contraseña vieja era 0000", "la clave era 123123", "mon mot de passe c'etait 4444"],
)
def test_talk_of_a_password_is_recognised_in_spanish_and_french(message: str) -> None:
    # An all-digit old password is no password's shape; that the message speaks of one keeps the
    # classifier's share_password (bot/nlu/password_guard.py), as "my old password was 1234" does.
    assert mentions_a_password(message) is True
