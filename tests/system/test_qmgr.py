"""
qmgr on a whole instance (every time parameter set to one second):
delivery into a Maildir through local; an alias to an unknown user bounces
with an RFC 3464 notice that Python's email package reads back; an alias
to an outside address becomes a child queue entry with the original
sender and ORCPT; a remote domain defers with "mail transport
unavailable" and mailq shows why; hold (listed with "!"), release and
delivery; requeue; delete (durable, logged "removed"); agents that
defer, bounce, crash, answer garbage or hang (a fake agent on a
private/ socket, routed with transport_maps); recovery after kill -9
(active/ back to incoming/, done recipients never delivered again, stale
tmp/ files removed); the admin socket's peer check; the order of the
done mark (pwrite + fdatasync after the agent's reply, under strace);
and pflogsumm's counts over the log.
"""
import email
import email.policy
import json
import os
import pwd
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import DEADLINE, RawSMTP, as_user, send_mail, wait_for

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN
FAST = dict(queue_run_delay="1s", minimal_backoff_time="1s",
            maximal_backoff_time="1s", transport_retry_time="1s")


def body(subject, to=DEMO):
    return ("From: Ann <ann@example.org>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Message-Id: <%s@example.org>\r\n\r\nHello.\r\n"
            % (to, subject, subject.replace(" ", "-")))


# -- helpers -------------------------------------------------------------

def add_aliases(inst, text):
    with open(os.path.join(inst.etc, "aliases"), "a") as f:
        f.write(text)
    inst.mailctl("map", "build", os.path.join(inst.etc, "aliases"))


def set_transport(inst, text):
    path = os.path.join(inst.etc, "transport")
    with open(path, "w") as f:
        f.write(text)
    inst.mailctl("map", "build", path)
    inst.set_main(transport_maps="lmdb:$config_directory/transport")


def maildir(inst, local="demo"):
    """[(name, bytes)] of the messages in local's Maildir/new."""
    d = os.path.join(inst.root, "mail", DOMAIN, local, "Maildir", "new")
    if not os.path.isdir(d):
        return []
    out = []
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            out.append((n, f.read()))
    return out


def wait_maildir(inst, n, local="demo"):
    return wait_for(lambda: len(maildir(inst, local)) >= n and
                    maildir(inst, local), "%d message(s) for %s" % (n, local))


def entry(inst, qid):
    for m in inst.mailq(json_=True):
        if m["queue_id"] == qid:
            return m
    return None


def wait_queue_name(inst, qid, name):
    return wait_for(lambda: (entry(inst, qid) or {}).get("queue_name") == name
                    and entry(inst, qid), "%s in %s/" % (qid, name))


def wait_gone(inst, qid):
    wait_for(lambda: entry(inst, qid) is None, "%s to leave the queue" % qid)


def qfile(inst, folder, qid):
    return os.path.join(inst.queue, folder, qid)


def qmgr_pid(inst):
    return wait_for(lambda: (inst.pids("qmgr") or [0])[0], "a qmgr process")


def new_qmgr(inst, old):
    """Wait for a qmgr other than pid old; its pid."""
    return wait_for(lambda: [p for p in inst.pids("qmgr") if p != old],
                    "a new qmgr")[0]


def admin_ready(inst):
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect(os.path.join(inst.queue, "private", "qmgr-admin"))
        return True
    except OSError:
        return False
    finally:
        c.close()


def start(inst, **main):
    params = dict(FAST)
    params.update(main)
    inst.set_main(**params)
    inst.start()
    qmgr_pid(inst)
    wait_for(lambda: admin_ready(inst), "qmgr's admin socket")


class FakeAgent:
    """A delivery agent on private/<name>: answers each request with
    reply(request) (a str, or None to hang up without a reply).  Keeps
    every request it got: {"text", "queue_id", "rcpts": [(index, addr,
    orig, notify)], "fd_ok"}."""

    def __init__(self, inst, name, reply, keep=False):
        self.keep = keep  # serve many requests per connection
        self.conns = 0    # connections accepted
        self.path = os.path.join(inst.queue, "private", name)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)  # qmgr runs as mail_owner
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.reply = reply
        self.requests = []
        self.stopping = False
        self.gate = threading.Event()  # hold replies until set
        self.gate.set()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.serve, args=(conn, self.conns),
                             daemon=True).start()

    def serve(self, conn, number):
        conn.settimeout(DEADLINE)
        try:
            while self.serve_one(conn, number) and self.keep:
                pass
        finally:
            conn.close()

    def serve_one(self, conn, number):
        """One request and its reply; False when the connection ended."""
        data, fds = b"", []
        try:
            while not data.endswith(b"end\n"):
                msg, got, _, _ = socket.recv_fds(conn, 65536, 4)
                fds += got
                if not msg:
                    return False
                data += msg
            rq = self.parse(data.decode(errors="replace"), fds)
            rq["conn"] = number
            self.requests.append(rq)
            self.gate.wait(DEADLINE)
            if self.stopping:
                return False
            text = self.reply(rq)
            if text is None:
                return False
            conn.sendall(text.encode())
            return True
        except OSError:
            return False
        finally:
            for fd in fds:
                os.close(fd)

    @staticmethod
    def parse(text, fds):
        rq = {"text": text, "rcpts": [], "fd_ok": False}
        for line in text.splitlines():
            w = line.split(" ")
            if w[0] == "queue_id":
                rq["queue_id"] = w[1]
            elif w[0] == "sender":
                rq["sender"] = w[1]
            elif w[0] == "rcpt":
                rq["rcpts"].append((int(w[1]), w[3], w[4], int(w[2])))
        if len(fds) == 1:
            st = os.fstat(fds[0])
            flags = __import__("fcntl").fcntl(fds[0],
                                              __import__("fcntl").F_GETFL)
            rq["fd_ok"] = (st.st_nlink == 1 and
                           (flags & os.O_ACCMODE) == os.O_RDONLY)
            os.lseek(fds[0], 0, os.SEEK_SET)
            rq["head"] = os.read(fds[0], 8)
        return rq

    def close(self):
        self.stopping = True
        self.gate.set()
        self.sock.close()
        self.thread.join(timeout=5)
        try:
            os.unlink(self.path)
        except OSError:
            pass


