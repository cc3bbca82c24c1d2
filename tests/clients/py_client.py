"""Drives the official python-socketio client against a running ChatSync server.

Usage: python3 py_client.py <url> <tokenA> <tokenB> <conversationId> <websocket|polling>
Exits 0 when every check passed.
"""
import asyncio
import sys

import socketio


async def connect(url, token, transport):
    s = socketio.AsyncClient(reconnection=False)
    await s.connect(url, auth={"token": token}, transports=[transport], wait_timeout=5)
    return s


async def main(url, token_a, token_b, conv, transport):
    a = await connect(url, token_a, transport)
    b = await connect(url, token_b, transport)
    assert a.transport() == transport, a.transport()
    received = asyncio.get_running_loop().create_future()
    b.on("message:new", lambda m: received.done() or received.set_result(m))

    ack = await a.call("message:send", {"conversation_id": conv, "client_id": f"py-{transport}",
                                        "body": f"hello from python over {transport}"}, timeout=5)
    assert ack["ok"] is True and isinstance(ack["message"]["seq"], int), ack
    got = await asyncio.wait_for(received, 5)
    assert got["id"] == ack["message"]["id"], got

    bad = await a.call("receipt", {"conversation_id": conv, "kind": "seen", "seq": 1}, timeout=5)
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_payload", bad

    # A bad token is refused; the reason reaches the client's connect_error handler.
    reasons = []
    intruder = socketio.AsyncClient(reconnection=False)
    intruder.on("connect_error", lambda data: reasons.append(data))
    try:
        await intruder.connect(url, auth={"token": "not-a-token"}, transports=[transport], wait_timeout=5)
        raise AssertionError("a bad token was accepted")
    except socketio.exceptions.ConnectionError:
        pass
    finally:
        await intruder.disconnect()
    assert any("unauthorized" in str(r) for r in reasons), reasons

    await a.disconnect()
    await b.disconnect()
    print({"ok": True, "transport": transport, "seq": ack["message"]["seq"]})


if __name__ == "__main__":
    try:
        asyncio.run(main(*sys.argv[1:6]))
    except Exception as e:  # report and fail
        print(f"check failed: {e!r}", file=sys.stderr)
        sys.exit(1)
