"""Shared helpers for the OVOS dev scripts: the bus URL from the environment, and mycroft.conf.

Environment (the same for scripts/ovos.sh, ovosctl.py and smoke.py):
  OVOS_BUS_HOST   127.0.0.1
  OVOS_BUS_PORT   8181
  OVOS_BUS_ROUTE  /core   (may carry a query string, e.g. /core?client_id=ovos-core&token=XYZ)
  OVOS_BUS_TOKEN  when set, adds client_id=<component>&token=<token> to the route's query
                  (a client_id or token already in OVOS_BUS_ROUTE wins)
"""

import json
import os
import urllib.parse

# The intents pipeline verified offline (persona stages are added only when a persona is used).
PIPELINE = [
    "stop_high", "converse", "padatious_high", "adapt_high", "fallback_high",
    "stop_medium", "padatious_medium", "adapt_medium", "adapt_low", "fallback_low",
]

# A loopback port nothing listens on: ovos-core's network checks fail fast instead of going out.
CLOSED_URL = "http://127.0.0.1:9/"


def bus_host() -> str:
    return os.environ.get("OVOS_BUS_HOST") or "127.0.0.1"


def bus_port() -> int:
    return int(os.environ.get("OVOS_BUS_PORT") or "8181")


def bus_route(client_id: str) -> str:
    """The route a client connects to: OVOS_BUS_ROUTE plus client_id/token when OVOS_BUS_TOKEN."""
    route = os.environ.get("OVOS_BUS_ROUTE") or "/core"
    token = os.environ.get("OVOS_BUS_TOKEN")
    if not token:
        return route
    path, _, query = route.partition("?")
    params = urllib.parse.parse_qsl(query, keep_blank_values=True)
    keys = {k for k, _ in params}
    if "client_id" not in keys:
        params.append(("client_id", client_id))
    if "token" not in keys:
        params.append(("token", token))
    return path + "?" + urllib.parse.urlencode(params)


def bus_path() -> str:
    """The route's path only, which is what a bus server listens on."""
    return (os.environ.get("OVOS_BUS_ROUTE") or "/core").partition("?")[0]


def bus_url(client_id: str) -> str:
    return f"ws://{bus_host()}:{bus_port()}{bus_route(client_id)}"


def mycroft_conf(constraints: str) -> dict:
    """The settings that keep ovos-core offline and quiet (see shared/spec/ovos.md)."""
    return {
        "lang": "en-US",
        "websocket": {
            "host": bus_host(),
            "port": bus_port(),
            "route": bus_route("ovos-core"),
            "ssl": False,
        },
        "intents": {
            "pipeline": PIPELINE,
            "persona": {"ignore_plugin_personas": True},
        },
        "skills": {
            # ovos.pip.install works; the default constraints URL would be fetched before each one
            "installer": {"allow_pip": True, "constraints": constraints},
        },
        "network_tests": {
            "ip_url": CLOSED_URL,
            "dns_primary": "127.0.0.1",
            "dns_secondary": "127.0.0.1",
            "web_url": CLOSED_URL,
            "web_url_secondary": CLOSED_URL,
            "captive_portal_url": CLOSED_URL,
        },
    }


def write_mycroft_conf(path: str, constraints: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(mycroft_conf(constraints), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