def statuses(kind, dsn, text):
    esc = text.replace("%", "%25").replace(" ", "%20")
    return lambda rq: "".join("status %d %s %s fake %s\n" % (r[0], kind, dsn,
                                                              esc)
                              for r in rq["rcpts"]) + "end\n"


# -- delivery, bounces, forwards ----------------------------------------

def test_local_delivery(inst_stopped):
    inst = inst_stopped
    start(inst)
    qid = send_mail(inst, "ann@example.org", [DEMO], body("plain delivery"))
    msgs = wait_maildir(inst, 1)
    assert b"Subject: plain delivery" in msgs[0][1]
    inst.wait_log(r"qmgr\[\d+\]: %s: from=<ann@example\.org>, size=\d+, "
                  r"nrcpt=1 \(queue active\)$" % qid)
    inst.wait_log(r"local\[\d+\]: %s: to=<%s>, relay=local, delay=[\d.]+, "
                  r"delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, dsn=2\.0\.0, "
                  r"status=sent \(delivered to maildir\)$" % (qid, DEMO))
    inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
    wait_gone(inst, qid)
    assert not os.path.exists(qfile(inst, "defer", qid))


def test_unknown_alias_target_bounces(inst_stopped):
    inst = inst_stopped
    add_aliases(inst, "broken@%s: nobody@%s\n" % (DOMAIN, DOMAIN))
    start(inst)
    qid = send_mail(inst, DEMO, ["broken@" + DOMAIN], body("to be bounced"),
                    mail_options=["RET=HDRS", "ENVID=env-7"])
    inst.wait_log(r"qmgr\[\d+\]: %s: sender non-delivery notification: "
                  r"(\w+)$" % qid)
    bid = re.search(r"%s: sender non-delivery notification: (\w+)" % qid,
                    inst.log()).group(1)
    inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
    inst.wait_log(r"qmgr\[\d+\]: %s: from=<>, size=\d+, nrcpt=1 "
                  r"\(queue active\)$" % bid)
    raw = wait_maildir(inst, 1)[0][1]
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert m["From"].startswith("MAILER-DAEMON@mail.%s" % DOMAIN)
    assert m["To"] == "<%s>" % DEMO
    assert m["Subject"] == "Undelivered Mail Returned to Sender"
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    text, status, returned = m.get_payload()
    assert "broken@%s" % DOMAIN in text.get_payload()
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()
    assert blocks[0]["Reporting-MTA"] == "dns; mail.%s" % DOMAIN
    assert blocks[0]["X-Facteur-Queue-ID"] == qid
    assert blocks[0]["Original-Envelope-Id"] == "env-7"
    assert len(blocks) == 2
    assert blocks[1]["Final-Recipient"] == "rfc822; broken@%s" % DOMAIN
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"].startswith("5.")
    assert blocks[1]["Diagnostic-Code"].startswith("x-unix; ")
    # RET=HDRS: the headers, not the body.
    assert returned.get_content_type() == "text/rfc822-headers"
    assert "Subject: to be bounced" in returned.get_payload()
    assert "Hello." not in returned.get_payload()
    # The notice itself has the null sender and is gone once delivered.
    wait_gone(inst, bid)


def test_bounce_of_bounce_goes_to_postmaster_and_stops(inst_stopped):
    inst = inst_stopped
    set_transport(inst, "fail.test fake:\n")
    start(inst)
    agent = FakeAgent(inst, "fake", statuses("bounce", "5.1.1", "no such user"))
    try:
        # A null-sender message that fails: its notice goes to postmaster.
        qid = send_mail(inst, "", ["x@fail.test"], body("null sender"))
        inst.wait_log(r"qmgr\[\d+\]: %s: postmaster non-delivery "
                      r"notification: \w+$" % qid)
        msgs = wait_maildir(inst, 1)  # postmaster is demo
        m = email.message_from_bytes(msgs[0][1])
        assert m["Subject"] == "Postmaster Copy: Undelivered Mail"
        # A postmaster notice that fails is dropped, never bounced again.
        set_transport(inst, "fail.test fake:\nmail.%s fake:\n" % DOMAIN)
        old = qmgr_pid(inst)
        inst.reload()
        new_qmgr(inst, old)
        mark = inst.log_mark()
        qid2 = send_mail(inst, "", ["y@fail.test"], body("null again"))
        pm = inst.wait_log(r"qmgr\[\d+\]: %s: postmaster non-delivery "
                           r"notification: (\w+)$" % qid2, since=mark)
        inst.wait_log(r"qmgr\[\d+\]: %s: undeliverable postmaster "
                      r"notification discarded$" % pm.group(1), since=mark)
        inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % pm.group(1), since=mark)
        assert len(maildir(inst)) == 1
    finally:
        agent.close()


