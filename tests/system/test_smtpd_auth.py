"""
SMTP AUTH in smtpd (RFC 4954, PLAIN RFC 4616, LOGIN) on the submission
services that `mailctl init` writes (587: STARTTLS required; 465:
implicit TLS; both AUTH before MAIL and smtpd_sender_login_maps =
mailboxes:), with real clients (smtplib, swaks) and a bare socket:
  - smtplib starttls()+login() on 587 and SMTP_SSL on 465 queue a
    message; Received: says ESMTPSA and the cipher; the queue file and
    the log carry sasl_method and sasl_username;
  - AUTH before STARTTLS: 538 5.7.11; MAIL without AUTH: 530 5.7.0;
  - every reply of the exchange: 235, 334, 454, 500 5.5.6, 501 5.5.2,
    501 5.7.0, 503 5.5.1, 504, 535 5.7.8;
  - a wrong password gets 535 and the auth service delays the second and
    later failures; nothing logs the password;
  - authenticated clients relay, others do not;
  - a login may use its own address, its +tags and the aliases that
    lead to it, and nothing else (553 5.7.1);
  - mailctl user add/passwd/disable/del act on the running system
    without a reload;
  - with the auth service stopped or hung: 454 4.7.0, never 535.
Runs as root (the instance's users are real system users).
"""
import base64
import os
import re
import signal
import smtplib

import pytest

from conftest import DEADLINE, RawSMTP, queued_id, swaks, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

ANN, ANN_PW = "ann@example.test", "S3cret pass"
BOB, BOB_PW = "bob@example.test", "bob's pw"
DEMO = "demo@example.test"
# 127.0.0.1 is outside mynetworks: relaying needs AUTH.
MAIN_CF = {"mynetworks": "192.0.2.0/24"}


def add_user(inst, addr, password):
    inst.mailctl("user", "add", addr, "--password-stdin",
                 input=(password + "\n").encode())


def setup_accounts(inst):
    add_user(inst, ANN, ANN_PW)
    add_user(inst, BOB, BOB_PW)
    with open(os.path.join(inst.etc, "aliases"), "a") as f:
        f.write("sales@example.test: ann@example.test, bob@example.test\n"
                "ann-alias@example.test: sales@example.test\n"
                "team: demo@example.test\n")
    inst.mailctl("map", "build", os.path.join(inst.etc, "aliases"))


SETUP = setup_accounts


def plain(authcid, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, authcid, password))
                            .encode()).decode()


def b64(text):
    return base64.b64encode(text.encode()).decode()


def submission(inst, source=None):
    """A bare client on 587 after STARTTLS and EHLO."""
    c = RawSMTP(inst.submission_port, source=source)
    c.greet()
    c.starttls(inst.tls_context())
    code, lines = c.cmd("EHLO client.example.org")
    assert code == 250 and "AUTH PLAIN LOGIN" in lines, lines
    return c


def submissions(inst, source=None):
    """A bare client on 465 (implicit TLS) after EHLO."""
    c = RawSMTP(inst.submissions_port, tls=inst.tls_context(), source=source)
    lines = c.greet()
    assert "AUTH PLAIN LOGIN" in lines, lines
    return c


def test_smtplib_587_starttls_login(minst):
    with smtplib.SMTP("127.0.0.1", minst.submission_port,
                      timeout=DEADLINE) as s:
        s.ehlo("client.example.org")
        assert not s.has_extn("auth")  # not in clear
        s.starttls(context=minst.tls_context())
        s.ehlo("client.example.org")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        assert s.login(ANN, ANN_PW) == (235,
                                        b"2.7.0 Authentication successful")
        cipher = s.sock.cipher()[0]
        s.mail(ANN)
        # Authenticated: relaying is allowed.
        assert s.rcpt("friend@other.example")[0] == 250
        assert s.rcpt(DEMO)[0] == 250
        code, text = s.data("Subject: submitted\r\n\r\nhello\r\n")
        assert code == 250, text
        qid = queued_id(text)
    head = minst.queue_show(qid).decode().split("\r\n\r\n", 1)[0]
    assert re.search(r"\(using TLSv1\.3 with cipher %s \(\d+/\d+ bits\)\)"
                     r"\r\n\tby mail\.example\.test \(facteur\) with ESMTPSA "
                     r"id %s;" % (re.escape(cipher), qid), head), head
    assert ANN not in head.split("by mail.example.test")[0]  # login private
    env = minst.queue_show(qid, content=False).decode()
    assert "named_attribute: protocol=ESMTPSA" in env
    assert "named_attribute: sasl_method=PLAIN" in env
    assert "named_attribute: sasl_username=%s" % ANN in env
    minst.wait_log(r"smtpd\[\d+\]: %s: client=unknown\[127\.0\.0\.1\], "
                   r"sasl_method=PLAIN, sasl_username=%s$" %
                   (qid, re.escape(ANN)))
    minst.wait_log(r"disconnect from unknown\[127\.0\.0\.1\] ehlo=2 "
                   r"starttls=1 auth=1 mail=1 rcpt=2 data=1 quit=1 "
                   r"commands=9$")


