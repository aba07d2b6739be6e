"""The four kinds of integration: which provider, which endpoints (from the settings, so a
stand-in is only another base URL) and which scopes each asks for."""

from dataclasses import dataclass, field

from orchestrator_service.config import Settings
from orchestrator_service.errors import InvalidInput

GOOGLE = "google"
MICROSOFT = "microsoft"


@dataclass(frozen=True)
class Provider:
    """One kind's OAuth client and endpoints."""

    kind: str
    family: str
    client_id: str | None
    client_secret: str | None
    authorize_url: str
    token_url: str
    api_base: str
    scopes: tuple[str, ...]
    requests_per_second: float
    # Extra authorization parameters: Google gives a refresh token only for offline access.
    authorize_params: dict[str, str] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        """True when the operator set this provider's OAuth client."""
        return bool(self.client_id) and bool(self.client_secret)


def provider(settings: Settings, kind: str) -> Provider:
    """The provider of an integration kind."""
    if kind in ("gmail", "google_calendar"):
        secret = settings.google_client_secret
        scope = {
            "gmail": "https://www.googleapis.com/auth/gmail.readonly",
            "google_calendar": "https://www.googleapis.com/auth/calendar.readonly",
        }[kind]
        return Provider(
            kind=kind,
            family=GOOGLE,
            client_id=settings.google_client_id,
            client_secret=secret.get_secret_value() if secret is not None else None,
            authorize_url=settings.google_authorize_url,
            token_url=settings.google_token_url,
            api_base=(
                settings.gmail_base_url if kind == "gmail" else settings.google_calendar_base_url
            ).rstrip("/"),
            scopes=(scope,),
            requests_per_second=settings.integration_google_requests_per_second,
            authorize_params={"access_type": "offline", "prompt": "consent"},
        )
    if kind in ("outlook_mail", "outlook_calendar"):
        secret = settings.microsoft_client_secret
        authority = settings.microsoft_authority.rstrip("/")
        return Provider(
            kind=kind,
            family=MICROSOFT,
            client_id=settings.microsoft_client_id,
            client_secret=secret.get_secret_value() if secret is not None else None,
            authorize_url=f"{authority}/authorize",
            token_url=f"{authority}/token",
            api_base=settings.microsoft_graph_base_url.rstrip("/"),
            scopes=("offline_access", "Mail.Read" if kind == "outlook_mail" else "Calendars.Read"),
            requests_per_second=settings.integration_microsoft_requests_per_second,
        )
    raise InvalidInput(f"Unknown integration kind {kind!r}")
