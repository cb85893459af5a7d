"""
Shared fixtures for facteur's system tests.

Every test that needs a running mail system gets a private instance made
with `mailctl init` under a fresh `mktemp -d /var/tmp/facteur.XXXX` folder,
listening on loopback at a free port base, started with `mailctl start`.
At teardown the instance is stopped and the test fails when
  - any facteur process of the instance is left behind,
  - a sanitizer wrote a report (ASan/UBSan log_path under the instance),
  - the log shows a child killed by a signal the test did not send, or
    exiting non-zero (tests that kill on purpose, or make a child fail,
    list the pids in `inst.expected_kills`),
  - a child wrote to its stderr (master logs it: "pid N wrote to
    stderr"); that is where UBSan reports of children end up, because
    GCC's runtime cannot read UBSAN_OPTIONS once a process has dropped
    privileges.
Tests never assert durations: `wait_for` polls with a generous deadline
that only catches hangs.

Fixtures: `inst_stopped` (initialised), `inst` (running, every service),
`rinst` (running, receive-only: no qmgr, so queue files stay in
incoming/), `minst` (module-scoped, receive-only unless the module sets
QMGR = True; MAIN_CF and SETUP customise it).  Helpers: RawSMTP (bare
socket client, with STARTTLS or implicit TLS), Instance.tls_context (trusts
the instance's certificate), send_mail, queued_id, swaks, proc_status.
"""
import json
import os
import pwd
import random
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("FACTEUR_BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")
SANITIZE = os.environ.get("FACTEUR_SANITIZE", "0") in ("1", "ON", "TRUE", "true")
DEADLINE = 30.0


def wait_for(pred, what, timeout=DEADLINE, interval=0.05):
    """Poll pred() until it returns a true value; fail after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_port_base():
    offsets = (25, 110, 143, 465, 587, 993, 995)
    for _ in range(200):
        base = random.randrange(10000, 64000, 1000)
        if all(port_free(base + o) for o in offsets):
            return base
    raise RuntimeError("no free port base")


def proc_children_of(ppid):
    """(pid, argv) of the live children of ppid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        rp = stat.rfind(")")
        fields = stat[rp + 2:].split()
        if fields[0] == "Z":
            continue
        if int(fields[1]) == ppid:
            out.append((int(d), argv))
    return out


