//! Tests of the host-list grammar, every accepted and rejected form, the
//! host keys, and where the list is read from.

use super::*;
use std::ffi::OsString;

fn tcp(host: &str, port: u16, limit: u32) -> Host {
    let host = host.to_string();
    let transport = Transport::Tcp { host, port };
    Host {
        transport,
        limit,
        lzo: false,
        cpp: false,
        classic: false,
        tls: false,
    }
}

fn ssh(user: Option<&str>, host: &str, command: Option<&str>, limit: u32) -> Host {
    let transport = Transport::Ssh {
        user: user.map(String::from),
        host: host.to_string(),
        command: command.map(String::from),
    };
    Host {
        transport,
        limit,
        lzo: false,
        cpp: false,
        classic: false,
        tls: false,
    }
}

fn local(limit: u32) -> Host {
    Host {
        transport: Transport::Local,
        limit,
        lzo: false,
        cpp: false,
        classic: false,
        tls: false,
    }
}

fn lzo(h: Host) -> Host {
    Host { lzo: true, ..h }
}

fn cpp(h: Host) -> Host {
    Host {
        lzo: true,
        cpp: true,
        classic: false,
        ..h
    }
}

fn tls(h: Host) -> Host {
    Host { tls: true, ..h }
}

fn one(text: &str) -> Host {
    let list = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(list.hosts.len(), 1, "{text:?}");
    list.hosts.into_iter().next().unwrap()
}

#[test]
fn accepted_forms() {
    let rows: Vec<(&str, Host)> = vec![
        ("127.0.0.1", tcp("127.0.0.1", 3632, 4)),
        ("127.0.0.1:4000", tcp("127.0.0.1", 4000, 4)),
        ("127.0.0.1/8", tcp("127.0.0.1", 3632, 8)),
        ("127.0.0.1/8:4000", tcp("127.0.0.1", 4000, 8)),
        ("127.0.0.1:4000/8", tcp("127.0.0.1", 4000, 8)),
        ("box", tcp("box", 3632, 4)),
        ("box.example.com:1", tcp("box.example.com", 1, 4)),
        ("box-2_a/1000:65535", tcp("box-2_a", 65535, 1000)),
        ("LOCALHOST", tcp("LOCALHOST", 3632, 4)),
        ("[::1]", tcp("::1", 3632, 4)),
        ("[::1]:4000", tcp("::1", 4000, 4)),
        ("[fe80::1]/3", tcp("fe80::1", 3632, 3)),
        ("[2001:db8::2]:4000/3", tcp("2001:db8::2", 4000, 3)),
        ("[::1]/3:4000", tcp("::1", 4000, 3)),
        ("[::ffff:10.0.0.1]", tcp("::ffff:10.0.0.1", 3632, 4)),
        ("box,lzo", lzo(tcp("box", 3632, 4))),
        ("box:4000/2,lzo", lzo(tcp("box", 4000, 2))),
        ("box,cpp,lzo", cpp(tcp("box", 3632, 4))),
        ("box,lzo,cpp", cpp(tcp("box", 3632, 4))),
        ("box,cpp", cpp(tcp("box", 3632, 4))),
        ("[::1]:9/1,cpp,lzo", cpp(tcp("::1", 9, 1))),
        ("box,tls", tls(tcp("box", 3634, 4))),
        ("box:4000,tls", tls(tcp("box", 4000, 4))),
        ("box/2,cpp,tls", tls(cpp(tcp("box", 3634, 2)))),
        (
            "localhost:3634,tls,lzo",
            tls(lzo(tcp("localhost", 3634, 4))),
        ),
        ("localhost", local(2)),
        ("localhost/7", local(7)),
        ("localhost,lzo", lzo(local(2))),
        ("localhost:3632", tcp("localhost", 3632, 4)),
        ("localhost/3:4000", tcp("localhost", 4000, 3)),
        ("127.0.0.1/2", tcp("127.0.0.1", 3632, 2)),
        ("@box", ssh(None, "box", None, 4)),
        ("user@box", ssh(Some("user"), "box", None, 4)),
        ("user@box/6", ssh(Some("user"), "box", None, 6)),
        (
            "@box/6:/usr/local/bin/distccd",
            ssh(None, "box", Some("/usr/local/bin/distccd"), 6),
        ),
        ("@box:distccd", ssh(None, "box", Some("distccd"), 4)),
        (
            "u.s-er@box.lan/2,lzo",
            lzo(ssh(Some("u.s-er"), "box.lan", None, 2)),
        ),
        ("@box,cpp,lzo", cpp(ssh(None, "box", None, 4))),
        ("@[::1]/2", ssh(None, "::1", None, 2)),
        (
            "u@10.0.0.2:/opt/bin/distccd,lzo",
            lzo(ssh(Some("u"), "10.0.0.2", Some("/opt/bin/distccd"), 4)),
        ),
    ];
    for (text, want) in rows {
        let got = one(text);
        assert_eq!(got, want, "{text:?}");
        let shown = got.to_string();
        assert_eq!(one(&shown), got, "{text:?} -> {shown:?}");
    }
}

