"""
The auth service and the accounts (DESIGN §1), on a running instance:
  - only auth's user can open the passwd table (facteur and vmail fail);
  - the auth socket is out of reach for a user outside the client group,
    and the service itself refuses such a peer (SO_PEERCRED) even when
    the folder and socket modes are loosened;
  - the protocol answers OK / FAIL to root and to mail_owner;
  - failures are answered after growing delays, logged without the
    password, while other clients keep being served;
  - `mailctl user add/passwd/disable/enable/del` take effect on the
    running system without a reload;
  - with auth stopped (or hung), clients see "unavailable";
  - no process but master runs with uid or gid 0 (auth included);
  - `mailctl check` names a missing or mismatched key file and warns
    about a certificate that expires soon.
Runs as root (the instance's users are real system users).
"""
import base64
import os
import pwd
import grp
import re
import select
import signal
import socket
import stat
import subprocess

import pytest

from conftest import BIN, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

SECRET = "S3cret pass"


def auth_path(inst):
    return os.path.join(inst.queue, "auth", "client")


def request(user, password, addr="192.0.2.1", service="smtpd"):
    return b"AUTH %s %s %s %s\n" % (
        service.encode(), addr.encode(), user.encode(),
        base64.b64encode(password.encode()))


def ask(inst, user, password, addr="192.0.2.1"):
    """One request as root; the answer line."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    try:
        s.connect(auth_path(inst))
        s.sendall(request(user, password, addr))
        return s.makefile("rb").readline().decode().strip()
    finally:
        s.close()


def wait_auth(inst):
    """Until the service answers (it accepts only after its drop)."""
    wait_for(lambda: os.path.exists(auth_path(inst)), "auth socket")
    wait_for(lambda: auth_pid(inst), "auth process")
    assert ask(inst, "probe@invalid", "probe", "127.0.0.127") == "FAIL"


def auth_pid(inst):
    for pid, name, _ in inst.children():
        if name == "auth/client":
            return pid
    return 0


def add_user(inst, addr, password=SECRET, *extra):
    inst.mailctl("user", "add", addr, "--password-stdin", *extra,
                 input=(password + "\n").encode())


def user_test(inst, addr, password, client="192.0.2.50"):
    """`mailctl user test`: the C client (lib/auth_client) asks."""
    p = inst.mailctl("user", "test", addr, "--password-stdin", "--client",
                     client, check=False, input=(password + "\n").encode())
    return p.returncode, p.stdout.decode().strip()


def as_user(user, code):
    """Run python code as user; (returncode, stdout+stderr)."""
    p = subprocess.run(["runuser", "-u", user, "--", "python3", "-c", code],
                       capture_output=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def test_passwd_table_only_for_auth(inst):
    lmdb = os.path.join(inst.etc, "passwd.lmdb")
    st = os.stat(lmdb)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_uid == 0
    assert st.st_gid == pwd.getpwnam("facteur-auth").pw_gid
    text = os.stat(os.path.join(inst.etc, "passwd"))
    assert stat.S_IMODE(text.st_mode) == 0o600 and text.st_uid == 0
    code = "open(%r, 'rb').read(1)" % lmdb
    for user in ("facteur", "vmail", "nobody"):
        rc, out = as_user(user, code)
        assert rc != 0 and "Permission denied" in out, (user, out)
    rc, out = as_user("facteur-auth", code)
    assert rc == 0, out
    # The table is rebuilt by `user add` with the same owner and mode.
    add_user(inst, "ann@example.test")
    st = os.stat(lmdb)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_gid == pwd.getpwnam("facteur-auth").pw_gid
    for user in ("facteur", "vmail"):
        assert as_user(user, code)[0] != 0


def test_auth_folder_and_socket_modes(inst):
    wait_auth(inst)
    gid = grp.getgrnam("facteur-authclient").gr_gid
    members = grp.getgrnam("facteur-authclient").gr_mem
    assert "facteur" in members and "vmail" in members
    d = os.stat(os.path.join(inst.queue, "auth"))
    assert stat.S_IMODE(d.st_mode) == 0o750
    assert (d.st_uid, d.st_gid) == (0, gid)
    s = os.stat(auth_path(inst))
    assert stat.S_ISSOCK(s.st_mode)
    assert stat.S_IMODE(s.st_mode) == 0o660
    assert (s.st_uid, s.st_gid) == (0, gid)


CONNECT = """
import socket, base64, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(%r)
try:
    s.sendall(b"AUTH smtpd 192.0.2.3 ann@example.test " +
              base64.b64encode(%r.encode()) + b"\\n")
    print("ANSWER=%%r" %% s.recv(100))