def test_smtplib_465_ssl_login(minst):
    with smtplib.SMTP_SSL("127.0.0.1", minst.submissions_port,
                          timeout=DEADLINE,
                          context=minst.tls_context()) as s:
        s.ehlo("client.example.org")
        assert not s.has_extn("starttls")
        s.login(BOB, BOB_PW)  # smtplib picks PLAIN
        s.mail(BOB)
        assert s.rcpt(DEMO)[0] == 250
        code, text = s.data("Subject: implicit\r\n\r\nhello\r\n")
        assert code == 250, text
        qid = queued_id(text)
    assert b" with ESMTPSA id " + qid.encode() in minst.queue_show(qid)
    env = minst.queue_show(qid, content=False).decode()
    assert "named_attribute: sasl_username=%s" % BOB in env


def test_swaks_tls_auth(minst):
    out = swaks("--server", "127.0.0.1:%d" % minst.submission_port, "--tls",
                "--auth", "PLAIN", "--auth-user", ANN, "--auth-password",
                ANN_PW, "--from", ANN, "--to", DEMO)
    assert "235 2.7.0 Authentication successful" in out, out
    qid = queued_id(out)
    out = swaks("--server", "127.0.0.1:%d" % minst.submissions_port,
                "--tlsc", "--auth", "LOGIN", "--auth-user", BOB,
                "--auth-password", BOB_PW, "--from", BOB, "--to", DEMO)
    assert "334 VXNlcm5hbWU6" in out and "334 UGFzc3dvcmQ6" in out, out
    qid2 = queued_id(out)
    env = minst.queue_show(qid2, content=False).decode()
    assert "named_attribute: sasl_method=LOGIN" in env
    assert qid != qid2


def test_auth_before_starttls_is_538(minst):
    with RawSMTP(minst.submission_port) as c:
        lines = c.greet()
        assert not any(l.startswith("AUTH") for l in lines)
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW)) == (
            538, ["5.7.11 Encryption required for requested authentication "
                  "mechanism"])
        assert c.cmd("AUTH LOGIN") == (
            538, ["5.7.11 Encryption required for requested authentication "
                  "mechanism"])
        assert c.cmd("QUIT")[0] == 221
    # Port 25: AUTH is not enabled at all.
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW)) == (
            503, ["5.5.1 Error: authentication not enabled"])
        c.starttls(minst.tls_context())
        lines = c.cmd("EHLO client.example.org")[1]
        assert not any(l.startswith("AUTH") for l in lines)
        assert c.cmd("QUIT")[0] == 221
    assert ANN_PW not in minst.log()


def test_mail_without_auth_is_530(minst):
    for c in (submission(minst), submissions(minst)):
        with c:
            assert c.cmd("MAIL FROM:<%s>" % ANN) == (
                530, ["5.7.0 Authentication required"])
            assert c.cmd("RCPT TO:<%s>" % DEMO)[0] == 503
            assert c.cmd("QUIT")[0] == 221


def test_exchange_replies(minst):
    with submission(minst) as c:
        assert c.cmd("AUTH CRAM-MD5") == (504, ["5.5.4 Unrecognized "
                                                "authentication type"])
        assert c.cmd("AUTH PLAIN not!base64") == (501, [
            "5.5.2 Cannot decode response"])
        # PLAIN without an initial response: an empty challenge.
        assert c.cmd("AUTH PLAIN") == (334, [""])
        assert c.cmd("%%%%") == (501, ["5.5.2 Cannot decode response"])
        assert c.cmd("AUTH PLAIN") == (334, [""])
        assert c.cmd("*") == (501, ["5.7.0 Authentication aborted"])
        # LOGIN step by step.
        assert c.cmd("AUTH LOGIN") == (334, ["VXNlcm5hbWU6"])
        assert c.cmd(b64(ANN)) == (334, ["UGFzc3dvcmQ6"])
        assert c.cmd("*") == (501, ["5.7.0 Authentication aborted"])
        # An over-long response line (RFC 4954 §4 allows 12288).
        assert c.cmd("AUTH LOGIN") == (334, ["VXNlcm5hbWU6"])
        assert c.cmd("A" * 13000) == (500, [
            "5.5.6 Authentication exchange line is too long"])
        # Still in step: the next command works.
        assert c.cmd("NOOP")[0] == 250
        # authzid other than authcid: refused.
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW, authzid=BOB)) == (
            535, ["5.7.8 Authentication credentials invalid (authorization "
                  "identity not permitted)"])
        # LOGIN with the user name as initial response.
        assert c.cmd("AUTH LOGIN " + b64(ANN)) == (334, ["UGFzc3dvcmQ6"])
        assert c.cmd(b64(ANN_PW)) == (235, ["2.7.0 Authentication successful"])
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW)) == (
            503, ["5.5.1 Error: already authenticated"])
        assert c.cmd("MAIL FROM:<%s>" % ANN)[0] == 250
        assert c.cmd("QUIT")[0] == 221
    with submission(minst) as c:
        # "=" is an empty initial response: PLAIN has nothing to go on.
        assert c.cmd("AUTH PLAIN =")[0] == 501
        assert c.cmd("QUIT")[0] == 221
    minst.wait_log(r"warning: unknown\[127\.0\.0\.1\]: SASL PLAIN "
                   r"authentication failed: authorization identity not "
                   r"permitted")


