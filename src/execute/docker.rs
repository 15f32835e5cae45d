//! The only module that talks to the Docker engine.
//!
//! Containers created here are tracked in a process-wide registry and removed by
//! their [`ContainerGuard`] on drop (including unwinding from a panic) and by the
//! Ctrl-C handler from [`install_interrupt_cleanup`].

use super::ExecuteError;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Label put on every container assay creates, so leftovers can be found.
pub const CONTAINER_LABEL: &str = "dev.assay.sandbox";
/// Label naming the run (one `assay` command) a container belongs to, so that
/// runs sharing an engine can tell their containers apart.
pub const RUN_LABEL: &str = "dev.assay.run";

/// This process's run id, the value of [`RUN_LABEL`] on every container it
/// creates: `ASSAY_RUN_ID` when set (a CI job that wants to find its own
/// containers), otherwise random.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        std::env::var("ASSAY_RUN_ID")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()))
    })
}

fn live() -> &'static Mutex<HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

fn live_ids() -> Vec<String> {
    live()
        .lock()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

/// Connects to the local engine (DOCKER_HOST or the default socket) and agrees on
/// an API version the engine speaks.
pub async fn connect() -> Result<Docker, ExecuteError> {
    let docker = Docker::connect_with_local_defaults()?;
    let docker = docker.negotiate_version().await?;
    docker.ping().await?;
    Ok(docker)
}

pub async fn image_exists(docker: &Docker, tag: &str) -> Result<bool, ExecuteError> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Imports a root filesystem tarball as an image (`docker import`, not `docker
/// load`), applying Dockerfile-style `changes` such as `USER` and `CMD`.
pub async fn import_rootfs<S>(
    docker: &Docker,
    repo: &str,
    tag: &str,
    changes: Vec<String>,
    tar_stream: S,
) -> Result<(), ExecuteError>
where
    S: Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
{
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(changes)
        .build();
    let body = bollard::body_try_stream(tar_stream);
    let mut progress = docker.create_image(Some(options), Some(body), None);
    while let Some(item) = progress.next().await {
        item?;
    }
    if !image_exists(docker, &format!("{repo}:{tag}")).await? {
        return Err(ExecuteError::ImageBuild {
            step: "import".into(),
            detail: "the engine accepted the archive but the image is missing".into(),
        });
    }
    Ok(())
}

/// A created container. Dropping it removes the container (force), so a panic or
/// an early return never leaves one behind.
pub struct ContainerGuard {
    docker: Docker,
    id: String,
    removed: bool,
}

impl ContainerGuard {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Removes the container now and waits for the engine to confirm.
    pub async fn remove(mut self) -> Result<(), ExecuteError> {
        self.removed = true;
        let res = remove_container(&self.docker, &self.id).await;
        forget(&self.id);
        res
    }

    pub async fn kill(&self) -> Result<(), ExecuteError> {
        let opts = KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        match self.docker.kill_container(&self.id, Some(opts)).await {
            Ok(()) => Ok(()),
            // Not running any more (or already auto-removed): nothing to kill.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let docker = self.docker.clone();
        let id = self.id.clone();
        // Drop cannot await, and the caller's runtime may be shutting down; a
        // short-lived thread with its own runtime finishes the removal either way.
        let handle = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(remove_container(&docker, &id));
            }
            forget(&id);
        });
        let _ = handle.join();
    }
}

fn forget(id: &str) {
    if let Ok(mut set) = live().lock() {
        set.remove(id);
    }
}

