//! One option occurrence of a compiler command line, resolved against the
//! flag table: which row, its argument (joined or the next word), and how
//! many words it spans. The client's scanner, the daemon's policy and the
//! mirror all walk an argv with [`parse_opt`].

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use super::flags::{self, Class, Shape, Value};

/// One option occurrence, resolved against the flag table.
#[derive(Debug)]
pub struct Opt<'a> {
    pub text: String,
    pub flag: &'static flags::Flag,
    pub value: Option<&'a OsStr>,
    /// Set for `-o file` and friends, where the value is a word of its own.
    pub separate: bool,
}

/// Resolves the option at `args[i]`; an unknown option or a missing
/// argument is an error that says which.
pub fn parse_opt(args: &[OsString], i: usize) -> Result<Opt<'_>, String> {
    let text = args[i].to_string_lossy().into_owned();
    let (flag, value) = flags::lookup(&text).ok_or_else(|| format!("unknown option {text}"))?;
    let (value, separate) = match value {
        Value::Absent => (None, false),
        Value::Joined(_) => {
            // Slice the original bytes: the name is ASCII, so offsets agree
            // even when the rest is not UTF-8.
            let skip = flag.name.len() + usize::from(flag.shape == Shape::EqOrSeparate);
            (Some(OsStr::from_bytes(&args[i].as_bytes()[skip..])), false)
        }
        Value::Next => match args.get(i + 1) {
            Some(next) => (Some(next.as_os_str()), true),
            None => return Err(format!("missing argument to {text}")),
        },
    };
    Ok(Opt {
        text,
        flag,
        value,
        separate,
    })
}

impl Opt<'_> {
    /// The option's class once its argument is known.
    pub fn class(&self) -> Class {
        let value = self.value.map(|v| v.to_string_lossy());
        self.flag.classify(value.as_deref())
    }

    /// Words the option takes: 1, or 2 with a separate argument.
    pub fn span(&self) -> usize {
        1 + usize::from(self.separate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn joined_separate_and_missing_arguments() {
        let a = argv("-o x.o -Iinc --param=a=1 -c -include");
        let o = parse_opt(&a, 0).unwrap();
        assert_eq!(
            (o.value, o.separate, o.span()),
            (Some(OsStr::new("x.o")), true, 2)
        );
        let i = parse_opt(&a, 2).unwrap();
        assert_eq!(
            (i.flag.name, i.value, i.span()),
            ("-I", Some(OsStr::new("inc")), 1)
        );
        let p = parse_opt(&a, 3).unwrap();
        assert_eq!(p.value, Some(OsStr::new("a=1")), "the = is the shape's");
        assert_eq!(
            parse_opt(&a, 4).unwrap().class(),
            Class::Mode(flags::ModeFlag::Compile)
        );
        assert!(parse_opt(&a, 5).unwrap_err().contains("missing argument"));
        assert!(parse_opt(&argv("--frob"), 0)
            .unwrap_err()
            .contains("unknown option"));
    }
}