def test_alias_to_outside_makes_child(inst_stopped):
    inst = inst_stopped
    add_aliases(inst, "fwd@%s: someone@remote.test\n" % DOMAIN)
    start(inst)
    qid = send_mail(inst, "ann@example.org", ["fwd@" + DOMAIN],
                    body("forward me"), mail_options=["ENVID=e-1"])
    m = inst.wait_log(r"qmgr\[\d+\]: %s: forwarded for <fwd@%s> as (\w+) "
                      r"\(1 recipient\)$" % (qid, re.escape(DOMAIN)))
    child = m.group(1)
    inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
    e = wait_for(lambda: (entry(inst, child) or {}).get("queue_name") ==
                 "deferred" and entry(inst, child), "child deferred")
    assert e["sender"] == "ann@example.org"
    assert [r["address"] for r in e["recipients"]] == ["someone@remote.test"]
    assert e["recipients"][0]["orig_address"] == "fwd@" + DOMAIN
    env = inst.queue_show(child, content=False).decode()
    assert "named_attribute: envid=e-1\n" in env
    assert "named_attribute: parent=%s\n" % qid in env
    content = inst.queue_show(child)
    assert content.startswith(b"Delivered-To: fwd@%s\r\nReceived: "
                              % DOMAIN.encode())
    assert b"Subject: forward me\r\n" in content
    assert entry(inst, qid) is None


# -- deferral, mailq, administration -------------------------------------

def test_remote_defers_and_mailq_shows_why(inst_stopped):
    inst = inst_stopped
    start(inst)
    qid = send_mail(inst, "ann@example.org", ["bob@remote.test"],
                    body("remote"))
    inst.wait_log(r"qmgr\[\d+\]: warning: transport smtp: mail transport "
                  r"unavailable: connect to private/smtp: No such file or "
                  r"directory; suspended for 1s$")
    inst.wait_log(r"qmgr\[\d+\]: %s: to=<bob@remote\.test>, relay=none, "
                  r"delay=[\d.]+, delays=[\d.]+/[\d.]+/0/0, dsn=4\.3\.0, "
                  r"status=deferred \(mail transport unavailable\)$" % qid)
    e = wait_queue_name(inst, qid, "deferred")
    assert e["recipients"][0]["delay_reason"] == "mail transport unavailable"
    text = inst.mailq()
    # Postfix's showq_compat: "(reason)" right-aligned to 76 columns,
    # then the recipients that share it.
    reason = "(mail transport unavailable)"
    assert re.search(r"^%s\s+\d+ .* ann@example\.org\n%s\n\s+bob@remote\.test$"
                     % (qid, re.escape(" " * (76 - len(reason) + 2) + reason)),
                     text, re.M), text
    # It keeps being retried (1s back-off), never lost.
    n = len(re.findall(r"%s: from=<.*\(queue active\)" % qid, inst.log()))
    wait_for(lambda: len(re.findall(r"%s: from=<.*\(queue active\)" % qid,
                                    inst.log())) > n + 1, "retries")


def test_hold_release_delivers(inst_stopped):
    inst = inst_stopped
    inst.remove_services("local")
    start(inst)
    qid = send_mail(inst, "ann@example.org", [DEMO], body("held"))
    wait_queue_name(inst, qid, "deferred")
    assert inst.mailctl("queue", "hold", qid).stdout.decode() == \
        "%s: 1 message placed on hold\n" % qid
    inst.wait_log(r"qmgr\[\d+\]: %s: placed on hold$" % qid)
    assert os.path.exists(qfile(inst, "hold", qid))
    assert re.search(r"^%s!\s+\d+ " % qid, inst.mailq(), re.M), inst.mailq()
    assert entry(inst, qid)["queue_name"] == "hold"
    # A held message stays put, whatever the scans.
    time.sleep(2.5)
    assert entry(inst, qid)["queue_name"] == "hold"
    assert maildir(inst) == []
    # local comes back; release: delivered.
    with open(os.path.join(inst.etc, "master.cf"), "a") as f:
        f.write("local unix - - n - - local\n"
                "    -o service_user=$mailbox_owner\n")
    inst.reload()
    wait_for(lambda: inst.pids("local"), "local")
    assert inst.mailctl("queue", "release", qid).returncode == 0
    inst.wait_log(r"qmgr\[\d+\]: %s: released from hold$" % qid)
    msgs = wait_maildir(inst, 1)
    assert b"Subject: held" in msgs[0][1]
    wait_gone(inst, qid)
    # Unknown ids and bad ids are errors.
    p = inst.mailctl("queue", "release", qid, check=False)
    assert p.returncode == 1 and b"no such message" in p.stderr
    p = inst.mailctl("queue", "hold", "../etc", check=False)
    assert p.returncode == 1 and b"not a queue id" in p.stderr


