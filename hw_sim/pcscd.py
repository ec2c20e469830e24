"""A private pcscd with the vsmartcard `vpcd` driver, for the tests and the demo.

pcsc-lite 1.9.9's daemon always binds /run/pcscd/pcscd.comm itself, *unless* it is socket-activated
(systemd's LISTEN_FDS protocol, which pcscd supports through libsystemd). So we bind our own Unix
socket, hand it to pcscd as fd 3, and point clients at it with PCSCLITE_CSOCK_NAME (read by
libpcsclite once per process, at its first call). The system pcscd, if any, is left alone.

The reader.conf names the vpcd driver; vpcd's DEVICENAME is `/dev/null:<port>` and it opens two slots,
listening on <port> and <port>+1 (readers "Virtual PCD 00 00" and "Virtual PCD 00 01").

vpcd cannot bind port 0 and say which port it got, so the pair is one the kernel called free a moment before;
another process may take it first (tests start servers all the time). vpcd then logs "Address already in
use" and pcscd runs on without the reader: the daemon is stopped and started on another pair
(`PORT_ATTEMPTS`), on a first start whose port was not given. A reader counts as up only when the listening
socket on its port is pcscd's own, not whoever took the port.
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
PORT_ATTEMPTS = 8  # pairs tried before giving up; each taken one costs one failed daemon start
PORT_TAKEN = b"Address already in use"  # vpcd's line in pcscd's log when its port is held by another socket

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


def _listening(port: int, pid: int) -> bool:
    """Does process `pid` listen on TCP `port`? Read from /proc (connecting would tap a card): the socket's
    inode in the table of listeners, among the process's open files."""
    needle = f":{port:04X} "
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 9 and (fields[1] + " ").endswith(needle) and fields[3] == "0A":
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
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
        self._port_given = bool(port)  # a port asked for is kept; one picked here may move when it is taken
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
        """Start the daemon and wait for its reader; on a first start on a port picked here, a taken port
        moves it to another pair (`self.port` then says which). A restart keeps the port: the virtual card
        that connects to it knows it."""
        if self.pid:
            return self
        for _ in range(PORT_ATTEMPTS):
            if self._start_once(timeout):
                self._port_given = True  # from now on the card knows this port
                return self
            if self._port_given:
                raise RuntimeError(f"vpcd port {self.port} or {self.port + 1} is taken by another process;"
                                   f" see {self.log}")
            self.port = free_port_pair()
        raise RuntimeError(f"vpcd found its ports taken {PORT_ATTEMPTS} times in a row; see {self.log}")

    def _start_once(self, timeout: float) -> bool:
        """One daemon start: True once its reader listens, False (daemon stopped) when vpcd's port was taken."""
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
        logged = self.log.stat().st_size if self.log.exists() else 0
        try:
            with open(self.log, "ab") as log:
                self.proc = proc = subprocess.Popen(
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
        while not (_listening(self.port, proc.pid) and _listening(self.port + 1, proc.pid)):
            if proc.poll() is not None:
                raise RuntimeError(f"pcscd exited with {proc.returncode}; see {self.log}")
            if PORT_TAKEN in self._log_since(logged):
                self.stop()
                return False
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"pcscd did not open the vpcd ports {self.port}, {self.port + 1}; see {self.log}")
            time.sleep(0.02)
        return True

    def _log_since(self, offset: int) -> bytes:
        with contextlib.suppress(OSError), open(self.log, "rb") as fh:
            fh.seek(offset)
            return fh.read()
        return b""

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
