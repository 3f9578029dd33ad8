"""Drive Debian's headless Chromium over the DevTools pipe (standard library only).

Used by the tests and the map benchmark to prove that an offline HTML map renders with the
network disabled: it loads a local file, records console errors, uncaught exceptions, failed
loads and JavaScript dialogs (``alert``), times the render and takes a PNG screenshot.

The DevTools protocol is spoken over ``--remote-debugging-pipe`` (file descriptors 3 and 4,
NUL-terminated JSON), so no websocket client is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["PageCheck", "check_page", "find_chromium"]

#: Flags that keep headless Chromium quiet and off the network.
OFFLINE_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


@dataclass
class PageCheck:
    """What Chromium saw when it loaded a page.

    Attributes
    ----------
    errors : console errors, uncaught exceptions and failed loads.
    warnings : console warnings.
    dialogs : messages of JavaScript dialogs (``alert``, ``confirm``) that opened.
    screenshot : PNG bytes of the viewport.
    render_ms : milliseconds from navigation start to the second animation frame after load.
    values : results of the ``expressions`` passed to :func:`check_page`.

    """

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    render_ms: float = float("nan")
    values: dict[str, Any] = field(default_factory=dict)


def find_chromium() -> str | None:
    """Path of a Chromium binary (``$GEOGRID_CHROMIUM``, chromium, chromium-browser), or None."""
    env = os.environ.get("GEOGRID_CHROMIUM")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    """A DevTools session over Chromium's debugging pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self.proc = proc
        self.write_fd = write_fd
        self.read_fd = read_fd
        self.next_id = 0
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None
        self.check = PageCheck()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self.read_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.inbox.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                self.inbox.put(json.loads(raw.decode("utf-8")))

    def _handle_event(self, msg: dict[str, Any]) -> None:
        method = msg.get("method", "")
        params = msg.get("params", {})
        self.events.append(msg)
        if method == "Page.javascriptDialogOpening":
            self.check.dialogs.append(str(params.get("message", "")))
            self.send("Page.handleJavaScriptDialog", {"accept": True}, wait=False)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.check.errors.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            if params.get("type") in {"error", "assert"}:
                self.check.errors.append(f"console: {text}")
            elif params.get("type") == "warning":
                self.check.warnings.append(f"console: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            text = f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
            if entry.get("level") == "error":
                self.check.errors.append(text)
            elif entry.get("level") == "warning":
                self.check.warnings.append(text)

    def send(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout_s: float = 60.0,
        session: bool = True,
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": dict(params or {})}
        if session and self.session is not None:
            msg["sessionId"] = self.session
        os.write(self.write_fd, json.dumps(msg).encode("utf-8") + b"\0")
        if not wait:
            return {}
        want = self.next_id
        return self.wait_for(lambda m: m.get("id") == want, timeout_s=timeout_s)

    def wait_for(self, pred: Any, *, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                msg = f"Chromium did not answer within {timeout_s:g} s; pass a larger timeout_s="
                raise TimeoutError(msg)
            try:
                msg = self.inbox.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                raise RuntimeError("Chromium closed the DevTools pipe; check that it starts")
            if "id" not in msg:
                self._handle_event(msg)
            if pred(msg):
                if "error" in msg:
                    raise RuntimeError(f"DevTools error: {msg['error']}")
                return msg

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.inbox.get(timeout=left)
            except queue.Empty:
                return
            if msg is None:
                return
            if "id" not in msg:
                self._handle_event(msg)


def check_page(
    path: str | os.PathLike[str],
    *,
    width: int = 1280,
    height: int = 800,
    settle_ms: float = 500.0,
    timeout_s: float = 60.0,
    expressions: Mapping[str, str] | None = None,
    chromium: str | None = None,
) -> PageCheck:
    """Load a local HTML file in headless Chromium with networking disabled.

    Parameters
    ----------
    path : path-like
        The HTML file (loaded through ``file://``).
    width, height : int
        Viewport in CSS pixels.
    settle_ms : float
        Extra time after the render to collect late errors.
    timeout_s : float
        Give up after this many seconds.
    expressions : mapping, optional
        JavaScript expressions evaluated after the render; results in ``PageCheck.values``.
    chromium : str, optional
        Browser binary; default :func:`find_chromium`.

    Returns
    -------
    PageCheck

    """
    binary = chromium or find_chromium()
    if binary is None:
        msg = "chromium not found; install it (apt-get install chromium) or set GEOGRID_CHROMIUM"
        raise FileNotFoundError(msg)
    url = Path(path).resolve().as_uri()
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()

    def _child_fds() -> None:  # pragma: no cover - runs in the child
        # move both ends above 4 first: os.pipe() may itself have returned 3 or 4
        high_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)

    with tempfile.TemporaryDirectory(prefix="geogrid-chromium-") as profile:
        args = [
            binary,
            *OFFLINE_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        proc = subprocess.Popen(  # noqa: S603 - fixed argument list
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=_child_fds,  # noqa: PLW1509
        )
        os.close(cmd_r)
        os.close(res_w)
        pipe = _Pipe(proc, cmd_w, res_r)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout_s=timeout_s)
            target_id = target["result"]["targetId"]
            attached = pipe.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})
            pipe.session = attached["result"]["sessionId"]
            for method in ("Page.enable", "Runtime.enable", "Log.enable"):
                pipe.send(method)
            pipe.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            pipe.send("Page.navigate", {"url": url}, timeout_s=timeout_s)
            pipe.wait_for(lambda m: m.get("method") == "Page.loadEventFired", timeout_s=timeout_s)
            frame = pipe.send(
                "Runtime.evaluate",
                {
                    "expression": "new Promise(r => requestAnimationFrame(() => "
                    "requestAnimationFrame(() => r(performance.now()))))",
                    "awaitPromise": True,
                    "returnByValue": True,
                },
                timeout_s=timeout_s,
            )
            pipe.check.render_ms = float(frame["result"]["result"]["value"])
            pipe.drain(settle_ms / 1000.0)
            for key, expr in (expressions or {}).items():
                out = pipe.send(
                    "Runtime.evaluate",
                    {"expression": expr, "returnByValue": True, "awaitPromise": True},
                )
                pipe.check.values[key] = out["result"]["result"].get("value")
            if expressions:
                pipe.drain(settle_ms / 1000.0)
            shot = pipe.send("Page.captureScreenshot", {"format": "png"}, timeout_s=timeout_s)
            pipe.check.screenshot = base64.b64decode(shot["result"]["data"])
            pipe.drain(0.05)
            pipe.send("Browser.close", wait=False, session=False)
        finally:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(cmd_w)
            os.close(res_r)
    logger.debug(
        "chromium: %d errors, %d dialogs, render %.0f ms",
        len(pipe.check.errors),
        len(pipe.check.dialogs),
        pipe.check.render_ms,
    )
    return pipe.check
