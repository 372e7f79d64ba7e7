//! The README stays true: the key table is the one the code generates, and every listed
//! config file exists and is valid.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_key_table_is_the_generated_one() {
    let r = readme();
    let start = r.find("<!-- keys: generated").expect("README marks the key table");
    let body = &r[r[start..].find('\n').unwrap() + start + 1..];
    let table = &body[..body.find("<!-- keys: end -->").expect("README marks the end of the key table")];
    assert_eq!(
        table,
        qnet_exp::config::schema::markdown_table(),
        "the README's key table is out of date: paste the output of `qnet-exp keys`"
    );
}

#[test]
fn readme_lists_only_configs_that_exist_and_they_are_valid() {
    let r = readme();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = format!("configs/{}", p.file_name().unwrap().to_string_lossy());
        assert!(r.contains(&name), "README does not mention {name}");
        qnet_exp::config::load_sweep(&p, &[]).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        n += 1;
    }
    assert!(n >= 5);
    for word in r.split(|c: char| c.is_whitespace() || c == '`' || c == '|') {
        if let Some(rest) = word.strip_prefix("configs/") {
            if rest.ends_with(".toml") && !rest.contains('*') {
                assert!(std::path::Path::new(dir).join(rest).is_file(), "README names missing {word}");
            }
        }
    }
}

/// The quickstart table shown in the README is what the first set-up command prints: every
/// line of it (the elided `...` aside) is a line of `qnet-exp run configs/quickstart.toml`.
#[test]
fn readme_quickstart_table_is_what_the_run_prints() {
    let r = readme();
    let start = r.find("\nmethod  lr").expect("README shows the quickstart table") + 1;
    let shown: Vec<&str> = r[start..].lines().take_while(|l| !l.starts_with("```")).filter(|l| *l != "...").collect();
    assert!(shown.len() >= 6, "{shown:?}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/quickstart.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qnet-exp"))
        .args(["run", cfg, "--out", "r", "--progress", "none"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    let printed: Vec<&str> = printed.lines().collect();
    for line in shown {
        assert!(printed.contains(&line), "README line not printed by the quickstart run: {line:?}\n{printed:#?}");
    }
}
