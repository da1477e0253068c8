//! The shared pack: records found again by another opener (also those
//! appended after it opened), damage and
//! torn writes ignored, the size bound kept, several processes writing
//! at once.

use super::*;

fn key(n: u64) -> Key {
    [n, n * 7, 3, 4, 5, 6, 7]
}

fn payload(n: u64) -> Vec<u8> {
    format!("payload {n} ")
        .repeat(1 + n as usize % 5)
        .into_bytes()
}

fn small() -> Limits {
    Limits {
        max_bytes: 1 << 20,
        slots: 256,
    }
}

#[test]
fn records_are_found_by_a_later_opener() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("sub/p.pack");
    let mut p = Pack::open(&path, small()).unwrap();
    for n in 0..50 {
        p.put(1, &key(n), &payload(n));
    }
    assert_eq!(p.get(1, &key(3)), None, "queued, not yet written");
    p.flush().unwrap();
    let q = Pack::open(&path, small()).unwrap();
    for n in 0..50 {
        assert_eq!(q.get(1, &key(n)), Some(&payload(n)[..]), "record {n}");
    }
    assert_eq!(q.get(2, &key(3)), None, "another kind");
    let mut other = key(3);
    other[6] = 99;
    assert_eq!(q.get(1, &other), None, "the same tag, another key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.path().join("sub"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the cache dir is private");
}

#[test]
fn a_record_appended_since_opening_is_found_by_get_latest() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    let mut reader = Pack::open(&path, small()).unwrap();
    let mut writer = Pack::open(&path, small()).unwrap();
    for n in 0..20 {
        writer.put(1, &key(n), &payload(n));
    }
    writer.flush().unwrap();
    assert_eq!(reader.get(1, &key(5)), None, "past what it mapped");
    assert_eq!(reader.get_latest(1, &key(5)), Some(&payload(5)[..]));
    assert_eq!(reader.get(1, &key(6)), Some(&payload(6)[..]));
    assert_eq!(reader.get_latest(1, &key(99)), None);
}

#[test]
fn a_record_past_the_end_of_a_mapping_grown_mid_append_is_found() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    let mut reader = Pack::open(&path, small()).unwrap();
    let mut writer = Pack::open(&path, small()).unwrap();
    let big = vec![b'x'; 3 * 4096];
    writer.put(1, &key(1), &big);
    writer.flush().unwrap();
    // The reader sized the file while that append was under way: its
    // mapping ends inside the record, past the record's head.
    let len = reader.file.metadata().unwrap().len() as usize;
    reader.map.grow(len - 4096).unwrap();
    assert!(reader.get(1, &key(1)).is_none(), "not whole in the mapping");
    assert!(
        reader.get_latest(1, &key(1)) == Some(&big[..]),
        "grown to it"
    );
}

#[test]
fn a_newer_record_replaces_an_older_one() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    let mut p = Pack::open(&path, small()).unwrap();
    p.put(1, &key(1), b"old");
    p.flush().unwrap();
    p.put(1, &key(1), b"new");
    drop(p);
    let q = Pack::open(&path, small()).unwrap();
    assert_eq!(q.get(1, &key(1)), Some(&b"new"[..]));
}

/// Every byte of a record flipped in turn: the lookup misses or (for
/// the padding) still finds the same payload, never another one.
#[test]
fn a_damaged_record_is_ignored() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    let mut p = Pack::open(&path, small()).unwrap();
    p.put(1, &key(1), b"the payload!");
    drop(p);
    let good = std::fs::read(&path).unwrap();
    let start = HEAD + 256 * 16;
    assert!(good.len() > start);
    for i in start..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        let q = Pack::open(&path, small()).unwrap();
        match q.get(1, &key(1)) {
            None => {}
            Some(b) => assert_eq!(b, b"the payload!", "byte {i}"),
        }
    }
}

