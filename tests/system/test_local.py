"""
local, driven directly on $queue_directory/private/local the way qmgr
drives it (docs/delivery-protocol.md): a message sent through smtpd sits
in incoming/ (qmgr is taken out of master.cf so that nobody else touches
it); a child process that became mail_owner (facteur) connects, sends a
request with a read-only descriptor of the queue file, and reads the
reply.  Checked: the Maildir file (place, owner, mode, name with S=,
Return-Path and Delivered-To first, LF line ends), the reply, the log
line in Postfix's shape, local's user, the refusal of a peer that is not
mail_owner, and under strace -f the order DESIGN §2 rule 3 demands:
fsync of the file, its link into new/, fsync of new/, and only then the
reply on the socket.
"""
import os
import pwd
import re
import select
import shutil
import socket
import subprocess
import time

import pytest

from conftest import DEADLINE, as_user, proc_status, send_mail, wait_for

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN


@pytest.fixture
def linst(inst_stopped):
    """A running instance without qmgr: queue files stay in incoming/."""
    inst = inst_stopped
    text = "".join(l + "\n" for l in inst.master_cf().splitlines()
                   if not re.match(r"^qmgr\s", l))
    inst.write_master_cf(text)
    inst.start()
    wait_for(lambda: inst.pids("local"), "a local process")
    return inst


def request(qid, rcpts, sender="ann@example.org"):
    lines = ["queue_id " + qid, "sender " + (sender or "-"),
             "nexthop " + DOMAIN, "arrival %d" % int(time.time() * 1e6),
             "envid -", "ret -"]
    lines += ["rcpt %d 0 %s %s" % (i, r, r) for i, r in enumerate(rcpts)]
    return ("\n".join(lines) + "\nend\n").encode()


def talk(inst, req, fds, user="facteur"):
    """Send req with fds to private/local as user; the reply bytes."""
    def child():
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(DEADLINE)
        c.connect(os.path.join(inst.queue, "private", "local"))
        out = b""
        try:
            socket.send_fds(c, [req], fds)
            while not out.endswith(b"end\n"):
                d = c.recv(65536)
                if not d:
                    break
                out += d
        except (ConnectionResetError, BrokenPipeError):
            pass  # local closed the connection: no reply
        return out
    return as_user(user, child).decode()


def queued(inst, rcpts, body):
    qid = send_mail(inst, "ann@example.org", rcpts, body)
    path = os.path.join(inst.queue, "incoming", qid)
    assert os.path.exists(path)
    return qid, path


def maildir_new(inst, local="demo"):
    d = os.path.join(inst.root, "mail", DOMAIN, local, "Maildir", "new")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


BODY = ("From: Ann <ann@example.org>\r\nTo: <%s>\r\nSubject: local\r\n\r\n"
        "line one\r\nline two\r\n" % DEMO)