def procs_mentioning(path):
    """pids whose command line mentions path (our instance's processes)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] == "Z":
            continue
        if path in cmd:
            pids.append(int(d))
    return pids


def write_atomic(path, text):
    """Replace a file whole: a child that starts meanwhile (and reads
    main.cf) sees the old text or the new, never a truncated one."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class Instance:
    def __init__(self, root, base, domain="example.test"):
        self.root = root
        self.base = base
        self.domain = domain
        self.etc = os.path.join(root, "etc")
        self.queue = os.path.join(root, "queue")
        self.maillog = os.path.join(root, "log", "maillog")
        self.san = os.path.join(root, "san")
        self.smtp_port = base + 25
        self.submission_port = base + 587
        self.submissions_port = base + 465
        self.expected_kills = set()
        self.started = False

    # -- commands ---------------------------------------------------------
    def env(self):
        e = dict(os.environ)
        if SANITIZE:
            e["ASAN_OPTIONS"] = (
                "halt_on_error=1:abort_on_error=1:detect_leaks=0:log_path=%s/asan"
                % self.san)
            e["UBSAN_OPTIONS"] = (
                "halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=%s/ubsan"
                % self.san)
        return e

    def run(self, *args, check=True, input=None):
        cmd = [os.path.join(BIN, args[0])] + list(args[1:])
        p = subprocess.run(cmd, env=self.env(), input=input,
                           capture_output=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (
                " ".join(cmd), p.returncode, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace")))
        return p

    def mailctl(self, *args, check=True, input=None):
        return self.run("mailctl", "-c", self.etc, *args, check=check, input=input)

    def rebase(self, base):
        """Move every listener "127.0.0.1:PORT" of master.cf from this
        port base to another one (the instance is stopped)."""
        text = re.sub(r"^127\.0\.0\.1:(\d+)(?=\s)",
                      lambda m: "127.0.0.1:%d" % (int(m.group(1)) - self.base + base),
                      self.master_cf(), flags=re.M)
        self.write_master_cf(text)
        self.base = base
        self.smtp_port = base + 25
        self.submission_port = base + 587
        self.submissions_port = base + 465

    def start(self):
        for attempt in range(5):
            p = self.mailctl("start", check=False)
            if p.returncode == 0:
                break
            # Another test run on this machine took a port after
            # pick_port_base() found it free: move, try again.
            if b"Address already in use" not in p.stderr or attempt == 4:
                raise AssertionError("mailctl start failed (%d):\n%s%s" % (
                    p.returncode, p.stdout.decode(errors="replace"),
                    p.stderr.decode(errors="replace")))
            self.rebase(pick_port_base())
        self.started = True
        wait_for(lambda: self.master_pid(), "master pid")
        wait_for(lambda: port_open(self.smtp_port), "SMTP listener")

    def stop(self):
        if self.started:
            self.mailctl("stop")
            self.started = False

    def reload(self):
        self.mailctl("reload")

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return 0
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            return 0
        return 0 if stat[stat.rfind(")") + 2] == "Z" else pid

    def children(self):
        """[(pid, service_name, argv)] of master's live children."""
        out = []
        for pid, argv in proc_children_of(self.master_pid()):
            name = argv[argv.index("-n") + 1] if "-n" in argv else "?"
            out.append((pid, name, argv))
        return out

    def mailq(self, json_=False):
        args = ["mailq", "-c", self.etc] + (["--json"] if json_ else [])
        out = self.run(*args).stdout.decode()
        if json_:
            return [json.loads(l) for l in out.splitlines() if l.strip()]
        return out

    def queue_show(self, qid, content=True):
        args = ["queue", "show"] + (["--content"] if content else []) + [qid]
        return self.mailctl(*args).stdout

    # -- configuration ----------------------------------------------------
    def set_main(self, **params):
        """Replace or add main.cf settings."""
        path = os.path.join(self.etc, "main.cf")
        with open(path) as f:
            lines = f.read().splitlines()
        keep = [l for l in lines
                if not any(re.match(r"^%s\s*=" % k, l) for k in params)]
        keep += ["%s = %s" % (k, v) for k, v in params.items()]
        write_atomic(path, "\n".join(keep) + "\n")

    def master_cf(self):
        with open(os.path.join(self.etc, "master.cf")) as f:
            return f.read()

    def services(self):
        """{service name: {"type", "maxproc", "command", "o": {name: value}}}
        from master.cf (continuation lines joined)."""
        entries = []
        for line in self.master_cf().splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and entries:
                entries[-1] += " " + line.strip()
            else:
                entries.append(line)
        out = {}
        for e in entries:
            f = e.split()
            o = {}
            for i, w in enumerate(f[8:]):
                if w == "-o" and 8 + i + 1 < len(f):
                    k, _, v = f[8 + i + 1].partition("=")
                    o[k] = v
            out[f[0]] = {"type": f[1], "maxproc": f[6], "command": f[7], "o": o}
        return out

    def config(self, *names):
        """Expanded main.cf values (mailctl config -x)."""
        out = self.mailctl("config", "-x", *names).stdout.decode()
        return dict(l.split(" = ", 1) for l in out.splitlines())

    def remove_services(self, *names):
        """Take services (and their continuation lines) out of master.cf."""
        out, skip = [], False
        for line in self.master_cf().splitlines():
            if line and line[0] in " \t" and line.strip() and \
                    not line.lstrip().startswith("#"):
                if not skip:
                    out.append(line)
                continue
            skip = bool(line.split()) and line.split()[0] in names
            if not skip:
                out.append(line)
        self.write_master_cf("\n".join(out) + "\n")

    def receive_only(self):
        """No qmgr: queue files stay in incoming/ where smtpd put them,
        for tests that look at the queue after receiving."""
        self.remove_services("qmgr")

    def write_master_cf(self, text):
        write_atomic(os.path.join(self.etc, "master.cf"), text)

    # -- observation -------------------------------------------------------
    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_mark(self):
        """A position in the log; wait_log(since=mark) looks after it."""
        return len(self.log())

    def wait_log(self, pattern, what=None, timeout=DEADLINE, since=0):
        rx = re.compile(pattern, re.M)
        return wait_for(lambda: rx.search(self.log()[since:]),
                        what or pattern, timeout)

    def pids(self, service):
        """pids of master's live children serving service."""
        return [pid for pid, name, _ in self.children() if name == service]

    def smtp(self, port=None, **kw):
        return smtplib.SMTP("127.0.0.1", port or self.smtp_port, timeout=DEADLINE, **kw)

    def tls_context(self):
        """A client context that trusts the instance's certificate
        (etc/tls/cert.pem, made by mailctl init) and nothing else; the
        host name is not checked (we connect to 127.0.0.1)."""
        ctx = ssl.create_default_context(
            cafile=os.path.join(self.etc, "tls", "cert.pem"))
        ctx.check_hostname = False
        return ctx

    def queue_ids(self):
        return sorted(m["queue_id"] for m in self.mailq(json_=True))

    def sanitizer_reports(self):
        if not os.path.isdir(self.san):
            return []
        out = []
        for n in sorted(os.listdir(self.san)):
            with open(os.path.join(self.san, n), errors="replace") as f:
                out.append("%s:\n%s" % (n, f.read()))
        return out

    def unexpected_signals(self):
        """Children that died by a signal or exited non-zero (as a
        UBSan report does: GCC's runtime ignores UBSAN_OPTIONS once a
        process has dropped privileges) and nobody expected it."""
        bad = []
        for m in re.finditer(r"pid (\d+) (killed by signal|exit status) (\d+)",
                             self.log()):
            if int(m.group(1)) not in self.expected_kills:
                bad.append(m.group(0))
        return bad

    def child_stderr(self):
        """What children wrote to stderr (master logs it): sanitizer
        reports, early errors.  Nothing is expected there."""
        return re.findall(r"^.*: warning: pid \d+ wrote to stderr: .*$",
                          self.log(), re.M)


class RawSMTP:
    """An SMTP client over a bare socket, for what a library would hide
    (pipelining in one write, smuggling, BDAT, bare line ends)."""

    def __init__(self, port, host="127.0.0.1", timeout=DEADLINE, tls=None,
                 source=None):
        """tls: an SSLContext for implicit TLS (port 465); source: the
        local address to connect from (another 127.x address)."""
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock)

    def starttls(self, ctx):
        """STARTTLS, then the handshake (RFC 3207)."""
        code, text = self.cmd("STARTTLS")
        assert code == 220, (code, text)
        assert not self.buf, "bytes after 220 Ready: %r" % self.buf
        self.sock = ctx.wrap_socket(self.sock)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; unread %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def reply(self):
        """One whole (maybe multi-line) reply: (code, [text lines])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            assert len(line) >= 3 and line[:3].isdigit(), line
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), [l[4:] for l in lines]
            assert line[3] == "-", line

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def greet(self, ehlo="client.example.org"):
        code, _ = self.reply()
        assert code == 220
        code, lines = self.cmd("EHLO " + ehlo)
        assert code == 250, lines
        return lines

    def closed(self):
        """True when the server has closed (after reading what is left)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True


def queued_id(text):
    """The queue id in a "250 2.0.0 Ok: queued as ID" reply text."""
    if isinstance(text, (list, tuple)):
        text = " ".join(text)
    if isinstance(text, bytes):
        text = text.decode()
    m = re.search(r"queued as (\w+)", text)
    assert m, "no queue id in %r" % text
    return m.group(1)


def send_mail(inst, sender, rcpts, msg, port=None, **kw):
    """Send with smtplib; returns the queue id of the 250 reply."""
    with inst.smtp(port) as s:
        s.ehlo("client.example.org")
        s.mail(sender, kw.get("mail_options", []))
        for r in rcpts:
            code, text = s.rcpt(r)
            assert code == 250, (r, code, text)
        code, text = s.data(msg)
        assert code == 250, (code, text)
        return queued_id(text)


def swaks(*args, check=True):
    p = subprocess.run(["swaks", "--timeout", "30"] + list(args),
                       capture_output=True, timeout=120)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError("swaks failed (%d):\n%s" % (p.returncode, out))
    return out


def proc_status(pid):
    """The Uid, Gid and Groups lines of /proc/PID/status, as int lists."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = [int(x) for x in v.split()]
    return out


def port_open(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def make_instance(domain="example.test"):
    root = subprocess.run(["mktemp", "-d", "/var/tmp/facteur.XXXX"],
                          capture_output=True, check=True).stdout.decode().strip()
    os.chmod(root, 0o755)
    try:
        base = pick_port_base()
        inst = Instance(root, base, domain)
        os.makedirs(inst.san)
        os.chmod(inst.san, 0o1777)
        inst.run("mailctl", "init", root, "--port-base", str(base),
                 "--domain", domain)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # no folder left behind
        raise
    return inst


def finish_instance(inst):
    problems = []
    try:
        inst.stop()
    except AssertionError as e:
        problems.append(str(e))
    left = []
    try:
        left = wait_for(lambda: not procs_mentioning(inst.root) or None,
                        "instance processes to exit", timeout=15)
    except AssertionError:
        left = procs_mentioning(inst.root)
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        problems.append("processes left behind: %r" % left)
    reports = inst.sanitizer_reports()
    if reports:
        problems.append("sanitizer reports:\n" + "\n".join(reports))
    sig = inst.unexpected_signals()
    if sig:
        problems.append("children killed by signals nobody sent, or failed: "
                        "%r\n%s" % (sig, inst.log()[-4000:]))
    err = inst.child_stderr()
    if err:
        problems.append("children wrote to stderr:\n" + "\n".join(err[:200]))
    if not problems:
        shutil.rmtree(inst.root, ignore_errors=True)
    else:
        shutil.rmtree(inst.root, ignore_errors=True)
        raise AssertionError("\n".join(problems))


@pytest.fixture
def inst_stopped():
    """An initialised instance, not started (configure, then .start())."""
    inst = make_instance()
    yield inst
    finish_instance(inst)


@pytest.fixture
def rinst(inst_stopped):
    """A running receive-only instance (no qmgr: see receive_only)."""
    inst_stopped.receive_only()
    inst_stopped.start()
    return inst_stopped


@pytest.fixture(scope="module")
def minst(request):
    """A running instance shared by every test of a module.

    Receive-only (no qmgr) unless the module sets QMGR = True.  The
    module may set MAIN_CF = {name: value} (main.cf settings made before
    the start) and SETUP = function(inst) (anything else, such as
    master.cf changes).  Tests that share it must not disturb each
    other: no configuration changes, no assertions on the whole queue.
    """
    inst = make_instance()
    try:
        if not getattr(request.module, "QMGR", False):
            inst.receive_only()
        params = getattr(request.module, "MAIN_CF", None)
        if params:
            inst.set_main(**params)
        setup = getattr(request.module, "SETUP", None)
        if setup is not None:
            setup(inst)
        inst.start()
    except BaseException:
        finish_instance(inst)
        raise
    yield inst
    finish_instance(inst)


@pytest.fixture
def inst(inst_stopped):
    """A running instance."""
    inst_stopped.start()
    return inst_stopped


def as_user(user, fn):
    """Run fn() in a forked child with user's uid and gid (no
    supplementary groups) and return the bytes it returned; fails the
    test when the child fails (fn may catch what it expects)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            pw = pwd.getpwnam(user)
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            os.write(w, fn())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    out = b""
    while True:
        d = os.read(r, 65536)
        if not d:
            break
        out += d
    os.close(r)
    _, st = os.waitpid(pid, 0)
    assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
    return out


def mailbox_files(inst, domain, local, subs=("new", "cur")):
    """(name, bytes) of each file in local@domain's Maildir subs (those
    that exist), in directory order."""
    for sub in subs:
        d = os.path.join(inst.root, "mail", domain, local, "Maildir", sub)
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                yield n, f.read()
