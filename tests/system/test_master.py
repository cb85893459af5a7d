"""
master: children killed with -9 are replaced; a master killed with -9
leaves no child listening (and the instance starts again); `reload`
after editing master.cf (and main.cf) changes the running services
while sessions in progress finish; `stop` leaves no process; a second
`start` is refused.
"""
import os
import re
import signal
import socket
import subprocess

from conftest import (BIN, RawSMTP, port_free, port_open, procs_mentioning,
                      queued_id, send_mail, wait_for)

DEMO = "demo@example.test"


def svc_name(port):
    return "127.0.0.1:%d" % port


def gone(pid):
    """pid has exited (a zombie waiting for its reaper counts)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def services(inst):
    return {name for _, name, _ in inst.children()}


def test_kill9_each_child_is_replaced(inst):
    names = set(inst.services())
    assert {svc_name(inst.smtp_port), svc_name(inst.submission_port),
            "showq", "anvil"} <= names
    wait_for(lambda: names == services(inst), "every service")
    for name in sorted(names):
        killed = set(inst.pids(name))
        assert killed, name
        inst.expected_kills |= killed
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        for pid in killed:
            inst.wait_log(r"process \S+ pid %d killed by signal 9" % pid)
        try:
            wait_for(lambda: set(inst.pids(name)) - killed,
                     "a fresh %s process" % name)
        except AssertionError as e:
            raise AssertionError("%s; killed %r; log:\n%s" % (
                e, killed, inst.log()[-3000:]))
    # The services work again.
    send_mail(inst, "ann@example.org", [DEMO], "Subject: again\r\n\r\nx\r\n")
    # Submission (587, 465) wants TLS and AUTH: a greeting will do.
    with RawSMTP(inst.submission_port) as c:
        c.greet()
        assert c.cmd("QUIT")[0] == 221
    with RawSMTP(inst.submissions_port, tls=inst.tls_context()) as c:
        c.greet()
        assert c.cmd("QUIT")[0] == 221
    inst.mailq()  # showq


def test_kill9_master_no_child_keeps_listening(rinst):
    inst = rinst
    master = inst.master_pid()
    kids = [pid for pid, _, _ in inst.children()]
    assert kids
    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        os.kill(master, signal.SIGKILL)
        inst.started = False
        # Listeners close at once: nobody accepts a new connection.
        wait_for(lambda: not port_open(inst.smtp_port) and
                 not port_open(inst.submission_port), "listeners closed")
        # The session in progress is served to its end.
        c.send("MAIL FROM:<ann@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % DEMO)
        assert [r[0] for r in c.replies(3)] == [250, 250, 354]
        code, text = c.cmd("Subject: orphan\r\n\r\nx\r\n.")
        assert code == 250, text
        qid = queued_id(text)
        assert c.cmd("QUIT")[0] == 221
    wait_for(lambda: not procs_mentioning(inst.root), "every child to exit")
    wait_for(lambda: all(gone(pid) for pid in kids), "every child gone")
    # A stale pid file and sockets do not stop a new start.
    inst.start()
    assert qid in inst.queue_ids()


def test_stop_leaves_no_process(inst):
    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        kids = [pid for pid, _, _ in inst.children()]
        inst.stop()
        assert not procs_mentioning(inst.root)
        assert c.closed()
    wait_for(lambda: all(gone(pid) for pid in kids), "every child gone")
    assert port_free(inst.smtp_port) and port_free(inst.submission_port)
    assert not os.path.exists(os.path.join(inst.queue, "public", "showq"))
    inst.wait_log(r"facteur/master\[\d+\]: stopped$")
    p = inst.mailctl("stop", check=False)
    assert p.returncode == 1 and b"not running" in p.stderr


def test_second_start_refused(inst):
    master = inst.master_pid()
    p = inst.mailctl("start", check=False)
    assert p.returncode != 0
    assert b"already running (pid %d)" % master in p.stderr, p.stderr
    # master itself refuses too (the lock under pid/).
    env = inst.env()
    p = subprocess.run([os.path.join(BIN, "master"), "-c", inst.etc],
                       capture_output=True, env=env, timeout=60)
    assert p.returncode != 0
    assert b"already running" in p.stderr, p.stderr
    assert inst.master_pid() == master
    # The running system is untouched.
    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        assert c.cmd("QUIT")[0] == 221


def test_status(inst):
    p = inst.mailctl("status")
    out = p.stdout.decode()
    assert "master pid %d" % inst.master_pid() in out
    counts = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[3].isdigit():
            counts[f[0]] = (f[1], f[2], int(f[3]))
    assert counts[svc_name(inst.smtp_port)][:2] == ("inet", "smtpd")
    assert counts["showq"][:2] == ("unix", "showq")
    assert counts["anvil"] == ("unix", "anvil", 1)
    # Counts move as sessions come and go: each service has some.
    for name, (_, _, n) in counts.items():
        assert n >= 1, (name, n)
    inst.stop()
    p = inst.mailctl("status", check=False)
    assert p.returncode == 3
    assert b"not running" in p.stdout


def test_reload_changes_services(rinst):
    inst = rinst
    new_port = inst.base + 26
    assert port_free(new_port)
    # A session that spans the reload.
    old = RawSMTP(inst.smtp_port)
    old.greet()
    old_pid = inst.master_pid()

    inst.remove_services(svc_name(inst.submission_port))  # with its -o lines
    text = inst.master_cf()
    lines = []
    for line in text.splitlines():
        if line.startswith(svc_name(inst.smtp_port) + " "):
            line += " -o smtpd_banner=changed.example"
        lines.append(line)
    lines.append("%s inet n - n - 2 smtpd -o smtpd_banner=added.example "
                 "-o smtpd_recipient_limit=1" % svc_name(new_port))
    inst.write_master_cf("\n".join(lines) + "\n")
    inst.set_main(smtpd_banner="$myhostname main.cf banner")
    mark = inst.log_mark()
    inst.reload()
    inst.wait_log(r"master\[\d+\]: reload -- version", since=mark)
    inst.wait_log(r"service %s/inet removed" % re.escape(
        svc_name(inst.submission_port)), since=mark)
    inst.wait_log(r"service %s/inet added" % re.escape(svc_name(new_port)),
                  since=mark)
    assert inst.master_pid() == old_pid

    wait_for(lambda: not port_open(inst.submission_port), "submission closed")

    def greeting(port):
        with RawSMTP(port) as c:
            code, text = c.reply()
            c.cmd("QUIT")
            return text[0]
    assert greeting(new_port) == "added.example"
    wait_for(lambda: greeting(inst.smtp_port) == "changed.example",
             "the new -o banner")
    # The new service's -o applies.
    with RawSMTP(new_port) as c:
        c.greet()
        assert c.cmd("MAIL FROM:<a@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<%s>" % DEMO)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % DEMO)[0] == 452

    # The old session is still served, by its old (retired) process.
    assert old.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert old.cmd("RCPT TO:<%s>" % DEMO)[0] == 250
    assert old.cmd("DATA")[0] == 354
    code, text = old.cmd("Subject: across reload\r\n\r\nx\r\n.")
    assert code == 250
    assert old.cmd("QUIT")[0] == 221
    old.close()
    assert queued_id(text) in inst.queue_ids()

    # A main.cf change alone takes effect with reload too.
    lines = [l for l in inst.master_cf().splitlines()
             if not l.startswith(svc_name(inst.smtp_port) + " ")]
    lines.append("%s inet n - n - - smtpd" % svc_name(inst.smtp_port))
    inst.write_master_cf("\n".join(lines) + "\n")
    inst.reload()
    wait_for(lambda: greeting(inst.smtp_port) == "mail.example.test main.cf banner",
             "the main.cf banner")


def test_reload_with_bad_config_keeps_running(inst):
    with open(os.path.join(inst.etc, "master.cf"), "a") as f:
        f.write("broken line\n")
    p = inst.mailctl("reload", check=False)
    assert p.returncode != 0
    assert b"master.cf:" in p.stderr
    # Sent by hand, master keeps the running configuration.
    mark = inst.log_mark()
    os.kill(inst.master_pid(), signal.SIGHUP)
    inst.wait_log(r"reload: configuration errors: keeping the running "
                  r"configuration", since=mark)
    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        assert c.cmd("QUIT")[0] == 221


def test_failing_service_is_throttled_not_spun(rinst):
    """A child that dies before it is ready, twice in a row, throttles
    its service; the other services go on."""
    inst = rinst
    port = inst.base + 27
    assert port_free(port)
    with open(os.path.join(inst.etc, "master.cf"), "a") as f:
        f.write("%s inet n - n - - smtpd -o users_map=lmdb:%s/nonexistent\n"
                % (svc_name(port), inst.root))
    mark = inst.log_mark()
    inst.reload()
    inst.wait_log(r"warning: \S+/smtpd: bad command startup -- "
                      r"throttling for 60s", since=mark)
    died = [int(p) for p in re.findall(r"smtpd pid (\d+) exit status 1",
                                       inst.log()[mark:])]
    inst.expected_kills |= set(died)
    # Restarted once at once, then throttled.
    assert len(died) == 2, inst.log()[mark:]
    inst.wait_log(r"smtpd\[%d\]: fatal: users_map" % died[0], since=mark)
    # The port is bound (master holds it) but nobody serves it; the rest
    # of the system works.
    assert not inst.pids(svc_name(port))
    send_mail(inst, "ann@example.org", [DEMO], "Subject: still\r\n\r\nok\r\n")