def test_requeue_and_delete(inst_stopped):
    inst = inst_stopped
    start(inst, minimal_backoff_time="1h", maximal_backoff_time="2h")
    a = send_mail(inst, "ann@example.org", ["a@remote.test"], body("one"))
    b = send_mail(inst, "ann@example.org", ["b@remote.test"], body("two"))
    wait_queue_name(inst, a, "deferred")
    wait_queue_name(inst, b, "deferred")
    # An hour's back-off: nothing happens by itself ...
    loads = lambda q: len(re.findall(r"%s: from=<.*\(queue active\)" % q,
                                     inst.log()))
    na = loads(a)
    time.sleep(2.5)
    assert loads(a) == na
    # ... until requeue, which moves it to incoming/ for a new attempt.
    out = inst.mailctl("queue", "requeue", a).stdout.decode()
    assert out == "%s: 1 message requeued\n" % a
    wait_for(lambda: loads(a) == na + 1, "a new attempt for " + a)
    wait_queue_name(inst, a, "deferred")
    # flush: every deferred message is tried now.
    nb = loads(b)
    out = inst.mailctl("flush").stdout.decode()
    assert out == "2 messages deferred, to be tried now\n"
    wait_for(lambda: loads(b) == nb + 1, "a new attempt for " + b)
    # delete: gone, durably, logged as Postfix's postsuper does.
    wait_queue_name(inst, b, "deferred")
    out = inst.mailctl("queue", "delete", b).stdout.decode()
    assert out == "%s: 1 message deleted\n" % b
    inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % b)
    assert entry(inst, b) is None
    for folder in ("incoming", "active", "deferred", "hold", "defer"):
        assert not os.path.exists(qfile(inst, folder, b))
    # ALL
    c = send_mail(inst, "ann@example.org", ["c@remote.test"], body("three"))
    wait_queue_name(inst, c, "deferred")
    out = inst.mailctl("queue", "hold", "ALL").stdout.decode()
    assert out == "ALL: 2 messages placed on hold\n"
    assert {m["queue_name"] for m in inst.mailq(json_=True)} == {"hold"}
    out = inst.mailctl("queue", "delete", "ALL").stdout.decode()
    assert out == "ALL: 2 messages deleted\n"
    assert inst.mailq() == "Mail queue is empty\n"


def test_admin_socket_is_root_only(inst_stopped):
    inst = inst_stopped
    start(inst)
    path = os.path.join(inst.queue, "private", "qmgr-admin")
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o600
    facteur = pwd.getpwnam("facteur")
    assert st.st_uid == facteur.pw_uid
    # mail_owner itself (smtpd's user) may not administer the queue.
    def child():
        try:
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(DEADLINE)
            c.connect(path)
            c.sendall(b"delete ALL\n")
            return c.recv(100)
        except OSError:
            return b""
    got = as_user("facteur", child)
    assert got == b""
    inst.wait_log(r"qmgr\[\d+\]: warning: admin: refused a connection from "
                  r"uid %d$" % facteur.pw_uid)
    # Root is answered; garbage gets an error, not a crash.
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(DEADLINE)
    c.connect(path)
    c.sendall(b"frobnicate\nhold x\n" + b"y" * 5000 + b"\nflush\n")
    data = b""
    while data.count(b"\n") < 4:
        d = c.recv(4096)
        assert d
        data += d
    c.close()
    assert data.split(b"\n")[:4] == [b"error unknown command",
                                     b"error not a queue id",
                                     b"error line too long", b"ok 0"]
    assert inst.pids("qmgr")


# -- agents that misbehave -------------------------------------------------

def test_fake_agent_statuses(inst_stopped):
    inst = inst_stopped
    # One next hop for the three: one request with three recipients.
    set_transport(inst, "defer.test fake:hop\nbounce.test fake:hop\n"
                  "sent.test fake:hop\n")
    start(inst)

    def reply(rq):
        out = ""
        for i, addr, _, _ in rq["rcpts"]:
            if addr.endswith("@defer.test"):
                out += "status %d defer 4.2.2 fake mailbox%%20full\n" % i
            elif addr.endswith("@bounce.test"):
                out += "status %d bounce 5.1.1 fake no%%20such%%20user\n" % i
            else:
                out += "status %d sent 2.0.0 fake delivered\n" % i
        return out + "end\n"

    agent = FakeAgent(inst, "fake", reply)
    try:
        qid = send_mail(inst, DEMO, ["a@sent.test", "b@defer.test",
                                     "c@bounce.test"], body("mixed"))
        inst.wait_log(r"%s: sender non-delivery notification: \w+$" % qid)
        e = wait_queue_name(inst, qid, "deferred")
        # Only the deferred recipient is left, with its reason.
        assert [(r["address"], r.get("delay_reason")) for r in
                e["recipients"]] == [("b@defer.test", "mailbox full")]
        rq = agent.requests[0]
        assert rq["fd_ok"] and rq["head"] == b"\x89FCTQ\r\n\x1a"
        assert rq["sender"] == DEMO and rq["queue_id"] == qid
        assert sorted(r[1] for r in rq["rcpts"]) == \
            ["a@sent.test", "b@defer.test", "c@bounce.test"]
        # The bounce reached the sender (a local mailbox).
        m = email.message_from_bytes(wait_maildir(inst, 1)[0][1])
        blocks = m.get_payload()[1].get_payload()
        assert [b["Final-Recipient"] for b in blocks[1:]] == \
            ["rfc822; c@bounce.test"]
        assert blocks[1]["Diagnostic-Code"] == "x-unix; no such user"
        # Retries carry only b; a and c were marked done.
        wait_for(lambda: len(agent.requests) >= 2, "a retry")
        assert [r[1] for r in agent.requests[1]["rcpts"]] == ["b@defer.test"]
    finally:
        agent.close()