async fn remove_container(docker: &Docker, id: &str) -> Result<(), ExecuteError> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        // Already gone, or auto-removal is in progress.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates a container and registers it for cleanup before anything else can fail.
pub async fn create_container(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<ContainerGuard, ExecuteError> {
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    let created = docker.create_container(Some(opts), body).await?;
    if let Ok(mut set) = live().lock() {
        set.insert(created.id.clone());
    }
    Ok(ContainerGuard {
        docker: docker.clone(),
        id: created.id,
        removed: false,
    })
}

pub async fn start_container(docker: &Docker, guard: &ContainerGuard) -> Result<(), ExecuteError> {
    docker.start_container(guard.id(), None).await?;
    Ok(())
}

/// Labels used for every sandbox container.
pub fn sandbox_labels() -> HashMap<String, String> {
    HashMap::from([
        (CONTAINER_LABEL.to_string(), "1".to_string()),
        (RUN_LABEL.to_string(), run_id().to_string()),
    ])
}

/// Builds a create body from an image, command, user and host config.
pub fn container_body(
    image: &str,
    cmd: Vec<String>,
    user: &str,
    env: Vec<String>,
    host_config: HostConfig,
) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(cmd),
        user: Some(user.to_string()),
        env: Some(env),
        labels: Some(sandbox_labels()),
        network_disabled: Some(true),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// What an exec produced. Output beyond the caps is dropped and flagged.
#[derive(Debug, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub exit_code: Option<i64>,
    /// A dialog's first frame was answered (see [`exec_dialog`]).
    pub answered: bool,
    /// A dialog reached its deadline after its first frame was answered: the
    /// output so far is kept, the process was abandoned.
    pub timed_out_after_answer: bool,
}

/// Why an exec did not complete.
#[derive(Debug)]
pub enum ExecFailure {
    TimedOut,
    Engine(ExecuteError),
}

/// One command to run in a running container.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub cmd: Vec<String>,
    pub user: String,
    pub env: Vec<String>,
    pub stdin: Vec<u8>,
    pub max_stdout: usize,
    pub max_stderr: usize,
    pub timeout: Duration,
}

/// Answers a dialog's first frame: the reply to send on stdin (empty: nothing
/// more to ask) and the deadline for the rest of the exec.
pub type Responder<'a> = dyn FnMut(&[u8]) -> (Vec<u8>, Duration) + Send + 'a;

/// A frame on the runner's streams: an 8-byte big-endian length, then the bytes.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(&(data.len() as u64).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Splits framed output into its frames; a trailing partial frame is an error.
pub fn split_frames(mut data: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut frames = Vec::new();
    while !data.is_empty() {
        let Some(head) = data.get(..8) else {
            return Err("truncated frame header");
        };
        let len = u64::from_be_bytes(head.try_into().expect("8 bytes"));
        let Some(body) = usize::try_from(len)
            .ok()
            .and_then(|len| data.get(8..8usize.checked_add(len)?))
        else {
            return Err("truncated frame");
        };
        frames.push(body);
        data = &data[8 + body.len()..];
    }
    Ok(frames)
}

/// Runs a command in a running container, feeds `stdin` and collects output with
/// size caps, all under one wall-clock deadline.
pub async fn exec(
    docker: &Docker,
    guard: &ContainerGuard,
    req: ExecRequest,
) -> Result<ExecOutput, ExecFailure> {
    exec_inner(docker, guard, req, None).await
}

/// Like [`exec`], for a process that talks in frames: it writes a first frame
/// on stdout and then waits on stdin. `respond` reads that frame and gives the
/// reply (framed here) and a fresh deadline for the rest; stdin is closed after
/// the reply. If the first frame never completes, stdin is closed unanswered.
pub async fn exec_dialog(
    docker: &Docker,
    guard: &ContainerGuard,
    req: ExecRequest,
    respond: &mut Responder<'_>,
) -> Result<ExecOutput, ExecFailure> {
    exec_inner(docker, guard, req, Some(respond)).await
}

type OutputStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A command started ahead of its input: created, started and attached,
/// nothing written to it yet (it waits on stdin). Dropping it closes its
/// stdin. [`exec_opened`] feeds it and reads it.
pub struct OpenExec {
    id: String,
    output: OutputStream,
    input: Pin<Box<dyn AsyncWrite + Send>>,
}

impl std::fmt::Debug for OpenExec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenExec").field("id", &self.id).finish()
    }
}

