"""Real SFTP and SMB servers for tests: Debian's sshd and smbd, on 127.0.0.1 only.

Each runs in the foreground as the current user (root) with its own config, keys, passwords
and state under a `workdir`, so nothing system-wide is read or changed (bar creating sshd's
empty privilege-separation directory, ``/run/sshd``, if missing). Both yield a `FileServer`:
what ``fsspec.filesystem(server.protocol, **server.options)`` needs, and where to store.
"""

from __future__ import annotations

import collections
import contextlib
import os
import secrets
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import IO

from tests.servers import FileServer, free_port

SSHD = "/usr/sbin/sshd"  # sshd re-executes itself, so it must be named by its absolute path
SMBD = "/usr/sbin/smbd"
SMBPASSWD = "/usr/bin/smbpasswd"
READY_TIMEOUT = 20.0  # seconds a server gets to listen


@contextlib.contextmanager
def _daemon(argv: list[str], ready: str, cwd: str) -> Iterator[subprocess.Popen[str]]:
    """Run `argv` until done; yield once it printed a line containing `ready` (it listens).

    Output is collected (the last lines shown if the server dies or never gets ready). On
    exit the server is terminated, and so are the per-client processes it forked.
    """
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # smbd, when ended, signals its whole process group
    )
    assert proc.stdout is not None
    output: collections.deque[str] = collections.deque(maxlen=30)
    listening = threading.Event()
    drain = threading.Thread(target=_drain, args=(proc.stdout, output, ready, listening))
    drain.start()
    try:
        if not listening.wait(timeout=READY_TIMEOUT):
            msg = f"{argv[0]} not ready after {READY_TIMEOUT} s:\n{''.join(output)}"
            raise RuntimeError(msg)
        if proc.poll() is not None:
            drain.join(timeout=5)
            msg = f"{argv[0]} exited with {proc.returncode}:\n{''.join(output)}"
            raise RuntimeError(msg)
        yield proc
    finally:
        # Per-client workers outlive their listener (sshd's even start their own sessions):
        # note them first, then end the listener and them, by pid.
        workers = _descendants(proc.pid)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        _end(workers | _descendants(proc.pid))
        drain.join(timeout=10)  # ends at EOF, once no process holds the pipe
        proc.stdout.close()


def _drain(
    stream: IO[str], lines: collections.deque[str], ready: str, seen: threading.Event
) -> None:
    """Keep the last `lines` of `stream`; set `seen` at the first holding `ready`, or at EOF
    (the server is gone)."""
    for line in stream:
        lines.append(line)
        if ready in line:
            seen.set()
    seen.set()


def _descendants(pid: int) -> set[int]:
    """The pids of `pid`'s living children, their children, and so on (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    new = {pid}
    while new:
        new = {child for child, parent in parents.items() if parent in new} - found
        found |= new
    return found


def _end(pids: set[int], timeout: float = 10.0) -> None:
    """SIGTERM `pids`, then SIGKILL those still alive after `timeout` seconds. Their exits are
    awaited as events (pidfds: they need not be our children), not polled."""
    exits: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            exits[pid] = os.pidfd_open(pid)
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    try:
        while exits and (left := deadline - time.monotonic()) > 0:
            ended, _, _ = select.select(list(exits.values()), [], [], left)
            for pid in [pid for pid, fd in exits.items() if fd in ended]:
                os.close(exits.pop(pid))
        for pid in exits:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    finally:
        for fd in exits.values():
            os.close(fd)


@contextlib.contextmanager
def sftp_server(workdir: str) -> Iterator[FileServer]:
    """Debian's OpenSSH sshd with its SFTP subsystem; key login as the current user."""
    import getpass

    import paramiko

    workdir = os.path.abspath(workdir)
    host_key = os.path.join(workdir, "ssh_host_ed25519_key")
    user_key = os.path.join(workdir, "id_ed25519")
    authorized = os.path.join(workdir, "authorized_keys")
    root = os.path.join(workdir, "sftp-root")
    os.makedirs(root, exist_ok=True)
    for path, comment in ((host_key, "host"), (user_key, "user")):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
    with open(user_key + ".pub") as pub, open(authorized, "w") as out:
        out.write(pub.read())
    port = free_port()
    config = os.path.join(workdir, "sshd_config")
    with open(config, "w") as f:
        f.write(
            f"ListenAddress 127.0.0.1\n"
            f"Port {port}\n"
            f"AddressFamily inet\n"
            f"HostKey {host_key}\n"
            f"PidFile {os.path.join(workdir, 'sshd.pid')}\n"
            f"AuthorizedKeysFile {authorized}\n"
            "AuthenticationMethods publickey\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "UseDNS no\n"
            "PrintMotd no\n"
            "X11Forwarding no\n"
            "AllowTcpForwarding no\n"
            "MaxStartups 200\n"
            "MaxSessions 200\n"
            "MaxAuthTries 10\n"
            "LoginGraceTime 30\n"
            "LogLevel INFO\n"
            "Subsystem sftp internal-sftp\n"
        )
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation, must exist
    paramiko.Ed25519Key.from_private_key_file(user_key)  # fail here if paramiko cannot read it
    argv = [SSHD, "-D", "-e", "-f", config]
    with _daemon(argv, f"Server listening on 127.0.0.1 port {port}", workdir):
        yield FileServer(
            protocol="sftp",
            options={
                "host": "127.0.0.1",
                "port": port,
                "username": getpass.getuser(),
                "key_filename": user_key,
                "look_for_keys": False,  # only this key, never ~/.ssh or an agent
                "allow_agent": False,
                "host_key_policy": "auto_add",  # a throwaway host key: nothing to verify
                "timeout": 30,
            },
            root=root,
            url_root=f"sftp://127.0.0.1:{port}{root}",
        )