def test_crashed_and_garbled_agents_defer_and_suspend(inst_stopped):
    inst = inst_stopped
    set_transport(inst, "crash.test fake:\n")
    start(inst)
    replies = [None, "status 9 sent 2.0.0 x y\nend\n", "garbage\nend\n"]
    agent = FakeAgent(inst, "fake", lambda rq: replies.pop(0)
                      if replies else statuses("sent", "2.0.0", "ok")(rq))
    try:
        qid = send_mail(inst, "ann@example.org", ["x@crash.test"],
                        body("crash"))
        inst.wait_log(r"qmgr\[\d+\]: warning: %s: reply from private/fake: "
                      r"connection closed before the reply ended" % qid)
        inst.wait_log(r"qmgr\[\d+\]: warning: transport fake: mail transport"
                      r" unavailable: .*; suspended for 1s$")
        inst.wait_log(r"%s: to=<x@crash\.test>, relay=none, .*dsn=4\.3\.0, "
                      r"status=deferred \(mail transport unavailable\)$" % qid)
        inst.wait_log(r"qmgr\[\d+\]: warning: %s: reply from private/fake: "
                      r"recipient 0 has 0 statuses" % qid)
        inst.wait_log(r"qmgr\[\d+\]: warning: %s: reply from private/fake: "
                      r"bad reply line" % qid)
        inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
        assert len(agent.requests) == 4
        assert inst.pids("qmgr")
    finally:
        agent.close()


def test_hold_while_in_flight(inst_stopped):
    inst = inst_stopped
    set_transport(inst, "slow.test fake:\n")
    start(inst)
    agent = FakeAgent(inst, "fake", statuses("defer", "4.4.1", "slow"))
    agent.gate.clear()
    try:
        qid = send_mail(inst, "ann@example.org", ["x@slow.test"], body("slow"))
        wait_for(lambda: agent.requests, "the request")
        assert entry(inst, qid)["queue_name"] == "active"
        assert re.search(r"^%s\*\s+\d+ " % qid, inst.mailq(), re.M)
        assert inst.mailctl("queue", "hold", qid).returncode == 0
        agent.gate.set()
        e = wait_queue_name(inst, qid, "hold")
        assert e["recipients"][0]["delay_reason"] == "slow"
        time.sleep(2)
        assert entry(inst, qid)["queue_name"] == "hold"
        assert len(agent.requests) == 1
    finally:
        agent.close()


def test_connection_kept_between_requests(inst_stopped):
    """qmgr keeps a connection after a whole reply and sends the next
    request to that transport on it; an agent that closes its end after
    each reply (the other FakeAgent) still gets every request, on new
    connections, without the transport being taken for failed."""
    inst = inst_stopped
    set_transport(inst, "keep.test fake:\nonce.test once:\n")
    start(inst)
    keep = FakeAgent(inst, "fake", statuses("sent", "2.0.0", "ok"),
                     keep=True)
    once = FakeAgent(inst, "once", statuses("sent", "2.0.0", "ok"))
    try:
        for i in range(3):
            qid = send_mail(inst, "ann@example.org", ["u%d@keep.test" % i],
                            body("kept %d" % i))
            wait_gone(inst, qid)
            qid = send_mail(inst, "ann@example.org", ["u%d@once.test" % i],
                            body("once %d" % i))
            wait_gone(inst, qid)
        assert len(keep.requests) == 3
        assert {rq["conn"] for rq in keep.requests} == {1}
        assert keep.conns == 1
        assert len(once.requests) == 3
        assert once.conns == 3
        log = inst.log()
        assert "transport unavailable" not in log
        assert len(re.findall(r"qmgr\[\d+\]: \w+: removed", log)) == 6
    finally:
        keep.close()
        once.close()


# -- recovery and durability ----------------------------------------------

def test_kill_9_recovery_no_loss_no_duplicate(inst_stopped):
    inst = inst_stopped
    set_transport(inst, "slow.test fake:\n")
    start(inst)
    agent = FakeAgent(inst, "fake", statuses("sent", "2.0.0", "done"))
    agent.gate.clear()
    # A stale file in tmp/ (a writer that died long ago) and a fresh one.
    stale = os.path.join(inst.queue, "tmp", "99.1.1")
    fresh = os.path.join(inst.queue, "tmp", "99.1.2")
    for p in (stale, fresh):
        with open(p, "w") as f:
            f.write("partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    try:
        qid = send_mail(inst, "ann@example.org", [DEMO, "x@slow.test"],
                        body("recover me"))
        # demo is delivered and marked done; x hangs in the agent.
        wait_maildir(inst, 1)
        wait_for(lambda: agent.requests, "the slow request")
        assert os.path.exists(qfile(inst, "active", qid))
        env = inst.queue_show(qid, content=False).decode()
        assert "done_recipient: %s\n" % DEMO in env
        pid = qmgr_pid(inst)
        inst.expected_kills.add(pid)
        mark = inst.log_mark()
        os.kill(pid, signal.SIGKILL)
        new_qmgr(inst, pid)
        inst.wait_log(r"qmgr\[\d+\]: %s: from=<ann@example\.org>, size=\d+, "
                      r"nrcpt=2 \(queue active\)$" % qid, since=mark)
        agent.gate.set()
        inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid, since=mark)
        # Nothing lost, nothing twice: demo has one copy, x got a retry.
        time.sleep(1)
        assert len(maildir(inst)) == 1
        assert len(agent.requests) == 2
        assert [r[1] for r in agent.requests[1]["rcpts"]] == ["x@slow.test"]
        assert not os.path.exists(stale)
        assert os.path.exists(fresh)
        assert re.search(r"queue: removed stale tmp/99\.1\.1", inst.log())
    finally:
        agent.close()