/// Creates and starts `cmd` as `user` in the container `container_id`, attached.
pub async fn open_exec(
    docker: &Docker,
    container_id: &str,
    cmd: Vec<String>,
    user: String,
    env: Vec<String>,
) -> Result<OpenExec, ExecuteError> {
    let created = docker
        .create_exec(
            container_id,
            CreateExecOptions {
                cmd: Some(cmd),
                user: Some(user),
                env: Some(env),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(false),
                privileged: Some(false),
                working_dir: Some("/work".to_string()),
                ..Default::default()
            },
        )
        .await?;
    match docker.start_exec(&created.id, None).await? {
        StartExecResults::Attached { output, input } => Ok(OpenExec {
            id: created.id,
            output,
            input,
        }),
        StartExecResults::Detached => Err(ExecuteError::Other("exec started detached".into())),
    }
}

/// Runs a command started by [`open_exec`] as [`exec`] or, with `respond`,
/// as [`exec_dialog`] would; `req`'s command, user and environment are the
/// ones it was opened with and are not read here.
pub async fn exec_opened(
    docker: &Docker,
    open: OpenExec,
    req: ExecRequest,
    respond: Option<&mut Responder<'_>>,
) -> Result<ExecOutput, ExecFailure> {
    let deadline = tokio::time::Instant::now() + req.timeout;
    drive(docker, open, req, deadline, respond).await
}

async fn exec_inner(
    docker: &Docker,
    guard: &ContainerGuard,
    req: ExecRequest,
    respond: Option<&mut Responder<'_>>,
) -> Result<ExecOutput, ExecFailure> {
    let deadline = tokio::time::Instant::now() + req.timeout;
    let opened = open_exec(
        docker,
        guard.id(),
        req.cmd.clone(),
        req.user.clone(),
        req.env.clone(),
    );
    let open = match tokio::time::timeout_at(deadline, opened).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(ExecFailure::Engine(e)),
        Err(_) => return Err(ExecFailure::TimedOut),
    };
    drive(docker, open, req, deadline, respond).await
}