def test_delivery_into_maildir(linst):
    qid, path = queued(linst, [DEMO, "demo+news@" + DOMAIN], BODY)
    fd = os.open(path, os.O_RDONLY)
    try:
        reply = talk(linst, request(qid, [DEMO, "demo+news@" + DOMAIN]),
                     [fd])
    finally:
        os.close(fd)
    assert reply == ("status 0 sent 2.0.0 local delivered%20to%20maildir\n"
                     "status 1 sent 2.0.0 local delivered%20to%20maildir\n"
                     "end\n"), reply
    names = maildir_new(linst)
    assert len(names) == 2, names
    box = os.path.join(linst.root, "mail", DOMAIN, "demo", "Maildir")
    vmail = pwd.getpwnam("vmail")
    texts = []
    for n in names:
        m = re.match(r"^\d+\.M\d+P\d+Q\d+\.mail\.example\.test,S=(\d+),W=(\d+)$",
                     n)
        assert m, n
        p = os.path.join(box, "new", n)
        st = os.lstat(p)
        assert st.st_uid == vmail.pw_uid and st.st_mode & 0o7777 == 0o600
        with open(p, "rb") as f:
            data = f.read()
        assert int(m.group(1)) == len(data)
        assert int(m.group(2)) == len(data) + data.count(b"\n")
        assert b"\r" not in data
        texts.append(data)
    assert os.listdir(os.path.join(box, "tmp")) == []
    for d in ("", "/..", "/../.."):
        st = os.lstat(box + d)
        assert st.st_uid == vmail.pw_uid and st.st_mode & 0o777 == 0o700
    heads = sorted(t.split(b"\n", 2)[1] for t in texts)
    assert heads == [b"Delivered-To: demo+news@example.test",
                     b"Delivered-To: demo@example.test"]
    for t in texts:
        assert t.startswith(b"Return-Path: <ann@example.org>\n")
        assert re.search(rb"\nReceived: from .*\n\tby mail\.example\.test "
                         rb"\(facteur\) with E?SMTP id " + qid.encode(), t)
        assert t.endswith(BODY.replace("\r\n", "\n").encode())
    # Postfix's line, one per recipient (pflogsumm reads these).
    linst.wait_log(r"facteur/local\[\d+\]: %s: to=<demo@example\.test>, "
                   r"relay=local, delay=[\d.]+, delays=[\d.]+/0/0/[\d.]+, "
                   r"dsn=2\.0\.0, status=sent \(delivered to maildir\)$" % qid)
    linst.wait_log(r"local\[\d+\]: %s: to=<demo\+news@example\.test>, "
                   r"relay=local, .*status=sent" % qid)
    # The queue file is untouched: local reads it, never writes it.
    assert os.path.exists(path)


def test_alias_and_bounce_statuses(linst):
    rcpts = ["postmaster@" + DOMAIN, "MAILER-DAEMON@" + DOMAIN,
             "nobody@" + DOMAIN]
    qid, path = queued(linst, [DEMO], BODY)
    fd = os.open(path, os.O_RDONLY)
    try:
        reply = talk(linst, request(qid, rcpts), [fd])
    finally:
        os.close(fd)
    lines = reply.splitlines()
    assert lines[0].startswith("status 0 sent 2.0.0 local"), reply
    assert lines[1].startswith("status 1 sent 2.0.0 local"), reply
    assert lines[2].startswith("status 2 bounce 5.1.1 local"), reply
    assert lines[3] == "end"
    linst.wait_log(r"local\[\d+\]: %s: to=<demo@example\.test>, "
                   r"orig_to=<postmaster@example\.test>, relay=local, .*"
                   r"status=sent \(delivered to maildir\)" % qid)
    linst.wait_log(r"local\[\d+\]: %s: to=<nobody@example\.test>, "
                   r"relay=local, .*dsn=5\.1\.1, status=bounced "
                   r"\(unknown user: \"nobody@example\.test\"\)" % qid)


def test_bad_descriptors_and_peers(linst):
    qid, path = queued(linst, [DEMO], BODY)
    before = maildir_new(linst)
    req = request(qid, [DEMO])
    # No descriptor: deferred, nothing delivered.
    reply = talk(linst, req, [])
    assert reply.startswith("status 0 defer 4.3.0 local"), reply
    # Writable descriptor: refused too.
    fd = os.open(path, os.O_RDWR)
    try:
        reply = talk(linst, req, [fd])
    finally:
        os.close(fd)
    assert reply.startswith("status 0 defer 4.3.0 local"), reply
    # Two descriptors: the connection is closed without a reply.
    fds = [os.open(path, os.O_RDONLY), os.open(path, os.O_RDONLY)]
    try:
        assert talk(linst, req, fds) == ""
    finally:
        for f in fds:
            os.close(f)
    # A peer that is not mail_owner (root here) gets nothing at all.
    fd = os.open(path, os.O_RDONLY)
    try:
        assert talk(linst, req, [fd], user="root") == ""
    finally:
        os.close(fd)
    linst.wait_log(r"local\[\d+\]: warning: connection from uid 0 refused")
    assert maildir_new(linst) == before
    # local runs as the mailbox owner.
    vmail = pwd.getpwnam("vmail")
    for pid in linst.pids("local"):
        st = proc_status(pid)
        assert st["Uid"] == [vmail.pw_uid] * 4
        assert st["Gid"] == [vmail.pw_gid] * 4


