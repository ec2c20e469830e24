"""A private pcscd with the vsmartcard `vpcd` driver, for the tests and the demo.

pcsc-lite 1.9.9's daemon always binds /run/pcscd/pcscd.comm itself, *unless* it is socket-activated
(systemd's LISTEN_FDS protocol, which pcscd supports through libsystemd). So we bind our own Unix
socket, hand it to pcscd as fd 3, and point clients at it with PCSCLITE_CSOCK_NAME (read by
libpcsclite once per process, at its first call). The system pcscd, if any, is left alone.

The reader.conf names the vpcd driver; vpcd's DEVICENAME is `/dev/null:<port>` and it opens two slots,
listening on <port> and <port>+1 (readers "Virtual PCD 00 00" and "Virtual PCD 00 01").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from hw_sim import exit_on_sigterm

VPCD_CANDIDATES = (
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so.0.8",
    "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so",
)
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
READER_NAME = "Virtual PCD"

# Re-executed as `python -c` between fork and pcscd: put the socket on fd 3 and name our own pid,
# which exec keeps, as sd_listen_fds() requires.
_ACTIVATE = (
    "import os,sys\n"
    "fd=int(sys.argv[1])\n"
    "if fd!=3:\n os.dup2(fd,3); os.close(fd)\n"
    "os.environ['LISTEN_FDS']='1'; os.environ['LISTEN_PID']=str(os.getpid())\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def vpcd_driver() -> str:
    for path in VPCD_CANDIDATES:
        if os.path.exists(path):
            return path
    raise FileNotFoundError("vsmartcard-vpcd is not installed (apt-get install vsmartcard-vpcd)")


def pcscd_binary() -> str:
    found = shutil.which("pcscd") or ("/usr/sbin/pcscd" if os.path.exists("/usr/sbin/pcscd") else None)
    if not found:
        raise FileNotFoundError("pcscd is not installed (apt-get install pcscd)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A port p with p+1 also free (vpcd listens on both)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError("no free pair of TCP ports for vpcd")


def _listening(port: int) -> bool:
    """Is something listening on TCP `port`? Read from /proc, since connecting would tap a card."""
    needle = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 3 and (fields[1] + " ").endswith(needle) and fields[3] == "0A":
                    return True
    return False


class PrivatePcscd:
    """Start, stop and restart one private pcscd serving the vpcd reader on `port`.

    `socket_path` stays the same across restarts, so a client process (whose libpcsclite reads
    PCSCLITE_CSOCK_NAME only once) reconnects to the new daemon by itself.
    """

    def __init__(self, workdir: str | os.PathLike[str], port: int | None = None, *, debug: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = str(self.workdir / "pcscd.comm")
        self.conf = self.workdir / "reader.conf"
        self.log = self.workdir / "pcscd.log"
        self.port = port or free_port_pair()
        self.debug = debug
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for a client process (the CLI under test, the demo's app)."""
        return {SOCKET_ENV: self.socket_path}

    def use_in_this_process(self) -> None:
        """Point this process's PC/SC client at this daemon (the demo's app, a test session).

        Must run before this process's first PC/SC call: libpcsclite reads the variable only once.
        """
        os.environ[SOCKET_ENV] = self.socket_path

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def write_conf(self) -> None:
        self.conf.write_text(
            f'FRIENDLYNAME "{READER_NAME}"\n'
            f"DEVICENAME /dev/null:0x{self.port:04X}\n"
            f"LIBPATH {vpcd_driver()}\n"
            f"CHANNELID 0x{self.port:04X}\n"
        )

    def start(self, timeout: float = 10.0) -> PrivatePcscd:
        if self.pid:
            return self
        self.write_conf()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.socket_path)
        os.chmod(self.socket_path, 0o666)
        listener.listen(16)
        cmd = [pcscd_binary(), "--foreground", "--config", str(self.conf)]
        if self.debug:
            cmd += ["--debug", "--apdu"]
        try:
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", _ACTIVATE, str(listener.fileno()), *cmd],
                    pass_fds=(listener.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        finally:
            # Our copy must go: a listener left open here would accept clients while pcscd is down.
            listener.close()
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.proc.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"pcscd did not open the vpcd port {self.port}; see {self.log}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop our pcscd by its pid (SIGTERM, then SIGKILL) and remove its socket."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)

    def restart(self) -> PrivatePcscd:
        self.stop()
        return self.start()

    def __enter__(self) -> PrivatePcscd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run_cli(args: argparse.Namespace) -> int:
    exit_on_sigterm()
    daemon = PrivatePcscd(args.dir, args.port or None, debug=args.debug).start()
    print(f"hw-sim pcscd: pid {daemon.pid}, vpcd port {daemon.port}; clients need:", flush=True)
    print(f"export {SOCKET_ENV}={daemon.socket_path}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        daemon.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pcscd", help="a private pcscd with the vpcd reader, for `hw-sim nfc`")
    p.add_argument("--dir", required=True, help="directory for its socket, reader.conf and log")
    p.add_argument("--port", type=int, default=0, help="vpcd port (default: a free one)")
    p.add_argument("--debug", action="store_true", help="log APDUs to DIR/pcscd.log")
    p.set_defaults(run=_run_cli)
