"""The hub's fan-out rules, without a database: who a subscription wants, and what a stream
that falls too far behind is given."""

import uuid

from orchestrator_service.live.hub import QUEUE_SIZE, Event, LiveHub, Subscription


def event(tenant_id: int, user_id: uuid.UUID | None, scope: str | None = None) -> Event:
    return Event(id=1, tenant_id=tenant_id, user_id=user_id, event="e", scope=scope, data={})


def test_a_subscription_wants_its_users_and_tenant_wide_events_only() -> None:
    ann, bob = uuid.uuid4(), uuid.uuid4()
    mine = Subscription(tenant_id=1, user_id=ann, allows=lambda scope: scope == "agents:read")
    no_user = Subscription(tenant_id=1, user_id=None, allows=lambda scope: True)
    assert mine.wants(event(1, ann)) and mine.wants(event(1, None))
    assert not mine.wants(event(1, bob)) and not mine.wants(event(2, ann))
    assert not mine.wants(event(2, None))
    assert mine.wants(event(1, ann, "agents:read")) and not mine.wants(event(1, ann, "rag:read"))
    assert no_user.wants(event(1, None)) and not no_user.wants(event(1, ann))


def test_a_stream_too_far_behind_is_told_to_reconnect() -> None:
    hub = LiveHub.__new__(LiveHub)  # _offer uses no collaborator
    slow = Subscription(tenant_id=1, user_id=None, allows=lambda scope: True)
    for _ in range(QUEUE_SIZE + 10):
        hub._offer(slow, event(1, None))
    queued = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert len(queued) == QUEUE_SIZE + 1
    assert all(isinstance(e, Event) for e in queued[:QUEUE_SIZE]) and queued[-1] is None
