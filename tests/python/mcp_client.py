"""Drives Keybrake's MCP endpoint with the Python `mcp` package's client,
for tests/mcp-python.test.mjs: prints one JSON object of what it saw.

usage: mcp_client.py <mcp url> <vault key> <scenario>
"""

import asyncio
import json
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def text_of(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def main(url: str, token: str, scenario: str) -> dict:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http, terminate_on_close=False) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                out = {"server": init.server_info.name, "protocol": init.protocol_version}
                tools = await session.list_tools()
                out["tools"] = sorted(t.name for t in tools.tools)
                if scenario == "pay":
                    paid = await session.call_tool(
                        "stripe_create_payment_intent",
                        {"amount": 2000, "currency": "usd", "customer": "cus_py_mcp"},
                    )
                    out["paid"] = {"isError": paid.is_error, "structured": paid.structured_content, "text": text_of(paid)}
                    capped = await session.call_tool(
                        "stripe_create_payment_intent",
                        {"amount": 4000, "currency": "usd", "customer": "cus_py_mcp_over"},
                    )
                    out["capped"] = {"isError": capped.is_error, "structured": capped.structured_content, "text": text_of(capped)}
                return out


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))
    except BaseException as e:  # the test reads the refusal from here
        # Exception groups hide the transport's error one level down.
        inner = getattr(e, "exceptions", None)
        print(json.dumps({"error": repr(inner[0] if inner else e)}))
