"""
A full disk is a temporary failure, never a loss (DESIGN §2 rule 4;
issue 5).  A small tmpfs (TMPFS_SIZE) is mounted before the instance
starts, as its queue, as its mail store, or as both (one file system,
as on a machine with one /var), and a filler file takes the room away:
  - the queue: MAIL FROM is refused with 452 4.3.1 when the free space
    is below 1.5 x message_size_limit, or queue_minfree when that is
    larger (smtpd's check, as Postfix's); a transaction that passed MAIL
    but finds the disk full while the message is written gets 452 4.3.1
    at the end of DATA and leaves nothing in tmp/ or incoming/; qmgr
    starts and delivers on the full disk what got a 250 before; once
    the filler is gone mail is accepted again;
  - the mail store: messages are accepted, local defers them with 4.3.1
    (in the log, and mailq shows why), whether the disk fills in the
    middle of a message or before its first byte, or before the
    recipient's Maildir exists; once the filler is gone `mailctl flush`
    delivers each of them exactly once, and no partial file is left in
    the Maildirs' tmp/;
  - both: local defers, qmgr cannot write the defer/ log (it only
    explains) and defers all the same; nothing is lost;
  - both, on ext4 (an image on a loop device; skipped without one): a
    folder that must grow by a block to take a name refuses the rename,
    so a deferred message stays in active/; qmgr moves it on at its
    next queue run (or flush) once space returns.
The tmpfs is always unmounted at teardown.  scripts/test checks first
that this machine can mount one at all, and fails loudly if not; so do
these tests.
"""
import errno
import os
import re
import shutil
import subprocess

import pytest

from conftest import (RawSMTP, finish_instance, mailbox_files,
                      make_instance, send_mail, wait_for)

DOMAIN = "example.test"
DEMO = "demo@" + DOMAIN
ANN = "ann@" + DOMAIN
TMPFS_SIZE = 12 << 20
SIZE_LIMIT = 1 << 20
FAST = dict(queue_run_delay="1s", minimal_backoff_time="1s",
            maximal_backoff_time="1s", transport_retry_time="1s",
            message_size_limit=str(SIZE_LIMIT))
FULL = "452 4.3.1 Insufficient system storage"


# -- the tmpfs -------------------------------------------------------------

def mount(*args):
    """mount(8), failing the test loudly when it cannot."""
    p = subprocess.run(["mount"] + list(args), capture_output=True)
    if p.returncode != 0:
        pytest.fail("mount %s: %s (the full-disk tests need root and a "
                    "tmpfs)" % (" ".join(args),
                                p.stderr.decode(errors="replace").strip()))


def mount_tmpfs(path, size):
    """Put a tmpfs of size bytes at path (an existing folder): its
    content, owner and mode are copied onto the new file system."""
    st = os.stat(path)
    orig = path + ".orig"
    os.rename(path, orig)
    os.mkdir(path)
    try:
        mount("-t", "tmpfs", "-o", "size=%d,mode=%o,uid=%d,gid=%d"
              % (size, st.st_mode & 0o7777, st.st_uid, st.st_gid),
              "tmpfs", path)
    except BaseException:
        os.rmdir(path)
        os.rename(orig, path)
        raise
    subprocess.run(["cp", "-a", orig + "/.", path + "/"], check=True)
    shutil.rmtree(orig)


def umount(path):
    """Unmount, waiting out a process that still lets go; lazily as a
    last resort, so that no mount is ever left behind."""
    def done():
        p = subprocess.run(["umount", path], capture_output=True)
        return p.returncode == 0 or not os.path.ismount(path)
    try:
        wait_for(done, "umount " + path, timeout=10, interval=0.2)
    except AssertionError:
        subprocess.run(["umount", "-l", path], check=True)


def ready(inst, full):
    """inst with its small file system at full, and fast retries."""
    inst.full = full
    inst.filler = os.path.join(full, "filler")
    inst.set_main(**FAST)
    return inst


def dismantle(inst, mounts):
    """Stop inst, unmount mounts (last first), remove its folder."""
    try:
        finish_instance(inst)
    finally:
        for m in reversed(mounts):
            umount(m)
        shutil.rmtree(inst.root, ignore_errors=True)


