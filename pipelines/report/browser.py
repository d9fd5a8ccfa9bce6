"""Open a report in headless Chromium with networking disabled, record requests, take a screenshot.

Talks the DevTools protocol over ``--remote-debugging-pipe`` (no port, no extra package): the page's
own requests are recorded from ``Network.requestWillBeSent``, so Chromium's background traffic
(update checks) is not mistaken for the page's. The page runs with the network emulated offline
and every proxy pointed at a closed port, so nothing could leave the machine even if it tried.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--proxy-server=http://127.0.0.1:9",
    "--remote-debugging-pipe",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "devtools:")


class BrowserError(RuntimeError):
    """Chromium is missing, exited, or did not answer in time."""


@dataclass(frozen=True)
class RenderedPage:
    """What the browser saw.

    Attributes:
        requests: Every URL the page requested (its own file included).
        facts: Values of the JavaScript expressions asked for, by name.
        screenshot: PNG bytes of the whole page.
    """

    requests: tuple[str, ...]
    facts: dict[str, Any]
    screenshot: bytes

    @property
    def remote_requests(self) -> list[str]:
        """Requests that would have left the machine."""
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]


def find_chromium() -> str | None:
    """The Chromium executable on PATH (Debian's ``chromium`` package), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Pipe:
    """A DevTools protocol session over the two pipes Chromium reads and writes (fd 3 and 4)."""

    def __init__(self, executable: str, profile: Path, width: int) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_pipes() -> None:
            # Move both ends above 3 and 4 first, so neither dup2 can overwrite the other.
            reads, writes = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w))
            os.dup2(reads, 3)
            os.dup2(writes, 4)

        self.process = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},1000",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=wire_pipes,  # noqa: PLW1509 - only dup2 between fork and exec
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> None:
        """Wait until an event of that method arrived."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} within {timeout:.0f}s")
            self.events.append(self._read())

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def close(self) -> None:
        """Stop the browser."""
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def render_offline(
    page: Path, facts: dict[str, str], width: int = 1280, timeout: float = 30.0
) -> RenderedPage:
    """Load a local HTML file in headless Chromium with the network off.

    Args:
        page: The HTML file.
        facts: Name → JavaScript expression evaluated after the page loaded.
        width: Viewport width in pixels (the screenshot is the full page height).
        timeout: Seconds to wait for the page to load.

    Returns:
        The requests the page made, the facts and a full-page screenshot.

    Raises:
        BrowserError: Chromium is not installed, or it failed.
    """
    executable = find_chromium()
    if executable is None:
        raise BrowserError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="gridsync-chromium-") as profile:
        browser = _Pipe(executable, Path(profile), width)
        try:
            return _render(browser, page, facts, width, timeout)
        finally:
            browser.close()


def _render(browser: _Pipe, page: Path, facts: dict[str, str], width: int, timeout: float) -> RenderedPage:
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    browser.call("Network.enable", session)
    browser.call(
        "Network.emulateNetworkConditions",
        session,
        offline=True,
        latency=0,
        downloadThroughput=-1,
        uploadThroughput=-1,
    )
    browser.call("Page.enable", session)
    browser.call("Page.navigate", session, url=page.resolve().as_uri())
    browser.wait_for("Page.loadEventFired", timeout)
    values = {
        name: browser.call("Runtime.evaluate", session, expression=js, returnByValue=True, awaitPromise=True)[
            "result"
        ].get("value")
        for name, js in facts.items()
    }
    height = browser.call("Runtime.evaluate", session, expression="document.body.scrollHeight")
    full_height = int(height["result"]["value"]) + 40
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=full_height,
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = browser.call("Page.captureScreenshot", session, format="png")["data"]
    requests = tuple(
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == session
    )
    return RenderedPage(requests, values, base64.b64decode(shot))


class Tab:
    """One page in a live headless Chromium, driven over the DevTools protocol (for tests of the
    served warehouse). The browser's proxy points at a closed port, so only the loopback address
    (which Chromium never proxies) is reachable."""

    def __init__(self, browser: _Pipe, session: str) -> None:
        self._browser = browser
        self._session = session

    def goto(self, url: str, timeout: float = 30.0) -> None:
        """Load a URL and wait for its load event."""
        self._browser.events = [e for e in self._browser.events if e.get("method") != "Page.loadEventFired"]
        self._browser.call("Page.navigate", self._session, url=url)
        self._browser.wait_for("Page.loadEventFired", timeout)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        reply = self._browser.call(
            "Runtime.evaluate", self._session, expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression}: {reply['exceptionDetails'].get('text')}")
        return reply["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None  # the page is between two documents (a reload): ask again
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"still false after {timeout:.0f}s: {expression}")
            time.sleep(0.1)

    def type_into(self, selector: str, text: str) -> None:
        """Focus a field, clear it and type text as key events would (Input.insertText)."""
        element = f"document.querySelector({json.dumps(selector)})"
        self.evaluate(f"(() => {{ const e = {element}; e.focus(); e.value = ''; }})()")
        self._browser.call("Input.insertText", self._session, text=text)

    def click(self, selector: str) -> None:
        """Click an element at its centre with real mouse events."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self._browser.call(
                "Input.dispatchMouseEvent",
                self._session,
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(
            self._browser.call("Page.captureScreenshot", self._session, format="png")["data"]
        )

    @property
    def requests(self) -> list[str]:
        """Every URL this page requested so far."""
        return [
            e["params"]["request"]["url"]
            for e in self._browser.events
            if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == self._session
        ]


@contextlib.contextmanager
def live_tab(downloads: Path, width: int = 1280) -> Iterator[Tab]:
    """A headless Chromium page with the network reachable only on loopback; downloads go to a folder.

    Args:
        downloads: Where files the page downloads are saved.
        width: Viewport width.

    Yields:
        The page.

    Raises:
        BrowserError: Chromium is not installed, or it failed.
    """
    executable = find_chromium()
    if executable is None:
        raise BrowserError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="gridsync-chromium-") as profile:
        browser = _Pipe(executable, Path(profile), width)
        try:
            browser.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
            session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            browser.call("Network.enable", session)
            browser.call("Page.enable", session)
            yield Tab(browser, session)
        finally:
            browser.close()