def start_strace(pids, out):
    args = ["strace", "-f", "-tt", "-s", "80", "-o", out,
            "-e", "trace=openat,write,fsync,fdatasync,link,linkat,"
                  "sendto,sendmsg"]
    for p in pids:
        args += ["-p", str(p)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE)
    attached = 0
    end = time.monotonic() + DEADLINE
    buf = b""
    while attached < len(pids) and time.monotonic() < end:
        r, _, _ = select.select([proc.stderr], [], [], 1)
        if r:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            attached = buf.count(b"attached")
    assert attached >= len(pids), buf
    return proc


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_durability_order_under_strace(linst, tmp_path):
    qid, path = queued(linst, [DEMO], BODY)
    out = str(tmp_path / "strace.out")
    tracer = start_strace(linst.pids("local"), out)
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            reply = talk(linst, request(qid, [DEMO, "demo+x@" + DOMAIN]),
                         [fd])
        finally:
            os.close(fd)
    finally:
        time.sleep(0.2)  # let strace write out the last lines
        tracer.terminate()
        tracer.wait(timeout=DEADLINE)
    assert reply.count("sent 2.0.0") == 2, reply
    with open(out) as f:
        trace = f.read().splitlines()
    # openat(tmp, "<name>", O_WRONLY|O_CREAT|O_EXCL...) = FD; fsync(FD);
    # linkat(tmp, "<name>", new, "<name>,S=..", 0) = 0; fsync(new);
    # sendto(sock, "status 0 sent ...") -- in that order.
    steps = []
    opens = []  # (name, fd, line)
    for i, line in enumerate(trace):
        m = re.search(r'openat\(\d+, "([^"]+\.mail\.example\.test)", '
                      r'O_WRONLY\|O_CREAT\|O_EXCL.*\)\s+= (\d+)$', line)
        if m:
            opens.append((m.group(1), m.group(2), i))
            continue
        m = re.search(r"fsync\((\d+)\)\s+= 0$", line)
        if m:
            steps.append(("fsync", m.group(1), i))
            continue
        m = re.search(r'linkat\((\d+), "([^"]+)", (\d+), "([^"]+,S=\d+,W=\d+)", 0\)'
                      r"\s+= 0$", line)
        if m:
            steps.append(("link", (m.group(2), m.group(3)), i))
            continue
        if re.search(r'sendto\(\d+, "status 0 sent', line):
            steps.append(("reply", None, i))
    links = [s for s in steps if s[0] == "link"]
    replies = [s for s in steps if s[0] == "reply"]
    assert len(links) == 2 and len(replies) == 1, "\n".join(trace)
    reply_at = replies[0][2]
    for _, (name, new_fd), link_at in links:
        made = [(fd, i) for n, fd, i in opens if n == name and i < link_at]
        assert made, "\n".join(trace)
        fd, open_at = made[-1]
        file_syncs = [i for op, f, i in steps
                      if op == "fsync" and f == fd and open_at < i < link_at]
        dir_syncs = [i for op, f, i in steps
                     if op == "fsync" and f == new_fd and link_at < i]
        assert file_syncs, "no fsync of the file before its link"
        assert dir_syncs and dir_syncs[0] < reply_at, \
            "no fsync of new/ between the link and the reply"
    # One batch: both links before the one fsync of new/ (same mailbox).
    new_fd = links[0][1][1]
    dir_syncs = [i for op, fd, i in steps if op == "fsync" and fd == new_fd
                 and i > links[0][2]]
    assert len(dir_syncs) == 1 and dir_syncs[0] > links[1][2], \
        "\n".join(trace)
