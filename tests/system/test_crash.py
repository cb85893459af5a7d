"""
The crash test (issue 5; DESIGN §2 rules 2 and 3): while N numbered
messages (2000, or 300 under the sanitizer build) are sent by several
SMTP sessions at once and delivered, a killer thread kill -9s a random
live qmgr or local process every 200 ms.  Then the killing stops,
`mailctl flush` retries what was deferred, and once the queue is empty
every Maildir file (new/ and cur/) is read back:
  - every message that got a 250 is in each of its mailboxes at least
    once (the test fails on any loss, with the list of what is missing);
  - more than once is allowed (a repeated delivery of a message in
    flight: DESIGN §2 rule 2) but reported: the duplicate count is
    printed (on the terminal, even under pytest -q), and it must stay
    within what the kills can explain;
  - every file is whole (its last line is the message's end marker);
  - nothing went to corrupt/.
One of the four recipients is an alias with two targets, so that one
request delivers into two mailboxes.  Every qmgr time is one second so
that deferred mail comes back at once.  Waits poll progress: the test
fails only when nothing changes for STALL seconds.  A killed local
leaves its partial file in the Maildir's tmp/ (counted, not an error).
"""
import collections
import os
import random
import re
import signal
import smtplib
import threading
import time

from conftest import DEADLINE, SANITIZE, mailbox_files, wait_for

DOMAIN = "example.test"
# FACTEUR_CRASH_MESSAGES and FACTEUR_CRASH_KILL_MS make it harsher by
# hand (e.g. 10000 and 20); the suite runs it as the issue asks.
N = int(os.environ.get("FACTEUR_CRASH_MESSAGES", 300 if SANITIZE else 2000))
SESSIONS = 10
KILL_EVERY = int(os.environ.get("FACTEUR_CRASH_KILL_MS", 200)) / 1000
STALL = 60.0
USERS = ("demo", "ann", "bob")
RCPTS = ("demo", "ann", "bob", "team")  # team: ann and bob
FAST = dict(queue_run_delay="1s", minimal_backoff_time="1s",
            maximal_backoff_time="1s", transport_retry_time="1s",
            # A process killed twice before it is ready would throttle
            # its service for a minute (master's early-death rule).
            service_throttle_time="1s")
TOKEN = re.compile(rb"^X-Crash-Token: (\d+)$", re.M)


def rcpt_of(i):
    return RCPTS[i % len(RCPTS)]


def mailboxes_of(i):
    r = rcpt_of(i)
    return ("ann", "bob") if r == "team" else (r,)


def message(i):
    # A few hundred bytes to a few KiB, so that files take several
    # writes now and then; the last line tells a whole file.
    lines = "".join("line %d of message %d\r\n" % (k, i)
                    for k in range(random.randrange(4, 120)))
    return ("From: <sender@example.org>\r\nTo: <%s@%s>\r\n"
            "Subject: crash %d\r\nMessage-Id: <crash-%d@example.org>\r\n"
            "X-Crash-Token: %d\r\n\r\n%send of message %d\r\n"
            % (rcpt_of(i), DOMAIN, i, i, i, lines, i))


def configure(inst):
    with open(os.path.join(inst.etc, "users"), "a") as f:
        for u in USERS[1:]:
            f.write("%s@%s quota=0 enabled=yes\n" % (u, DOMAIN))
    inst.mailctl("map", "build", os.path.join(inst.etc, "users"))
    with open(os.path.join(inst.etc, "aliases"), "a") as f:
        f.write("team@%s: ann@%s, bob@%s\n" % (DOMAIN, DOMAIN, DOMAIN))
    inst.mailctl("map", "build", os.path.join(inst.etc, "aliases"))
    inst.set_main(**FAST)


class Sender(threading.Thread):
    """One SMTP session at a time, sending its share of the messages;
    accepted gets the number of every message that got a 250."""

    def __init__(self, inst, numbers, accepted, refused):
        super().__init__(daemon=True)
        self.inst, self.numbers = inst, numbers
        self.accepted, self.refused = accepted, refused
        self.error = None

    def run(self):
        s = None
        try:
            for i in self.numbers:
                try:
                    if s is None:
                        s = smtplib.SMTP("127.0.0.1", self.inst.smtp_port,
                                         timeout=DEADLINE)
                        s.ehlo("client.example.org")
                    code, text = s.mail("sender@example.org")
                    if code == 250:
                        code, text = s.rcpt("%s@%s" % (rcpt_of(i), DOMAIN))
                    if code == 250:
                        code, text = s.data(message(i))
                    if code == 250:
                        self.accepted.append(i)
                    else:
                        self.refused.append((i, code, text))
                        s.rset()
                except (OSError, smtplib.SMTPException) as e:
                    # No 250 seen: the message does not count (it may
                    # still arrive, if the cut came after the commit).
                    self.refused.append((i, "error", repr(e)))
                    try:
                        s.close()
                    except (OSError, AttributeError):
                        pass
                    s = None
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            if s is not None:
                try:
                    s.quit()
                except (OSError, smtplib.SMTPException):
                    pass


class Killer(threading.Thread):
    """Every KILL_EVERY seconds, kill -9 a random live qmgr or local."""

    def __init__(self, inst):
        super().__init__(daemon=True)
        self.inst = inst
        self.stop = threading.Event()
        self.kills = collections.Counter()
        self.error = None

    def run(self):
        try:
            while not self.stop.wait(KILL_EVERY):
                # The service first, then one of its processes: there
                # is one qmgr and up to twenty locals, and qmgr's
                # recovery deserves as many kills as local's work.
                name = random.choice(("qmgr", "local"))
                victims = self.inst.pids(name)
                if not victims:
                    continue
                pid = random.choice(victims)
                self.inst.expected_kills.add(pid)  # before the kill
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.kills[name] += 1
                except ProcessLookupError:
                    pass  # it ended by itself meanwhile
        except BaseException as e:
            self.error = e


