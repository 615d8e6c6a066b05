"""Helpers behind scripts/ovos.sh, run with the OVOS venv's python.

    ovosctl.py config MYCROFT_CONF CONSTRAINTS   writes mycroft.conf from the OVOS_BUS_* env
    ovosctl.py bus                               the stock ovos-messagebus handler on the env's
                                                 host/port/route path (a dev aid only);
                                                 OVOS_BUS_NODELAY=1 sets TCP_NODELAY per client
    ovosctl.py wait-ready PID TIMEOUT_S          waits until ovos-core answers
                                                 mycroft.skills.is_ready (or broadcasts
                                                 mycroft.skills.initialized) and then until
                                                 padatious has finished training (it asks
                                                 mycroft.skills.train, answered with
                                                 mycroft.skills.trained once any training under
                                                 way is done: ovos-core itself stops waiting
                                                 after 60 s, and utterances block until then;
                                                 asked again until the answer is immediate, so
                                                 skills loaded late are trained too);
                                                 plays the PHAL role
                                                 meanwhile: answers ovos.PHAL.internet_check and
                                                 announces the network, so network skills load
                                                 (OVOS_ANNOUNCE_NETWORK=0 turns that off)
"""

import json
import os
import socket
import sys
import time

from common import bus_host, bus_path, bus_port, bus_url, write_mycroft_conf


def cmd_config(path: str, constraints: str) -> int:
    write_mycroft_conf(path, constraints)
    return 0


def cmd_bus() -> int:
    from ovos_messagebus.event_handler import MessageBusEventHandler
    from tornado import ioloop, web

    handler = MessageBusEventHandler
    if os.environ.get("OVOS_BUS_NODELAY") == "1":
        class NoDelayHandler(MessageBusEventHandler):
            def open(self):
                self.set_nodelay(True)
                return super().open()
        handler = NoDelayHandler

    app = web.Application([(bus_path(), handler)])
    app.listen(bus_port(), bus_host())
    print(f"ovos-messagebus (dev) on ws://{bus_host()}:{bus_port()}{bus_path()}", flush=True)
    ioloop.IOLoop.current().start()
    return 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def send(ws, msg_type: str, data=None, context=None) -> None:
    ws.send(json.dumps({"type": msg_type, "data": data or {},
                        "context": context or {"source": "avb-ovosctl"}}))


def cmd_wait_ready(pid: int, timeout_s: float) -> int:
    import websocket

    announce = os.environ.get("OVOS_ANNOUNCE_NETWORK", "1") != "0"
    url = bus_url("avb-ovosctl")
    start = time.monotonic()
    deadline = start + timeout_s
    ws = None
    last_ask = 0.0
    ready_at = None  # set once ovos-core reports ready; then we wait for training
    while time.monotonic() < deadline:
        if not alive(pid):
            print(f"ovos-core (pid {pid}) exited before it was ready", file=sys.stderr)
            return 1
        if ws is None:
            try:
                ws = websocket.create_connection(
                    url, timeout=2, sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),))
                ws.settimeout(0.5)
            except (OSError, websocket.WebSocketException):
                ws = None
                time.sleep(0.5)
                continue
        now = time.monotonic()
        try:
            if now - last_ask >= (1.0 if ready_at is None else 30.0):
                # after ready: ask for training (a no-op when nothing is new), rarely repeated
                send(ws, "mycroft.skills.is_ready" if ready_at is None else "mycroft.skills.train")
                last_ask = now
            raw = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        except (OSError, websocket.WebSocketException):
            ws = None  # the bus went away; reconnect
            continue
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(msg, dict):
            continue
        msg_type = msg.get("type")
        data = msg.get("data") or {}
        if msg_type == "ovos.PHAL.internet_check" and announce:
            ctx = dict(msg.get("context") or {})
            send(ws, "ovos.PHAL.internet_check.response",
                 {"internet_connected": True, "network_connected": True}, ctx)
        elif ready_at is None and (
                (msg_type == "mycroft.skills.is_ready.response" and data.get("status") is True)
                or msg_type == "mycroft.skills.initialized"):
            ready_at = time.monotonic()
            if announce:
                send(ws, "mycroft.network.connected")
                send(ws, "mycroft.internet.connected")
            send(ws, "mycroft.skills.train")
            last_ask = ready_at
        elif ready_at is not None and msg_type == "mycroft.skills.trained":
            now = time.monotonic()
            if now - last_ask > 1.0:  # it was training: ask again until nothing is pending
                send(ws, "mycroft.skills.train")
                last_ask = now
                continue
            print(f"ovos-core ready after {ready_at - start:.1f} s, intents trained after "
                  f"{now - start:.1f} s", file=sys.stderr)
            ws.close()
            return 0
    what = "ready" if ready_at is None else "done training intents"
    print(f"ovos-core not {what} after {timeout_s:.0f} s", file=sys.stderr)
    return 1


def main(argv) -> int:
    if len(argv) == 3 and argv[0] == "config":
        return cmd_config(argv[1], argv[2])
    if argv == ["bus"]:
        return cmd_bus()
    if len(argv) == 3 and argv[0] == "wait-ready":
        return cmd_wait_ready(int(argv[1]), float(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
