#[test]
fn dump() {
    let name = std::env::var("FIX").unwrap();
    let path = format!("{}/fixtures/dags/{name}", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap();
    let (file, dags) = assay::analyse::dag::analyse_source(&name, &src, true).unwrap();
    println!("{}", serde_json::to_string_pretty(&file).unwrap());
    for d in &dags {
        println!(
            "DAG {} {:?} settings={:?}",
            d.dag_id,
            d.style,
            d.settings
                .iter()
                .map(|(k, v)| format!("{k}={}", v.value.describe()))
                .collect::<Vec<_>>()
        );
        for t in &d.tasks {
            println!("  {} [{}] {:?} ({}) check={} retries={} delay={} backoff={} timeout={} cb={} dbt={:?}", t.task_id, t.operator, t.stages, t.stage_reason, t.is_check,
              t.setting("retries").value.describe(), t.setting("retry_delay").value.describe(), t.setting("retry_exponential_backoff").value.describe(),
              t.setting("execution_timeout").value.describe(), t.setting("on_failure_callback").value.describe(), t.dbt.iter().map(|i| i.command.clone()).collect::<Vec<_>>());
        }
        for e in &d.edges {
            println!("  {} -> {} ({:?} l{})", e.from, e.to, e.how, e.line);
        }
        println!("  cycle={:?}", d.cycle);
    }
}