except (BrokenPipeError, ConnectionResetError):
    print("ANSWER=closed")
"""


def test_socket_refuses_outsiders(inst):
    wait_auth(inst)
    add_user(inst, "ann@example.test")
    # Group members get answers.
    for user in ("facteur", "vmail"):
        rc, out = as_user(user, CONNECT % (auth_path(inst), SECRET))
        assert rc == 0 and "ANSWER=b'OK\\n'" in out, (user, out)
    # Anyone else cannot even reach the socket.
    rc, out = as_user("nobody", CONNECT % (auth_path(inst), SECRET))
    assert rc != 0 and "Permission denied" in out, out
    # Loosen the modes: the service itself still refuses the peer.
    folder = os.path.join(inst.queue, "auth")
    os.chmod(folder, 0o755)
    os.chmod(auth_path(inst), 0o666)
    try:
        rc, out = as_user("nobody", CONNECT % (auth_path(inst), SECRET))
        assert rc == 0, out
        assert "ANSWER=b''" in out or "ANSWER=closed" in out, out
        inst.wait_log(r"auth\[\d+\]: warning: auth: refused client "
                      r"uid=%d " % pwd.getpwnam("nobody").pw_uid)
    finally:
        os.chmod(folder, 0o750)
        os.chmod(auth_path(inst), 0o660)


def test_protocol_ok_and_fail(inst):
    wait_auth(inst)
    add_user(inst, "ann@example.test")
    assert ask(inst, "ann@example.test", SECRET, "192.0.2.10") == "OK"
    assert ask(inst, "ANN@Example.Test", SECRET, "192.0.2.11") == "OK"
    assert ask(inst, "ann@example.test", "wrong", "192.0.2.12") == "FAIL"
    assert ask(inst, "zed@example.test", SECRET, "192.0.2.13") == "FAIL"
    # The demo user has no password.
    assert ask(inst, "demo@example.test", "x", "192.0.2.14") == "FAIL"
    # An empty password is no request: the connection just ends.
    assert ask(inst, "demo@example.test", "", "192.0.2.14") == ""
    # Two requests on one connection, answered in order.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(auth_path(inst))
    s.sendall(request("ann@example.test", SECRET, "192.0.2.15") +
              request("ann@example.test", SECRET, "192.0.2.15"))
    f = s.makefile("rb")
    assert f.readline() == b"OK\n"
    assert f.readline() == b"OK\n"
    # Garbage ends the connection without an answer.
    s.sendall(b"HELLO there\n")
    assert f.readline() == b""
    s.close()
    # The password is never logged, the user and address are.
    log = inst.log()
    assert SECRET not in log
    assert base64.b64encode(SECRET.encode()).decode() not in log
    assert "user=<ann@example.test> from [192.0.2.10]" in log
    assert "auth: bad request from uid=0" in log


def test_failure_delays_grow_and_others_are_served(inst_stopped):
    inst = inst_stopped
    inst.set_main(auth_failure_delay="1s", auth_failure_delay_max="2s")
    inst.start()
    wait_auth(inst)
    add_user(inst, "ann@example.test")
    add_user(inst, "bob@example.test", "bob pass")
    for _ in range(4):
        assert ask(inst, "ann@example.test", "guess", "198.51.100.7") == \
            "FAIL"
    rx = r"warning: auth: failed for user=<ann@example\.test> from " \
         r"\[198\.51\.100\.7\], delay (\d+)s \(wrong password"
    inst.wait_log(rx)
    delays = [int(m) for m in re.findall(rx, inst.log())]
    assert delays == [0, 1, 2, 2], delays
    # A held answer does not hold anyone else: bob is answered first.
    slow = socket.socket(socket.AF_UNIX)
    slow.settimeout(60)
    slow.connect(auth_path(inst))
    slow.sendall(request("ann@example.test", "guess", "198.51.100.7"))
    assert ask(inst, "bob@example.test", "bob pass", "203.0.113.9") == "OK"
    ready, _, _ = select.select([slow], [], [], 0)
    assert not ready, "the delayed answer came before bob's"
    assert slow.makefile("rb").readline() == b"FAIL\n"
    slow.close()
    assert "guess" not in inst.log()


def test_user_commands_take_effect_without_reload(inst):
    wait_auth(inst)
    master = inst.master_pid()
    addr = "carol@example.test"
    assert user_test(inst, addr, "first pw", "10.9.0.1") == (1, "fail")
    add_user(inst, addr, "first pw", "--quota", "5m")
    assert user_test(inst, addr, "first pw", "10.9.0.2") == (0, "ok")
    out = inst.mailctl("user", "list").stdout.decode()
    assert "carol@example.test quota=5242880 enabled=yes password=yes" in out
    assert "demo@example.test quota=0 enabled=yes password=no" in out
    # A second add is refused.
    p = inst.mailctl("user", "add", addr, "--password-stdin", check=False,
                     input=b"x\n")
    assert p.returncode == 1 and b"already exists" in p.stderr

    inst.mailctl("user", "passwd", addr, "--password-stdin",
                 input=b"second pw\n")
    assert user_test(inst, addr, "first pw", "10.9.0.3") == (1, "fail")
    assert user_test(inst, addr, "second pw", "10.9.0.4") == (0, "ok")

    inst.mailctl("user", "disable", addr)
    assert user_test(inst, addr, "second pw", "10.9.0.5") == (1, "fail")
    inst.wait_log(r"failed for user=<carol@example\.test> from "
                  r"\[10\.9\.0\.5\], delay \d+s \(disabled user")
    inst.mailctl("user", "enable", addr)
    assert user_test(inst, addr, "second pw", "10.9.0.6") == (0, "ok")

    inst.mailctl("user", "del", addr)
    assert user_test(inst, addr, "second pw", "10.9.0.7") == (1, "fail")
    inst.wait_log(r"failed for user=<carol@example\.test> from "
                  r"\[10\.9\.0\.7\], delay \d+s \(unknown user")
    out = inst.mailctl("user", "list").stdout.decode()
    assert "carol" not in out
    with open(os.path.join(inst.etc, "passwd")) as f:
        assert "carol" not in f.read()
    # All of it without a reload or a restart of anything.
    assert inst.master_pid() == master
    assert "reload" not in inst.log()


@pytest.mark.parametrize("addr", [
    "a/b@example.test", ".x@example.test", "x@.example.test",
    "x@exa/mple.test", "x\x01y@example.test", "x@example.test.",
    "nodomain", "x y@example.test",
])
def test_user_add_refuses_bad_addresses(inst_stopped, addr):
    p = inst_stopped.mailctl("user", "add", addr, "--password-stdin",
                             check=False, input=b"pw\n")
    assert p.returncode != 0
    assert b"bad address" in p.stderr, p.stderr


def test_user_add_needs_a_password(inst_stopped):
    inst = inst_stopped
    p = inst.mailctl("user", "add", "dan@example.test", "--password-stdin",
                     check=False, input=b"\n")
    assert p.returncode == 1 and b"empty password" in p.stderr
    # No terminal and no --password-stdin: a clear error, nothing added.
    p = subprocess.run([os.path.join(BIN, "mailctl"), "-c", inst.etc, "user",
                        "add", "dan@example.test"], input=b"pw\n",
                       capture_output=True, timeout=60, env=inst.env(),
                       start_new_session=True)
    assert p.returncode == 1 and b"--password-stdin" in p.stderr, p.stderr
    assert "dan@" not in inst.mailctl("user", "list").stdout.decode()


def test_auth_stopped_means_unavailable(inst_stopped):
    inst = inst_stopped
    inst.set_main(auth_client_timeout="1s")
    inst.start()
    wait_auth(inst)
    add_user(inst, "ann@example.test")
    assert user_test(inst, "ann@example.test", SECRET) == (0, "ok")
    # A hung service: the client gives up after auth_client_timeout.
    pid = auth_pid(inst)
    os.kill(pid, signal.SIGSTOP)
    try:
        rc, out = user_test(inst, "ann@example.test", SECRET)
        assert rc == 3 and out.startswith("unavailable"), out
        assert "timed out" in out
    finally:
        os.kill(pid, signal.SIGCONT)
    # No auth service at all: the socket is gone.
    text = "".join(l for l in inst.master_cf().splitlines(True)
                   if not l.startswith("auth/client") and
                   "service_user=$auth_owner" not in l)
    inst.write_master_cf(text)
    inst.reload()
    wait_for(lambda: not os.path.exists(auth_path(inst)), "socket removed")
    wait_for(lambda: auth_pid(inst) == 0, "auth gone")
    rc, out = user_test(inst, "ann@example.test", SECRET)
    assert rc == 3 and out.startswith("unavailable"), out


def proc_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                ids[k] = [int(x) for x in v.split()]
    return ids


def test_no_child_keeps_root(inst):
    wait_auth(inst)
    children = inst.children()
    assert children
    auth_uid = pwd.getpwnam("facteur-auth").pw_uid

    def dropped(pid):
        # A child is root only while it starts (keys, tables).
        ids = proc_ids(pid)
        return 0 not in ids["Uid"] + ids["Gid"] + ids["Groups"]
    for pid, name, _ in children:
        wait_for(lambda: dropped(pid), "%s to drop root" % name)
        ids = proc_ids(pid)
        if name == "auth/client":
            assert ids["Uid"] == [auth_uid] * 4, ids
            assert ids["Gid"] == [pwd.getpwnam("facteur-auth").pw_gid] * 4
    master = proc_ids(inst.master_pid())
    assert master["Uid"][0] == 0


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   capture_output=True, timeout=60)


def test_check_tls_files(inst_stopped):
    inst = inst_stopped
    tls = os.path.join(inst.etc, "tls")
    cert, key = os.path.join(tls, "cert.pem"), os.path.join(tls, "key.pem")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    p = inst.mailctl("check", check=False)
    assert p.returncode == 0, p.stderr
    # Another key: an error naming the key file.
    other = os.path.join(tls, "other.pem")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", other)
    os.chmod(other, 0o600)
    inst.set_main(smtpd_tls_key_file=other)
    p = inst.mailctl("check", check=False)
    assert p.returncode == 1
    assert other in p.stderr.decode() and "does not match" in \
        p.stderr.decode()
    # A missing key: an error naming it.
    missing = os.path.join(tls, "missing.pem")
    inst.set_main(smtpd_tls_key_file=missing)
    p = inst.mailctl("check", check=False)
    assert p.returncode == 1 and missing in p.stderr.decode()
    # A certificate that expires in 5 days: a warning, not an error.
    soon_key = os.path.join(tls, "soon.key")
    soon = os.path.join(tls, "soon.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", soon_key,
            "-out", soon, "-days", "5", "-subj", "/CN=mail.example.test")
    os.chmod(soon_key, 0o600)
    inst.set_main(smtpd_tls_cert_file=soon, smtpd_tls_key_file=soon_key)
    p = inst.mailctl("check", check=False)
    assert p.returncode == 0, p.stderr
    assert re.search(r"%s: warning: certificate expires in [45] days" %
                     re.escape(soon), p.stderr.decode()), p.stderr
    # TLS wanted but no certificate: an error.
    inst.set_main(smtpd_tls_cert_file="", smtpd_tls_key_file="")
    p = inst.mailctl("check", check=False)
    assert p.returncode == 1 and b"needs smtpd_tls_cert_file" in p.stderr
