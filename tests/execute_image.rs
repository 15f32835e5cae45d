//! Builds (or reuses) the runner image in the local Docker engine. Needs a real
//! engine and the host's apt mirror and Python package index; fails loudly
//! without them.

use assay::execute::{docker, ensure_runner_image, Progress, RunnerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_image_is_built_once_and_reused() {
    let engine = docker::connect()
        .await
        .expect("these tests need a running Docker engine (DOCKER_HOST or /var/run/docker.sock)");
    let cfg = RunnerConfig::default();
    let started = std::time::Instant::now();
    let tag = ensure_runner_image(&cfg, &Progress::quiet())
        .await
        .expect("runner image");
    eprintln!(
        "ensure_runner_image: {tag} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(tag.starts_with("assay-runner:"), "{tag}");
    assert!(docker::image_exists(&engine, &tag).await.unwrap());

    // Same inputs, same tag: the second call must reuse the image, not rebuild.
    let again = ensure_runner_image(&cfg, &Progress::quiet()).await.unwrap();
    assert_eq!(tag, again);

    let inspect = engine.inspect_image(&tag).await.unwrap();
    let config = inspect.config.expect("image config");
    assert_eq!(config.user.as_deref(), Some("10001"));
    assert!(config.cmd.unwrap_or_default().contains(&"idle".to_string()));
    eprintln!("image size: {} MB", inspect.size.unwrap_or(0) / 1_000_000);
}
