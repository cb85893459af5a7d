"""
Message content over raw sockets: DATA dot-stuffing undone, long lines
and 8-bit bytes kept, SMTP smuggling (every lone-CR/LF end-of-data
look-alike followed by a second "MAIL FROM" gives one message, never
two), BDAT/CHUNKING (chunks, LAST, bare LF, pipelined), and
smtpd_forbid_bare_newline = reject (set with -o on the submission
service only, so that master.cf overrides are covered too).
"""
import os
import re
import socket

import pytest

from conftest import RawSMTP, queued_id, wait_for

DEMO = "demo@example.test"


def setup_reject_on_submission(inst):
    """The submission port as a plain smtpd (no STARTTLS or AUTH
    required: these tests speak in clear) that rejects bare newlines."""
    port = "127.0.0.1:%d" % inst.submission_port
    inst.remove_services(port)
    inst.write_master_cf(inst.master_cf() +
                         "%s inet n - n - - smtpd "
                         "-o smtpd_forbid_bare_newline=reject\n" % port)


SETUP = setup_reject_on_submission


def open_txn(c, sender="ann@example.org", rcpt=DEMO):
    c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, rcpt))
    r = c.replies(3)
    assert [x[0] for x in r] == [250, 250, 354], r


def data_message(inst, raw, port=None):
    """Send raw bytes after DATA (they must hold the end); returns the
    final reply."""
    with RawSMTP(port or inst.smtp_port) as c:
        c.greet()
        open_txn(c)
        c.send(raw)
        code, text = c.reply()
        assert c.cmd("QUIT")[0] == 221
        return code, text


def stored(inst, qid):
    """The content as queued, without our Received: header."""
    content = inst.queue_show(qid)
    assert content.startswith(b"Received: ")
    # The header ends at the first line that does not start with a tab.
    m = re.match(rb"Received: [^\r]*\r\n(\t[^\r]*\r\n)*", content)
    return content[m.end():]