def start_strace(pid, out):
    proc = subprocess.Popen(
        ["strace", "-f", "-tt", "-s", "120", "-o", out, "-e",
         "trace=recvfrom,read,recvmsg,pwrite64,fdatasync,fsync,openat,"
         "unlinkat,renameat2", "-p", str(pid)], stderr=subprocess.PIPE)
    buf = b""
    end = time.monotonic() + DEADLINE
    while b"attached" not in buf and time.monotonic() < end:
        r, _, _ = select.select([proc.stderr], [], [], 1)
        if r:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    assert b"attached" in buf, buf
    return proc


def traced(inst, tmp_path, rcpts, subject, until):
    out = str(tmp_path / ("strace-%s.out" % subject))
    tracer = start_strace(qmgr_pid(inst), out)
    try:
        qid = send_mail(inst, "ann@example.org", rcpts, body(subject))
        inst.wait_log(until % qid)
    finally:
        time.sleep(0.3)
        tracer.terminate()
        tracer.wait(timeout=DEADLINE)
    with open(out) as f:
        return qid, f.read().splitlines()


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_done_mark_after_reply_under_strace(inst_stopped, tmp_path):
    """DESIGN §2 rule 2, two ways.  A message that stays in the queue:
    qmgr reads local's reply, then pwrite()s the done flag and
    fdatasync()s the file, never before.  A message with nothing left:
    its file is removed only after the reply, and the removal is made
    durable with an fsync of active/ (one for every message finished in
    that loop turn)."""
    inst = inst_stopped
    start(inst, minimal_backoff_time="1h", maximal_backoff_time="2h")
    reply_rx = r'(recvfrom|read)\(\d+, "status 0 sent 2\.0\.0 local'

    # 1. One local recipient and one that defers: the file stays.
    qid, trace = traced(inst, tmp_path, [DEMO, "far@remote.test"], "stays",
                        r"local\[\d+\]: %s: to=<demo@")
    wait_queue_name(inst, qid, "deferred")
    opened = {}
    reply_at = mark = sync = None
    for i, line in enumerate(trace):
        m = re.search(r'openat\(\d+, "%s", O_RDWR.*\)\s+= (\d+)$' % qid,
                      line)
        if m:
            opened[m.group(1)] = i
        if reply_at is None and re.search(reply_rx, line):
            reply_at = i
        m = re.search(r'pwrite64\((\d+), "\\1", 1, \d+\)\s+= 1$', line)
        if m and mark is None:
            mark = (m.group(1), i)
        m = re.search(r"fdatasync\((\d+)\)\s+= 0$", line)
        if m and mark is not None and m.group(1) == mark[0] and sync is None:
            sync = i
    assert reply_at is not None and mark is not None and sync is not None, \
        "\n".join(trace)
    assert reply_at < mark[1] < sync, "\n".join(trace)
    assert mark[0] in opened and reply_at < opened[mark[0]] < mark[1]

    # 2. One local recipient: nothing left, the file goes after the reply,
    # retired to reuse/ (lib/queue_reuse.h): renamed to reuse/G-ID, then
    # active/ fsynced; only then is generation G published in reuse/.gen
    # (a store to shared memory, which strace cannot see: checked after).
    qid, trace = traced(inst, tmp_path, [DEMO], "goes",
                        r"qmgr\[\d+\]: %s: removed$")
    reply_at = gone = dsync = None
    for i, line in enumerate(trace):
        if reply_at is None and re.search(reply_rx, line):
            reply_at = i
        m = re.search(r'renameat2\((\d+), "%s", \d+, "(\d+)-%s", '
                      r'RENAME_NOREPLACE\)\s+= 0$' % (qid, qid), line)
        if gone is None and m:
            gone = (m.group(1), i, int(m.group(2)))
        m = re.search(r"fsync\((\d+)\)\s+= 0$", line)
        if m and gone is not None and m.group(1) == gone[0] and dsync is None:
            dsync = i
    assert None not in (reply_at, gone, dsync), "\n".join(trace)
    assert reply_at < gone[1] < dsync, "\n".join(trace)
    reuse = os.path.join(inst.queue, "reuse")
    assert os.path.exists(os.path.join(reuse, "%d-%s" % (gone[2], qid)))
    with open(os.path.join(reuse, ".gen"), "rb") as f:
        published = struct.unpack("=Q", f.read(8))[0]
    assert published >= gone[2]


@pytest.mark.skipif(not os.path.exists("/usr/sbin/pflogsumm"),
                    reason="needs pflogsumm")
def test_pflogsumm_counts(inst_stopped):
    inst = inst_stopped
    add_aliases(inst, "broken@%s: nobody@%s\n" % (DOMAIN, DOMAIN))
    start(inst)
    send_mail(inst, "ann@example.org", [DEMO], body("one"))
    send_mail(inst, "ann@example.org", [DEMO], body("two"))
    dq = send_mail(inst, "ann@example.org", ["far@remote.test"], body("far"))
    bq = send_mail(inst, DEMO, ["broken@" + DOMAIN], body("bounce"))
    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<eve@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<nobody@%s>" % DOMAIN)[0] == 550
        c.cmd("QUIT")
    inst.wait_log(r"%s: sender non-delivery notification" % bq)
    inst.wait_log(r"%s: to=<far@remote\.test>.*status=deferred" % dq)
    wait_maildir(inst, 3)  # two messages and the bounce
    inst.wait_log(r"NOQUEUE: reject: RCPT from")
    out = subprocess.run(["/usr/sbin/pflogsumm", "--syslog-name=facteur",
                          inst.maillog], capture_output=True,
                         timeout=120).stdout.decode()

    def count(label):
        m = re.search(r"^\s+(\d+)\s+%s\b" % label, out, re.M)
        assert m, "%s not in:\n%s" % (label, out)
        return int(m.group(1))
    assert count("received") == 4, out
    # two messages and the notice to demo; local's bounce of broken@
    assert count("delivered") == 3, out
    assert count("deferred") == 1, out
    assert count("bounced") == 1, out
    assert count("rejected") == 1, out