def maildir_tokens(inst):
    """{user: Counter(token)} over new/ and cur/, and the files that do
    not end with their message's end marker."""
    out, broken = {}, []
    for u in USERS:
        c = collections.Counter()
        for n, data in mailbox_files(inst, DOMAIN, u):
            m = TOKEN.search(data)
            if m is None:
                broken.append("%s/%s: no token" % (u, n))
                continue
            tok = int(m.group(1))
            if not data.endswith(b"end of message %d\n" % tok):
                broken.append("%s/%s: truncated" % (u, n))
            c[tok] += 1
        out[u] = c
    return out, broken


def stale_tmp(inst):
    """Files left in the Maildirs' tmp/ by a local killed mid-write
    (clutter, never reported delivered; readers sweep them)."""
    n = 0
    for u in USERS:
        d = os.path.join(inst.root, "mail", DOMAIN, u, "Maildir", "tmp")
        if os.path.isdir(d):
            n += len(os.listdir(d))
    return n


def wait_progress(what, state, done):
    """Poll until done(); fail only when state() stops changing for
    STALL seconds (the whole wait may take longer)."""
    last, since = None, time.monotonic()
    while not done():
        now = state()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > STALL:
            raise AssertionError("no progress for %ds waiting for %s: %r"
                                 % (STALL, what, now))
        time.sleep(0.5)


def queue_size(inst):
    return len(inst.mailq(json_=True))


def delivered_count(inst):
    n = 0
    for u in USERS:
        for sub in ("new", "cur"):
            d = os.path.join(inst.root, "mail", DOMAIN, u, "Maildir", sub)
            if os.path.isdir(d):
                n += len(os.listdir(d))
    return n


def test_kill_9_while_delivering(inst_stopped, capsys):
    inst = inst_stopped
    configure(inst)
    inst.start()
    wait_for(lambda: inst.pids("qmgr"), "a qmgr process")

    accepted, refused = [], []
    senders = [Sender(inst, range(k, N, SESSIONS), accepted, refused)
               for k in range(SESSIONS)]
    killer = Killer(inst)
    t0 = time.monotonic()
    killer.start()
    for s in senders:
        s.start()
    # Killing goes on while mail is sent and for as long as the queue
    # still holds some of it, up to a few seconds after the last 250.
    for s in senders:
        s.join(600)
    sent_at = time.monotonic()
    wait_for(lambda: queue_size(inst) == 0 or
             time.monotonic() - sent_at > 5, "a few more kills",
             timeout=DEADLINE, interval=0.2)
    killer.stop.set()
    killer.join(DEADLINE)
    t_kill = time.monotonic()
    for s in senders:
        assert not s.is_alive(), "a sender hangs"
        assert s.error is None, s.error
    assert killer.error is None, killer.error

    # Whatever was deferred by the kills comes back now.
    wait_for(lambda: inst.pids("qmgr"), "a qmgr process")
    wait_for(lambda: inst.mailctl("flush", check=False).returncode == 0,
             "mailctl flush")
    wait_progress("the queue to empty",
                  lambda: (queue_size(inst), delivered_count(inst)),
                  lambda: queue_size(inst) == 0)
    t_end = time.monotonic()

    got, broken = maildir_tokens(inst)
    want = collections.Counter()
    for i in accepted:
        for u in mailboxes_of(i):
            want[(u, i)] += 1
    missing = sorted("%s:%d" % k for k in want if got[k[0]][k[1]] == 0)
    dups = {(u, t): n for u, c in got.items() for t, n in c.items() if n > 1}
    extra = sum(n - 1 for n in dups.values())
    unknown = sorted("%s:%d" % (u, t) for u, c in got.items() for t in c
                     if (u, t) not in want)
    corrupt = os.listdir(os.path.join(inst.queue, "corrupt"))
    with capsys.disabled():
        print("\ncrash test: %d messages, %d got 250, %d refused or cut; "
              "kills: %d qmgr, %d local; duplicates: %d extra cop%s in %d "
              "mailbox%s (at most %d copies of one); %d partial file%s "
              "left in Maildir tmp/; %.1fs sending and killing, %.1fs "
              "to drain"
              % (N, len(accepted), len(refused), killer.kills["qmgr"],
                 killer.kills["local"], extra, "y" if extra == 1 else "ies",
                 len(dups), "" if len(dups) == 1 else "es",
                 max(dups.values(), default=1), stale_tmp(inst),
                 "" if stale_tmp(inst) == 1 else "s",
                 t_kill - t0, t_end - t_kill))
    assert not missing, "%d lost: %s" % (len(missing), missing[:200])
    assert not broken, broken[:50]
    # What was never accepted may still be delivered (a cut session
    # after the queue file was committed) but only for a refused one.
    refused_nums = {r[0] for r in refused}
    assert all(int(k.split(":")[1]) in refused_nums for k in unknown), unknown
    assert not corrupt, corrupt
    # Everything was offered: a refusal is a bug of its own.
    assert len(accepted) == N, refused[:20]
    # Each kill repeats at most what was in flight: a local's one
    # request, or a qmgr's requests (at most the concurrency limit of
    # 20, each for one message, an alias's copies counted apart).
    assert extra <= 2 * (killer.kills["local"] + 20 * killer.kills["qmgr"]), \
        extra