def test_dot_stuffing_undone(minst):
    raw = (b"Subject: dots\r\n\r\n..one dot\r\n...two dots\r\n.\tx\r\n"
           b"a.b\r\n..\r\n.\r\n")
    code, text = data_message(minst, raw)
    assert code == 250, text
    assert stored(minst, queued_id(text)) == (
        b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n\tx\r\na.b\r\n.\r\n")


def test_empty_message(minst):
    code, text = data_message(minst, b".\r\n")
    assert code == 250, text
    assert stored(minst, queued_id(text)) == b""


def test_long_lines_and_8bit_kept(minst):
    long_line = b"x" * 998 + b"y" * 5000
    body = (b"Subject: long\r\n\r\n" + long_line + b"\r\n" +
            "caf\u00e9 \u65e5\u672c".encode() + b"\x00\xff\x80\r\n")
    code, text = data_message(minst, body + b".\r\n")
    assert code == 250, text
    assert stored(minst, queued_id(text)) == body


# Each of these, inside DATA, looks like an end of data to some server;
# to us it is content.  The bytes that follow try to smuggle a second
# message in.
SMUGGLE = [b"\n.\r\n", b"\r\n.\n", b"\n.\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n"]


@pytest.mark.parametrize("seq", SMUGGLE, ids=lambda s: repr(s)[2:-1])
@pytest.mark.parametrize("split", [False, True], ids=["one-write", "bytewise"])
def test_smuggling_one_message(minst, seq, split):
    before = set(minst.queue_ids())
    smuggled = (b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nevil\r\n" % DEMO.encode())
    raw = b"Subject: outer\r\n\r\nbody" + seq + smuggled + b".\r\n"
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        open_txn(c)
        if split:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = raw.index(seq)
            c.send(raw[:head])
            for i in range(head, head + len(seq) + 12):
                c.send(raw[i:i + 1])
            c.send(raw[head + len(seq) + 12:])
        else:
            c.send(raw)
        code, text = c.reply()
        assert code == 250, text
        qid = queued_id(text)
        # The next thing the server says answers our own QUIT.
        code, text = c.cmd("QUIT")
        assert code == 221, text
    after = set(minst.queue_ids())
    assert after - before == {qid}
    content = stored(minst, qid)
    assert b"MAIL FROM:<evil@example.org>\r\n" in content
    assert content.startswith(b"Subject: outer\r\n\r\nbody")
    # Bare CR and LF are stored as CRLF (normalize, the default).
    assert re.search(rb"[^\r]\n|\r[^\n]", content) is None, content


def test_smuggling_rejected_on_reject_service(minst):
    """With smtpd_forbid_bare_newline = reject the same attempt is one
    refused message, and the session goes on."""
    before = set(minst.queue_ids())
    for seq in SMUGGLE:
        with RawSMTP(minst.submission_port) as c:
            c.greet()
            open_txn(c)
            c.send(b"Subject: outer\r\n\r\nbody" + seq +
                   b"MAIL FROM:<evil@example.org>\r\n.\r\n")
            code, text = c.reply()
            assert code == 550 and text[0].startswith("5.5.2 "), (seq, text)
            assert "bare <CR> or <LF>" in text[0]
            open_txn(c)
            c.send(b"Subject: clean\r\n\r\nok\r\n.\r\n")
            code, text = c.reply()
            assert code == 250, text
            assert c.cmd("QUIT")[0] == 221
    assert len(set(minst.queue_ids()) - before) == len(SMUGGLE)
    minst.wait_log(r"NOQUEUE: reject: DATA from unknown\[127\.0\.0\.1\]: 550 "
                   r"5\.5\.2 Error: bare <CR> or <LF> received")


def test_bare_lf_normalized_on_default_service(minst):
    code, text = data_message(minst, b"Subject: lf\n\nline\nnext\r\n.\r\n")
    assert code == 250, text
    assert stored(minst, queued_id(text)) == b"Subject: lf\r\n\r\nline\r\nnext\r\n"


def bdat_session(port):
    c = RawSMTP(port)
    lines = c.greet()
    assert "CHUNKING" in lines
    c.send("MAIL FROM:<ann@example.org>\r\nRCPT TO:<%s>\r\n" % DEMO)
    assert [x[0] for x in c.replies(2)] == [250, 250]
    return c


def test_bdat_chunks(minst):
    parts = [b"Subject: chunks\r\n\r\nfirst ", b"second\r\n.\r\nMAIL FROM:<x@y>\r",
             b"\nthird line ", b"x" * 3000 + b"\r\n"]
    with bdat_session(minst.smtp_port) as c:
        for p in parts[:-1]:
            c.send(b"BDAT %d\r\n" % len(p) + p)
            code, text = c.reply()
            assert code == 250 and text[0] == "2.0.0 Ok: %d octets" % len(p), text
        c.send(b"BDAT %d LAST\r\n" % len(parts[-1]) + parts[-1])
        code, text = c.reply()
        assert code == 250, text
        qid = queued_id(text)
        assert c.cmd("QUIT")[0] == 221
    assert stored(minst, qid) == b"".join(parts)


def test_bdat_pipelined_in_one_write(minst):
    body = b"Subject: one write\r\n\r\nall at once\r\n"
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        c.send(b"MAIL FROM:<ann@example.org>\r\nRCPT TO:<%s>\r\n"
               b"BDAT 10\r\n%sBDAT %d LAST\r\n%sNOOP\r\n" % (
                   DEMO.encode(), body[:10], len(body) - 10, body[10:]))
        r = c.replies(5)
        assert [x[0] for x in r] == [250, 250, 250, 250, 250], r
        qid = queued_id(r[3][1])
        assert c.cmd("QUIT")[0] == 221
    assert stored(minst, qid) == body


def test_bdat_bare_lf_and_zero_last(minst):
    with bdat_session(minst.smtp_port) as c:
        chunk = b"Subject: bare\n\nline one\nline two\n"
        c.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        assert c.reply()[0] == 250
        c.send(b"BDAT 0 LAST\r\n")
        code, text = c.reply()
        assert code == 250, text
        qid = queued_id(text)
        assert c.cmd("QUIT")[0] == 221
    # Normalised to CRLF; BDAT never unstuffs or ends at a dot.
    assert stored(minst, qid) == b"Subject: bare\r\n\r\nline one\r\nline two\r\n"


def test_bdat_bare_lf_rejected_on_reject_service(minst):
    with bdat_session(minst.submission_port) as c:
        chunk = b"Subject: bare\n\nline\n"
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        code, text = c.reply()
        assert code == 550 and text[0].startswith("5.5.2 "), text
        assert c.cmd("QUIT")[0] == 221


def test_bdat_out_of_sequence(minst):
    # BDAT without a recipient: refused and closed (RFC 3030 §2: the
    # chunk cannot be told from commands once refused).
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        c.send(b"MAIL FROM:<ann@example.org>\r\nBDAT 4 LAST\r\nQUIT")
        assert c.reply()[0] == 250
        code, text = c.reply()
        assert code == 503 and text[0].startswith("5.5.1 "), text
        assert c.closed()
    # DATA after BDAT in one transaction.
    with bdat_session(minst.smtp_port) as c:
        c.send(b"BDAT 3\r\nabc")
        assert c.reply()[0] == 250
        code, text = c.cmd("DATA")
        assert code == 503, text
        # A bad BDAT argument: the byte count is unknown: closed.
        code, text = c.cmd("BDAT x LAST")
        assert code == 501, text
        assert c.closed()


def tmp_files(inst):
    return os.listdir(os.path.join(inst.queue, "tmp"))


def test_no_partial_file_left(minst):
    """A message that is refused or cut off leaves nothing in tmp/ and
    nothing in the queue."""
    before = set(minst.queue_ids())
    # The client goes away in the middle of DATA.
    c = RawSMTP(minst.smtp_port)
    c.greet()
    open_txn(c)
    c.send(b"Subject: cut\r\n\r\npartial line")
    c.close()
    # Refused at the end: bare LF under reject, and a BDAT sequence
    # broken off by RSET.
    with RawSMTP(minst.submission_port) as c:
        c.greet()
        open_txn(c)
        c.send(b"Subject: bare\n\nx\r\n.\r\n")
        assert c.reply()[0] == 550
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<%s>\r\nBDAT 5\r\n"
               b"abcdeRSET\r\n" % DEMO.encode())
        assert [r[0] for r in c.replies(4)] == [250, 250, 250, 250]
        assert c.cmd("QUIT")[0] == 221
    minst.wait_log(r"lost connection after DATA from unknown\[127\.0\.0\.1\]")
    wait_for(lambda: not tmp_files(minst), "tmp/ to be empty")
    assert set(minst.queue_ids()) == before
