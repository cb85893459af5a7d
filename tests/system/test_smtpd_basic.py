"""
smtpd basics on one shared instance: a message sent with smtplib or
swaks is listed by mailq (text and --json) with the right sender,
recipients and size, `mailctl queue show` returns it byte for byte, the
log has its lines; pipelining; recipients (unknown refused, +tag
accepted, relaying allowed from mynetworks); VRFY; enhanced status codes
on every reply that must carry one.
"""
import re

from conftest import RawSMTP, queued_id, send_mail, swaks

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN

# RFC 2034 §3: every 2xx, 4xx and 5xx reply but the greeting and the
# HELO/EHLO replies starts with a status code of the same class.
ENHANCED = re.compile(r"^([245])\.\d{1,3}\.\d{1,3} ")


def entry(inst, qid):
    for m in inst.mailq(json_=True):
        if m["queue_id"] == qid:
            return m
    raise AssertionError("%s not listed by mailq --json" % qid)


def test_smtplib_message_listed_and_shown_byte_for_byte(minst):
    body = ("From: Ann <ann@example.org>\r\nTo: demo <%s>\r\n"
            "Subject: listed\r\n\r\nline one\r\nline two\r\n" % DEMO)
    rcpts = [DEMO, "postmaster@" + DOMAIN]
    qid = send_mail(minst, "ann@example.org", rcpts, body)

    content = minst.queue_show(qid)
    # Our Received: header first, then exactly the bytes sent.
    assert content.startswith(b"Received: from client.example.org ")
    assert content.endswith(body.encode())
    head = content[:-len(body)]
    assert re.search(rb"\tby mail\.example\.test \(facteur\) with ESMTP id "
                     + qid.encode(), head)
    assert head.endswith(b"\r\n")

    m = entry(minst, qid)
    assert m["queue_name"] == "incoming"
    assert m["sender"] == "ann@example.org"
    assert [r["address"] for r in m["recipients"]] == rcpts
    assert m["message_size"] == len(content)
    assert isinstance(m["arrival_time"], int)

    text = minst.mailq()
    # postqueue -p: id, size, date, sender; then one recipient a line.
    rx = re.compile(r"^%s\s+(\d+) \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d "
                    r"ann@example\.org\n\s+%s\n\s+%s\n" % (
                        qid, re.escape(rcpts[0]), re.escape(rcpts[1])), re.M)
    found = rx.search(text)
    assert found, text
    assert int(found.group(1)) == len(content)

    env = minst.queue_show(qid, content=False).decode()
    assert "sender: ann@example.org\n" in env
    assert "recipient: %s\n" % DEMO in env
    assert "message_size: %d\n" % len(content) in env

    # The log: Postfix's lines, queue id first.
    minst.wait_log(r"smtpd\[\d+\]: %s: client=unknown\[127\.0\.0\.1\]$" % qid)
    minst.wait_log(r"smtpd\[\d+\]: %s: from=<ann@example\.org>, size=%d, "
                   r"nrcpt=2 \(queue incoming\)$" % (qid, len(content)))
    minst.wait_log(r"smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.1\] "
                   r"ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6")


def test_swaks_pipelined_message(minst):
    out = swaks("--server", "127.0.0.1:%d" % minst.smtp_port,
                "--from", "bob@example.org", "--to", DEMO, "--pipeline",
                "--header", "Subject: swaks pipelined")
    # swaks sent MAIL, RCPT and DATA in one group.
    assert re.search(r"^ -> MAIL FROM:<bob@example.org>\n -> RCPT TO:<%s>\n"
                     r" -> DATA\n" % DEMO, out, re.M), out
    qid = queued_id(out)
    m = entry(minst, qid)
    assert m["sender"] == "bob@example.org"
    assert [r["address"] for r in m["recipients"]] == [DEMO]
    content = minst.queue_show(qid)
    assert b"Subject: swaks pipelined\r\n" in content
    assert m["message_size"] == len(content)


def test_swaks_submission_port_needs_tls(minst):
    """The submission port of `mailctl init` wants STARTTLS, then AUTH
    (test_smtpd_auth.py sends through it)."""
    out = swaks("--server", "127.0.0.1:%d" % minst.submission_port,
                "--from", "carol@example.org", "--to", DEMO, check=False)
    assert "530 5.7.0 Must issue a STARTTLS command first" in out, out


