//! The DAG analyser and the Pipeline Design checks on the exercise's reference
//! solutions: each lands in the bands its `expected.toml` allows. The starter's
//! DAG, unchanged, earns nothing.

use std::path::Path;

use assay::acquire::SourceKind;
use assay::analyse::dag::{analyse_source, DagFacts};
use assay::facts::{Facts, SubmissionFacts};
use assay::rubric::Rubric;

fn band(root: &Path, name: &str, rubric: &Rubric) -> (f64, u8) {
    let dag_file = |n: &str| root.join(n).join("dags/marketplace_elt.py");
    let src = std::fs::read_to_string(dag_file(name)).unwrap();
    let starter = std::fs::read_to_string(dag_file("starter")).unwrap();
    let (file, dags) = analyse_source("dags/marketplace_elt.py", &src, src != starter).unwrap();
    let facts = Facts {
        submission: SubmissionFacts {
            name: name.into(),
            kind: SourceKind::Folder,
            commit: None,
            starter_compared: true,
        },
        inventory: Default::default(),
        history: None,
        dag: DagFacts {
            files: vec![file],
            dags,
        },
        dbt: Default::default(),
        code: Default::default(),
        docs: Default::default(),
        review: None,
        execution: None,
    };
    let results = assay::grade::run_checks(rubric, &facts);
    let (dims, _) = assay::score::score(rubric, &results, &|id| id.to_string());
    let d = dims.iter().find(|d| d.id == "pipeline_design").unwrap();
    (d.score.unwrap_or(0.0), d.band.unwrap_or(1))
}

#[test]
fn reference_dags_land_in_their_pipeline_design_bands() {
    let home = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = home.join("reference-solutions/marketplace-elt");
    let rubric = Rubric::load(&home.join("rubric/marketplace-elt.toml"), &|id| {
        assay::checks::find(id).is_some()
    })
    .unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(expected) = std::fs::read_to_string(dir.join("expected.toml")) else {
            continue;
        };
        if !dir.join("dags/marketplace_elt.py").is_file() {
            continue;
        }
        let expected: toml::Table = toml::from_str(&expected).unwrap();
        let range = expected["bands"]["pipeline_design"].as_array().unwrap();
        let (lo, hi) = (
            range[0].as_integer().unwrap(),
            range[1].as_integer().unwrap(),
        );
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (score, band) = band(&root, &name, &rubric);
        assert!(
            (lo..=hi).contains(&(band as i64)),
            "{name}: pipeline design {score} is band {band}, expected {lo}-{hi}"
        );
        seen += 1;
    }
    assert!(seen >= 4, "only {seen} reference solutions carry a DAG");
}
