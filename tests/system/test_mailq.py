"""
mailq: Postfix's text ("Mail queue is empty", "-- N Kbytes in M
Requests.", MAILER-DAEMON for the null sender) and --json; any local
user may run it while the queue folders stay 0700; a clear error when
the system is not running.
"""
import json
import os
import re
import subprocess

import pytest

from conftest import BIN, RawSMTP, queued_id, send_mail

DEMO = "demo@example.test"


def as_nobody(inst, *args):
    return subprocess.run(["runuser", "-u", "nobody", "--",
                           os.path.join(BIN, "mailq"), "-c", inst.etc] + list(args),
                          capture_output=True, env=inst.env(), timeout=60)


def test_listing(rinst):
    inst = rinst
    assert inst.mailq() == "Mail queue is empty\n"
    assert inst.mailq(json_=True) == []

    a = send_mail(inst, "ann@example.org", [DEMO], "Subject: a\r\n\r\n" + "x" * 3000 + "\r\n")
    text = inst.mailq()
    assert text.endswith("\n-- %d Kbytes in 1 Request.\n" % (
        inst.mailq(json_=True)[0]["message_size"] // 1024)), text

    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        c.send("MAIL FROM:<>\r\nRCPT TO:<%s>\r\nRCPT TO:<postmaster@example.test>\r\n"
               "DATA\r\n" % DEMO)
        assert [r[0] for r in c.replies(4)] == [250, 250, 250, 354]
        code, t = c.cmd("Subject: bounce\r\n\r\n" + "y" * 2000 + "\r\n.")
        assert code == 250
        b = queued_id(t)
    cid = send_mail(inst, "carol@example.org", ["x@other.example"], "Subject: c\r\n\r\nc\r\n")

    js = inst.mailq(json_=True)
    assert [m["queue_id"] for m in js] == sorted([a, b, cid])
    total = sum(m["message_size"] for m in js)
    text = inst.mailq()
    assert text.startswith("----Queue ID----- --Size-- ---Arrival Time---- "
                           "--Sender/Recipient------\n"), text
    assert text.endswith("\n-- %d Kbytes in 3 Requests.\n" % (total // 1024)), text
    sizes = {m["queue_id"]: m["message_size"] for m in js}
    assert re.search(r"^%s +%d \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d MAILER-DAEMON\n"
                     r" +%s\n +postmaster@example\.test\n" % (b, sizes[b], DEMO),
                     text, re.M), text
    assert re.search(r"^%s +%d .* carol@example\.org\n +x@other\.example\n" % (
        cid, sizes[cid]), text, re.M), text

    byid = {m["queue_id"]: m for m in js}
    assert byid[b]["sender"] == ""
    assert byid[b]["queue_name"] == "incoming"
    assert [r["address"] for r in byid[b]["recipients"]] == [DEMO, "postmaster@example.test"]
    assert all(r["orig_address"] == r["address"] for r in byid[b]["recipients"])
    # The sizes are what `queue show` prints.
    for qid, size in sizes.items():
        assert len(inst.queue_show(qid)) == size

    # Any local user: the same listing through public/showq.
    p = as_nobody(inst)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == text
    p = as_nobody(inst, "--json")
    assert p.returncode == 0, p.stderr
    assert [json.loads(l) for l in p.stdout.decode().splitlines()] == js
    # ... while the queue itself stays closed to that user.
    p = subprocess.run(["runuser", "-u", "nobody", "--", "ls",
                        os.path.join(inst.queue, "incoming")], capture_output=True)
    assert p.returncode != 0
    p = subprocess.run(["runuser", "-u", "nobody", "--",
                        os.path.join(BIN, "mailctl"), "-c", inst.etc, "queue",
                        "show", a], capture_output=True, env=inst.env())
    assert p.returncode != 0


def test_not_running(inst_stopped):
    p = inst_stopped.run("mailq", "-c", inst_stopped.etc, check=False)
    assert p.returncode == 1
    assert b"cannot reach the showq service" in p.stderr
    assert b"is the mail system running?" in p.stderr


def test_queue_show_unknown(inst_stopped):
    for bad in ["nosuchid", "1234", "../../etc/passwd", ""]:
        p = inst_stopped.mailctl("queue", "show", bad, check=False)
        assert p.returncode != 0, bad
        assert p.stdout == b"", bad
