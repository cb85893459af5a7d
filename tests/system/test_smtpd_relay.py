"""
The relay battery from a client outside mynetworks (mynetworks is
192.0.2.0/24, so 127.0.0.1 is an outsider): every routing trick in our
own domains and every foreign domain is refused with 554 5.7.1 (or a 5xx
syntax error where the address cannot be parsed), in any letter case,
and nothing is queued; our own users are still accepted.
"""
import pytest

from conftest import RawSMTP, queued_id, swaks

MAIN_CF = {"mynetworks": "192.0.2.0/24"}

DOMAIN = "example.test"

# Each is refused as a relay attempt: 554 5.7.1.
RELAY = [
    "user@other.example",
    "user%other.example@example.test",
    "user%other.example@mail.example.test",
    "other.example!user@example.test",
    "@example.test:user@other.example",
    "@other.example:demo@example.test",
    "@example.test,@mail.example.test:user@other.example",
    '"user@other.example"@example.test',
    '"user%other.example"@example.test',
    '"other.example!user"@example.test',
    "user@other.example.",
    "demo@example.test.",
    "demo@mail.example.test.",
    "demo@[127.0.0.1]",
    "demo@[192.0.2.1]",
    "demo@[IPv6:::1]",
    "postmaster@[127.0.0.1]",
    "user@localhost.other.example",
    "user@example.test.other.example",
]

# Refused as unparsable: any 5xx with a syntax (5.1.3 / 5.5.x) code.
SYNTAX = [
    "user@other.example@example.test",
    "demo@example.test@other.example",
    "user@[other.example]",
    "demo@[tag:whatever]",
    "demo@example.test..",
]


def cases(addrs):
    """Each address as sent, in upper case, and in mixed case."""
    out = []
    for a in addrs:
        out += [a, a.upper(), "".join(
            ch.upper() if i % 2 else ch for i, ch in enumerate(a))]
    return out


def test_battery_refused_nothing_queued(minst):
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<outsider@other.example>")[0] == 250
        refused = 0
        for addr in cases(RELAY):
            code, text = c.cmd("RCPT TO:<%s>" % addr)
            assert code == 554 and text[0].startswith("5.7.1 "), (addr, code, text)
            assert "Relay access denied" in text[0], (addr, text)
            refused += 1
            if refused % 15 == 0:
                # Stay under smtpd_hard_error_limit: a new session.
                assert c.cmd("QUIT")[0] == 221
                c.close()
                c.__init__(minst.smtp_port)
                c.greet()
                assert c.cmd("MAIL FROM:<outsider@other.example>")[0] == 250
        # No recipient was taken: DATA has nobody to send to.
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("QUIT")[0] == 221
    minst.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 554 "
                   r"5\.7\.1 <user%other\.example@example\.test>: Relay "
                   r"access denied; from=<outsider@other\.example> "
                   r"to=<user%other\.example@example\.test>")
    assert minst.mailq() == "Mail queue is empty\n"


def test_unparsable_refused(minst):
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<outsider@other.example>")[0] == 250
        for addr in cases(SYNTAX):
            code, text = c.cmd("RCPT TO:<%s>" % addr)
            assert 500 <= code < 600, (addr, code, text)
            assert text[0].startswith(("5.1.3 ", "5.5.", "5.7.1 ")), (addr, text)
            c.cmd("RSET")
            assert c.cmd("MAIL FROM:<outsider@other.example>")[0] == 250
            if code != 554:
                assert "syntax" in text[0].lower() or "Syntax" in text[0], text
        assert c.cmd("QUIT")[0] == 221


@pytest.mark.parametrize("addr", ["demo@example.test", "DEMO@EXAMPLE.TEST",
                                  "Demo+x@Example.Test", "postmaster@example.test",
                                  "Postmaster", "abuse@example.test"])
def test_own_users_accepted(minst, addr):
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<outsider@other.example>")[0] == 250
        code, text = c.cmd("RCPT TO:<%s>" % addr)
        assert code == 250, (addr, text)
        assert c.cmd("QUIT")[0] == 221


def test_swaks_relay_refused(minst):
    out = swaks("--server", "127.0.0.1:%d" % minst.smtp_port,
                "--from", "outsider@other.example",
                "--to", "user%other.example@example.test", check=False)
    assert "<** 554 5.7.1 <user%other.example@example.test>: Relay access denied" in out, out
    out = swaks("--server", "127.0.0.1:%d" % minst.smtp_port,
                "--from", "outsider@other.example",
                "--to", "victim@other.example", check=False)
    assert "<** 554 5.7.1" in out, out


def test_smtplib_mixed_recipients(minst):
    """Refused recipients do not stop the message for the accepted one."""
    with minst.smtp() as s:
        s.ehlo()
        refused = s.sendmail("outsider@other.example",
                             ["victim@other.example", "demo@example.test",
                              "demo@[127.0.0.1]"],
                             b"Subject: mixed\r\n\r\nhello\r\n")
        assert set(refused) == {"victim@other.example", "demo@[127.0.0.1]"}
        assert all(v[0] == 554 for v in refused.values()), refused
    qs = minst.mailq(json_=True)
    assert len(qs) == 1
    assert [r["address"] for r in qs[0]["recipients"]] == ["demo@example.test"]
    assert qs[0]["sender"] == "outsider@other.example"
