//! Exact mode's way back: what a compile in the mirror returns names the
//! mirror's private root, which the client must never see. The object is
//! mapped by the compiler itself (`-ffile-prefix-map`, set by `mirror`);
//! diagnostics and the `.d` file are mapped here, by removing the root and
//! re-wrapping the `.d` file as the client's gcc would have wrapped it.

/// Removes every occurrence of `prefix`: the server's private root in
/// exact mode, so mirrored paths read as the client's own.
pub fn remove_all(bytes: Vec<u8>, prefix: &[u8]) -> Vec<u8> {
    if prefix.is_empty() || bytes.len() < prefix.len() {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(prefix) {
            i += prefix.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Re-wraps a `.d` file the way gcc wraps it (72 columns, counted on the
/// names as written). gcc wrapped the server's copy at the lengths of the
/// mirrored paths; once the root is removed, the breaks must move back to
/// where the client's compiler would have put them.
pub fn reflow_deps(d: &[u8]) -> Vec<u8> {
    const COLMAX: usize = 72;
    let joined = String::from_utf8_lossy(d).replace(" \\\n", " ");
    let mut lines = joined.split_inclusive('\n');
    let Some(rule) = lines.next() else {
        return d.to_vec();
    };
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = rule.trim_end_matches('\n').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let Some(colon) = tokens.iter().position(|t| t.ends_with(':')) else {
        return d.to_vec();
    };
    let mut out = String::with_capacity(d.len() + 16);
    let mut col = 0usize;
    let write_name = |out: &mut String, name: &str, col: &mut usize| {
        if *col > 0 {
            if *col + name.len() > COLMAX {
                out.push_str(" \\\n");
                *col = 0;
            }
            *col += 1;
            out.push(' ');
        }
        *col += name.len();
        out.push_str(name);
    };
    for (i, t) in tokens[..=colon].iter().enumerate() {
        let name = if i == colon {
            &t[..t.len() - 1]
        } else {
            t.as_str()
        };
        write_name(&mut out, name, &mut col);
    }
    out.push(':');
    col += 1;
    for t in &tokens[colon + 1..] {
        write_name(&mut out, t, &mut col);
    }
    out.push('\n');
    for l in lines {
        out.push_str(l);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_all_strips_the_root() {
        assert_eq!(
            remove_all(b"/j/root/p/x.c:1: error /j/root/q".to_vec(), b"/j/root"),
            b"/p/x.c:1: error /q"
        );
    }

    #[test]
    fn deps_are_rewrapped_like_gcc() {
        let server = b"obj/f0.o: src/a/f0.c include/common.h include/../include/detail/more.h \\\n /home/someone/projects/demo1/vendor/include/vendor.h \\\n gen/gen.h\n\ngen/gen.h:\n";
        let want = b"obj/f0.o: src/a/f0.c include/common.h include/../include/detail/more.h \\\n /home/someone/projects/demo1/vendor/include/vendor.h gen/gen.h\n\ngen/gen.h:\n";
        assert_eq!(
            String::from_utf8_lossy(&reflow_deps(server)),
            String::from_utf8_lossy(want)
        );
        let spaced = b"a\\ b.o: x\\ y.c\n";
        assert_eq!(reflow_deps(spaced), spaced.to_vec());
    }
}
