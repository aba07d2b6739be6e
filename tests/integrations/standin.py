"""Stand-ins of Google and Microsoft on loopback, speaking the documented subset the
integrations use:

- Google OAuth 2.0 (`/google/token`: authorization_code with PKCE S256, refresh_token,
  `invalid_grant` for a used code or a revoked grant), Gmail API v1 (`users.getProfile`,
  `users.messages.list`, `users.messages.get?format=raw`, `users.history.list`; a
  startHistoryId older than the mailbox keeps answers 404) and Calendar API v3
  (`events.list` with pageToken / syncToken; an invalidated sync token answers 410 GONE
  with reason fullSyncRequired).
- Microsoft identity platform v2.0 (`/ms/common/oauth2/v2.0/token`) and Graph v1.0
  (`me/mailFolders/inbox/messages/delta`, `me/calendarView/delta`, with @odata.nextLink,
  @odata.deltaLink and `@removed`; an invalidated delta token answers 410 syncStateNotFound).

Access tokens expire when told to (`expire_access_tokens`) and answer 401 in each API's error
shape; `revoke` makes a refresh token answer `invalid_grant`. `fault` scripts the next answers
of a path: 429 with Retry-After, malformed JSON, a huge body, a slow answer, an HTML error
page, a page token that loops, a link outside the API, more items than asked ("ok" serves
one answer normally); `endless_pages` makes every Gmail list page promise another. Every
request is recorded.

The user's consent is `consent(authorization_url)`: it checks what the authorization
endpoint would (client id, redirect URI, S256 challenge, state) and returns the redirect's
`code` and `state`.
"""

import base64
import contextlib
import hashlib
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import SecretStr

from tests.network import LoopbackHTTPServer

GOOGLE_CLIENT = ("google-client-id.apps.googleusercontent.com", "google-client-secret-x1")
MICROSOFT_CLIENT = ("00000000-aaaa-bbbb-cccc-000000000001", "ms-client-secret-x1")


@dataclass
class Request:
    """One request the stand-in received."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str
    form: dict[str, list[str]]


@dataclass
class Grant:
    """What a user granted one client: the family, the account, the scope."""

    family: str
    account: str
    scope: str
    revoked: bool = False


@dataclass
class Item:
    """A message or an event of a store, with the change sequence number of its last change."""

    id: str
    data: dict
    changed: int
    deleted: bool = False


@dataclass
class Store:
    """A provider's collection with a change log (what changed after sequence n)."""

    items: dict[str, Item] = field(default_factory=dict)

    def live(self) -> list[Item]:
        """The items not deleted, oldest first."""
        return [i for i in self.items.values() if not i.deleted]

    def since(self, seq: int) -> list[Item]:
        """The items changed (or deleted) after `seq`."""
        return [i for i in self.items.values() if i.changed > seq]