def test_auth_in_transaction_503(minst):
    with submission(minst) as c:
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW))[0] == 235
        assert c.cmd("MAIL FROM:<%s>" % ANN)[0] == 250
        # Still authenticated, and in a transaction.
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW))[0] == 503
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("QUIT")[0] == 221
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<x@other.example>")[0] == 250
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW))[0] == 503
        assert c.cmd("QUIT")[0] == 221


def test_pipelined_mail_waits_for_the_answer(minst):
    """Commands after AUTH are read only once auth has answered."""
    with submissions(minst) as c:
        c.send("AUTH PLAIN %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n" %
               (plain(ANN, ANN_PW), ANN, DEMO))
        assert [r[0] for r in c.replies(3)] == [235, 250, 250]
        assert c.cmd("QUIT")[0] == 221


def test_wrong_password_535_and_delays(minst):
    """The auth service delays the 2nd and later failures; smtpd says
    535 each time and logs the failure without the password."""
    user = "guessed@example.test"
    add_user(minst, user, "the right one")
    src = "127.0.0.2"
    for i in range(3):
        with submission(minst, source=src) as c:
            assert c.cmd("AUTH PLAIN " + plain(user, "guess%d" % i)) == (
                535, ["5.7.8 Error: authentication failed"])
            # Not authenticated: MAIL still refused.
            assert c.cmd("MAIL FROM:<%s>" % user)[0] == 530
            assert c.cmd("QUIT")[0] == 221
    rx = (r"auth\[\d+\]: warning: auth: failed for user=<guessed@example"
          r"\.test> from \[127\.0\.0\.2\], delay (\d+)s \(wrong password, "
          r"service=smtpd\)")
    minst.wait_log(rx)
    delays = [int(d) for d in re.findall(rx, minst.log())]
    assert len(delays) == 3 and delays[0] == 0, delays
    assert all(d > 0 for d in delays[1:]), delays
    minst.wait_log(r"smtpd\[\d+\]: warning: unknown\[127\.0\.0\.2\]: SASL "
                   r"PLAIN authentication failed: authentication failure, "
                   r"sasl_username=guessed@example\.test$")
    minst.wait_log(r"disconnect from unknown\[127\.0\.0\.2\] ehlo=2 "
                   r"starttls=1 auth=0/1 mail=1 quit=1 commands=6$")
    log = minst.log()
    for i in range(3):
        assert "guess%d" % i not in log
        assert plain(user, "guess%d" % i) not in log


def test_relay_needs_auth(minst):
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<%s>" % ANN)[0] == 250
        code, text = c.cmd("RCPT TO:<friend@other.example>")
        assert code == 554 and "Relay access denied" in text[0]
        assert c.cmd("QUIT")[0] == 221
    with submission(minst) as c:
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW))[0] == 235
        assert c.cmd("MAIL FROM:<%s>" % ANN)[0] == 250
        assert c.cmd("RCPT TO:<friend@other.example>")[0] == 250
        # A routing trick is judged as for mynetworks clients: no relay
        # refusal, the plain address decides (here: no such user).
        code, text = c.cmd("RCPT TO:<friend%other.example@example.test>")
        assert code == 550 and "User unknown" in text[0], (code, text)
        assert c.cmd("QUIT")[0] == 221


