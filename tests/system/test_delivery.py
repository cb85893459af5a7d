"""
End-to-end delivery (issue 5): mail sent with smtplib goes through smtpd,
qmgr and local into the Maildirs: a user, an alias with three targets, a
+tag address, and a mailbox over its quota (deferred with 4.2.2 or
bounced with 5.2.2 per quota_exceeded_action).
"""
import email
import os
import re
import time

from conftest import send_mail, wait_for
from test_qmgr import (DOMAIN, DEMO, add_aliases, body, entry, maildir,
                       start, wait_gone, wait_maildir)


def add_users(inst, *lines):
    path = os.path.join(inst.etc, "users")
    with open(path, "a") as f:
        for l in lines:
            f.write(l + "\n")
    inst.mailctl("map", "build", path)


def test_user_alias_with_three_targets_and_tag(inst_stopped):
    inst = inst_stopped
    start(inst)
    add_users(inst, "ann@%s" % DOMAIN, "bob@%s" % DOMAIN)
    add_aliases(inst, "team@%s: demo@%s, ann@%s, bob@%s\n"
                % (DOMAIN, DOMAIN, DOMAIN, DOMAIN))
    send_mail(inst, "sender@example.org", [DEMO], body("to a user"))
    send_mail(inst, "sender@example.org", ["team@" + DOMAIN],
              body("to the team"))
    send_mail(inst, "sender@example.org", ["demo+lists@" + DOMAIN],
              body("with a tag"))
    demo = wait_maildir(inst, 3)
    ann = wait_maildir(inst, 1, "ann")
    bob = wait_maildir(inst, 1, "bob")
    subjects = sorted(email.message_from_bytes(raw)["Subject"]
                      for _, raw in demo)
    assert subjects == ["to a user", "to the team", "with a tag"]
    for box in (ann, bob):
        assert len(box) == 1
        msg = email.message_from_bytes(box[0][1])
        assert msg["Subject"] == "to the team"
        assert msg["Return-Path"] == "<sender@example.org>"
    tagged = [email.message_from_bytes(raw) for _, raw in demo
              if b"with a tag" in raw][0]
    assert tagged["Delivered-To"] == "demo+lists@" + DOMAIN
    # Maildir files use LF line ends; the queue keeps CRLF.
    assert b"\r\n" not in demo[0][1]
    inst.wait_log(r"local\[\d+\]: \w+: to=<ann@%s>, orig_to=<team@%s>, "
                  r"relay=local, .*status=sent \(delivered to maildir\)"
                  % (re.escape(DOMAIN), re.escape(DOMAIN)))


def test_over_quota_defers_then_bounces(inst_stopped):
    inst = inst_stopped
    start(inst)
    add_users(inst, "tiny@%s quota=1k" % DOMAIN)
    big = body("big") + "x" * 4000 + "\r\n"
    qid = send_mail(inst, DEMO, ["tiny@" + DOMAIN], big)
    # Default quota_exceeded_action = defer: 4.2.2, the reason in mailq.
    e = wait_for(lambda: (entry(inst, qid) or {}).get("queue_name")
                 == "deferred" and entry(inst, qid), "the deferral")
    assert "4.2.2" in inst.log() or "quota" in \
        e["recipients"][0].get("delay_reason", "")
    inst.wait_log(r"local\[\d+\]: %s: to=<tiny@%s>, .*dsn=4\.2\.2, "
                  r"status=deferred" % (qid, re.escape(DOMAIN)))
    assert maildir(inst, "tiny") == []
    # With bounce: 5.2.2 and a notice back to the sender (demo).
    inst.set_main(quota_exceeded_action="bounce")
    inst.reload()
    inst.wait_log(r"reload")
    inst.mailctl("flush")
    inst.wait_log(r"local\[\d+\]: %s: to=<tiny@%s>, .*dsn=5\.2\.2, "
                  r"status=bounced" % (qid, re.escape(DOMAIN)))
    wait_gone(inst, qid)
    notices = wait_for(lambda: [m for _, m in maildir(inst)
                                if b"From: MAILER-DAEMON@" in m],
                       "the bounce")
    report = email.message_from_bytes(notices[0])
    status = report.get_payload()[1].get_payload()[1]
    assert status["Status"] == "5.2.2"
    assert status["Action"] == "failed"


def reuse_names(inst):
    """Queue ids of the files kept in reuse/ (named G-ID)."""
    return sorted(n.split("-", 1)[1]
                  for n in os.listdir(os.path.join(inst.queue, "reuse"))
                  if re.match(r"\d+-\w+$", n))


def reuse_path(inst, qid):
    d = os.path.join(inst.queue, "reuse")
    return [os.path.join(d, n) for n in os.listdir(d)
            if n.endswith("-" + qid)][0]


def test_queue_files_are_reused(inst_stopped):
    """A delivered message's file is kept in reuse/ and the next message
    is written into it (same inode, new id); what the next message's
    recipient gets is exactly that message.  A longer message first, so
    that a left-over tail would show.  queue_file_reuse_limit = 0 turns
    it off."""
    inst = inst_stopped
    start(inst)
    long_body = body("the long one") + "x" * 3000 + "\r\n"
    first = send_mail(inst, "sender@example.org", [DEMO], long_body)
    wait_gone(inst, first)
    kept = wait_for(lambda: reuse_names(inst), "a file in reuse/")
    assert kept == [first]
    ino = os.stat(reuse_path(inst, first)).st_ino
    time.sleep(0.3)  # past smtpd's wait after it found reuse/ empty
    second = send_mail(inst, "other@example.org", [DEMO], body("short"))
    assert second != first
    wait_gone(inst, second)
    box = wait_maildir(inst, 2)
    short = [raw for _, raw in box if b"Subject: short" in raw]
    assert len(short) == 1
    msg = email.message_from_bytes(short[0])
    assert msg["Return-Path"] == "<other@example.org>"
    assert msg.get_payload() == "Hello.\n"
    assert b"xxx" not in short[0]
    # The second message lived in the first one's file, now kept again.
    kept = wait_for(lambda: reuse_names(inst), "a file in reuse/")
    assert kept == [second]
    assert os.stat(reuse_path(inst, second)).st_ino == ino
    inst.wait_log(r"qmgr\[\d+\]: %s: removed" % second)

    # Off: finished files are removed.
    inst.set_main(queue_file_reuse_limit="0")
    inst.reload()
    inst.wait_log(r"reload")
    time.sleep(0.3)
    third = send_mail(inst, "sender@example.org", [DEMO], body("third"))
    wait_gone(inst, third)
    wait_maildir(inst, 3)
    assert reuse_names(inst) == []
