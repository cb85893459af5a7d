"""
Shared fixtures for facteur's system tests.

Every test that needs a running mail system gets a private instance made
with `mailctl init` under a fresh `mktemp -d /var/tmp/facteur.XXXX` folder,
listening on loopback at a free port base, started with `mailctl start`.
At teardown the instance is stopped and the test fails when
  - any facteur process of the instance is left behind,
  - a sanitizer wrote a report (ASan/UBSan log_path under the instance),
  - the log shows a child killed by a signal the test did not send
    (tests that kill on purpose list the pids in `inst.expected_kills`).
Tests never assert durations: `wait_for` polls with a generous deadline
that only catches hangs.
"""
import json
import os
import random
import re
import shutil
import smtplib
import socket
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
        base = random.randrange(20000, 60000, 1000)
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

    def start(self):
        self.mailctl("start")
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
        return pid if os.path.exists("/proc/%d" % pid) else 0

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
        with open(path, "w") as f:
            f.write("\n".join(keep) + "\n")

    def master_cf(self):
        with open(os.path.join(self.etc, "master.cf")) as f:
            return f.read()

    def write_master_cf(self, text):
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(text)

    # -- observation -------------------------------------------------------
    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, what=None, timeout=DEADLINE):
        rx = re.compile(pattern, re.M)
        return wait_for(lambda: rx.search(self.log()), what or pattern, timeout)

    def smtp(self, port=None, **kw):
        return smtplib.SMTP("127.0.0.1", port or self.smtp_port, timeout=DEADLINE, **kw)

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
        bad = []
        for m in re.finditer(r"pid (\d+) killed by signal (\d+)", self.log()):
            if int(m.group(1)) not in self.expected_kills:
                bad.append(m.group(0))
        return bad


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
    base = pick_port_base()
    inst = Instance(root, base, domain)
    os.makedirs(inst.san)
    os.chmod(inst.san, 0o1777)
    inst.run("mailctl", "init", root, "--port-base", str(base), "--domain", domain)
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
        problems.append("children killed by signals nobody sent: %r\n%s" % (sig, inst.log()[-4000:]))
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
def inst(inst_stopped):
    """A running instance."""
    inst_stopped.start()
    return inst_stopped