def tmpfs_instance(folder):
    """An initialised instance (not started) whose folder ("queue" or
    "mail") is a TMPFS_SIZE tmpfs, inst.full its path; unmounted and
    removed after the test, whatever happened."""
    inst = make_instance()
    path = os.path.join(inst.root, folder)
    mounts = []
    try:
        mount_tmpfs(path, TMPFS_SIZE)
        mounts.append(path)
        yield ready(inst, path)
    finally:
        dismantle(inst, mounts)


@pytest.fixture
def queue_tmpfs():
    yield from tmpfs_instance("queue")


@pytest.fixture
def mail_tmpfs():
    yield from tmpfs_instance("mail")


def shared_instance(fstype):
    """An initialised instance whose queue and mail store share one
    small file system at root/fs (bind mounts): a TMPFS_SIZE tmpfs, or
    an ext4 image of that size with 1 KiB blocks on a loop device."""
    inst = make_instance()
    fs = os.path.join(inst.root, "fs")
    mounts = []
    try:
        os.mkdir(fs)
        if fstype == "tmpfs":
            mount("-t", "tmpfs", "-o", "size=%d" % TMPFS_SIZE, "tmpfs", fs)
        else:
            if subprocess.run(["losetup", "-f"],
                              capture_output=True).returncode != 0:
                pytest.skip("no loop device for an ext4 image")
            img = os.path.join(inst.root, "fs.img")
            with open(img, "wb") as f:
                f.truncate(TMPFS_SIZE)
            subprocess.run(["mkfs.ext4", "-q", "-b", "1024", "-O",
                            "^has_journal", img], check=True)
            mount("-o", "loop", img, fs)
        mounts.append(fs)
        for name in ("queue", "mail"):
            path = os.path.join(inst.root, name)
            subprocess.run(["cp", "-a", path, fs + "/"], check=True)
            mount("--bind", os.path.join(fs, name), path)
            mounts.append(path)
        yield ready(inst, fs)
    finally:
        dismantle(inst, mounts)


@pytest.fixture
def shared_tmpfs():
    yield from shared_instance("tmpfs")


@pytest.fixture
def shared_ext4():
    yield from shared_instance("ext4")


# -- filling it ------------------------------------------------------------