#[test]
fn canonical_display() {
    assert_eq!(one("127.0.0.1,lzo").to_string(), "127.0.0.1:3632/4,lzo");
    assert_eq!(one("[::1]").to_string(), "[::1]:3632/4");
    assert_eq!(one("localhost").to_string(), "localhost/2");
    assert_eq!(one("user@box").to_string(), "user@box/4");
    assert_eq!(one("@b:/x/d,cpp").to_string(), "@b/4:/x/d,cpp,lzo");
    assert_eq!(one("b,tls,cpp").to_string(), "b:3634/4,cpp,lzo,tls");
}

#[test]
fn malformed_words() {
    // (bad word, substring of the reason)
    let rows: &[(&str, &str)] = &[
        (",lzo", "missing host name"),
        (":3632", "missing host name"),
        ("/4", "missing host name"),
        ("a:", "missing port"),
        ("a:0", "out of range"),
        ("a:65536", "out of range"),
        ("a:99999999999", "out of range"),
        ("a:x1", "port is not a number"),
        ("a/x", "limit is not a number"),
        ("a/", "missing limit"),
        ("a/0", "out of range"),
        ("a/1001", "out of range"),
        ("[::1", "unclosed"),
        ("[]", "empty IPv6"),
        ("[zz]", "invalid IPv6"),
        ("[::1]x", "after ']'"),
        ("[::1]:1:2", "port given twice"),
        ("a/1/2", "limit given twice"),
        ("a:1:2", "more than one ':'"),
        ("fe80::1", "brackets"),
        ("a,lzo,lzo", "duplicate option \"lzo\""),
        ("a,cpp,cpp", "duplicate option"),
        ("a,tls,tls", "duplicate option"),
        ("@a,tls", "tls is for TCP hosts"),
        ("localhost,tls", "tls is for remote hosts"),
        ("a,gzip", "unknown option \"gzip\""),
        ("a,", "empty option"),
        ("a,,lzo", "empty option"),
        ("a,auth", "auth is not supported"),
        ("a,auth=kerb", "auth is not supported"),
        ("@", "missing host name"),
        ("user@", "missing host name"),
        ("@h/0", "out of range"),
        ("@h/1/2", "limit given twice"),
        ("@h:", "missing remote command"),
        ("@h:rm;x", "illegal character ';'"),
        ("a@b@c", "illegal character '@'"),
        ("@-oops", "must not start with '-'"),
        ("-u@h", "must not start with '-'"),
        ("-box", "must not start with '-'"),
        ("a;b", "illegal character ';'"),
        ("a'b", "illegal character"),
        ("a\"b", "illegal character"),
        ("a$b", "illegal character"),
        ("a`b", "illegal character"),
        ("a\\b", "illegal character"),
        ("a\u{1}b", "illegal character"),
        ("--localslots=x", "not a number"),
        ("--localslots=0", "out of range"),
        ("--localslots", "needs a value"),
        ("--localslots_cpp", "needs a value"),
        ("--frobnicate", "unknown option --frobnicate"),
        ("--randomize=1", "takes no value"),
        ("+other", "unknown keyword"),
    ];
    let prefix = "ok1 localhost/3 # a, bad; comment\n\t";
    for &(bad, reason) in rows {
        let text = format!("{prefix}{bad} ok3");
        let err = parse(&text).expect_err(bad);
        assert_eq!(err.word, bad, "{bad:?}");
        assert_eq!(err.position, 3, "{bad:?}");
        assert_eq!(err.column, prefix.len(), "{bad:?}");
        assert!(err.reason.contains(reason), "{bad:?}: {}", err.reason);
    }
}