async fn drive(
    docker: &Docker,
    open: OpenExec,
    req: ExecRequest,
    mut deadline: tokio::time::Instant,
    mut respond: Option<&mut Responder<'_>>,
) -> Result<ExecOutput, ExecFailure> {
    let ExecRequest {
        stdin,
        max_stdout,
        max_stderr,
        ..
    } = req;
    let dialog = respond.is_some();
    let OpenExec {
        id,
        mut output,
        mut input,
    } = open;
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
    // Fed concurrently: a child that writes before reading everything would
    // otherwise deadlock against a full pipe.
    let feeder = async move {
        let res = async {
            input.write_all(&stdin).await?;
            input.flush().await?;
            if dialog {
                // A dropped sender (no complete first frame) closes stdin unanswered.
                if let Ok(reply) = reply_rx.await {
                    input.write_all(&reply).await?;
                    input.flush().await?;
                }
            }
            input.shutdown().await
        }
        .await;
        drop(input);
        res
    };
    let reader = async {
        let mut out = ExecOutput::default();
        let mut reply_tx = Some(reply_tx);
        loop {
            let item = match tokio::time::timeout_at(deadline, output.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(_) if out.answered => {
                    out.timed_out_after_answer = true;
                    return Ok(out);
                }
                Err(_) => return Err(ExecFailure::TimedOut),
            };
            match item.map_err(|e| ExecFailure::Engine(e.into()))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    append_capped(
                        &mut out.stdout,
                        &message,
                        max_stdout,
                        &mut out.stdout_truncated,
                    );
                }
                LogOutput::StdErr { message } => {
                    let mut ignored = false;
                    append_capped(&mut out.stderr, &message, max_stderr, &mut ignored);
                }
                LogOutput::StdIn { .. } => {}
            }
            if !out.answered && reply_tx.is_some() {
                if out.stdout_truncated {
                    reply_tx = None;
                } else if let (Some(respond), Ok(frames)) =
                    (respond.as_mut(), split_frames(&out.stdout))
                {
                    if let Some(first) = frames.first() {
                        let (reply, more) = respond(first);
                        out.answered = true;
                        deadline = tokio::time::Instant::now() + more;
                        if let Some(tx) = reply_tx.take() {
                            if !reply.is_empty() {
                                let _ = tx.send(frame(&reply));
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    };
    tokio::pin!(feeder, reader);
    let mut fed = None;
    let read = loop {
        tokio::select! {
            r = &mut reader => break r,
            f = &mut feeder, if fed.is_none() => fed = Some(f),
        }
    };
    let mut out = read?;
    if let Some(Err(e)) = fed {
        // The process may exit without reading all its input (a refused
        // upload); its stderr says why, so this is not fatal by itself.
        tracing::debug!("exec stdin closed early: {e}");
    }
    if !out.timed_out_after_answer {
        let inspected = tokio::time::timeout(Duration::from_secs(30), docker.inspect_exec(&id))
            .await
            .map_err(|_| ExecFailure::TimedOut)?
            .map_err(|e| ExecFailure::Engine(e.into()))?;
        out.exit_code = inspected.exit_code;
    }
    Ok(out)
}

fn append_capped(buf: &mut Vec<u8>, data: &[u8], cap: usize, truncated: &mut bool) {
    let room = cap.saturating_sub(buf.len());
    if data.len() > room {
        *truncated = true;
    }
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// A container's state as the engine reports it (`None`: it no longer exists).
pub async fn container_state(
    docker: &Docker,
    id: &str,
) -> Result<Option<bollard::models::ContainerState>, ExecuteError> {
    match docker.inspect_container(id, None).await {
        Ok(c) => Ok(Some(c.state.unwrap_or_default())),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a container still exists (running or not).
pub async fn container_exists(docker: &Docker, id: &str) -> Result<bool, ExecuteError> {
    match docker.inspect_container(id, None).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Ids of every container (any state) that carries the assay sandbox label,
/// whichever run created it.
pub async fn list_sandbox_containers(docker: &Docker) -> Result<Vec<String>, ExecuteError> {
    list_labelled(docker, vec![format!("{CONTAINER_LABEL}=1")]).await
}

/// Ids of the sandbox containers (any state) of one run; see [`run_id`].
pub async fn list_run_containers(
    docker: &Docker,
    run_id: &str,
) -> Result<Vec<String>, ExecuteError> {
    list_labelled(
        docker,
        vec![
            format!("{CONTAINER_LABEL}=1"),
            format!("{RUN_LABEL}={run_id}"),
        ],
    )
    .await
}

/// Containers carrying every one of `labels` (`key=value`).
async fn list_labelled(docker: &Docker, labels: Vec<String>) -> Result<Vec<String>, ExecuteError> {
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&HashMap::from([("label", labels)]))
        .build();
    let list = docker.list_containers(Some(opts)).await?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// Removes every container this process still has alive.
pub async fn remove_all_live(docker: &Docker) {
    for id in live_ids() {
        if let Err(e) = remove_container(docker, &id).await {
            tracing::warn!("could not remove container {id}: {e}");
        }
        forget(&id);
    }
}

/// On Ctrl-C, removes every live sandbox container and the acquisition folders,
/// then exits with status 130. Call once from the CLI after the runtime starts.
pub fn install_interrupt_cleanup(docker: Docker) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: removing sandbox containers");
            remove_all_live(&docker).await;
            crate::acquire::remove_work_folders();
            std::process::exit(130);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_partial_one_is_refused() {
        let mut stream = frame(b"build outputs");
        stream.extend(frame(b""));
        stream.extend(frame(b"answers"));
        let frames = split_frames(&stream).unwrap();
        assert_eq!(
            frames,
            vec![&b"build outputs"[..], &b""[..], &b"answers"[..]]
        );
        let cut = &stream[..stream.len() - 2];
        assert_eq!(split_frames(cut), Err("truncated frame"));
        assert_eq!(split_frames(&stream[..4]), Err("truncated frame header"));
        // A length no output could have is refused, not allocated.
        let mut huge = u64::MAX.to_be_bytes().to_vec();
        huge.extend_from_slice(b"x");
        assert_eq!(split_frames(&huge), Err("truncated frame"));
    }
}