# -- notices: NOTIFY, delay warnings, expiry -------------------------------

def send_notify(inst, sender, rcpt, subject, notify, mail_options=()):
    """Send with RCPT ... NOTIFY=notify; the queue id."""
    with inst.smtp() as s:
        s.ehlo("client.example.org")
        s.mail(sender, list(mail_options))
        code, text = s.rcpt(rcpt, ["NOTIFY=" + notify])
        assert code == 250, (code, text)
        code, text = s.data(body(subject, rcpt))
        assert code == 250, (code, text)
        return re.search(r"queued as (\w+)", text.decode()).group(1)


def notices(inst):
    return [email.message_from_bytes(raw) for _, raw in maildir(inst)
            if b"From: MAILER-DAEMON@" in raw]


def test_notify_success_and_never(inst_stopped):
    inst = inst_stopped
    set_transport(inst, "fail.test fake:\n")
    start(inst)
    agent = FakeAgent(inst, "fake", statuses("bounce", "5.1.1", "no user"))
    try:
        # SUCCESS: a "delivered" notice comes back to the sender.
        qid = send_notify(inst, DEMO, "demo+x@" + DOMAIN, "wants success",
                          "SUCCESS")
        inst.wait_log(r"qmgr\[\d+\]: %s: sender delivery status "
                      r"notification: \w+$" % qid)
        inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
        wait_maildir(inst, 2)
        n = wait_for(lambda: notices(inst), "the success notice")
        assert n[0]["Subject"] == "Successful Mail Delivery Report"
        blocks = n[0].get_payload()[1].get_payload()
        assert blocks[1]["Action"] == "delivered"
        assert blocks[1]["Status"] == "2.0.0"
        assert n[0].get_payload()[2].get_content_type() == \
            "text/rfc822-headers"
        # NEVER: a failure, and no notice at all.
        qid = send_notify(inst, DEMO, "x@fail.test", "never tell", "NEVER")
        inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
        assert not re.search(r"%s: sender non-delivery" % qid, inst.log())
        # SUCCESS only: a failure is not reported either (RFC 3461 §4.1).
        qid = send_notify(inst, DEMO, "y@fail.test", "success only",
                          "SUCCESS")
        inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
        assert not re.search(r"%s: sender non-delivery" % qid, inst.log())
        time.sleep(1)
        assert len(notices(inst)) == 1
    finally:
        agent.close()


def test_delay_warning_once(inst_stopped):
    inst = inst_stopped
    start(inst, delay_warning_time="1s")
    qid = send_mail(inst, DEMO, ["far@remote.test"], body("slow mail"))
    inst.wait_log(r"qmgr\[\d+\]: %s: sender delay notification: \w+$" % qid)
    n = wait_for(lambda: notices(inst), "the delay warning")
    assert n[0]["Subject"] == "Delayed Mail (still being retried)"
    blocks = n[0].get_payload()[1].get_payload()
    assert blocks[1]["Action"] == "delayed"
    assert blocks[1]["Status"] == "4.3.0"
    assert blocks[1]["Final-Recipient"] == "rfc822; far@remote.test"
    assert blocks[1]["Will-Retry-Until"]
    # Further attempts send no second warning (defer/<id> remembers).
    loads = lambda: len(re.findall(r"%s: from=<.*\(queue active\)" % qid,
                                   inst.log()))
    n0 = loads()
    wait_for(lambda: loads() >= n0 + 2, "more attempts")
    assert len(re.findall(r"%s: sender delay notification" % qid,
                          inst.log())) == 1
    with open(qfile(inst, "defer", qid)) as f:
        assert re.search(r"^warned \d+$", f.read(), re.M)


def test_expiry_returns_to_sender(inst_stopped):
    inst = inst_stopped
    start(inst, maximal_queue_lifetime="2s")
    qid = send_mail(inst, DEMO, ["far@remote.test"], body("too late"))
    inst.wait_log(r"qmgr\[\d+\]: %s: from=<%s>, status=expired, returned to "
                  r"sender$" % (qid, re.escape(DEMO)))
    inst.wait_log(r"qmgr\[\d+\]: %s: sender non-delivery notification: "
                  r"\w+$" % qid)
    inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % qid)
    n = wait_for(lambda: notices(inst), "the bounce")
    blocks = n[0].get_payload()[1].get_payload()
    assert blocks[1]["Action"] == "failed"
    assert blocks[1]["Status"] == "4.3.0"
    assert "mail transport unavailable" in blocks[1]["Diagnostic-Code"]
    # Only after an attempt: every attempt before the last deferred.
    assert re.search(r"%s: to=<far@remote\.test>.*status=deferred" % qid,
                     inst.log())


