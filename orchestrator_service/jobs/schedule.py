"""Scheduled sweeps: the reconciler, the agent-memory purge and the purge of stale login
counts, at boot and on an interval; and the periodic sync of integrations."""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agents.memory import count_expired, purge_expired
from orchestrator_service.auth import throttle
from orchestrator_service.integrations.service import queue_due_syncs
from orchestrator_service.rag.reconcile import Reconciler, ReconcileReport

log = logging.getLogger(__name__)


async def sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    reconciler: Reconciler,
    *,
    dry_run: bool = False,
) -> ReconcileReport:
    """Purge expired agent memories and stale login counts, and reconcile the stores; only
    count with `dry_run`."""
    async with sessionmaker.begin() as session:
        expired = await (count_expired if dry_run else purge_expired)(session)
        stale = await (throttle.count_stale if dry_run else throttle.purge_stale)(session)
    report = await reconciler.reconcile(dry_run=dry_run)
    report.expired_memories = expired
    report.stale_login_attempts = stale
    return report


async def sweep_periodically(
    sessionmaker: async_sessionmaker[AsyncSession], reconciler: Reconciler, interval: float
) -> None:
    """Sweep now and every `interval` seconds, until cancelled."""
    while True:
        try:
            report = await sweep(sessionmaker, reconciler)
            if any(report.counts().values()):
                log.info("reconciled: %s", report.counts())
        except Exception:  # a failed round is retried at the next one
            log.exception("reconciliation failed")
        await asyncio.sleep(interval)


async def sync_integrations_periodically(
    sessionmaker: async_sessionmaker[AsyncSession], interval: float
) -> None:
    """Every `interval` seconds, queue the sync of each connected integration that has not
    synced for that long, until cancelled."""
    while True:
        try:
            async with sessionmaker.begin() as session:
                queued = await queue_due_syncs(session, older_than=timedelta(seconds=interval))
            if queued:
                log.info("queued %d integration sync(s)", queued)
        except Exception:  # a failed round is retried at the next one
            log.exception("queueing integration syncs failed")
        await asyncio.sleep(interval)
