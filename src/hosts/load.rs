//! Where the host list comes from: `DISTCC_HOSTS`, else `$DISTCC_DIR/hosts`,
//! else `/etc/distcc/hosts`, as in the reference. The client and the
//! monitor read it alike.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::{parse, HostList};
use crate::exit::Code;
use crate::settings::Settings;

/// The system-wide host file, read when neither of the user's says.
const SYSTEM_HOSTS: &str = "/etc/distcc/hosts";

/// A host list and where it came from, for messages.
pub struct Loaded {
    pub list: HostList,
    pub source: String,
}

/// Reads the host list: `DISTCC_HOSTS`, else `$DISTCC_DIR/hosts`, else
/// `/etc/distcc/hosts`. `None` when none of them exists; a list that does
/// not parse fails with exit 106 (bad host specification).
pub fn load(settings: &Settings) -> Result<Option<Loaded>> {
    load_from(settings, Path::new(SYSTEM_HOSTS))
}

fn load_from(settings: &Settings, system: &Path) -> Result<Option<Loaded>> {
    let (text, source) = match &settings.hosts {
        Some(t) => (t.clone(), "DISTCC_HOSTS".to_string()),
        None => {
            let files = [settings.dir.join("hosts"), PathBuf::from(system)];
            match files
                .iter()
                .find_map(|f| fs::read_to_string(f).ok().map(|t| (t, f)))
            {
                Some((t, f)) => (t, f.display().to_string()),
                None => return Ok(None),
            }
        }
    };
    let list =
        parse(&text).map_err(|e| anyhow!(Code::BadHostSpec).context(format!("{source}: {e}")))?;
    Ok(Some(Loaded { list, source }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

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
}
