//! Built-in project and experiment templates.

use crate::model::{
    Direction, ExperimentDefaults, ExperimentTemplate, HealthcareConfig, Objective, ParamSpec,
    ProjectTemplate, Tags,
};

fn objective(metric: &str, direction: Direction, target: Option<f64>, required: bool) -> Objective {
    Objective {
        metric: metric.to_owned(),
        direction,
        target,
        required,
    }
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The spec's healthcare objectives: accuracy ≥ 0.95 and crisis detection ≥ 0.99 required,
/// response quality ≥ 0.8 desired.
pub fn healthcare_objectives() -> Vec<Objective> {
    vec![
        objective("accuracy", Direction::Maximize, Some(0.95), true),
        objective(
            "crisis_detection_rate",
            Direction::Maximize,
            Some(0.99),
            true,
        ),
        objective("response_quality", Direction::Maximize, Some(0.8), false),
    ]
}

/// Every project template, by name.
pub fn project_templates() -> Vec<ProjectTemplate> {
    vec![
        ProjectTemplate {
            name: "baseline".into(),
            description: "A plain project: no default objectives; experiments define their own.".into(),
            tags: tags(&[("template", "baseline")]),
            experiment_defaults: ExperimentDefaults::default(),
        },
        ProjectTemplate {
            name: "healthcare".into(),
            description: "Clinical / mental-health models: safety monitoring on, crisis detection ≥ 99 %, \
                          false negatives ≤ 1 %, response quality ≥ 80 %, medical disclaimer and audit trail required."
                .into(),
            tags: tags(&[("template", "healthcare"), ("domain", "healthcare")]),
            experiment_defaults: ExperimentDefaults {
                objectives: healthcare_objectives(),
                healthcare: Some(HealthcareConfig::default()),
            },
        },
        ProjectTemplate {
            name: "classification".into(),
            description: "Supervised classification: maximise accuracy and F1.".into(),
            tags: tags(&[("template", "classification")]),
            experiment_defaults: ExperimentDefaults {
                objectives: vec![
                    objective("accuracy", Direction::Maximize, None, true),
                    objective("f1", Direction::Maximize, None, false),
                ],
                healthcare: None,
            },
        },
        ProjectTemplate {
            name: "regression".into(),
            description: "Supervised regression: minimise RMSE.".into(),
            tags: tags(&[("template", "regression")]),
            experiment_defaults: ExperimentDefaults {
                objectives: vec![objective("rmse", Direction::Minimize, None, true)],
                healthcare: None,
            },
        },
    ]
}

/// Every experiment template, by name.
pub fn experiment_templates() -> Vec<ExperimentTemplate> {
    vec![
        ExperimentTemplate {
            name: "baseline".into(),
            description: "A single reference configuration to compare others against.".into(),
            objectives: vec![],
            search_space: Default::default(),
            healthcare: None,
            tags: tags(&[("template", "baseline")]),
        },
        ExperimentTemplate {
            name: "hyperparameter_search".into(),
            description: "A hyperparameter search minimising validation loss over learning rate, batch size and dropout."
                .into(),
            objectives: vec![objective("val_loss", Direction::Minimize, None, true)],
            search_space: [
                ("learning_rate".to_owned(), ParamSpec::Float { low: 1e-5, high: 1e-1, log: true }),
                (
                    "batch_size".to_owned(),
                    ParamSpec::Categorical { choices: vec![16.into(), 32.into(), 64.into(), 128.into()] },
                ),
                ("dropout".to_owned(), ParamSpec::Float { low: 0.0, high: 0.5, log: false }),
            ]
            .into_iter()
            .collect(),
            healthcare: None,
            tags: tags(&[("template", "hyperparameter_search")]),
        },
        ExperimentTemplate {
            name: "healthcare_safety".into(),
            description: "Safety validation of a healthcare model against the spec's thresholds.".into(),
            objectives: healthcare_objectives(),
            search_space: Default::default(),
            healthcare: Some(HealthcareConfig::default()),
            tags: tags(&[("template", "healthcare_safety"), ("domain", "healthcare")]),
        },
        ExperimentTemplate {
            name: "ab_test".into(),
            description: "Two or more variants compared on one primary metric.".into(),
            objectives: vec![objective("conversion_rate", Direction::Maximize, None, true)],
            search_space: Default::default(),
            healthcare: None,
            tags: tags(&[("template", "ab_test")]),
        },
    ]
}

/// Looks a project template up by name.
pub fn project_template(name: &str) -> Option<ProjectTemplate> {
    project_templates().into_iter().find(|t| t.name == name)
}

/// Looks an experiment template up by name.
pub fn experiment_template(name: &str) -> Option<ExperimentTemplate> {
    experiment_templates().into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcare_template_carries_the_spec_thresholds() {
        let t = project_template("healthcare").unwrap();
        let hc = t.experiment_defaults.healthcare.unwrap();
        assert_eq!(hc.min_crisis_detection_rate, 0.99);
        assert_eq!(hc.max_false_negative_rate, 0.01);
        let crisis = t
            .experiment_defaults
            .objectives
            .iter()
            .find(|o| o.metric == "crisis_detection_rate")
            .unwrap();
        assert_eq!((crisis.target, crisis.required), (Some(0.99), true));
        assert!(project_template("baseline").is_some());
        assert!(project_template("nope").is_none());
    }
}
