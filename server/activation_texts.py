"""The activation page's words in each language it has, and how a visit picks one.

The language comes from the link (``lang=``, the account's LANGUAGE, which the emailed link
carries) or else from the browser (Accept-Language), never from the token: a made-up token
gets the same page, in the same words, as a used one.
"""

from backend.mail.activation import MIN_PASSWORD_LENGTH
from backend.mail.templates import language_suffixes

ENGLISH = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "language_name": "English",
        "title": "Set your parent portal password",
        "intro_link": (
            "Choose a password for your parent portal account. It must be at least "
            f"{MIN_PASSWORD_LENGTH} characters long."
        ),
        "intro_code": (
            "Type the logon and the activation code printed on your letter, then choose a "
            f"password of at least {MIN_PASSWORD_LENGTH} characters."
        ),
        "logon": "Logon (your email address or user name)",
        "code": "Activation code (as printed: XXXX-XXXX-XXXX)",
        "password": "New password",
        "confirm": "Type the new password again",
        "submit": "Set my password",
        "have_code": "Did you get a printed letter? Type its code here.",
        "invalid": (
            "This activation link or code is not valid: it may have expired or been used "
            "already. Ask the school for a new one."
        ),
        "too_short": (
            "The password must be at least {minimum} characters long; this one has {length}."
        ),
        "mismatch": "The two passwords are not the same. Type the same password in both boxes.",
        "missing": "Fill in every box.",
        "done_title": "Your password is set",
        "done": (
            "The parent portal account {logon} is ready: sign in with it and your new password."
        ),
        "forged": (
            "This form had expired or was not sent from this page, so nothing was changed. "
            "Type your password again and send it once more."
        ),
        "too_many": (
            "Too many tries from this connection. Wait 10 minutes, then try again. "
            "Nothing was changed."
        ),
        "unavailable": "Passwords cannot be set just now. Try again later. Nothing was changed.",
    },
    "es": {
        "language_name": "Español",
        "title": "Cree la contraseña de su portal para padres",
        "intro_link": (
            "Elija una contraseña para su cuenta del portal para padres. Debe tener al menos "
            f"{MIN_PASSWORD_LENGTH} caracteres."
        ),
        "intro_code": (
            "Escriba el usuario y el código de activación impresos en su carta y elija una "
            f"contraseña de al menos {MIN_PASSWORD_LENGTH} caracteres."
        ),
        "logon": "Usuario (su correo electrónico o nombre de usuario)",
        "code": "Código de activación (tal como está impreso: XXXX-XXXX-XXXX)",
        "password": "Nueva contraseña",
        "confirm": "Escriba de nuevo la contraseña",
        "submit": "Guardar mi contraseña",
        "have_code": "¿Recibió una carta impresa? Escriba aquí su código.",
        "invalid": (
            "Este enlace o código de activación no es válido: puede haber caducado o ya se ha "
            "usado. Pida uno nuevo a la escuela."
        ),
        "too_short": (
            "La contraseña debe tener al menos {minimum} caracteres; esta tiene {length}."
        ),
        "mismatch": (
            "Las dos contraseñas no son iguales. Escriba la misma contraseña en las dos casillas."
        ),
        "missing": "Rellene todas las casillas.",
        "done_title": "Su contraseña está guardada",
        "done": (
            "La cuenta del portal para padres {logon} está lista: inicie sesión con ella y su "
            "nueva contraseña."
        ),
        "forged": (
            "Este formulario había caducado o no se envió desde esta página, así que no se ha "
            "cambiado nada. Escriba de nuevo su contraseña y envíela otra vez."
        ),
        "too_many": (
            "Demasiados intentos desde esta conexión. Espere 10 minutos y vuelva a intentarlo. "
            "No se ha cambiado nada."
        ),
        "unavailable": (
            "Ahora no se pueden guardar contraseñas. Inténtelo más tarde. No se ha cambiado nada."
        ),
    },
}


def choose_language(asked: str | None, accept_language: str | None) -> str:
    """The page's language: the link's ``lang`` if the page has it, else the browser's first
    one it has, else English. ``asked`` may be a code ('es', 'es-MX') or a name ('Spanish')."""
    for suffix in language_suffixes(asked):
        if suffix in TEXTS:
            return suffix
    for tag in _by_preference(accept_language or ""):
        for suffix in language_suffixes(tag):
            if suffix in TEXTS:
                return suffix
    return ENGLISH


def _by_preference(header: str) -> list[str]:
    """An Accept-Language header's tags, most wanted first (a tag with q=0 is not wanted)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, parameters = item.strip().partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        if tag and tag != "*" and weight > 0:
            ranked.append((-weight, position, tag))
    return [tag for _, _, tag in sorted(ranked)]
