"""Relays SDP and ICE between the two parties of a call, and only between them."""

from __future__ import annotations

from signaling.protocol import ErrorCode, Ice, ProtocolError, SdpType, SessionDescription
from signaling.routing.keys import agent_address, kiosk_address
from signaling.services import Services


async def _connecting_call(
    services: Services, msg: SessionDescription | Ice, kind: str, party: str
) -> tuple[str, str]:
    call = await services.engine.get_call(msg.call_id)
    owner = None if call is None else (call.kiosk_id if kind == "kiosk" else call.agent)
    ref = "sdp" if isinstance(msg, SessionDescription) else "ice"
    if call is None or owner != party:
        raise ProtocolError(ErrorCode.UNKNOWN_CALL, f"no such call of yours: {msg.call_id}", ref)
    if call.state != "connecting":
        raise ProtocolError(
            ErrorCode.WRONG_STATE, f"call {msg.call_id} is {call.state}; signaling is closed", ref
        )
    return call.kiosk_id, call.agent


async def relay_from_kiosk(services: Services, kiosk_id: str, msg: SessionDescription | Ice) -> None:
    if isinstance(msg, SessionDescription) and msg.sdp_type is not SdpType.OFFER:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a kiosk sends offers; the agent answers", "sdp")
    _, agent = await _connecting_call(services, msg, "kiosk", kiosk_id)
    await services.delivery.send(agent_address(agent), msg)


async def relay_from_agent(services: Services, username: str, msg: SessionDescription | Ice) -> None:
    if isinstance(msg, SessionDescription) and msg.sdp_type is not SdpType.ANSWER:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "the agent answers the kiosk's offer", "sdp")
    kiosk_id, _ = await _connecting_call(services, msg, "agent", username)
    await services.delivery.send(kiosk_address(kiosk_id), msg)
