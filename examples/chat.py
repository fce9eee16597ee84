"""Chat rooms over WebSockets and Server-Sent Events, shared by every worker.

    make serve APP=examples.chat:app            # one process, COVET_BROADCAST_URL=memory://

    # several workers (behind deploy/nginx.conf), sharing messages through Redis:
    COVET_BROADCAST_URL=redis://127.0.0.1:6379/0 uvicorn examples.chat:app --port 8000
    COVET_BROADCAST_URL=redis://127.0.0.1:6379/0 uvicorn examples.chat:app --port 8001

Routes:

- ``GET /``: a small page to try it in a browser.
- ``WS /ws/{room}?user=NAME``: first sends ``{"type": "hello", "room", "user",
  "worker"}``, then every message of the room; each text frame the client sends is
  a message to the room.
- ``GET /rooms/{room}/events``: the room as Server-Sent Events (``: subscribed``
  first, then one ``data:`` line per message).
- ``POST /rooms/{room}/messages`` with ``{"user": "...", "text": "..."}``: sends a
  message (202).

A message is ``{"type": "message", "room", "user", "text", "worker"}``, where
``worker`` identifies the process that received it (its pid). Room names are 1-64
letters, digits, ``-`` or ``_`` (else 404), user names at most 32 characters (else
422), texts 1-1000 characters (else 422, or an ``{"type": "error"}`` frame on the
WebSocket). When Redis is unreachable, sending answers 503 (closes the WebSocket
with 1011).
"""

from __future__ import annotations

import os
import re
from typing import Any

import orjson

from covet import (
    CovetRouter,
    EventSourceResponse,
    HTMLResponse,
    HTTPException,
    JSONResponse,
    Request,
    WebSocket,
    create_asgi_app,
)
from covet.broadcast import Broadcast, BroadcastUnavailable, pump_to_websocket, sse_stream

BROADCAST_URL = os.environ.get("COVET_BROADCAST_URL", "memory://")
WORKER = str(os.getpid())
MAX_TEXT = 1000
MAX_USER = 32
_ROOM = re.compile(r"[A-Za-z0-9_-]{1,64}")

broadcast = Broadcast(BROADCAST_URL)
router = CovetRouter()


def _room(params: dict[str, Any]) -> str:
    room = str(params["room"])
    if not _ROOM.fullmatch(room):
        raise HTTPException(404, "room names are 1-64 letters, digits, '-' or '_'")
    return room


def _user(value: Any) -> str:
    if value is None:
        return "anonymous"
    if not isinstance(value, str) or not 0 < len(value) <= MAX_USER:
        raise HTTPException(422, f"user must be a string of 1-{MAX_USER} characters")
    return value


def _text_error(text: Any) -> str | None:
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT:
        return f"text must be a string of 1-{MAX_TEXT} characters"
    return None


async def _send(room: str, user: str, text: str) -> None:
    message = {"type": "message", "room": room, "user": user, "text": text, "worker": WORKER}
    await broadcast.publish(channel=f"chat:{room}", message=orjson.dumps(message).decode())


@router.websocket("/ws/{room}")
async def chat(websocket: WebSocket) -> None:
    room = _room(websocket.path_params)
    user = _user(websocket.query.get("user"))
    # Subscribed before the handshake completes: once the client is connected it
    # receives every later message of the room.
    async with broadcast.subscribe(channel=f"chat:{room}") as subscriber:
        await websocket.accept()
        await websocket.send_json({"type": "hello", "room": room, "user": user, "worker": WORKER})

        async def received(text: str) -> None:
            error = _text_error(text)
            if error is not None:
                await websocket.send_json({"type": "error", "detail": error})
            else:
                await _send(room, user, text)

        await pump_to_websocket(subscriber, websocket, on_receive=received)


@router.get("/rooms/{room}/events")
async def events(request: Request) -> EventSourceResponse:
    room = _room(request.path_params)
    return EventSourceResponse(await sse_stream(broadcast, f"chat:{room}"))


@router.post("/rooms/{room}/messages")
async def post_message(request: Request) -> JSONResponse:
    room = _room(request.path_params)
    body = await request.json()
    if not isinstance(body, dict):
        raise HTTPException(422, 'the body must be a JSON object {"user": ..., "text": ...}')
    user = _user(body.get("user"))
    error = _text_error(body.get("text"))
    if error is not None:
        raise HTTPException(422, error)
    await _send(room, user, body["text"])
    return JSONResponse({"sent": True, "worker": WORKER}, status_code=202)


@router.get("/")
async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


async def unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "chat is unavailable, try again"}, status_code=503)


app = create_asgi_app(
    router=router,
    on_startup=[broadcast.connect],
    on_shutdown=[broadcast.disconnect],
    exception_handlers={BroadcastUnavailable: unavailable},
    websocket_max_message_size=4096,
)

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>CovetPy chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
  #log p { margin: .2rem 0; } .meta { color: #888; font-size: .8em; }
</style>
<h1>CovetPy chat</h1>
<form id="join">
  <input id="room" value="lobby" pattern="[A-Za-z0-9_-]{1,64}" required>
  <input id="user" placeholder="your name" maxlength="32">
  <button>Join</button> <span id="status">not connected</span>
</form>
<div id="log"></div>
<form id="say"><input id="text" maxlength="1000" size="50" required> <button>Send</button></form>
<script>
let ws;
const log = document.getElementById("log"), status = document.getElementById("status");
function show(who, text, meta) {
  const p = document.createElement("p");
  const b = document.createElement("b"); b.textContent = who + ": ";
  const m = document.createElement("span"); m.className = "meta"; m.textContent = " " + meta;
  p.append(b, document.createTextNode(text), m);
  log.append(p); log.scrollTop = log.scrollHeight;
}
document.getElementById("join").onsubmit = (e) => {
  e.preventDefault();
  if (ws) ws.close();
  const room = document.getElementById("room").value;
  const user = document.getElementById("user").value || "anonymous";
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/${room}?user=${encodeURIComponent(user)}`;
  ws = new WebSocket(url);
  ws.onmessage = (m) => {
    const data = JSON.parse(m.data);
    if (data.type === "hello") status.textContent = `in ${data.room} (worker ${data.worker})`;
    else if (data.type === "message") show(data.user, data.text, `via worker ${data.worker}`);
    else show("error", data.detail, "");
  };
  ws.onclose = (e) => { status.textContent = `disconnected (${e.code})`; };
};
document.getElementById("say").onsubmit = (e) => {
  e.preventDefault();
  const text = document.getElementById("text");
  if (ws && ws.readyState === WebSocket.OPEN) { ws.send(text.value); text.value = ""; }
};
</script>
</html>
"""
