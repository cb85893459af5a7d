"""
Privileges (DESIGN §1, §2), run as root: every child runs as its
service user with no 0 in Uid, Gid or Groups; the queue folders have
Postfix's owners and modes; master refuses configuration files a
non-root user could change.
"""
import grp
import os
import pwd
import stat
import subprocess

import pytest

from conftest import BIN, RawSMTP, procs_mentioning, proc_status, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def user_ids(name):
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid, sorted(set(os.getgrouplist(name, pw.pw_gid)))


def service_users(inst):
    """{service: user}: service_user, from master.cf -o or main.cf."""
    svcs = inst.services()
    users = {}
    for name, s in svcs.items():
        v = s["o"].get("service_user")
        if v is None:
            v = inst.config("service_user")["service_user"]
        elif v.startswith("$"):
            v = inst.config(v.strip("${}"))[v.strip("${}")]
        users[name] = v
    return users


def test_children_run_as_service_user(inst):
    users = service_users(inst)
    assert users["127.0.0.1:%d" % inst.smtp_port] == "facteur"
    # Every smtpd (25, 587, 465) and the auth service are checked too.
    assert users["127.0.0.1:%d" % inst.submissions_port] == "facteur"
    assert users["auth/client"] == "facteur-auth"
    # A session in progress, so that busy children are counted too.
    with RawSMTP(inst.smtp_port) as c:
        c.greet()

        def dropped():
            # A child starts as root and reads what it needs (keys,
            # tables) before it drops: wait until every one has.
            kids = inst.children()
            if {n for _, n, _ in kids} != set(users):
                return None
            for pid, _, _ in kids:
                try:
                    if proc_status(pid)["Uid"][0] == 0:
                        return None
                except FileNotFoundError:
                    return None
            return kids
        kids = wait_for(dropped, "every service running, privileges dropped")
        for pid, name, argv in kids:
            uid, gid, groups = user_ids(users[name])
            assert uid != 0 and gid != 0 and 0 not in groups
            try:
                st = proc_status(pid)
            except FileNotFoundError:
                continue  # exited meanwhile (max_idle)
            assert st["Uid"] == [uid] * 4, (name, st)
            assert st["Gid"] == [gid] * 4, (name, st)
            assert sorted(st["Groups"]) == groups, (name, st)
            assert 0 not in st["Uid"] + st["Gid"] + st["Groups"], (name, st)
        assert c.cmd("QUIT")[0] == 221
    # master alone keeps root.
    assert proc_status(inst.master_pid())["Uid"][0] == 0
    # Children have nothing of the starter's: stdin and stdout are
    # /dev/null, stderr is the log socket (fd 4, lib/master_proto.h).
    for pid, name, _ in kids:
        try:
            fds = [os.readlink("/proc/%d/fd/%d" % (pid, fd))
                   for fd in (0, 1, 2, 4)]
        except FileNotFoundError:
            continue  # the child has exited meanwhile
        assert fds[:2] == ["/dev/null", "/dev/null"], (name, fds)
        assert fds[2] == fds[3] and fds[2].startswith("socket:"), (name, fds)


def mode_owner(path):
    st = os.lstat(path)
    return (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


def test_queue_modes(inst):
    q = inst.queue
    assert mode_owner(q)[:2] == (0o755, "root")
    assert mode_owner(os.path.join(q, "pid"))[:2] == (0o755, "root")
    for d in ("incoming", "active", "deferred", "hold", "corrupt", "tmp",
              "defer", "bounce", "private"):
        assert mode_owner(os.path.join(q, d))[:2] == (0o700, "facteur"), d
    assert mode_owner(os.path.join(q, "public"))[:2] == (0o711, "facteur")
    # auth/: 0750 root:<the auth client group>; no world access.
    m, owner, _ = mode_owner(os.path.join(q, "auth"))
    assert (m, owner) == (0o750, "root")
    # Sockets: 0666, the folder decides who reaches them.
    for sock in ("public/showq", "private/anvil"):
        st = os.lstat(os.path.join(q, sock))
        assert stat.S_ISSOCK(st.st_mode), sock
        assert stat.S_IMODE(st.st_mode) == 0o666, sock
    # The pid and lock files are root's, not writable by others.
    for f in ("pid/master.pid", "pid/master.lock"):
        m, owner, _ = mode_owner(os.path.join(q, f))
        assert owner == "root" and not m & 0o022, (f, oct(m))
    # The mail store is mailbox_owner's alone.
    assert mode_owner(os.path.join(inst.root, "mail"))[:2] == (0o700, "vmail")
    # Configuration: root's, not writable by others.
    for f in ("", "main.cf", "master.cf"):
        m, owner, _ = mode_owner(os.path.join(inst.etc, f))
        assert owner == "root" and not m & 0o022, (f, oct(m))
    # An ordinary user cannot look into the queue.
    p = subprocess.run(["runuser", "-u", "nobody", "--", "ls",
                        os.path.join(q, "incoming")], capture_output=True)
    assert p.returncode != 0


@pytest.mark.parametrize("what", ["main.cf g+w", "master.cf o+w",
                                  "etc g+w", "main.cf owned by nobody"])
def test_master_refuses_writable_config(inst_stopped, what):
    inst = inst_stopped
    name, change = what.split(" ", 1)
    path = inst.etc if name == "etc" else os.path.join(inst.etc, name)
    if change == "g+w":
        os.chmod(path, os.stat(path).st_mode | 0o020)
    elif change == "o+w":
        os.chmod(path, os.stat(path).st_mode | 0o002)
    else:
        os.chown(path, pwd.getpwnam("nobody").pw_uid, 0)
    p = inst.mailctl("start", check=False)
    assert p.returncode != 0
    assert b"writable by a non-root user" in p.stderr, p.stderr
    assert path.encode() in p.stderr
    # master itself refuses, without mailctl's check.
    p = subprocess.run([os.path.join(BIN, "master"), "-c", inst.etc],
                       capture_output=True, env=inst.env(), timeout=60)
    assert p.returncode != 0
    assert b"writable by a non-root user" in p.stderr, p.stderr
    assert not inst.master_pid()
    assert not procs_mentioning(inst.root)
    # Fixed, it starts.
    os.chown(path, 0, 0)
    os.chmod(path, 0o755 if name == "etc" else 0o644)
    inst.start()