def test_pipelining_in_one_write(minst):
    """RFC 2920: a whole group, and a message end followed by the next
    transaction, each in one write; replies in order."""
    with RawSMTP(minst.smtp_port) as c:
        lines = c.greet()
        assert "PIPELINING" in lines
        c.send("MAIL FROM:<p1@example.org>\r\nRCPT TO:<%s>\r\n"
               "RCPT TO:<nobody@%s>\r\nRCPT TO:<postmaster@%s>\r\nDATA\r\n"
               % (DEMO, DOMAIN, DOMAIN))
        r = c.replies(5)
        assert [x[0] for x in r] == [250, 250, 550, 250, 354], r
        c.send("Subject: one\r\n\r\nfirst\r\n.\r\n"
               "MAIL FROM:<p2@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % DEMO)
        r = c.replies(4)
        assert [x[0] for x in r] == [250, 250, 250, 354], r
        first = queued_id(r[0][1])
        c.send("Subject: two\r\n\r\nsecond\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        r = c.replies(4)
        assert [x[0] for x in r] == [250, 250, 250, 221], r
        second = queued_id(r[0][1])
        assert c.closed()
    assert first != second
    a, b = entry(minst, first), entry(minst, second)
    assert a["sender"] == "p1@example.org"
    assert [x["address"] for x in a["recipients"]] == [DEMO, "postmaster@" + DOMAIN]
    assert b["sender"] == "p2@example.org"
    assert minst.queue_show(first).endswith(b"Subject: one\r\n\r\nfirst\r\n")
    assert minst.queue_show(second).endswith(b"Subject: two\r\n\r\nsecond\r\n")


def test_size_refused_before_data(minst):
    with RawSMTP(minst.smtp_port) as c:
        lines = c.greet()
        assert "SIZE 10240000" in lines
        code, text = c.cmd("MAIL FROM:<big@example.org> SIZE=10240001")
        assert code == 552 and text[0].startswith("5.3.4 "), text
        # Nothing started: RCPT has no transaction.
        code, text = c.cmd("RCPT TO:<%s>" % DEMO)
        assert code == 503, text
        code, text = c.cmd("MAIL FROM:<big@example.org> SIZE=10240000")
        assert code == 250, text
        assert c.cmd("QUIT")[0] == 221


def test_smtplib_size_refusal(minst):
    import smtplib
    with minst.smtp() as s:
        s.ehlo()
        assert s.does_esmtp and int(s.esmtp_features["size"]) == 10240000
        code, text = s.mail("big@example.org", ["SIZE=99999999"])
        assert code == 552 and text.startswith(b"5.3.4"), text
        try:
            # smtplib announces SIZE=len(msg) itself: no byte is sent.
            s.sendmail("big@example.org", [DEMO], b"x" * 10240001)
            raise AssertionError("sendmail accepted an oversized message")
        except smtplib.SMTPSenderRefused as e:
            assert e.smtp_code == 552


def test_unknown_user_refused_tag_accepted(minst):
    with minst.smtp() as s:
        s.ehlo()
        assert s.mail("ann@example.org")[0] == 250
        code, text = s.rcpt("nosuchuser@" + DOMAIN)
        assert code == 550 and text.startswith(b"5.1.1 <nosuchuser@example.test>"), text
        code, text = s.rcpt("demo+tag@" + DOMAIN)
        assert code == 250, text
        code, text = s.rcpt("Demo+Other.Tag@EXAMPLE.test")
        assert code == 250, text
        # The tag of an unknown user does not make it known.
        code, text = s.rcpt("nosuchuser+demo@" + DOMAIN)
        assert code == 550, text
        # RFC 5321 §4.1.1.3: <Postmaster> without a domain is accepted.
        code, text = s.rcpt("Postmaster")
        assert code == 250, text
        code, text = s.data(b"Subject: tags\r\n\r\nhi\r\n")
        assert code == 250
        qid = queued_id(text)
    m = entry(minst, qid)
    addrs = [r["address"] for r in m["recipients"]]
    # Kept as sent (Postfix does the same); lookups ignore case.
    assert addrs[:2] == ["demo+tag@" + DOMAIN, "Demo+Other.Tag@EXAMPLE.test"]
    assert len(addrs) == 3
    minst.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 550 "
                   r"5\.1\.1 <nosuchuser@example\.test>: Recipient address "
                   r"rejected: User unknown")


def test_relay_allowed_from_mynetworks(minst):
    # The default mynetworks holds 127.0.0.0/8: loopback may relay.
    qid = send_mail(minst, "ann@example.org", ["someone@other.example"],
                    "Subject: relay\r\n\r\nout\r\n")
    assert [r["address"] for r in entry(minst, qid)["recipients"]] == \
        ["someone@other.example"]


def test_null_sender(minst):
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<>")[0] == 250
        assert c.cmd("RCPT TO:<%s>" % DEMO)[0] == 250
        assert c.cmd("DATA")[0] == 354
        code, text = c.cmd("Subject: bounce\r\n\r\nbounced\r\n.")
        assert code == 250
        qid = queued_id(text)
    assert entry(minst, qid)["sender"] == ""
    text = minst.mailq()
    assert re.search(r"^%s\s+\d+ .* MAILER-DAEMON\n\s+%s$" % (qid, DEMO),
                     text, re.M), text
    minst.wait_log(r"%s: from=<>, size=\d+, nrcpt=1" % qid)


def test_vrfy_off_by_default(minst):
    with RawSMTP(minst.smtp_port) as c:
        lines = c.greet()
        assert "VRFY" not in lines
        for arg in (DEMO, "nosuchuser@" + DOMAIN, "demo"):
            code, text = c.cmd("VRFY " + arg)
            assert code == 252 and text[0].startswith("2.0.0 "), (arg, text)
        assert c.cmd("EXPN staff")[0] == 502


def test_enhanced_status_codes_everywhere(minst):
    """Walk a session through every kind of reply and check each code."""
    seen = []

    def check(code, text):
        seen.append(code)
        if code // 100 in (2, 4, 5):
            m = ENHANCED.match(text[-1])
            assert m and int(m.group(1)) == code // 100, (code, text)

    with RawSMTP(minst.smtp_port) as c:
        code, text = c.reply()
        assert code == 220  # the greeting carries none
        assert c.cmd("HELO client.example.org")[0] == 250
        assert "ENHANCEDSTATUSCODES" in c.cmd("EHLO client.example.org")[1]
        for line in [
                "NOOP", "NOOP anything", "HELP", "RSET", "VRFY demo",
                "EXPN demo", "STARTTLS now", "AUTH", "FOO bar", "MAIL",
                "MAIL FROM:bad address here", "RCPT TO:<%s>" % DEMO, "DATA",
                "MAIL FROM:<a@example.org> BODY=BINARYMIME",
                "MAIL FROM:<a@example.org> FOO=bar",
                "MAIL FROM:<a@example.org> SIZE=99999999999",
                "MAIL FROM:<a@example.org>", "MAIL FROM:<b@example.org>",
                "DATA", "RCPT TO:<nosuch@%s>" % DOMAIN,
                "RCPT TO:<x@other.example>", "RCPT TO:<%s>" % DEMO]:
            check(*c.cmd(line))
        code, text = c.cmd("DATA")
        assert code == 354
        check(*c.cmd("Subject: esc\r\n\r\nx\r\n."))
        check(*c.cmd("QUIT"))
    # A second session: the first used up most of the error allowance.
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        for line in [
                "MAIL FROM:<a@example.org>", "RCPT TO:<bad address>",
                "RCPT TO:<%s> NOTIFY=BOGUS" % DEMO, "RSET 1", "DATA 1",
                "NOOP \0 nul", "NOOP " + "x" * 3000, "QUIT"]:
            check(*c.cmd(line))
    assert {221, 250, 252, 214, 500, 501, 502, 503, 550, 552, 555} <= set(seen), seen


def test_long_command_line(minst):
    """500 5.5.2 for a line past smtpd_command_line_limit; the session
    goes on with the next line."""
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        code, text = c.cmd("NOOP " + "x" * 5000)
        assert code == 500 and text[0].startswith("5.5.2 "), text
        code, text = c.cmd("NOOP")
        assert code == 250, text
        code, text = c.cmd("RCPT TO:<" + "a" * 3000 + "@example.test>")
        assert code == 500, text
        assert c.cmd("QUIT")[0] == 221