/// A record cut short (a writer killed mid-append, a full disk), then
/// later appends after it: the torn one misses, the rest are found.
#[test]
fn a_torn_record_is_ignored() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    let mut p = Pack::open(&path, small()).unwrap();
    p.put(1, &key(1), &payload(1));
    p.flush().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    // Cut the record's last 8 bytes, as a short write would leave it.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 8)
        .unwrap();
    drop(p);
    let mut p = Pack::open(&path, small()).unwrap();
    assert_eq!(p.get(1, &key(1)), None);
    p.put(1, &key(2), &payload(2));
    p.flush().unwrap();
    let q = Pack::open(&path, small()).unwrap();
    assert_eq!(q.get(1, &key(2)), Some(&payload(2)[..]));
    assert_eq!(q.get(1, &key(1)), None);
}

#[test]
fn a_foreign_file_is_replaced() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    std::fs::write(&path, b"something else entirely").unwrap();
    let mut p = Pack::open(&path, small()).unwrap();
    p.put(1, &key(1), b"x");
    drop(p);
    let q = Pack::open(&path, small()).unwrap();
    assert_eq!(q.get(1, &key(1)), Some(&b"x"[..]));
}

#[test]
fn the_size_bound_is_kept() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    let limits = Limits {
        max_bytes: 64 << 10,
        slots: 1024,
    };
    let big = vec![7u8; 1000];
    let mut max_seen = 0;
    for round in 0..40u64 {
        let mut p = Pack::open(&path, limits).unwrap();
        for n in 0..10 {
            p.put(1, &key(round * 10 + n), &big);
        }
        p.flush().unwrap();
        max_seen = max_seen.max(std::fs::metadata(&path).unwrap().len());
    }
    let data_start = (HEAD + 1024 * 16) as u64;
    // One batch may pass the bound; the next opener finds it compacted.
    assert!(max_seen <= limits.max_bytes + 11_000, "{max_seen}");
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len - data_start > 8 << 10, "compaction kept live records");
    let q = Pack::open(&path, limits).unwrap();
    let found = (0..400)
        .filter(|&n| q.get(1, &key(n)) == Some(&big[..]))
        .count();
    assert!(found > 5 && found < 400, "{found}");
    let stray = std::fs::read_dir(t.path()).unwrap().count();
    assert_eq!(stray, 1, "no temp files left");
}

/// The child half of the test below: appends its records in many small
/// batches. Runs only when the parent sets the variable.
#[test]
fn pack_writer_child() {
    let Ok(spec) = std::env::var("PACK_WRITER_CHILD") else {
        return;
    };
    let (path, id) = spec.split_once(',').unwrap();
    let id: u64 = id.parse().unwrap();
    let mut p = Pack::open(Path::new(path), small()).unwrap();
    for n in 0..200 {
        p.put(1, &key(id * 1000 + n), &payload(id * 1000 + n));
        if n % 3 == 0 {
            p.flush().unwrap();
        }
    }
}

#[test]
fn concurrent_writers_from_several_processes() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("p.pack");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (1..=4)
        .map(|id| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "includes::pack::tests::pack_writer_child",
                    "--quiet",
                ])
                .env("PACK_WRITER_CHILD", format!("{},{id}", path.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let q = Pack::open(&path, small()).unwrap();
    let mut found = 0;
    for id in 1..=4u64 {
        for n in 0..200 {
            let k = id * 1000 + n;
            if let Some(b) = q.get(1, &key(k)) {
                assert_eq!(b, &payload(k)[..], "record {k}");
                found += 1;
            }
        }
    }
    // 800 records in 256 slots: what is missing was evicted, never wrong.
    assert!(found >= 200, "{found} of 800 found");
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    let want: usize = (1..=4u64)
        .flat_map(|id| (0..200).map(move |n| id * 1000 + n))
        .map(|k| (REC_HEAD + payload(k).len()).next_multiple_of(8))
        .sum();
    assert_eq!(len, HEAD + 256 * 16 + want, "every append whole, none lost");
}

#[test]
fn checks_differ_for_different_bytes() {
    assert_ne!(check(0, b"abc"), check(1, b"abc"));
    assert_ne!(check(0, b"abc"), check(0, b"abd"));
    assert_ne!(check(0, b""), check(0, b"\0"));
    let long = vec![1u8; 100];
    let mut other = long.clone();
    other[99] = 2;
    assert_ne!(check(0, &long), check(0, &other));
}