@pytest.mark.parametrize("sender,ok", [
    (ANN, True),
    ("ANN@Example.Test", True),
    ("ann+lists@example.test", True),
    ("sales@example.test", True),      # an alias that lists ann
    ("ann-alias@example.test", True),  # through another alias
    ("", True),                        # the null sender
    (BOB, False),                      # another user
    (DEMO, False),
    ("team@mail.example.test", False),  # an alias for demo only
    ("postmaster@example.test", False),
    ("ann@other.example", False),      # not ours
    ("nobody@example.test", False),
    ("ann%other.example@example.test", False),
])
def test_sender_login_maps(minst, sender, ok):
    with submission(minst) as c:
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW))[0] == 235
        code, text = c.cmd("MAIL FROM:<%s>" % sender)
        if ok:
            assert code == 250, (sender, code, text)
        else:
            assert (code, text) == (553, [
                "5.7.1 <%s>: Sender address rejected: not owned by user %s"
                % (sender, ANN)]), (sender, code, text)
        assert c.cmd("QUIT")[0] == 221
    if not ok:
        minst.wait_log(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: "
                       r"553 5\.7\.1 <%s>: Sender address rejected: not owned "
                       r"by user ann@example\.test; from=<%s>" %
                       (re.escape(sender), re.escape(sender)))


def login_works(inst, user, pw, src):
    with submission(inst, source=src) as c:
        code, _ = c.cmd("AUTH PLAIN " + plain(user, pw))
        assert c.cmd("QUIT")[0] == 221
    assert code in (235, 535), code
    return code == 235


def test_user_commands_take_effect_without_reload(minst):
    inst, user, src = minst, "carol@example.test", "127.0.0.3"
    master = inst.master_pid()
    mark = inst.log_mark()
    add_user(inst, user, "first pw")
    assert login_works(inst, user, "first pw", src)
    inst.mailctl("user", "passwd", user, "--password-stdin",
                 input=b"second pw\n")
    assert not login_works(inst, user, "first pw", src)
    assert login_works(inst, user, "second pw", src)
    inst.mailctl("user", "disable", user)
    assert not login_works(inst, user, "second pw", src)
    inst.mailctl("user", "enable", user)
    assert login_works(inst, user, "second pw", src)
    inst.mailctl("user", "del", user)
    assert not login_works(inst, user, "second pw", src)
    assert inst.master_pid() == master
    assert "reload" not in inst.log()[mark:]


def auth_pid(inst):
    for pid, name, _ in inst.children():
        if name == "auth/client":
            return pid
    return 0


def test_auth_unavailable_is_454(inst_stopped):
    inst = inst_stopped
    inst.set_main(auth_client_timeout="1s", mynetworks="192.0.2.0/24")
    inst.start()
    add_user(inst, ANN, ANN_PW)
    wait_for(lambda: auth_pid(inst), "auth process")
    with submission(inst) as c:
        assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW))[0] == 235
        assert c.cmd("QUIT")[0] == 221
    # A hung service: smtpd gives up after auth_client_timeout.
    pid = auth_pid(inst)
    os.kill(pid, signal.SIGSTOP)
    try:
        with submission(inst) as c:
            assert c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW)) == (
                454, ["4.7.0 Temporary authentication failure"])
            # Not a login: MAIL is still refused.
            assert c.cmd("MAIL FROM:<%s>" % ANN)[0] == 530
            assert c.cmd("QUIT")[0] == 221
        # A client that leaves while smtpd waits for auth.
        mark = inst.log_mark()
        with submission(inst) as c:
            c.send("AUTH PLAIN %s\r\n" % plain(ANN, ANN_PW))
        inst.wait_log(r"lost connection after \w+ from "
                      r"unknown\[127\.0\.0\.1\]", since=mark)
    finally:
        os.kill(pid, signal.SIGCONT)
    inst.wait_log(r"warning: unknown\[127\.0\.0\.1\]: SASL PLAIN "
                  r"authentication unavailable: .*timed out")
    # No auth service at all.
    text = "".join(l for l in inst.master_cf().splitlines(True)
                   if not l.startswith("auth/client") and
                   "service_user=$auth_owner" not in l)
    inst.write_master_cf(text)
    inst.reload()
    wait_for(lambda: auth_pid(inst) == 0, "auth gone")
    wait_for(lambda: not os.path.exists(
        os.path.join(inst.queue, "auth", "client")), "socket removed")

    def refused():
        with submission(inst) as c:
            code, text = c.cmd("AUTH PLAIN " + plain(ANN, ANN_PW))
            c.cmd("QUIT")
        return (code, text) if code != 235 else None
    # Old smtpd processes may still finish their sessions meanwhile.
    assert wait_for(refused, "454 without auth") == (
        454, ["4.7.0 Temporary authentication failure"])
    assert ANN_PW not in inst.log()
    assert " 535 " not in inst.log()
