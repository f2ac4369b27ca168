"""Tells kiosks and agents what a routing transition means for them (offers, state, call ends)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from signaling.delivery import Delivery
from signaling.ice import IceConfig
from signaling.metrics import Metrics
from signaling.protocol import (
    AgentState,
    AgentStateChanged,
    CallEnded,
    CallState,
    Offer,
    OfferRevoked,
    Ringing,
    Transferring,
    WrapUpBy,
    WrapUpDone,
)
from signaling.routing.engine import (
    AgentStatus,
    Ended,
    Outcome,
    Reservation,
    RoutingEngine,
    WrappedUp,
    now_ms,
)
from signaling.routing.keys import agent_address, kiosk_address

log = logging.getLogger(__name__)


class Announcer:
    def __init__(self, engine: RoutingEngine, delivery: Delivery, metrics: Metrics, ice: IceConfig) -> None:
        self.engine = engine
        self.delivery = delivery
        self.metrics = metrics
        self.ice = ice
        self.on_ended: Callable[[str], Awaitable[None]] | None = None
        """Told each ended call's id after its parties (the quality service's summary and alert)."""

    async def outcome(self, outcome: Outcome) -> None:
        for reservation in outcome.offers:
            await self.offer(reservation)
        for call_id in outcome.abandoned:
            self.metrics.calls.labels(CallState.ABANDONED.value).inc()
            kiosk_id = outcome.abandoned_kiosks.get(call_id)
            if kiosk_id:
                await self.delivery.send(
                    kiosk_address(kiosk_id),
                    CallEnded(call_id=call_id, state=CallState.ABANDONED, reason="kiosk_disconnected"),
                )

    async def offer(self, reservation: Reservation) -> None:
        """Ring the agent (and tell the kiosk); the call's fields come with the reservation, or are read."""
        call_id, agent = reservation.call_id, reservation.agent
        call = reservation.call or await self.engine.get_call(call_id)
        if call is None:
            return
        await self.delivery.send(
            agent_address(agent),
            Offer(
                call_id=call_id,
                kiosk_id=call.kiosk_id,
                location=call.location,
                topic=call.topic,
                language=call.language,
                waited_s=round((now_ms() - call.created_ms) / 1000, 1),
                expires_in_s=self.engine.timeout_ms / 1000,
                context=call.context,
                priority=call.priority,
                notes=call.notes,
            ),
        )
        await self.delivery.send(
            agent_address(agent), AgentStateChanged(state=AgentState.RINGING, call_id=call_id)
        )
        await self.delivery.send(
            kiosk_address(call.kiosk_id),
            Ringing(
                call_id=call_id,
                ice_servers=self.ice.servers(call_id),
                ice_transport_policy=self.ice.policy,
            ),
        )
        log.debug("offered call %s to %s", call_id, agent)

    async def revoked(self, call_id: str, agent: str, reason: str, status: AgentStatus | None = None) -> None:
        await self.delivery.send(agent_address(agent), OfferRevoked(call_id=call_id, reason=reason))
        await self.agent_state(agent, status)

    async def ended(self, ended: Ended, reason: str) -> None:
        self.metrics.calls.labels(ended.final_state).inc()
        message = CallEnded(call_id=ended.call_id, state=CallState(ended.final_state), reason=reason)
        await self.delivery.send(kiosk_address(ended.kiosk_id), message)
        if ended.agent:
            await self.delivery.send(agent_address(ended.agent), message)
            await self.agent_state(ended.agent, ended.agent_status)
        log.info("call %s %s (%s)", ended.call_id, ended.final_state, reason)
        await self.outcome(ended.outcome)
        if self.on_ended is not None:
            await self.on_ended(ended.call_id)

    async def agent_state(self, agent: str, status: AgentStatus | None = None) -> None:
        """Tell the agent's consoles their state: ``status`` as a script returned it, or read now."""
        if status is None:
            status = await self.engine.agent_status(agent)
        ends_in = extendable = None
        if status.wrap_up_deadline_ms is not None:
            ends_in = round(max(0.0, (status.wrap_up_deadline_ms - now_ms()) / 1000), 1)
            extendable = not status.wrap_up_extended
        await self.delivery.send(
            agent_address(agent),
            AgentStateChanged(
                state=AgentState(status.state),
                reason=status.reason,
                call_id=status.call_id or None,
                next_state=status.next_state or None,
                wrap_up_ends_in_s=ends_in,
                wrap_up_extendable=extendable,
            ),
        )

    async def transferring(self, kiosk_id: str, call_id: str, to_topic: str) -> None:
        await self.delivery.send(kiosk_address(kiosk_id), Transferring(call_id=call_id, to_topic=to_topic))

    async def wrap_up_ended(self, agent: str, done: WrappedUp, by: WrapUpBy) -> None:
        await self.delivery.send(agent_address(agent), WrapUpDone(call_id=done.call_id, by=by))
        await self.agent_state(agent, done.status)
        await self.outcome(done.outcome)

    async def timed_out(self, kiosk_id: str, call_id: str) -> None:
        self.metrics.calls.labels(CallState.TIMED_OUT.value).inc()
        await self.delivery.send(
            kiosk_address(kiosk_id), CallEnded(call_id=call_id, state=CallState.TIMED_OUT, reason="max_wait")
        )
