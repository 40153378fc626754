//! Recipes as stages: `response`, `tinybert`, and `[[distill.stages]]` written in TOML.

use alambic::distill::LayerMapSpec;

#[test]
fn recipes_resolve_to_stages_and_custom_stages_parse_from_toml() {
    use alambic::distill::LossSpec;
    use alambic::distill::stages::resolve;
    use alambic::train::ExperimentConfig;
    let dir = crate::common::scratch_dir("stages-config");
    let file = dir.join("stages.toml");
    std::fs::write(
        &file,
        r#"
[train]
epochs = 2
lr = 1e-4
[distill]
recipe = "stages"
layer_map = [[1, 2], [2, 4]]
[[distill.stages]]
name = "hidden"
epochs = 5
terms = [{ term = "hidden_mse", weight = 2.0 }, { term = "attention_prob_kl", weight = 0.5 }]
[[distill.stages]]
name = "logits"
lr = 3e-5
terms = [{ term = "response", alpha = 0.9 }, { term = "logit_mse", weight = 0.1 }]
"#,
    )
    .expect("write");
    let cfg = ExperimentConfig::load(Some(&file), &[]).expect("config");
    assert_eq!(
        cfg.distill.layer_map,
        LayerMapSpec::Pairs(vec![[1, 2], [2, 4]])
    );
    let stages = resolve(&cfg.distill, &cfg.train).expect("stages");
    let summary: Vec<(&str, usize, f64, usize)> = stages
        .iter()
        .map(|s| (s.name.as_str(), s.epochs, s.lr, s.terms.len()))
        .collect();
    assert_eq!(summary, [("hidden", 5, 1e-4, 2), ("logits", 2, 3e-5, 2)]);
    assert_eq!(
        stages[1].terms[0],
        LossSpec::Response {
            alpha: Some(0.9),
            temperature: None
        }
    );

    // TinyBERT's recipe: intermediate layers, then the prediction layer.
    let tiny = ExperimentConfig::load(None, &["distill.recipe=tinybert".into()]).expect("cfg");
    let names: Vec<String> = resolve(&tiny.distill, &tiny.train)
        .expect("tinybert")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["intermediate", "prediction"]);

    // A misspelt term or recipe fails when the config is read, naming where it came from.
    std::fs::write(
        &file,
        "[distill]\nrecipe = \"stages\"\n[[distill.stages]]\nname = \"x\"\nterms = [{ term = \"hiden_mse\", weight = 1.0 }]\n",
    )
    .expect("write");
    let err = ExperimentConfig::load(Some(&file), &[])
        .expect_err("typo")
        .to_string();
    assert!(err.contains("hiden_mse"), "{err}");
    let err = ExperimentConfig::load(None, &["distill.recipe=fitnet".into()])
        .expect_err("recipe")
        .to_string();
    assert!(
        err.starts_with("--set distill.recipe=fitnet: unknown variant `fitnet`, expected one of `response`, `tinybert`, `progressive`, `stages`"),
        "{err}"
    );
    assert!(err.contains("in `distill.recipe`"), "{err}");
}

/// `progressive` is one stage per student layer, known once the student is: `expand` names
/// them `layer-1` … and keeps the embedding term for layer 1 alone; `layer` in a written stage
/// is "all", "each" or a number, and anything else fails naming the key.
#[test]
fn progressive_expands_to_one_stage_per_student_layer() {
    use alambic::distill::LossSpec;
    use alambic::distill::stages::{StageLayers, expand, resolve};
    use alambic::train::ExperimentConfig;
    let cfg = ExperimentConfig::load(
        None,
        &[
            "distill.recipe=\"progressive\"".into(),
            "distill.layer_epochs=1".into(),
        ],
    )
    .expect("cfg");
    let stages = expand(resolve(&cfg.distill, &cfg.train).expect("resolve"), 3).expect("expand");
    let names: Vec<(&str, StageLayers, usize, usize)> = stages
        .iter()
        .map(|s| (s.name.as_str(), s.layer, s.terms.len(), s.epochs))
        .collect();
    assert_eq!(
        names,
        [
            ("layer-1", StageLayers::One(1), 3, 1),
            ("layer-2", StageLayers::One(2), 2, 1),
            ("layer-3", StageLayers::One(3), 2, 1),
            ("prediction", StageLayers::All, 1, 3)
        ]
    );
    assert!(
        stages[1]
            .terms
            .iter()
            .all(|t| !matches!(t, LossSpec::EmbeddingMse { .. }))
    );

    let dir = crate::common::scratch_dir("stages-layer");
    let file = dir.join("layer.toml");
    let write = |layer: &str| {
        std::fs::write(
            &file,
            format!(
                "[distill]\nrecipe = \"stages\"\n[[distill.stages]]\nname = \"x\"\nlayer = {layer}\n\
                 terms = [{{ term = \"hidden_mse\", weight = 1.0 }}]\n"
            ),
        )
        .expect("write");
    };
    for (layer, want) in [
        ("\"each\"", StageLayers::Each),
        ("\"all\"", StageLayers::All),
        ("4", StageLayers::One(4)),
    ] {
        write(layer);
        let cfg = ExperimentConfig::load(Some(&file), &[]).expect("layer");
        assert_eq!(cfg.distill.stages[0].layer, want, "{layer}");
    }
    // Layer 4 of a 3-layer student is found when the student is known.
    let err = expand(
        resolve(
            &ExperimentConfig::load(Some(&file), &[])
                .expect("cfg")
                .distill,
            &cfg.train,
        )
        .expect("resolve"),
        3,
    )
    .expect_err("layer 4 of 3");
    assert!(
        err.contains("layer = 4, but the student has layers 1..3"),
        "{err}"
    );
    write("\"every\"");
    let err = ExperimentConfig::load(Some(&file), &[])
        .expect_err("every")
        .to_string();
    assert!(err.contains("distill.stages"), "{err}");
}
