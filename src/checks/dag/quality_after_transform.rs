use super::{candidate_dags, capped, result, task_evidence};
use crate::analyse::dag::Stage;
use crate::checks::{Check, CheckContext, CheckMeta, CheckResult, Outcome};

crate::declare_check! {
    /// ## What it checks
    /// A separate data-quality step runs after the transformation: a task of the
    /// test stage (dbt test, a SQL check operator, a Python check that raises on
    /// bad data, a dbt assertion macro) downstream of every transforming task.
    /// Tests only inside `dbt build` earn half; a check that runs in parallel
    /// with the transformation earns nothing for that transformation.
    ///
    /// ## Why it matters
    /// A quality gate is what stops wrong numbers before they are published: a
    /// reconciliation that fails the run when payments stop matching orders
    /// catches what column tests cannot.
    ///
    /// ## How to pass
    /// After the dbt tasks, add `dbt test` and a gate on the business rule
    /// (e.g. a reconciliation rate) as their own tasks, upstream of publishing.
    pub struct QualityAfterTransform {
        id: "dag.quality_after_transform",
        title: "A data-quality step follows the transformation",
        confidence: Static,
    }
}

impl Check for QualityAfterTransform {
    fn meta(&self) -> &'static CheckMeta {
        &Self::META
    }

    fn run(&self, cx: &CheckContext) -> CheckResult {
        let dags = match candidate_dags(cx, &Self::META) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let (mut bad, mut good) = (Vec::new(), Vec::new());
        let (mut n, mut credit) = (0usize, 0.0);
        for d in &dags {
            for t in d.tasks.iter().filter(|t| t.has_stage(Stage::Transform)) {
                n += 1;
                let later = d.descendants(&t.task_id);
                let gate = later
                    .iter()
                    .filter_map(|id| d.task(id))
                    .find(|u| u.has_stage(Stage::Test) && !u.has_stage(Stage::Transform));
                match gate {
                    Some(g) => {
                        credit += 1.0;
                        good.push(task_evidence(
                            t,
                            format!("checked afterwards by `{}`", g.task_id),
                        ));
                    }
                    None if t.has_stage(Stage::Test) => {
                        credit += 0.5;
                        bad.push(task_evidence(
                            t,
                            "its own tests run inside it, but no separate check follows",
                        ));
                    }
                    None => bad.push(task_evidence(t, "no data-quality step runs after it")),
                }
            }
        }
        if n == 0 {
            return CheckResult::new(
                Self::META.id,
                Outcome::NotAttempted,
                Self::META.confidence,
                "no task transforms data",
            );
        }
        result(
            &Self::META,
            credit / n as f64,
            format!("{credit} of {n} transforming task(s) are followed by a quality check"),
            capped(bad, good),
            cx,
        )
    }
}
