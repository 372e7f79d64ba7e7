//! The README stays true: every config key and every listed config file exists.

use qnet_exp::config::schema::KEYS;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_documents_every_config_key() {
    let r = readme();
    for k in KEYS {
        assert!(r.contains(&format!("`{}`", k.path)), "README does not document {}", k.path);
    }
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
