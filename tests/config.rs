//! Config validation and sweep expansion through the library API.

use qnet_exp::config::{parse_sweep, Val};

const BASE: &str = r#"
name = "t"
[problem]
dim = 4
samples = 50
[quant]
method = ["fp", "sr"]
delta = [0.1, 0.05]
[optim]
lr = [0.1, 0.01]
[run]
steps = 10
seeds = 3
"#;

fn errors(text: &str) -> Vec<String> {
    parse_sweep(text, "t.toml", &[]).expect_err("should be rejected")
}

#[test]
fn expansion_counts_and_collapses_keys_that_do_not_apply() {
    let s = parse_sweep(BASE, "t.toml", &[]).unwrap();
    // fp: 2 lr x 3 seeds (delta does not apply); sr: 2 delta x 2 lr x 3 seeds.
    assert_eq!(s.runs.len(), 6 + 12);
    assert_eq!(s.collapsed, 6);
    let ids: std::collections::HashSet<_> = s.runs.iter().map(|r| &r.id).collect();
    assert_eq!(ids.len(), s.runs.len());
    let fp = s.runs.iter().find(|r| r.id.starts_with("fp-")).unwrap();
    assert!(fp.param("quant.delta").is_none());
    assert_eq!(fp.param("optim.lr"), Some(&Val::Float(0.1)));
}

#[test]
fn a_runs_own_config_loads_back_to_the_same_run() {
    let s = parse_sweep(BASE, "t.toml", &[]).unwrap();
    for r in &s.runs {
        let back = parse_sweep(&r.to_toml(), "run.toml", &[]).unwrap();
        assert_eq!(back.runs.len(), 1);
        assert_eq!(back.runs[0].id, r.id);
        assert_eq!(back.runs[0].seeds, r.seeds);
    }
}

#[test]
fn seeds_share_data_across_methods_but_not_rounding() {
    let s = parse_sweep(BASE, "t.toml", &[]).unwrap();
    let a = s.runs.iter().find(|r| r.id.starts_with("fp-") && r.seed_index == 1).unwrap();
    let b = s.runs.iter().find(|r| r.id.starts_with("sr-") && r.seed_index == 1).unwrap();
    assert_eq!(a.seeds.data, b.seeds.data);
    assert_eq!(a.seeds.init, b.seeds.init);
    assert_eq!(a.seeds.batches, b.seeds.batches);
    assert_ne!(a.seeds.rounding, b.seeds.rounding);
    let c = s.runs.iter().find(|r| r.id.starts_with("fp-") && r.seed_index == 2).unwrap();
    assert_ne!(a.seeds.data, c.seeds.data);
}

#[test]
fn unknown_keys_name_the_path_and_suggest_the_right_one() {
    let e = errors(&BASE.replace("dim = 4", "dmi = 4").replace("[run]", "[run]\nstep = 3"));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e.iter().any(|l| l == "t.toml: problem.dmi: unknown key (did you mean problem.dim?)"), "{e:?}");
    assert!(e.iter().any(|l| l.contains("run.step: unknown key (did you mean run.steps?)")), "{e:?}");
    let e = errors(&BASE.replace("[optim]", "[optimizer]"));
    assert!(e[0].contains("[optimizer]: unknown section (did you mean optim?)"), "{e:?}");
    let e = errors(&BASE.replace("dim = 4", "dim = 4\nlr = 0.1"));
    assert!(e[0].contains("problem.lr: unknown key (did you mean optim.lr?)"), "{e:?}");
}

#[test]
fn wrong_types_and_ranges_are_all_reported_at_once() {
    let text = BASE
        .replace("dim = 4", "dim = \"four\"")
        .replace("lr = [0.1, 0.01]", "lr = [0.1, -0.01, 0]")
        .replace("delta = [0.1, 0.05]", "delta = []")
        .replace("steps = 10", "steps = 0");
    let e = errors(&text);
    assert!(
        e.contains(&"t.toml: problem.dim: expected an integer (or a list of them), found string \"four\"".to_string()),
        "{e:?}"
    );
    assert!(e.iter().any(|l| l.starts_with("t.toml: optim.lr[1] = -0.01: out of range")), "{e:?}");
    assert!(e.iter().any(|l| l.starts_with("t.toml: optim.lr[2] = 0: out of range, must be finite, > 0")), "{e:?}");
    assert!(e.iter().any(|l| l == "t.toml: quant.delta: empty list (a sweep axis needs at least one value)"), "{e:?}");
    assert!(e.iter().any(|l| l == "t.toml: run.steps = 0: out of range, allowed 1..=1000000000"), "{e:?}");
    assert_eq!(e.len(), 5, "{e:?}");
    assert!(e.iter().all(|l| !l.contains('\n')));
}