def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_to(inst, leave):
    """Grow or shrink the filler until about leave bytes are free."""
    fd = os.open(inst.filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size + free_bytes(inst.full) - leave
        size = max(0, size - size % 4096)
        os.ftruncate(fd, min(size, os.fstat(fd).st_size))
        os.lseek(fd, 0, os.SEEK_END)
        chunk = b"\0" * 65536
        while os.fstat(fd).st_size < size:
            os.write(fd, chunk[:size - os.fstat(fd).st_size])
    finally:
        os.close(fd)


def fill_up(inst):
    """Write until the file system says ENOSPC: not a page is left."""
    fd = os.open(inst.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk = b"\0" * 4096
    try:
        while True:
            os.write(fd, chunk)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)


def empty(inst):
    os.unlink(inst.filler)


# -- mail -------------------------------------------------------------------

def body(tag, size=0):
    pad = "".join("%s padding line %d\r\n" % (tag, k)
                  for k in range(size // 30))
    return ("From: <ann@example.org>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Message-Id: <%s@example.org>\r\nX-Tag: %s\r\n\r\n%sHello.\r\n"
            % (DEMO, tag, tag, tag, pad))


def tags_in(inst, local):
    """[X-Tag of each file] in local's Maildir (new/ and cur/)."""
    out = []
    for _, data in mailbox_files(inst, DOMAIN, local):
        m = re.search(rb"^X-Tag: (\S+)$", data, re.M)
        out.append(m.group(1).decode() if m else "?")
    return sorted(out)


def queue_files(inst, folder):
    return sorted(os.listdir(os.path.join(inst.queue, folder)))


def queue_empty(inst):
    return not inst.mailq(json_=True)


def add_user(inst, addr):
    with open(os.path.join(inst.etc, "users"), "a") as f:
        f.write("%s quota=0 enabled=yes\n" % addr)
    inst.mailctl("map", "build", os.path.join(inst.etc, "users"))


# -- the tests --------------------------------------------------------------

def test_full_queue(queue_tmpfs):
    inst = queue_tmpfs
    # qmgr joins later, so that it starts and works on a full disk.
    with_qmgr = inst.master_cf()
    inst.receive_only()
    inst.start()
    ids = [send_mail(inst, "ann@example.org", [DEMO], body("before"))]

    # Less than 1.5 x message_size_limit free: refused at MAIL.
    fill_to(inst, SIZE_LIMIT)
    with RawSMTP(inst.smtp_port) as c:
        c.greet()
        code, text = c.cmd("MAIL FROM:<ann@example.org>")
        assert "%d %s" % (code, text[0]) == FULL
        # Also with a SIZE that would fit on its own.
        code, text = c.cmd("MAIL FROM:<ann@example.org> SIZE=1000")
        assert "%d %s" % (code, text[0]) == FULL
    inst.wait_log(r"smtpd\[\d+\]: warning: not enough free space in the "
                  r"queue file system: \d+ bytes free, %d wanted$"
                  % (SIZE_LIMIT * 3 // 2))

    # queue_minfree, when larger, is the floor instead.
    inst.set_main(queue_minfree=str(4 * SIZE_LIMIT))
    inst.reload()
    fill_to(inst, 3 * SIZE_LIMIT)

    def refused_at_mail():
        with RawSMTP(inst.smtp_port) as c:
            c.greet()
            code, text = c.cmd("MAIL FROM:<ann@example.org>")
            return "%d %s" % (code, text[0]) == FULL
    wait_for(refused_at_mail, "smtpd with queue_minfree")
    inst.wait_log(r"smtpd\[\d+\]: warning: not enough free space in the "
                  r"queue file system: \d+ bytes free, %d wanted$"
                  % (4 * SIZE_LIMIT))
    inst.set_main(queue_minfree="0")
    inst.reload()

    # Room at MAIL time, none left while the message is written: 452 at
    # the end of DATA, and the half-written file is gone.
    fill_to(inst, 2 * SIZE_LIMIT)

    def accepted_at_mail():
        c = RawSMTP(inst.smtp_port)
        c.greet()
        if c.cmd("MAIL FROM:<ann@example.org>")[0] == 250:
            return c
        c.close()
        return None
    with wait_for(accepted_at_mail, "smtpd without queue_minfree") as c:
        assert c.cmd("RCPT TO:<%s>" % DEMO)[0] == 250
        # Another one gets in just before the disk fills.
        ids.append(send_mail(inst, "ann@example.org", [DEMO],
                             body("squeezed")))
        fill_up(inst)
        code, _ = c.cmd("DATA")
        assert code == 354
        c.send(body("lost", 300000).encode() + b".\r\n")
        code, text = c.reply()
        assert "%d %s" % (code, text[0]) == FULL
        # The session goes on; the next transaction is refused at MAIL.
        code, text = c.cmd("MAIL FROM:<ann@example.org>")
        assert "%d %s" % (code, text[0]) == FULL
        assert c.cmd("QUIT")[0] == 221
    assert queue_files(inst, "tmp") == []
    assert queue_files(inst, "incoming") == sorted(ids)

    # qmgr starts on the full disk (recovery, scans, moves, done marks
    # and removals need no new room) and delivers what got a 250.
    inst.write_master_cf(with_qmgr)
    inst.reload()
    wait_for(lambda: queue_empty(inst) and len(tags_in(inst, "demo")) == 2,
             "delivery on a full queue file system")
    assert tags_in(inst, "demo") == ["before", "squeezed"]
    assert free_bytes(inst.full) < 64 << 10

    # Room again: accepted and delivered, nothing lost, nothing twice.
    empty(inst)
    send_mail(inst, "ann@example.org", [DEMO], body("after"))
    wait_for(lambda: queue_empty(inst) and len(tags_in(inst, "demo")) == 3,
             "the last delivery")
    assert tags_in(inst, "demo") == ["after", "before", "squeezed"]
    assert queue_files(inst, "corrupt") == []
    assert queue_files(inst, "tmp") == []


def test_full_mail_store(mail_tmpfs):
    inst = mail_tmpfs
    add_user(inst, ANN)
    inst.start()
    send_mail(inst, "ann@example.org", [DEMO], body("before"))
    wait_for(lambda: tags_in(inst, "demo") == ["before"], "first delivery")

    # Some room, less than a message needs: local fails in the middle
    # of writing it, defers with 4.3.1 and removes the partial file.
    fill_to(inst, 64 << 10)
    qids = {"big": send_mail(inst, "ann@example.org", [DEMO],
                             body("big", 300000))}
    inst.wait_log(r"local\[\d+\]: %s: to=<%s>, relay=local, .*dsn=4\.3\.1, "
                  r"status=deferred \(.*No space left on device.*\)$"
                  % (qids["big"], DEMO))
    # Not a page left: mail is still accepted (the queue is elsewhere)
    # and deferred, also for ann, who has no Maildir yet.
    fill_up(inst)
    for tag, to in (("d1", DEMO), ("d2", DEMO), ("a1", ANN)):
        qids[tag] = send_mail(inst, "ann@example.org", [to], body(tag))
    for tag, qid in qids.items():
        inst.wait_log(r"local\[\d+\]: %s: to=<[^>]+>, relay=local, .*"
                      r"dsn=4\.3\.1, status=deferred \(.*No space left on "
                      r"device.*\)$" % qid)

    def reasons():
        got = {}
        for m in inst.mailq(json_=True):
            for r in m["recipients"]:
                if "delay_reason" in r:
                    got[m["queue_id"]] = r["delay_reason"]
        return got if set(got) == set(qids.values()) else None
    for qid, why in wait_for(reasons, "mailq's delay reasons").items():
        assert "No space left on device" in why, (qid, why)
    assert tags_in(inst, "demo") == ["before"]
    assert tags_in(inst, "ann") == []

    # Room again: every message that got a 250 arrives exactly once.
    empty(inst)
    inst.mailctl("flush")
    wait_for(lambda: queue_empty(inst), "an empty queue")
    assert tags_in(inst, "demo") == ["before", "big", "d1", "d2"]
    assert tags_in(inst, "ann") == ["a1"]
    assert queue_files(inst, "corrupt") == []
    # Every failed attempt removed its partial file from tmp/.
    for local in ("demo", "ann"):
        tmp = os.path.join(inst.full, DOMAIN, local, "Maildir", "tmp")
        assert os.listdir(tmp) == [], local


def test_full_shared(shared_tmpfs):
    inst = shared_tmpfs
    # Accepted while there is room; then the disk fills before qmgr
    # (out of master.cf until then) hands them to local.
    with_qmgr = inst.master_cf()
    inst.receive_only()
    inst.start()
    qids = {tag: send_mail(inst, "ann@example.org", [DEMO],
                           body(tag, 300000 if tag == "big" else 0))
            for tag in ("big", "small")}
    fill_up(inst)
    inst.write_master_cf(with_qmgr)
    inst.reload()
    # local defers with 4.3.1; qmgr cannot write the defer/ log (it only
    # explains) but defers all the same.
    for qid in qids.values():
        inst.wait_log(r"local\[\d+\]: %s: to=<%s>, relay=local, .*"
                      r"dsn=4\.3\.1, status=deferred \(.*No space left on "
                      r"device.*\)$" % (qid, DEMO))
        inst.wait_log(r"qmgr\[\d+\]: warning: %s: defer log: .*No space "
                      r"left on device$" % qid)
    assert tags_in(inst, "demo") == []

    # Room again: each arrives exactly once, and qmgr's failed defer
    # logs left nothing in tmp/.
    empty(inst)
    inst.mailctl("flush")
    wait_for(lambda: queue_empty(inst), "an empty queue")
    assert tags_in(inst, "demo") == ["big", "small"]
    assert queue_files(inst, "corrupt") == []
    assert queue_files(inst, "tmp") == []


def test_full_ext4_folder_cannot_grow(shared_ext4):
    """On ext4 a name needs room in its folder: once a folder's blocks
    are full, a rename into it needs a new block, which a full disk does
    not have.  So qmgr cannot move a deferred message out of active/; it
    must move it on once space returns, not wait for a restart."""
    inst = shared_ext4
    with_qmgr = inst.master_cf()
    inst.receive_only()
    inst.start()
    ids = [send_mail(inst, "ann@example.org", [DEMO], body("m%d" % i))
           for i in range(120)]
    fill_up(inst)
    inst.write_master_cf(with_qmgr)
    inst.reload()
    inst.wait_log(r"qmgr\[\d+\]: error: \w+: rename active/\w+ to deferred/: "
                  r"No space left on device \(left in active/; tried again "
                  r"at the next queue run\)$")
    empty(inst)
    inst.mailctl("flush")
    inst.wait_log(r"qmgr\[\d+\]: \w+: moved from active/ to deferred/$")
    wait_for(lambda: queue_empty(inst), "an empty queue")
    assert tags_in(inst, "demo") == sorted("m%d" % i for i in range(120))
    assert len(ids) == 120
    assert queue_files(inst, "corrupt") == []
