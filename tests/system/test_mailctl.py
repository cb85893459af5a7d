"""
mailctl: `check` names FILE:LINE for every broken main.cf and master.cf
line and exits non-zero, unknown parameters are warnings; `start`
refuses a bad configuration; `config` shows defaults, `-n` only what is
set, `-x` expanded values; `init` never overwrites an instance.
"""
import os
import re

import pytest

from conftest import finish_instance, make_instance, procs_mentioning, wait_for


@pytest.fixture(scope="module")
def stopped():
    """One initialised instance for the module; tests restore its files."""
    inst = make_instance()
    yield inst
    finish_instance(inst)


@pytest.fixture
def cf(stopped):
    """Save main.cf and master.cf; put them back after the test."""
    saved = {}
    for n in ("main.cf", "master.cf"):
        with open(os.path.join(stopped.etc, n)) as f:
            saved[n] = f.read()
    yield stopped
    for n, text in saved.items():
        with open(os.path.join(stopped.etc, n), "w") as f:
            f.write(text)


def append(inst, name, text):
    path = os.path.join(inst.etc, name)
    with open(path) as f:
        n = len(f.read().splitlines())
    with open(path, "a") as f:
        f.write(text)
    return path, n + 1  # the line number of the first appended line


def test_check_clean_instance(stopped):
    p = stopped.mailctl("check", check=False)
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""


def test_check_names_file_and_line(cf):
    main, l1 = append(cf, "main.cf", "this line is broken\n"
                      "smtpd_timeout = forever\n"
                      "bogus_parameter = 1\n"
                      "message_size_limit = 12\n"
                      "smtpd_banner = $undefined_name here\n")
    master, l2 = append(cf, "master.cf",
                        "short inet n - n\n"
                        "x unix n n n - - smtpd\n"
                        "y unix n - n - - ../smtpd\n"
                        "z bogus n - n - - smtpd\n")
    p = cf.mailctl("check", check=False)
    err = p.stderr.decode()
    assert p.returncode != 0
    want = [
        (main, l1, "error", "bad syntax"),
        (main, l1 + 1, "error", 'bad value "forever" for smtpd_timeout'),
        (main, l1 + 2, "warning", "unknown parameter bogus_parameter"),
        (main, l1 + 3, "error", "message_size_limit"),
        (main, l1 + 4, "error", "undefined parameter $undefined_name"),
        (master, l2, "error", "want 8 fields"),
        (master, l2 + 1, "error", "unpriv n is refused"),
        (master, l2 + 2, "error", "must be a program name"),
        (master, l2 + 3, "error", "bad service type"),
    ]
    expect_lines(err, want)


def expect_lines(err, want):
    for path, line, level, text in want:
        rx = r"^mailctl: %s:%d: %s: .*%s" % (re.escape(path), line, level,
                                             re.escape(text))
        assert re.search(rx, err, re.M), (rx, err)


def test_check_names_master_cf_overrides(cf):
    """-o values are checked like main.cf values, at their master.cf
    line, next to other master.cf errors."""
    master, line = append(cf, "master.cf",
                          "127.0.0.1:1 inet n - n - - smtpd -o smtpd_timeout=never\n"
                          "broken\n"
                          "127.0.0.1:2 inet n - n - - smtpd -o smtpd_hard_error_limit=0\n"
                          "127.0.0.1:3 inet n - n - - nosuchprogram\n")
    p = cf.mailctl("check", check=False)
    assert p.returncode != 0
    expect_lines(p.stderr.decode(), [
        (master, line, "error", 'bad value "never" for smtpd_timeout'),
        (master, line + 1, "error", "want 8 fields"),
        (master, line + 2, "error", "smtpd_hard_error_limit"),
        (master, line + 3, "error", "nosuchprogram"),
    ])


def test_unknown_parameter_is_a_warning(cf):
    main, line = append(cf, "main.cf", "no_such_thing = 1\n")
    master, mline = append(cf, "master.cf",
                           "127.0.0.1:1 inet n - n - - smtpd -o also_unknown=2\n")
    p = cf.mailctl("check", check=False)
    assert p.returncode == 0, p.stderr
    err = p.stderr.decode()
    assert re.search(r"%s:%d: warning: unknown parameter no_such_thing" % (
        re.escape(main), line), err), err
    # Once, not once per reader.
    assert len(re.findall(r"%s:%d: warning: unknown parameter also_unknown" % (
        re.escape(master), mline), err)) == 1, err


def test_start_refuses_bad_config(cf):
    main, line = append(cf, "main.cf", "smtpd_hard_error_limit = lots\n")
    p = cf.mailctl("start", check=False)
    assert p.returncode != 0
    assert ("%s:%d: error" % (main, line)).encode() in p.stderr, p.stderr
    assert b"not starting" in p.stderr
    assert not cf.master_pid() and not procs_mentioning(cf.root)


def test_start_refuses_bad_master_cf(cf):
    master, line = append(cf, "master.cf", "broken\n")
    p = cf.mailctl("start", check=False)
    assert p.returncode != 0
    assert ("%s:%d: error" % (master, line)).encode() in p.stderr, p.stderr
    assert not cf.master_pid() and not procs_mentioning(cf.root)


def test_start_reports_unusable_listener(cf):
    """What check cannot see (a bad port) still stops start, clearly."""
    append(cf, "master.cf", "nosuchport inet n - n - - smtpd\n")
    p = cf.mailctl("start", check=False)
    assert p.returncode != 0
    assert b'unknown port "nosuchport"' in p.stderr, p.stderr
    assert cf.mailctl("status", check=False).returncode == 3
    wait_for(lambda: not procs_mentioning(cf.root), "master to exit")


def config(inst, *args):
    p = inst.mailctl("config", *args, check=False)
    out = {}
    for line in p.stdout.decode().splitlines():
        k, _, v = line.partition(" = ")
        out[k] = v
    return p.returncode, out, p.stderr.decode()


def test_config_shows_defaults_set_and_expanded(cf):
    rc, all_, _ = config(cf)
    assert rc == 0
    assert all_["smtpd_banner"] == "$myhostname ESMTP facteur"
    assert all_["message_size_limit"] == "10240000"
    assert all_["myhostname"] == "mail.example.test"
    assert list(all_) == sorted(all_)  # postconf order: by name

    rc, set_, _ = config(cf, "-n")
    assert rc == 0
    assert set_["mydestination"] == "$myhostname, localhost"
    assert set_["queue_directory"] == cf.queue
    assert "smtpd_banner" not in set_ and "message_size_limit" not in set_

    rc, x, _ = config(cf, "-x", "smtpd_banner", "mydestination",
                      "virtual_mailbox_domains")
    assert rc == 0
    assert x == {"smtpd_banner": "mail.example.test ESMTP facteur",
                 "mydestination": "mail.example.test, localhost",
                 "virtual_mailbox_domains": "example.test"}

    rc, nx, _ = config(cf, "-n", "-x")
    assert nx["mydestination"] == "mail.example.test, localhost"
    assert set(nx) == set(set_)

    cf.set_main(smtpd_banner="$mydomain hello")
    rc, one, _ = config(cf, "smtpd_banner")
    assert one == {"smtpd_banner": "$mydomain hello"}
    rc, one, _ = config(cf, "-x", "smtpd_banner")
    assert one == {"smtpd_banner": "example.test hello"}

    rc, _, err = config(cf, "no_such_parameter")
    assert rc != 0 and "unknown parameter" in err


def test_init_never_overwrites(stopped):
    p = stopped.run("mailctl", "init", stopped.root, check=False)
    assert p.returncode != 0
    assert b"already holds an instance" in p.stderr