def test_clock_stepped_back_file_is_due(inst_stopped):
    """A next-attempt time further ahead than maximal_backoff_time (a
    clock that went back) counts as due."""
    inst = inst_stopped
    start(inst, minimal_backoff_time="1s", maximal_backoff_time="5s")
    qid = send_mail(inst, "ann@example.org", ["far@remote.test"], body("t"))
    wait_queue_name(inst, qid, "deferred")
    loads = lambda: len(re.findall(r"%s: from=<.*\(queue active\)" % qid,
                                   inst.log()))
    n0 = loads()
    # As if written by a clock a day ahead of the one we have now.
    later = time.time() + 86400
    os.utime(qfile(inst, "deferred", qid), (later, later))
    wait_for(lambda: loads() > n0, "an attempt despite the far mtime")
    # A next attempt within the maximum is respected.
    wait_queue_name(inst, qid, "deferred")
    inst.mailctl("queue", "hold", qid)
    inst.mailctl("queue", "release", qid)
    wait_for(lambda: loads() > n0 + 1, "the released attempt")
    wait_queue_name(inst, qid, "deferred")
    n1 = loads()
    soon = time.time() + 4
    os.utime(qfile(inst, "deferred", qid), (soon, soon))
    time.sleep(2)
    assert loads() == n1


# -- scheduling limits -----------------------------------------------------

def test_concurrency_and_recipient_limits(inst_stopped):
    inst = inst_stopped
    set_transport(inst, "one.test fake:\ntwo.test fake:\n")
    start(inst, default_destination_concurrency_limit="2",
          default_destination_recipient_limit="2")
    agent = FakeAgent(inst, "fake", statuses("sent", "2.0.0", "ok"))
    agent.gate.clear()
    try:
        ids = [send_mail(inst, "ann@example.org", ["m%d@one.test" % i],
                         body("c%d" % i)) for i in range(5)]
        # Two at a time for one.test, whatever the queue holds.
        wait_for(lambda: len(agent.requests) == 2, "two requests")
        other = send_mail(inst, "ann@example.org",
                          ["a@two.test", "b@two.test", "c@two.test"],
                          body("split"))
        # two.test is another destination: not blocked by one.test; its
        # three recipients come in requests of at most two.
        wait_for(lambda: len(agent.requests) == 4, "two.test's requests")
        time.sleep(1)
        assert len(agent.requests) == 4
        two = [r for r in agent.requests if r["queue_id"] == other]
        assert sorted(len(r["rcpts"]) for r in two) == [1, 2]
        agent.gate.set()
        for q in ids + [other]:
            inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % q)
        assert len(agent.requests) == 7
    finally:
        agent.close()


def test_active_queue_limit(inst_stopped):
    inst = inst_stopped
    set_transport(inst, "one.test fake:\n")
    start(inst, qmgr_message_active_limit="2")
    agent = FakeAgent(inst, "fake", statuses("sent", "2.0.0", "ok"))
    agent.gate.clear()
    try:
        ids = [send_mail(inst, "ann@example.org", ["m%d@one.test" % i],
                         body("a%d" % i)) for i in range(5)]
        wait_for(lambda: len(agent.requests) == 2, "two requests")
        time.sleep(1)
        names = [m["queue_name"] for m in inst.mailq(json_=True)]
        assert names.count("active") == 2 and names.count("incoming") == 3
        agent.gate.set()
        for q in ids:
            inst.wait_log(r"qmgr\[\d+\]: %s: removed$" % q)
    finally:
        agent.close()


def test_forced_expiry(inst_stopped):
    """mailctl queue expire (postsuper -e): mailq shows '#', a held
    message keeps waiting marked, and the next attempt returns it to
    the sender."""
    inst = inst_stopped
    start(inst, minimal_backoff_time="1h", maximal_backoff_time="2h")
    qid = send_mail(inst, DEMO, ["far@remote.test"], body("give up"))
    wait_queue_name(inst, qid, "deferred")
    assert inst.mailctl("queue", "hold", qid).returncode == 0
    wait_queue_name(inst, qid, "hold")
    out = inst.mailctl("queue", "expire", qid).stdout.decode()
    assert out == "%s: 1 message marked to expire at the next attempt\n" \
        % qid, out
    inst.wait_log(r"qmgr\[\d+\]: %s: forced to expire$" % qid)
    assert re.search(r"^%s!#\s+\d+ " % qid, inst.mailq(), re.M), inst.mailq()
    e = entry(inst, qid)
    assert e["forced_expire"] is True and e["queue_name"] == "hold"
    # Held: no attempt, so no bounce yet.
    time.sleep(1.5)
    assert notices(inst) == []
    assert inst.mailctl("queue", "release", qid).returncode == 0
    inst.wait_log(r"qmgr\[\d+\]: %s: from=<%s>, status=expired, returned to "
                  r"sender$" % (qid, re.escape(DEMO)))
    wait_gone(inst, qid)
    n = wait_for(lambda: notices(inst), "the bounce")
    assert n[0].get_payload()[1].get_payload()[1]["Action"] == "failed"
    # A deferred message marked to expire is tried (and returned) at once.
    qid2 = send_mail(inst, DEMO, ["far2@remote.test"], body("also"))
    wait_queue_name(inst, qid2, "deferred")
    assert inst.mailctl("queue", "expire", qid2).returncode == 0
    inst.wait_log(r"qmgr\[\d+\]: %s: from=<%s>, status=expired, returned to "
                  r"sender$" % (qid2, re.escape(DEMO)))
    wait_gone(inst, qid2)
