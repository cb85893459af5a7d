"""
Durability (DESIGN §2 rule 1), proven by order and by crashing:
  - one transaction under strace: fsync of the queue file, its rename
    into incoming/ and fsync of incoming/ all come before the "250" is
    written;
  - kill -9 of the smtpd serving a session right after its 250: the
    message is in the queue, whole; master starts a fresh smtpd.
The SMTP service runs with maxproc 1, so its one process is the one that
serves the next session.
"""
import os
import re
import signal
import subprocess

from conftest import DEADLINE, RawSMTP, proc_status, queued_id, wait_for

DEMO = "demo@example.test"


def one_smtpd(inst):
    text = inst.master_cf()
    port = "127.0.0.1:%d" % inst.smtp_port
    out = []
    for line in text.splitlines():
        if line.startswith(port + " "):
            f = line.split()
            f[6] = "1"
            line = " ".join(f)
        out.append(line)
    inst.write_master_cf("\n".join(out) + "\n")


SETUP = one_smtpd


def smtp_pid(inst):
    """The one live smtpd process of the SMTP service."""
    name = "127.0.0.1:%d" % inst.smtp_port

    def one():
        pids = inst.pids(name)
        return pids[0] if len(pids) == 1 else None
    return wait_for(one, "one smtpd process for %s" % name)


def dir_fds(pid, queue):
    """{folder name: fd} of the queue folders pid holds open."""
    out = {}
    fddir = "/proc/%d/fd" % pid
    for fd in os.listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, fd))
        except OSError:
            continue
        if os.path.dirname(target) == queue:
            out[os.path.basename(target)] = int(fd)
    return out


SYSCALL = re.compile(r"^(\d+) +[\d:.]+ (\w+)\((.*)\) += (-?\d+)")


def ready(pid, queue):
    """The queue folders of pid once it has opened them and dropped
    root (then it is about to accept: service_run)."""
    try:
        fds = dir_fds(pid, queue)
        uid = proc_status(pid)["Uid"]
    except (FileNotFoundError, KeyError):
        return None
    return fds if "tmp" in fds and "incoming" in fds and 0 not in uid else None


def test_strace_fsync_rename_fsync_before_250(minst, tmp_path):
    pid = smtp_pid(minst)
    fds = wait_for(lambda: ready(pid, minst.queue), "smtpd %d ready" % pid)
    tmp_fd, inc_fd = fds["tmp"], fds["incoming"]
    out = tmp_path / "strace.out"
    err = open(tmp_path / "strace.err", "w+")
    st = subprocess.Popen(
        ["strace", "-f", "-tt", "-s", "64", "-e",
         "trace=openat,fsync,fdatasync,rename,renameat,renameat2,write,"
         "sendto,send", "-o", str(out), "-p", str(pid)],
        stderr=err)
    try:
        wait_for(lambda: "attached" in open(err.name).read(),
                 "strace to attach")
        with RawSMTP(minst.smtp_port) as c:
            c.greet()
            c.send("MAIL FROM:<ann@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                   % DEMO)
            assert [r[0] for r in c.replies(3)] == [250, 250, 354]
            code, text = c.cmd("Subject: traced\r\n\r\nhello\r\n.")
            assert code == 250, text
            qid = queued_id(text)
            assert c.cmd("QUIT")[0] == 221
        # Every syscall up to the 250 is in the file once the QUIT reply
        # came; wait until strace wrote the 221.
        wait_for(lambda: out.exists() and "221 2.0.0" in out.read_text(),
                 "the 221 in strace output")
    finally:
        st.terminate()
        st.wait(timeout=DEADLINE)
        err.close()

    calls = []
    for line in out.read_text().splitlines():
        m = SYSCALL.match(line)
        if m:
            calls.append((m.group(2), m.group(3), int(m.group(4))))

    def index(pred, what, after=-1):
        for i, c in enumerate(calls):
            if i > after and pred(*c):
                return i
        raise AssertionError("no %s after call %d in:\n%s" % (
            what, after, out.read_text()))

    # The queue file: created in tmp/.
    i_open = index(lambda n, a, r: n == "openat" and
                   a.startswith("%d, " % tmp_fd) and "O_CREAT" in a and r >= 0,
                   "openat in tmp/")
    file_fd = calls[i_open][2]
    i_fsync = index(lambda n, a, r: n in ("fsync", "fdatasync") and
                    a == str(file_fd) and r == 0, "fsync of the file", i_open)
    i_rename = index(lambda n, a, r: n.startswith("rename") and
                     ('%d, "%s"' % (inc_fd, qid)) in a and r == 0,
                     "rename into incoming/", i_fsync)
    assert calls[i_rename][0] == "renameat2" and "RENAME_NOREPLACE" in \
        calls[i_rename][1], calls[i_rename]
    i_dsync = index(lambda n, a, r: n in ("fsync", "fdatasync") and
                    a == str(inc_fd) and r == 0, "fsync of incoming/", i_rename)
    i_250 = index(lambda n, a, r: n in ("write", "sendto", "send") and
                  '"250 2.0.0 Ok: queued as' in a, "the 250 reply")
    assert i_open < i_fsync < i_rename < i_dsync < i_250
    # No write to the file after its fsync.
    assert not any(n == "write" and a.startswith("%d, " % file_fd)
                   for n, a, r in calls[i_fsync:i_250])


def test_kill9_right_after_250(minst):
    pid = smtp_pid(minst)
    body = (b"Subject: crash\r\n\r\n" + b"".join(
        b"line %d of a message that must survive\r\n" % i for i in range(500)))
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        c.send("MAIL FROM:<ann@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % DEMO)
        assert [r[0] for r in c.replies(3)] == [250, 250, 354]
        c.send(body + b".\r\n")
        code, text = c.reply()
        assert code == 250, text
        minst.expected_kills.add(pid)
        os.kill(pid, signal.SIGKILL)
        qid = queued_id(text)
        assert c.closed()
    minst.wait_log(r"pid %d killed by signal 9" % pid)
    content = minst.queue_show(qid)
    assert content.endswith(body)
    m = [x for x in minst.mailq(json_=True) if x["queue_id"] == qid]
    assert len(m) == 1 and m[0]["message_size"] == len(content)
    assert [r["address"] for r in m[0]["recipients"]] == [DEMO]
    # A fresh smtpd serves the next session.
    fresh = smtp_pid(minst)
    assert fresh != pid
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("QUIT")[0] == 221