def raw_message(sender: str, to: str, subject: str, body: str, date: datetime) -> str:
    """An RFC 822 message as Gmail's format=raw carries it (base64url)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = date.strftime("%a, %d %b %Y %H:%M:%S +0000")
    message["Message-ID"] = f"<{uuid.uuid4().hex}@mail.example.com>"
    message.set_content(body)
    return base64.urlsafe_b64encode(message.as_bytes()).decode().rstrip("=")


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        form: dict[str, list[str]] = {}
        if method == "POST":
            length = int(self.headers.get("content-length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
        request = Request(
            method,
            parts.path,
            parse_qs(parts.query),
            self.headers.get("authorization", ""),
            form,
        )
        with standin.lock:
            standin.requests.append(request)
            fault = standin.take_fault(parts.path)
        if fault is not None and self._fault(fault, request):
            return
        with standin.lock:
            status, payload, headers = standin.answer(request)
        self._reply(status, payload, headers)

    def _fault(self, fault: str, request: Request) -> bool:
        """Serve a scripted fault; False for faults that change the answer later instead."""
        standin = self.server.standin
        if fault == "429":
            self._reply(
                429,
                {
                    "error": {
                        "code": 429,
                        "message": "Rate Limit Exceeded",
                        "status": "RESOURCE_EXHAUSTED",
                    }
                },
                {"Retry-After": "7"},
            )
        elif fault == "malformed":
            self._reply(200, b'{"messages": [{"id": ')
        elif fault == "huge":
            self._reply(200, b'{"pad": "' + b"x" * standin.huge_bytes + b'"}')
        elif fault == "slow":
            time.sleep(standin.slow_seconds)
            self._reply(200, {"messages": []})
        elif fault == "ok":
            return False
        elif fault == "html":
            self._reply(502, b"<html>Bad Gateway</html>")
        else:
            with standin.lock:
                standin.pending_twists.append(fault)
            return False
        return True

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """Quiet."""


class _Server(LoopbackHTTPServer):
    standin: "ProviderStandIn"


class ProviderStandIn:
    """Google and Microsoft on 127.0.0.1."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.grants: dict[str, Grant] = {}  # refresh token -> grant
        self.access: dict[str, tuple[Grant, bool]] = {}  # access token -> (grant, expired)
        self.codes: dict[str, dict] = {}
        self.faults: list[tuple[str, str]] = []
        self.pending_twists: list[str] = []
        self.seq = itertools.count(1)
        self.last_seq = 0
        self.gmail = Store()
        self.gmail_history: list[tuple[int, str, str]] = []  # (history id, kind, message id)
        self.gmail_oldest_history = 0
        self.calendar = Store()
        self.graph_mail = Store()
        self.graph_events = Store()
        self.invalid_tokens: set[str] = set()
        self.page_size = 2
        self.endless_pages = False
        self.expires_in = 3600
        self.huge_bytes = 256 * 1024
        self.slow_seconds = 3.0
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.standin = self
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> "ProviderStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- configuration the service is given --------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The ORCH_ settings that point the service here."""
        return {
            "google_client_id": GOOGLE_CLIENT[0],
            "google_client_secret": SecretStr(GOOGLE_CLIENT[1]),
            "google_authorize_url": f"{self.base_url}/google/auth",
            "google_token_url": f"{self.base_url}/google/token",
            "gmail_base_url": f"{self.base_url}/gmail/v1",
            "google_calendar_base_url": f"{self.base_url}/calendar/v3",
            "microsoft_client_id": MICROSOFT_CLIENT[0],
            "microsoft_client_secret": SecretStr(MICROSOFT_CLIENT[1]),
            "microsoft_authority": f"{self.base_url}/ms/common/oauth2/v2.0",
            "microsoft_graph_base_url": f"{self.base_url}/graph/v1.0",
            "integrations_redirect_uri": "https://app.example.com/integrations/callback",
        }

    # --- scripting -------------------------------------------------------------------------

    def _next(self) -> int:
        self.last_seq = next(self.seq)
        return self.last_seq

    def add_gmail(
        self,
        subject: str,
        body: str,
        sender: str = "Luis <luis@example.com>",
        labels: tuple[str, ...] = ("INBOX", "UNREAD"),
    ) -> str:
        """A new message in the Gmail mailbox (recorded in its history)."""
        with self.lock:
            seq = self._next()
            message_id = f"18c{seq:013x}"
            date = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
            self.gmail.items[message_id] = Item(
                message_id,
                {
                    "threadId": f"th{seq}",
                    "labelIds": list(labels),
                    "raw": raw_message(sender, "ana@example.com", subject, body, date),
                    "internalDate": str(int(date.timestamp() * 1000)),
                    "snippet": body[:100],
                },
                seq,
            )
            self.gmail_history.append((seq, "messagesAdded", message_id))
            return message_id

    def delete_gmail(self, message_id: str) -> None:
        """Delete a Gmail message (recorded in the history)."""
        with self.lock:
            seq = self._next()
            item = self.gmail.items[message_id]
            item.deleted, item.changed = True, seq
            self.gmail_history.append((seq, "messagesDeleted", message_id))

    def forget_gmail_history(self) -> None:
        """Drop the history kept so far: older history ids answer 404."""
        with self.lock:
            self.gmail_oldest_history = self._next()

    def add_event(
        self,
        summary: str,
        start: str,
        end: str,
        *,
        zone: str = "Europe/Madrid",
        description: str = "",
        location: str = "",
        all_day: bool = False,
    ) -> str:
        """A new Google Calendar event (times as RFC 3339 or dates for all-day)."""
        with self.lock:
            seq = self._next()
            event_id = f"ev{seq}"
            when = (
                ({"date": start}, {"date": end})
                if all_day
                else ({"dateTime": start, "timeZone": zone}, {"dateTime": end, "timeZone": zone})
            )
            self.calendar.items[event_id] = Item(
                event_id,
                {
                    "kind": "calendar#event",
                    "id": event_id,
                    "status": "confirmed",
                    "summary": summary,
                    "description": description,
                    "location": location,
                    "start": when[0],
                    "end": when[1],
                },
                seq,
            )
            return event_id

    def cancel_event(self, event_id: str) -> None:
        """Delete a Google Calendar event (a sync token then shows it `cancelled`)."""
        with self.lock:
            item = self.calendar.items[event_id]
            item.deleted, item.changed = True, self._next()

    def drop_event_silently(self, event_id: str) -> None:
        """Remove an event without a trace in the change log (only a full sync notices)."""
        with self.lock:
            del self.calendar.items[event_id]

    def invalidate_sync_tokens(self) -> None:
        """Every sync or delta token given so far answers 410 from now on."""
        with self.lock:
            self.invalid_tokens.add(f"<={self.last_seq}")

    def add_graph_message(self, subject: str, body: str) -> str:
        """A new message in the Outlook inbox."""
        with self.lock:
            seq = self._next()
            message_id = f"AAMkAD{seq:08d}="
            self.graph_mail.items[message_id] = Item(
                message_id,
                {
                    "id": message_id,
                    "subject": subject,
                    "bodyPreview": body[:255],
                    "body": {"contentType": "text", "content": body},
                    "from": {"emailAddress": {"name": "Eva", "address": "eva@example.com"}},
                    "toRecipients": [
                        {"emailAddress": {"name": "Ana", "address": "ana@example.com"}}
                    ],
                    "receivedDateTime": "2026-11-30T10:00:00Z",
                    "isRead": False,
                    "importance": "high",
                    "conversationId": f"conv{seq}",
                },
                seq,
            )
            return message_id

    def delete_graph_message(self, message_id: str) -> None:
        """Delete an Outlook message."""
        with self.lock:
            item = self.graph_mail.items[message_id]
            item.deleted, item.changed = True, self._next()

    def add_graph_event(self, subject: str, start: str, end: str) -> str:
        """A new Outlook calendar event (Graph's dateTime without offset, in UTC)."""
        with self.lock:
            seq = self._next()
            event_id = f"AAMkEv{seq:08d}="
            self.graph_events.items[event_id] = Item(
                event_id,
                {
                    "id": event_id,
                    "subject": subject,
                    "bodyPreview": "",
                    "start": {"dateTime": start, "timeZone": "UTC"},
                    "end": {"dateTime": end, "timeZone": "UTC"},
                    "isAllDay": False,
                    "isCancelled": False,
                    "location": {"displayName": "Sala 2"},
                },
                seq,
            )
            return event_id

    def delete_graph_event(self, event_id: str) -> None:
        """Delete an Outlook event."""
        with self.lock:
            item = self.graph_events.items[event_id]
            item.deleted, item.changed = True, self._next()

    def fault(self, path: str, *kinds: str) -> None:
        """Answer the next requests to `path` with these faults, in order."""
        with self.lock:
            self.faults.extend((path, kind) for kind in kinds)

    def take_fault(self, path: str) -> str | None:
        """The next scripted fault for `path` (called under the lock)."""
        for index, (where, kind) in enumerate(self.faults):
            if path == where:
                del self.faults[index]
                return kind
        return None

    def expire_access_tokens(self) -> None:
        """Every access token given so far answers 401 from now on."""
        with self.lock:
            self.access = {t: (g, True) for t, (g, _) in self.access.items()}

    def revoke(self) -> None:
        """The user revokes every grant: refresh tokens answer invalid_grant."""
        with self.lock:
            for grant in self.grants.values():
                grant.revoked = True
            self.expire_access_tokens()

    def consent(self, authorization_url: str, account: str = "ana@example.com") -> tuple[str, str]:
        """The user approves: check the authorization request and return (code, state)."""
        parts = urlsplit(authorization_url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        family = "google" if parts.path.startswith("/google/") else "microsoft"
        client_id = GOOGLE_CLIENT[0] if family == "google" else MICROSOFT_CLIENT[0]
        assert parts.path in ("/google/auth", "/ms/common/oauth2/v2.0/authorize"), parts.path
        assert query["client_id"] == client_id, query
        assert query["response_type"] == "code", query
        assert query["code_challenge_method"] == "S256", query
        assert len(query["code_challenge"]) == 43, query
        assert query["redirect_uri"] == "https://app.example.com/integrations/callback"
        assert query["state"], query
        code = f"4/0A{uuid.uuid4().hex}"
        with self.lock:
            self.codes[code] = {
                "family": family,
                "client_id": client_id,
                "redirect_uri": query["redirect_uri"],
                "challenge": query["code_challenge"],
                "scope": query.get("scope", ""),
                "account": account,
            }
        return code, query["state"]

    # --- answers ---------------------------------------------------------------------------

    def answer(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        """The answer to a request (called under the lock)."""
        path = request.path
        if path in ("/google/token", "/ms/common/oauth2/v2.0/token"):
            return self._token(request, "google" if path.startswith("/google") else "microsoft")
        family = "microsoft" if path.startswith("/graph/") else "google"
        grant = self._bearer(request)
        if grant is None:
            if family == "google":
                error = {
                    "code": 401,
                    "message": "Request had invalid authentication credentials.",
                    "status": "UNAUTHENTICATED",
                }
            else:
                error = {
                    "code": "InvalidAuthenticationToken",
                    "message": "Access token has expired or is not yet valid.",
                }
            return 401, {"error": error}, {"WWW-Authenticate": 'Bearer realm=""'}
        if path == "/gmail/v1/users/me/profile":
            return (
                200,
                {
                    "emailAddress": grant.account,
                    "messagesTotal": len(self.gmail.live()),
                    "threadsTotal": len(self.gmail.live()),
                    "historyId": str(self.last_seq),
                },
                {},
            )
        if path == "/gmail/v1/users/me/messages":
            return self._gmail_list(request)
        if path.startswith("/gmail/v1/users/me/messages/"):
            return self._gmail_get(path.rsplit("/", 1)[1])
        if path == "/gmail/v1/users/me/history":
            return self._gmail_history(request)
        if path == "/calendar/v3/calendars/primary/events":
            return self._events(request)
        if path == "/graph/v1.0/me/mailFolders/inbox/messages/delta":
            return self._delta(request, self.graph_mail, path)
        if path == "/graph/v1.0/me/calendarView/delta":
            return self._delta(request, self.graph_events, path)
        return 404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}}, {}

    def _token(self, request: Request, family: str) -> tuple[int, Any, dict[str, str]]:
        form = {k: v[0] for k, v in request.form.items()}
        client = GOOGLE_CLIENT if family == "google" else MICROSOFT_CLIENT
        if (form.get("client_id"), form.get("client_secret")) != client:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}, {}
        if form.get("grant_type") == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if (
                code is None
                or code["family"] != family
                or code["redirect_uri"] != form.get("redirect_uri")
                or challenge.decode().rstrip("=") != code["challenge"]
            ):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}, {}
            grant = Grant(family, code["account"], code["scope"])
            refresh = f"1//0g{uuid.uuid4().hex}"
            self.grants[refresh] = grant
            return 200, self._issue(grant, refresh), {}
        if form.get("grant_type") == "refresh_token":
            grant = self.grants.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                return (
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    },
                    {},
                )
            return 200, self._issue(grant, None), {}
        return 400, {"error": "unsupported_grant_type"}, {}

    def _issue(self, grant: Grant, refresh: str | None) -> dict:
        access = f"ya29.{uuid.uuid4().hex}{uuid.uuid4().hex}"
        self.access[access] = (grant, False)
        body = {
            "access_token": access,
            "expires_in": self.expires_in,
            "scope": grant.scope,
            "token_type": "Bearer",
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return body

    def _bearer(self, request: Request) -> Grant | None:
        token = request.authorization.removeprefix("Bearer ")
        grant, expired = self.access.get(token, (None, True))
        return None if expired or grant is None or grant.revoked else grant

    def _twist(self, name: str) -> bool:
        if name in self.pending_twists:
            self.pending_twists.remove(name)
            return True
        return False

    def _page(self, items: list, token: str | None) -> tuple[list, str | None]:
        start = int(token) if token and token.isdigit() else 0
        chunk = items[start : start + self.page_size]
        more = start + self.page_size < len(items)
        return chunk, str(start + self.page_size) if more else None

    def _gmail_list(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        token = request.query.get("pageToken", [None])[0]
        live = list(reversed(self.gmail.live()))
        chunk, next_token = self._page(live, token)
        body: dict[str, Any] = {
            "messages": [{"id": i.id, "threadId": i.data["threadId"]} for i in chunk],
            "resultSizeEstimate": len(live),
        }
        if self._twist("loop"):
            next_token = token or "0"
        if self.endless_pages:
            next_token = uuid.uuid4().hex
        if self._twist("bad_id"):
            body["messages"] = [{"id": "../../admin/directory/users", "threadId": "t"}]
        if self._twist("oversized"):
            body["messages"] = [{"id": f"x{n}", "threadId": "t"} for n in range(1500)]
        if next_token:
            body["nextPageToken"] = next_token
        return 200, body, {}

    def _gmail_get(self, message_id: str) -> tuple[int, Any, dict[str, str]]:
        item = self.gmail.items.get(message_id)
        if item is None or item.deleted:
            return (
                404,
                {
                    "error": {
                        "code": 404,
                        "message": "Requested entity was not found.",
                        "status": "NOT_FOUND",
                    }
                },
                {},
            )
        return 200, {"id": item.id, "historyId": str(item.changed), **item.data}, {}

    def _gmail_history(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        start = int(request.query["startHistoryId"][0])
        if start < self.gmail_oldest_history:
            return (
                404,
                {
                    "error": {
                        "code": 404,
                        "message": "Requested entity was not found.",
                        "status": "NOT_FOUND",
                    }
                },
                {},
            )
        records = [
            {"id": str(seq), kind: [{"message": {"id": mid, "threadId": "t"}}]}
            for seq, kind, mid in self.gmail_history
            if seq > start
        ]
        chunk, next_token = self._page(records, request.query.get("pageToken", [None])[0])
        body: dict[str, Any] = {"history": chunk, "historyId": str(self.last_seq)}
        if next_token:
            body["nextPageToken"] = next_token
        return 200, body, {}

    def _invalid(self, token: str) -> bool:
        seq = int("".join(c for c in token if c.isdigit()) or 0)
        return any(seq <= int(mark[2:]) for mark in self.invalid_tokens)

    def _events(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        sync_token = request.query.get("syncToken", [None])[0]
        if sync_token is not None:
            if self._invalid(sync_token):
                message = "Sync token is no longer valid, a full sync is required."
                return (
                    410,
                    {
                        "error": {
                            "errors": [
                                {
                                    "domain": "global",
                                    "reason": "fullSyncRequired",
                                    "message": message,
                                }
                            ],
                            "code": 410,
                            "message": message,
                        }
                    },
                    {},
                )
            changed = self.calendar.since(int(sync_token.removeprefix("sync")))
            items = [
                {"kind": "calendar#event", "id": i.id, "status": "cancelled"}
                if i.deleted
                else i.data
                for i in changed
            ]
        else:
            items = [i.data for i in self.calendar.live()]
        chunk, next_token = self._page(items, request.query.get("pageToken", [None])[0])
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "timeZone": "Europe/Madrid",
            "items": chunk,
        }
        if next_token:
            body["nextPageToken"] = next_token
        else:
            body["nextSyncToken"] = f"sync{self.last_seq}"
        return 200, body, {}

    def _delta(self, request: Request, store: Store, path: str) -> tuple[int, Any, dict[str, str]]:
        query = {k: v[0] for k, v in request.query.items()}
        base = f"{self.base_url}{path}"
        if "$deltatoken" in query:
            token = query["$deltatoken"]
            if self._invalid(token):
                return (
                    410,
                    {
                        "error": {
                            "code": "syncStateNotFound",
                            "message": "The sync state generation is not found.",
                        }
                    },
                    {},
                )
            since, offset = int(token.removeprefix("dt")), 0
        elif "$skiptoken" in query:
            since_text, _, offset_text = query["$skiptoken"].partition("_")
            since, offset = int(since_text), int(offset_text)
        else:
            since, offset = -1, 0
        if since < 0:
            items = [i.data for i in store.live()]
        else:
            items = [
                {"id": i.id, "@removed": {"reason": "deleted"}} if i.deleted else i.data
                for i in store.since(since)
            ]
        chunk = items[offset : offset + self.page_size]
        body: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata",
            "value": chunk,
        }
        if offset + self.page_size < len(items):
            body["@odata.nextLink"] = (
                f"{base}?{urlencode({'$skiptoken': f'{since}_{offset + self.page_size}'})}"
            )
        else:
            body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': f'dt{self.last_seq}'})}"
        if self._twist("outside"):
            body.pop("@odata.deltaLink", None)
            body["@odata.nextLink"] = "http://169.254.169.254/latest/meta-data/?$skiptoken=x"
        return 200, body, {}
