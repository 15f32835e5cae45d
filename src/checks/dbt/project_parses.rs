use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Evidence, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// The submission holds a `dbt_project.yml` that a YAML parser reads, naming the
    /// project and the profile it connects with.
    ///
    /// ## Why it matters
    /// Without a readable project file dbt cannot parse the project at all: no model
    /// builds and no test runs, so nothing else about the dbt work can be verified.
    ///
    /// ## How to pass
    /// Keep `dbt_project.yml` valid YAML with `name:` and `profile:` set, as the
    /// starter ships it. `dbt parse` on your machine reports the same problems.
    pub struct ProjectParses {
        id: "dbt.project_parses",
        title: "dbt_project.yml is readable",
        confidence: Static,
    }
}

impl Check for ProjectParses {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let id = self.meta().id;
        let projects = &cx.facts.inventory.dbt_projects;
        if projects.is_empty() {
            return CheckResult::new(
                id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "no dbt_project.yml in the submission",
            );
        }
        let mut evidence = Vec::new();
        let mut broken = 0;
        for project in projects {
            let file = if project.root.is_empty() {
                "dbt_project.yml".to_string()
            } else {
                format!("{}/dbt_project.yml", project.root)
            };
            match (&project.error, &project.name, &project.profile) {
                (Some(err), _, _) => {
                    broken += 1;
                    evidence.push(Evidence::at(file, None, format!("cannot be read: {err}")));
                }
                (None, Some(name), Some(profile)) => evidence.push(Evidence::at(
                    file,
                    None,
                    format!("project `{name}`, profile `{profile}`"),
                )),
                (None, _, _) => {
                    broken += 1;
                    evidence.push(Evidence::at(file, None, "names no project or no profile"));
                }
            }
        }
        let outcome = if broken == 0 {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        let summary = if broken == 0 {
            format!("{} dbt project file(s) read", projects.len())
        } else {
            format!(
                "{broken} of {} dbt project file(s) are broken",
                projects.len()
            )
        };
        CheckResult::new(id, outcome, Self::META.confidence, summary).with_all_evidence(evidence)
    }
}