@contextlib.contextmanager
def smb_server(workdir: str) -> Iterator[FileServer]:
    """Debian's Samba smbd, one writable share ``[share]``; SMB2+ login as the current user.

    The user's Samba password (`FileServer.secret`) is random and lives in a passdb in
    `workdir`; the unix account is the current one, its system password is left alone.
    """
    import getpass

    workdir = os.path.abspath(workdir)
    state = os.path.join(workdir, "samba")
    share = os.path.join(workdir, "smb-share")
    base = os.path.join(share, "base")
    os.makedirs(base, exist_ok=True)
    dirs = {name: os.path.join(state, name) for name in ("lock", "state", "cache", "private")}
    dirs |= {name: os.path.join(state, name) for name in ("pid", "ncalrpc", "binddns", "log")}
    dirs["usershares"] = os.path.join(state, "usershares")
    for path in dirs.values():
        os.makedirs(path, mode=0o755, exist_ok=True)
    os.chmod(dirs["private"], 0o700)
    port = free_port()
    user = getpass.getuser()
    password = secrets.token_urlsafe(16)
    config = os.path.join(workdir, "smb.conf")
    with open(config, "w") as f:
        f.write(
            "[global]\n"
            "server role = standalone server\n"
            "workgroup = WORKGROUP\n"
            "netbios name = AIMTEST\n"
            "interfaces = 127.0.0.1\n"
            "bind interfaces only = yes\n"
            f"smb ports = {port}\n"
            "disable netbios = yes\n"
            "server min protocol = SMB2_02\n"
            "security = user\n"
            f"passdb backend = tdbsam:{os.path.join(dirs['private'], 'passdb.tdb')}\n"
            "map to guest = never\n"
            f"lock directory = {dirs['lock']}\n"
            f"state directory = {dirs['state']}\n"
            f"cache directory = {dirs['cache']}\n"
            f"private dir = {dirs['private']}\n"
            f"pid directory = {dirs['pid']}\n"
            f"ncalrpc dir = {dirs['ncalrpc']}\n"
            f"binddns dir = {dirs['binddns']}\n"
            f"usershare path = {dirs['usershares']}\n"
            "usershare max shares = 0\n"
            f"log file = {os.path.join(dirs['log'], 'log.%m')}\n"
            "logging = file\n"
            "log level = 1\n"
            "max log size = 1000\n"
            "load printers = no\n"
            "printing = bsd\n"
            "printcap name = /dev/null\n"
            "disable spoolss = yes\n"
            "host msdfs = no\n"
            "smb encrypt = if_required\n"
            "max connections = 0\n"
            "deadtime = 0\n"
            "\n"
            "[share]\n"
            f"path = {share}\n"
            "read only = no\n"
            "browseable = yes\n"
            f"valid users = {user}\n"
            "create mask = 0644\n"
            "directory mask = 0755\n"
        )
    subprocess.run(
        [SMBPASSWD, "-c", config, "-s", "-a", user],
        input=f"{password}\n{password}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    # Debug level 2 prints "waiting for connections" once its sockets listen.
    argv = [SMBD, "--foreground", "--no-process-group", "--debug-stdout", "-d", "2", "-s", config]
    with _daemon(argv, "waiting for connections", workdir):
        yield FileServer(
            protocol="smb",
            options={"host": "127.0.0.1", "port": port, "username": user, "password": password},
            root="/share/base",
            url_root=f"smb://127.0.0.1:{port}/share/base",
            secret=password,
        )