#[test]
fn bits_out_of_range_and_method_grid_nonsense() {
    let e = errors(&BASE.replace("delta = [0.1, 0.05]", "grid = \"bits\"\nbits = 17\nrange = 1.0"));
    assert!(e.iter().any(|l| l == "t.toml: quant.bits = 17: out of range, allowed 1..=16"), "{e:?}");
    let e = errors(&BASE.replace("delta = [0.1, 0.05]", "grid = \"bits\"\nbits = 4"));
    assert!(e.iter().any(|l| l.contains("quant.range: missing (required when quant.grid = \"bits\")")), "{e:?}");
    // Clipping BC's latent weights needs a bounded grid.
    let e = errors(&BASE.replace("method = [\"fp\", \"sr\"]", "method = \"bc\"\nclip = true"));
    assert!(e.iter().any(|l| l.contains("quant.clip = true: the grid is unbounded")), "{e:?}");
    // A key no run uses is a mistake, not a silent no-op.
    let e = errors(&BASE.replace("method = [\"fp\", \"sr\"]", "method = \"sr\"\nrounding = \"stochastic\""));
    assert!(
        e.iter().any(|l| l
            .contains("quant.rounding: set, but applies to no run of this sweep (used when quant.method = \"bc\")")),
        "{e:?}"
    );
    let e = errors(&BASE.replace("[optim]", "[optim]\nmomentum = 0.9"));
    assert!(e.iter().any(|l| l.contains("optim.momentum: set, but applies to no run")), "{e:?}");
}

#[test]
fn batch_larger_than_the_data_and_missing_name() {
    let e = errors(&BASE.replace("[optim]", "[optim]\nbatch = [10, 51]"));
    assert_eq!(e, vec!["t.toml: optim.batch = 51: larger than problem.samples = 50".to_string()]);
    let e = errors(&BASE.replace("name = \"t\"", ""));
    assert!(e[0].contains("name: missing"), "{e:?}");
    let e = errors(&BASE.replace("name = \"t\"", "name = \"../evil\""));
    assert!(e[0].contains("it names a folder"), "{e:?}");
}

#[test]
fn logistic_needs_lambda_and_a_flip_probability() {
    let e = errors(&BASE.replace("dim = 4", "dim = 4\nkind = \"logistic\"\nlambda = 0\nnoise = 0.7"));
    assert!(e.iter().any(|l| l.contains("problem.lambda = 0: logistic regression needs lambda > 0")), "{e:?}");
    assert!(e.iter().any(|l| l.contains("problem.noise = 0.7: for logistic it is a label-flip probability")), "{e:?}");
    let s = parse_sweep(&BASE.replace("dim = 4", "dim = 4\nkind = \"logistic\""), "t.toml", &[]).unwrap();
    assert_eq!(s.runs[0].convex().lambda, 1e-3);
}

#[test]
fn toml_syntax_errors_give_line_and_column() {
    let e = errors("name = \"t\"\n[problem\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("t.toml:2:"), "{e:?}");
    assert!(e[0].contains("TOML syntax error"), "{e:?}");
}

#[test]
fn overrides_use_the_same_validation() {
    let s = parse_sweep(BASE, "t.toml", &["optim.lr=[0.5, 0.25, 0.125]".into(), "run.seeds=1".into()]).unwrap();
    assert_eq!(s.runs.len(), 3 + 6);
    let e =
        parse_sweep(BASE, "t.toml", &["problem.dmi=3".into(), "optim.lr=-1".into(), "nonsense".into()]).unwrap_err();
    assert!(e.contains(&"--set: problem.dmi: unknown key (did you mean problem.dim?)".to_string()), "{e:?}");
    assert!(e.iter().any(|l| l.starts_with("--set: optim.lr = -1: out of range")), "{e:?}");
    assert!(e.iter().any(|l| l == "--set nonsense: expected key.path=value"), "{e:?}");
    // A bare word is a string.
    let s = parse_sweep(BASE, "t.toml", &["quant.method=bc".into()]).unwrap();
    assert!(s.runs.iter().all(|r| r.id.starts_with("bc-")));
}

#[test]
fn the_built_in_quickstart_is_valid() {
    let s = parse_sweep(qnet_exp::QUICKSTART, "quickstart", &[]).unwrap();
    assert_eq!(s.runs.len(), 36);
}

/// Where the data lives is not what a run computes: the data folder changes neither the
/// run ids nor the seeds, and it is no CSV column (so committed results reproduce from
/// any checkout), but a run's own config.toml still says where its data was.
#[test]
fn the_data_folder_is_a_location_not_a_parameter() {
    let net = |dir: &str| {
        let text = format!(
            "name = \"n\"\n[problem]\nkind = \"mlp\"\ndata_dir = \"{dir}\"\ntrain_size = 100\n\
             [quant]\nmethod = [\"fp\", \"sr\"]\ngrid = \"binary\"\n[optim]\nlr = 0.01\n[run]\nseeds = 2\n"
        );
        parse_sweep(&text, "n.toml", &[]).unwrap().runs
    };
    let (a, b) = (net("/one/place"), net("/another/place"));
    assert_eq!(a.len(), 4);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.id, x.seeds), (&y.id, y.seeds));
        assert!(x.to_toml().contains("/one/place") && y.to_toml().contains("/another/place"));
    }
    assert!(qnet_exp::output::summary::param_keys().all(|k| k.path != "problem.data_dir"));
}

