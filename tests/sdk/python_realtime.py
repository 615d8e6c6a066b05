"""Drives /v1/realtime with the official `openai` Python SDK (GA client over ws://, beta client
when asked) and prints one JSON summary line. Usage:
    python_realtime.py BASE_URL API_KEY [ga|beta|secret|beta-tls]
    python_realtime.py BASE_URL API_KEY audio PCM_FILE   (pcm16 24 kHz mono speech)
    python_realtime.py validate ga|beta EVENTS_JSON      (a JSON array of server events)
"""
import asyncio
import base64
import json
import sys
import typing

from openai import AsyncOpenAI
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeServerEvent as GaServerEvent
from pydantic import TypeAdapter

# Every server event is also checked against the SDK's own models (its parser alone is lenient).
GA_EVENTS = TypeAdapter(GaServerEvent)
BETA_EVENTS = TypeAdapter(BetaServerEvent)


def why(adapter: TypeAdapter, kind: str, raw: bytes):
    """The validation errors of the union member for `kind` (the union's own are too many);
    None when the only one is the model id (see below)."""
    union = GaServerEvent if adapter is GA_EVENTS else BetaServerEvent
    for model in typing.get_args(typing.get_args(union)[0]) or typing.get_args(union):
        field = getattr(model, "model_fields", {}).get("type")
        if field is not None and typing.get_args(field.annotation) == (kind,):
            try:
                model.model_validate_json(raw)
            except Exception as e:  # noqa: BLE001
                errors = [x for x in e.errors() if x["loc"] != ("session", "model")]
                if not errors:
                    # The beta models list OpenAI's own model names; a self-hosted platform's
                    # model ids are its own. Nothing else is wrong with the event.
                    return None
                return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in errors[:5])
            return "valid alone, refused by the union"
    return "no event of this type in the SDK"


async def events(conn, adapter: TypeAdapter, invalid: list):
    """The connection's events, each validated against `adapter` first (failures collected)."""
    while True:
        raw = await conn.recv_bytes()
        try:
            adapter.validate_json(raw)
        except Exception:  # noqa: BLE001 - any validation failure is reported
            kind = json.loads(raw).get("type")
            error = why(adapter, kind, raw)
            if error is not None:
                invalid.append({"type": kind, "error": error})
        yield conn.parse_event(raw)


async def ga(base: str, key: str) -> dict:
    client = AsyncOpenAI(api_key=key, base_url=f"{base}/v1", websocket_base_url=base.replace("http", "ws") + "/v1")
    seen = []
    async with client.realtime.connect(model="local-model") as conn:
        created = await conn.recv()
        seen.append(created.type)
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."})
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}
        )
        await conn.response.create()
        text = ""
        status = None
        invalid = []
        async for event in events(conn, GA_EVENTS, invalid):
            seen.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.done":
                status = event.response.status
                break
        return {"session_type": created.session.type, "events": seen, "text": text, "status": status,
                "typed_delta": any(t == "response.output_text.delta" for t in seen), "invalid": invalid}


async def beta(base: str, key: str) -> dict:
    client = AsyncOpenAI(api_key=key, base_url=f"{base}/v1", websocket_base_url=base.replace("http", "ws") + "/v1")
    seen = []
    async with client.beta.realtime.connect(model="local-model") as conn:
        created = await conn.recv()
        seen.append(created.type)
        await conn.session.update(session={"modalities": ["text"]})
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}
        )
        await conn.response.create()
        text = ""
        status = None
        invalid = []
        async for event in events(conn, BETA_EVENTS, invalid):
            seen.append(event.type)
            if event.type == "response.text.delta":
                text += event.delta
            if event.type == "response.done":
                status = event.response.status
                break
        return {"events": seen, "text": text, "status": status, "invalid": invalid}


async def secret(base: str, key: str) -> dict:
    ws_base = base.replace("http", "ws") + "/v1"
    client = AsyncOpenAI(api_key=key, base_url=f"{base}/v1", websocket_base_url=ws_base)
    minted = await client.realtime.client_secrets.create(
        session={"type": "realtime", "output_modalities": ["text"], "instructions": "From the secret."}
    )
    ephemeral = AsyncOpenAI(api_key=minted.value, base_url=f"{base}/v1", websocket_base_url=ws_base)
    async with ephemeral.realtime.connect(model="local-model") as conn:
        created = await conn.recv()
        return {"value_prefix": minted.value[:3], "expires_at": minted.expires_at, "session_type": minted.session.type,
                "instructions": created.session.instructions, "modalities": created.session.output_modalities}


async def connect_only(base: str, key: str) -> dict:
    """Beta client (it always uses wss://): connect and read session.created."""
    client = AsyncOpenAI(api_key=key, base_url=f"{base}/v1")
    async with client.beta.realtime.connect(model="local-model") as conn:
        created = await conn.recv()
        return {"type": created.type, "input_audio_format": created.session.input_audio_format}


async def audio(base: str, key: str, pcm_path: str) -> dict:
    """GA client: stream speech in 100 ms appends with server VAD, collect the spoken answer."""
    client = AsyncOpenAI(api_key=key, base_url=f"{base}/v1", websocket_base_url=base.replace("http", "ws") + "/v1")
    with open(pcm_path, "rb") as f:
        pcm = f.read()
    silence = bytes(48_000)  # one second of pcm16 at 24 kHz
    seen, heard, said, answer_audio = [], None, "", 0
    async with client.realtime.connect(model="local-model") as conn:
        await conn.recv()
        await conn.session.update(session={
            "type": "realtime", "instructions": "Answer in one short sentence.",
            "audio": {"input": {"transcription": {"model": "tiny.en"},
                                "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}}})
        stream = silence[:12_000] + pcm + silence * 2
        for i in range(0, len(stream), 4_800):
            await conn.input_audio_buffer.append(audio=base64.b64encode(stream[i:i + 4_800]).decode())
        invalid = []
        async for event in events(conn, GA_EVENTS, invalid):
            seen.append(event.type)
            if event.type == "conversation.item.input_audio_transcription.completed":
                heard = event.transcript
            elif event.type == "response.output_audio_transcript.delta":
                said += event.delta
            elif event.type == "response.output_audio.delta":
                answer_audio += len(base64.b64decode(event.delta))
            elif event.type == "response.done":
                return {"heard": heard, "said": said, "audio_bytes": answer_audio,
                        "status": event.response.status, "events": seen, "invalid": invalid}
    return {"events": seen}


def validate(dialect: str, path: str) -> dict:
    """Validates every event of a JSON array against the dialect's server event union."""
    adapter = {"ga": GA_EVENTS, "beta": BETA_EVENTS}[dialect]
    with open(path, "rb") as f:
        events = json.load(f)
    invalid = []
    for event in events:
        raw = json.dumps(event).encode()
        try:
            adapter.validate_json(raw)
        except Exception:  # noqa: BLE001 - any validation failure is reported
            error = why(adapter, event.get("type"), raw)
            if error is not None:
                invalid.append({"type": event.get("type"), "error": error})
    return {"checked": len(events), "invalid": invalid}


def main() -> None:
    if sys.argv[1] == "validate":
        print(json.dumps(validate(sys.argv[2], sys.argv[3])))
        return
    base, key = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "ga"
    if mode == "audio":
        result = asyncio.run(asyncio.wait_for(audio(base, key, sys.argv[4]), timeout=120))
        print(json.dumps(result))
        return
    run = {"ga": ga, "beta": beta, "secret": secret, "beta-tls": connect_only}[mode]
    result = asyncio.run(asyncio.wait_for(run(base, key), timeout=30))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