#[test]
fn error_display_and_position() {
    let err = parse("x foo:bar").unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad host spec \"foo:bar\" (word 2): port is not a number"
    );
    assert_eq!((err.position, err.column), (2, 2));
    let err = parse("\n\n  a/0").unwrap_err();
    assert_eq!((err.word.as_str(), err.position, err.column), ("a/0", 1, 4));
}

#[test]
fn globals_comments_and_slots() {
    let text = "# build farm\n--randomize  a/3,lzo # fast\nb:4000 #c,d\n\
                localhost --localslots=5 --localslots_cpp=20 @c,cpp#x\ny";
    let list = parse(text).unwrap();
    assert!(list.randomize);
    assert_eq!(list.local_slots, Some(5));
    assert_eq!(list.local_slots_cpp, Some(20));
    let shown: Vec<String> = list.hosts.iter().map(|h| h.to_string()).collect();
    assert_eq!(
        shown,
        [
            "a:3632/3,lzo",
            "b:4000/4",
            "localhost/2",
            "@c/4,cpp,lzo",
            "y:3632/4"
        ]
    );
    assert_eq!(list.total_slots(), 3 + 4 + 2 + 4 + 4);
    let protocols: Vec<u32> = list.hosts.iter().map(Host::protocol).collect();
    assert_eq!(protocols, [2, 1, 1, 3, 1]);
    let locals: Vec<bool> = list.hosts.iter().map(Host::is_local).collect();
    assert_eq!(locals, [false, false, true, false, false]);
}

#[test]
fn zeroconf_marks_its_place_in_the_list() {
    let list = parse("a +zeroconf b").unwrap();
    assert_eq!(list.zeroconf, Some(1));
    assert_eq!(list.hosts.len(), 2);
    assert_eq!(parse("a b").unwrap().zeroconf, None);
}

#[test]
fn empty_text() {
    assert_eq!(parse("").unwrap(), HostList::default());
    assert_eq!(parse("  # only a comment\n\n").unwrap().total_slots(), 0);
}

#[test]
fn keys_name_the_transport_only() {
    assert_eq!(tcp("a", 3632, 4).key(), "a:3632");
    assert_eq!(tcp("::1", 4000, 4).key(), "::1:4000");
    assert_eq!(ssh(Some("u"), "h", Some("/opt/distccd"), 2).key(), "u@h");
    assert_eq!(ssh(None, "h", None, 2).key(), "@h");
    let list = parse("a:1/2,lzo a:1/3,cpp localhost").unwrap();
    assert_eq!(list.hosts[0].key(), list.hosts[1].key());
    assert_eq!(list.hosts[2].key(), "localhost");
}

fn settings(hosts: Option<&str>, dir: &Path) -> Settings {
    let dir = OsString::from(dir);
    Settings::from_lookup(|name| match name {
        "DISTCC_HOSTS" => hosts.map(OsString::from),
        "DISTCC_DIR" => Some(dir.clone()),
        _ => None,
    })
}

#[test]
fn variable_then_user_file_then_system_file() {
    let tmp = tempfile::tempdir().unwrap();
    let system = tmp.path().join("system-hosts");
    let user = tmp.path().join("user");
    fs::create_dir(&user).unwrap();
    assert!(load_from(&settings(None, &user), &system)
        .unwrap()
        .is_none());

    fs::write(&system, "s:1\n").unwrap();
    let l = load_from(&settings(None, &user), &system).unwrap().unwrap();
    assert_eq!(
        (l.list.hosts[0].key(), l.source),
        ("s:1".into(), system.display().to_string())
    );

    fs::write(user.join("hosts"), "u:2 # mine\n").unwrap();
    let l = load_from(&settings(None, &user), &system).unwrap().unwrap();
    assert_eq!(l.list.hosts[0].key(), "u:2");

    let l = load_from(&settings(Some("v:3/7"), &user), &system)
        .unwrap()
        .unwrap();
    assert_eq!(
        (l.list.hosts[0].key(), l.list.hosts[0].limit),
        ("v:3".into(), 7)
    );
    assert_eq!(l.source, "DISTCC_HOSTS");

    let err = load_from(&settings(Some("a,auth"), &user), &system)
        .err()
        .unwrap();
    assert_eq!(crate::exit::code_of(&err), Code::BadHostSpec);
    assert!(format!("{err:#}").starts_with("DISTCC_HOSTS: "), "{err:#}");
}