/// Every problem of a file comes out in one round: a type error, values that do not go
/// together, and a key that applies to no run.
#[test]
fn all_errors_of_a_file_in_one_round() {
    let text = BASE.replace("dim = 4", "dim = \"four\"").replace("[optim]", "[optim]\nbatch = 51\nmomentum = 0.9");
    let e = errors(&text);
    assert!(e.iter().any(|l| l.contains("problem.dim: expected an integer")), "{e:?}");
    assert!(e.iter().any(|l| l.contains("optim.batch = 51: larger than problem.samples = 50")), "{e:?}");
    assert!(e.iter().any(|l| l.contains("optim.momentum: set, but applies to no run")), "{e:?}");
    // Nothing about the invalid key itself beyond the parser's line.
    assert_eq!(e.iter().filter(|l| l.contains("problem.dim")).count(), 1, "{e:?}");
}

#[test]
fn overrides_unset_and_blame_the_command_line() {
    let with = |ov: &[&str]| parse_sweep(BASE, "t.toml", &ov.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    // Narrowing to fp leaves quant.delta applying to no run: the error says how to drop it,
    // and --unset does.
    let e = with(&["quant.method=fp"]).unwrap_err();
    assert!(
        e.iter().any(|l| l.contains("quant.delta: set, but applies to no run") && l.contains("--unset quant.delta")),
        "{e:?}"
    );
    let s = with(&["~quant.delta", "quant.method=fp"]).unwrap();
    assert_eq!(s.runs.len(), 2 * 3);
    let e = with(&["~quant.dleta"]).unwrap_err();
    assert_eq!(
        e,
        vec!["--unset quant.dleta: the config does not set this key (did you mean quant.delta?)".to_string()]
    );
    // A whole section is not a key: dropping it would silently run another problem.
    let e = with(&["~problem"]).unwrap_err();
    assert_eq!(e, vec!["--unset problem: is a section ([problem]), not a key; unset its keys one by one".to_string()]);
    // A key or section the file does not have is blamed on --set.
    let e = with(&["nosuch.key=1"]).unwrap_err();
    assert!(e.iter().any(|l| l.starts_with("--set: [nosuch]: unknown section")), "{e:?}");
    // Bare words in a list: explained with the expected form.
    let e = with(&["quant.method=[sr,bc]"]).unwrap_err();
    assert!(e[0].contains("words in a list need quotes") && e[0].contains("[\"sr\", \"bc\"]"), "{e:?}");
    // Long values are cut in messages.
    let long = "x".repeat(5000);
    let e = with(&[&format!("quant.method={long}")]).unwrap_err();
    assert!(e.iter().all(|l| l.len() < 300), "{e:?}");
}

#[test]
fn duplicate_axis_values_and_seed_index_beyond_the_seeds_are_errors() {
    let e = errors(&BASE.replace("delta = [0.1, 0.05]", "delta = [0.1, 0.05, 0.1]"));
    assert_eq!(e, vec!["t.toml: quant.delta[2] = 0.1: appears twice in the list".to_string()]);
    let e = errors(&BASE.replace("seeds = 3", "seeds = 3\nseed_index = 3"));
    assert_eq!(e, vec!["t.toml: run.seed_index = 3: must be below run.seeds = 3".to_string()]);
    assert_eq!(parse_sweep(&BASE.replace("seeds = 3", "seeds = 3\nseed_index = 2"), "t", &[]).unwrap().runs.len(), 6);
}
