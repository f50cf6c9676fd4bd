"""Offline lecture halls (issue 12, bugs 5 and 6): the server started with the project's own config reaches no
host but this machine, and the default page answers at its own address (/submodels) as well as at /."""
from __future__ import annotations

import asyncio
import os
import tomllib
from pathlib import Path

import pytest

from tests.browser.conftest import start_app, stop_app

ROOT = Path(__file__).resolve().parents[1]
GUARD = Path(__file__).resolve().parent / "offline_guard"


def test_config_names_the_server_address():
    """Without browser.serverAddress (or server.address) a headless Streamlit asks checkip.amazonaws.com."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["headless"] is True
    assert config.get("browser", {}).get("serverAddress") or config["server"].get("address")


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    """`streamlit run app/main.py` with the project's config only (no flags but the port), every non-local network
    attempt logged and refused; yields (url, log of attempts, server log)."""
    folder = tmp_path_factory.mktemp("offline")
    attempts, output = folder / "attempts.log", folder / "server.log"
    attempts.write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(GUARD), str(ROOT)]),
           "OFFLINE_GUARD_LOG": str(attempts), "INSITU_LIBRARY": str(folder / "no-library")}
    proc, url = start_app(output, env=env, flags=())
    try:
        yield url, attempts, output
    finally:
        stop_app(proc)


def _open_page(url: str, page_name: str, timeout_s: float = 300) -> list[str]:
    """Open the app at /page_name over Streamlit's own protocol, as a browser does; return the kinds of message
    the server sent until the script finished (e.g. 'navigation', 'page_not_found', 'delta')."""
    from websockets.asyncio.client import connect

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async def run() -> list[str]:
        kinds = []
        async with connect(url.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"],
                           max_size=None) as ws:
            msg = BackMsg()
            msg.rerun_script.query_string = ""
            msg.rerun_script.page_name = page_name
            await ws.send(msg.SerializeToString())
            async with asyncio.timeout(timeout_s):
                while True:
                    fwd = ForwardMsg.FromString(await ws.recv())
                    kinds.append(fwd.WhichOneof("type"))
                    if kinds[-1] == "delta" and fwd.delta.new_element.heading.body:
                        kinds.append("heading:" + fwd.delta.new_element.heading.body)
                    if kinds[-1] == "script_finished":
                        return kinds

    # A thread of its own: the browser tests' Playwright session may keep an event loop running in this one.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def test_default_page_answers_at_its_own_address(guarded_server):
    url, _, _ = guarded_server
    kinds = _open_page(url, "submodels")
    assert "page_not_found" not in kinds
    assert "heading:Sub-models" in kinds


def test_an_unknown_address_is_reported_not_found(guarded_server):
    url, _, _ = guarded_server
    assert "page_not_found" in _open_page(url, "no-such-page")


def test_server_reaches_no_host_but_this_machine(guarded_server):
    url, attempts, output = guarded_server
    _open_page(url, "")  # start-up and a first page run
    assert attempts.read_text() == "", f"attempts to reach other hosts:\n{attempts.read_text()}"
    assert "external IP" not in output.read_text()
