"""
Limits and the replies clients rely on: message size (552 5.3.4 at MAIL
and at the end of DATA/BDAT), recipients (452 4.5.3), errors (421
4.7.0), connections per client (421 4.7.0), the idle timeout (421
4.4.2).
"""
import os

from conftest import RawSMTP, make_instance, finish_instance, wait_for

DEMO = "demo@example.test"

MAIN_CF = {
    "message_size_limit": "4096",
    "smtpd_recipient_limit": "3",
    "smtpd_hard_error_limit": "5",
}


def test_size_limit_at_mail(minst):
    with RawSMTP(minst.smtp_port) as c:
        lines = c.greet()
        assert "SIZE 4096" in lines
        code, text = c.cmd("MAIL FROM:<a@example.org> SIZE=4097")
        assert (code, text[0][:6]) == (552, "5.3.4 "), text
        assert c.cmd("MAIL FROM:<a@example.org> SIZE=4096")[0] == 250
        assert c.cmd("QUIT")[0] == 221


def test_size_limit_at_end_of_data(minst):
    """No SIZE given: the content is read to its end, then refused, and
    the session is still in step."""
    before = minst.queue_ids()
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % DEMO)
        assert [r[0] for r in c.replies(3)] == [250, 250, 354]
        c.send(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 100 + b".\r\n")
        code, text = c.reply()
        assert (code, text[0][:6]) == (552, "5.3.4 "), text
        assert c.cmd("NOOP")[0] == 250
        # BDAT too.
        c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<%s>\r\n" % DEMO)
        assert [r[0] for r in c.replies(2)] == [250, 250]
        c.send(b"BDAT 5000 LAST\r\n" + b"z" * 5000)
        code, text = c.reply()
        assert (code, text[0][:6]) == (552, "5.3.4 "), text
        assert c.cmd("QUIT")[0] == 221
    assert minst.queue_ids() == before


def test_recipient_limit(minst):
    with minst.smtp() as s:
        s.ehlo()
        assert s.mail("a@example.org")[0] == 250
        for i in range(3):
            assert s.rcpt("demo+%d@example.test" % i)[0] == 250
        code, text = s.rcpt("demo+4@example.test")
        assert code == 452 and text.startswith(b"4.5.3 "), text
        code, text = s.data(b"Subject: many\r\n\r\nx\r\n")
        assert code == 250
    # smtplib: the extra recipient is reported as refused.
    with minst.smtp() as s:
        refused = s.sendmail("a@example.org",
                             ["demo+%d@example.test" % i for i in range(5)],
                             b"Subject: many\r\n\r\nx\r\n")
        assert sorted(refused) == ["demo+3@example.test", "demo+4@example.test"]
        assert all(v[0] == 452 for v in refused.values())


def test_hard_error_limit(minst):
    with RawSMTP(minst.smtp_port) as c:
        c.greet()
        for _ in range(4):
            assert c.cmd("BOGUS")[0] == 502
        c.send("BOGUS\r\nNOOP\r\n")
        assert c.reply()[0] == 502
        code, text = c.reply()
        assert code == 421 and text[0].startswith("4.7.0 "), text
        assert c.closed()
    minst.wait_log(r"too many errors after \w+ from unknown\[127\.0\.0\.1\]")


def test_connection_limit_and_idle_timeout(inst_stopped):
    inst = inst_stopped
    inst.receive_only()
    inst.set_main(smtpd_client_connection_count_limit="1",
                  smtpd_timeout="1s")
    inst.start()

    def served():
        with RawSMTP(inst.smtp_port) as c:
            code, _ = c.reply()
            if code == 220:
                c.cmd("QUIT")
            return code == 220
    # start() probed the port: wait until that session is forgotten.
    wait_for(served, "a first session")
    with RawSMTP(inst.smtp_port) as first:
        assert first.reply()[0] == 220
        with RawSMTP(inst.smtp_port) as second:
            code, text = second.reply()
            assert code == 421 and text[0].startswith("4.7.0 "), text
            assert second.closed()
        inst.wait_log(r"Connection concurrency limit exceeded: 2 from "
                      r"unknown\[127\.0\.0\.1\] for service 127\.0\.0\.1:%d"
                      % inst.smtp_port)
        # The first session stays idle: smtpd_timeout ends it.
        code, text = first.reply()
        assert code == 421 and text[0].startswith("4.4.2 "), text
        assert first.closed()
    inst.wait_log(r"timeout after CONNECT from unknown\[127\.0\.0\.1\]")

    # Once the first session is over, a new one is served.
    wait_for(served, "a session after the limit cleared")

    # Idle in the middle of DATA: the same, and no file is left.
    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % DEMO)
        assert [r[0] for r in c.replies(3)] == [250, 250, 354]
        c.send("Subject: stalled\r\n\r\nhalf a line")
        code, text = c.reply()
        assert code == 421 and text[0].startswith("4.4.2 "), text
        assert c.closed()
    inst.wait_log(r"timeout after DATA from unknown\[127\.0\.0\.1\]")
    wait_for(lambda: not os.listdir(os.path.join(inst.queue, "tmp")),
             "tmp/ to be empty")
    assert inst.mailq() == "Mail queue is empty\n"
