"""The HTML report in a real headless browser (Debian's chromium, installed by `make test`).

Chromium is driven through the Chrome DevTools Protocol over ``--remote-debugging-pipe``
(fd 3: commands in, fd 4: replies and events out, NUL-separated JSON), standard library only:
no driver, no websocket client, no network. Skips when chromium is not installed.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ltrobust.report.render_html import write_html

from .report_factory import full_diagnostics, full_verdict, make_report, standard_pair

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and os.access(p, os.X_OK)),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (make test installs it when run as root with apt)",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--hide-scrollbars",
    "--window-size=1280,1600",
]


class DevToolsPipe:
    """A minimal CDP client: ``call`` sends a command and waits for its reply, recording every
    event that arrives meanwhile in ``events``."""

    def __init__(self, exe: str, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._evt_r, evt_w = os.pipe()
        # park the child's ends above fd 10 so that dup2 onto 3 and 4 cannot clobber them
        hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(evt_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(evt_w)

        def wire() -> None:  # runs in the child before exec
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,
        )
        os.close(hi_r)
        os.close(hi_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._evt_r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._evt_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while True:
            ev = self._read(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._evt_r)


IMAGES_JS = (
    "JSON.stringify(Array.from(document.images).map(i => ({complete: i.complete, "
    "w: i.naturalWidth, h: i.naturalHeight, scheme: i.src.split(':')[0]})))"
)


def test_html_report_loads_cleanly_in_chromium(tmp_path):
    y, clean, adv = standard_pair()
    report = make_report(y, clean, adv, diagnostics=full_diagnostics(), verdict=full_verdict())
    page = write_html(report, tmp_path / "report.html")
    cdp = DevToolsPipe(CHROMIUM, tmp_path / "profile")
    try:
        target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.call(f"{domain}.enable", session=session)
        cdp.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        cdp.wait_for("Page.loadEventFired")
        result = cdp.call(
            "Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True}, session=session
        )
        images = json.loads(result["result"]["value"])
        title = cdp.call(
            "Runtime.evaluate",
            {"expression": "document.title", "returnByValue": True},
            session=session,
        )
    finally:
        cdp.close()
    assert title["result"]["value"].startswith("ltrobust audit")
    assert len(images) == 4
    for img in images:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
        assert img["scheme"] == "data"
    errors = [
        e["params"]
        for e in cdp.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"].get("type") in ("error", "assert")
        )
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]
    assert errors == []
    requested = [
        e["params"]["request"]["url"]
        for e in cdp.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requested and all(u.split(":")[0] in ("file", "data", "about") for u in requested), (
        requested
    )
    failed = [e["params"] for e in cdp.events if e.get("method") == "Network.loadingFailed"]
    assert failed == []
