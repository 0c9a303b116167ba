//! Running a host until it is asked to stop: what `warden run` does, for
//! any program that embeds Warden.
//!
//! The embedder's view: load a [`Config`], make a [`Shutdown`], and await
//! [`run`]. It starts the host ([`Host::start`]), serves the HTTP API on
//! `[host] api_addr` with `[host] token`, and writes `http://ADDR` to
//! `STATE_DIR/api.addr` (for `warden ctl`, scripts and tests), then waits.
//! [`Shutdown::request`] stops it: guest calls started over the API are
//! interrupted at once, the trees get `[host] shutdown_grace_ms` to stop
//! per their shutdown specs before every guest still running is
//! interrupted (a second request does that at once), the workers' exits
//! are committed to the registry, and the API stops last, so it can report
//! the shutdown; `api.addr` is removed again. The trees' exit is the
//! result. If the root supervisor gives up on its own (its restart
//! intensity was exceeded), the host stops and [`RunError::RootExited`]
//! says so.
//!
//! An embedder that wants the running [`Host`] (its operations, router,
//! registry) uses the two halves of [`run`]: [`Running::start`], then
//! [`Running::until`].
//!
//! What this module never does: install signal handlers, read the
//! environment, print, build or shut down a tokio runtime, or exit the
//! process. The embedder owns those: the `warden` binary turns SIGINT and
//! SIGTERM into [`Shutdown::request`], lets `WARDEN_TOKEN` override the
//! config's token, prints, and maps a [`RunError`] to an exit status with
//! [`RunError::is_bad_input`]. Blocking threads still busy after `run`
//! returned (a guest that ignores its interrupt inside a host call, a
//! compile) are the runtime owner's to wait for or not.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::logs::HostLogs;
use super::{Host, HostError, StoreCatalog};
use crate::api::{self, ApiConfig, ApiError, ApiServer, ApiState, Metrics};
use crate::config::Config;
use crate::events::EventBus;
use crate::fleet::ops::FleetOps;
use crate::supervisor::SupervisorExit;

/// Why a host did not run, or did not stop as asked.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The host could not start (see [`HostError`]).
    #[error(transparent)]
    Host(Box<HostError>),
    /// The API would listen beyond loopback without a token: anyone who
    /// can reach the address could drive the host.
    #[error(
        "{}: host.api_addr `{addr}` is not a loopback address, and no token is set: \
         set [host] token or WARDEN_TOKEN, or add [[api.tokens]], or bind 127.0.0.1",
        file.display()
    )]
    TokenRequired {
        /// The config file.
        file: PathBuf,
        /// The address the API would listen on.
        addr: SocketAddr,
    },
    /// The API server could not start (the address is in use…).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// `[fleet]`: the NATS server could not be reached or refused the
    /// host's service.
    #[error("[fleet] {0}")]
    Fleet(crate::fleet::FleetError),
    /// The root supervisor exited on its own: more restarts than its
    /// intensity allows. The host was stopped.
    #[error("the root supervisor `{root}` exited ({exit:?}): its restart intensity was exceeded")]
    RootExited {
        /// The root supervisor's path.
        root: String,
        /// How it ended.
        exit: SupervisorExit,
    },
}

impl From<HostError> for RunError {
    fn from(err: HostError) -> Self {
        RunError::Host(Box::new(err))
    }
}

impl RunError {
    /// Whether the config is at fault (a component that cannot be used, an
    /// address or token that cannot serve), rather than the host failing.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RunError::Host(err) => matches!(
                **err,
                HostError::Component { .. } | HostError::StateNotKept { .. }
            ),
            RunError::TokenRequired { .. } => true,
            RunError::Api(err) => matches!(err, ApiError::TokenRequired { .. }),
            RunError::RootExited { .. } | RunError::Fleet(_) => false,
        }
    }
}

/// How an embedder asks a running host to stop. Clones ask the same
/// host; a request made before [`Running::until`] waits is not lost.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    /// How many requests were made so far.
    requests: Arc<watch::Sender<u32>>,
}

impl Shutdown {
    /// A shutdown nobody has requested yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the host to stop. The first request stops it in order (see the
    /// module doc); any later one interrupts every guest call still running
    /// at once, as a second Ctrl-C does.
    pub fn request(&self) {
        self.requests.send_modify(|n| *n = n.saturating_add(1));
    }

    /// Resolves once a stop was requested (at once if one was already):
    /// for an embedder's own loop beside the host, which must end too.
    pub async fn wait(&self) {
        let mut requests = self.requests.subscribe();
        Self::requested(&mut requests, 1).await;
    }

    /// Resolves once `count` requests were made in all.
    async fn requested(requests: &mut watch::Receiver<u32>, count: u32) {
        // The receiver's own `Shutdown` holds the sender, so the channel
        // cannot close while anyone waits here.
        let _ = requests.wait_for(|made| *made >= count).await;
    }
}

/// A host that runs and serves its API; [`Running::until`] stops it.
pub struct Running {
    host: Host,
    server: ApiServer,
    addr_file: PathBuf,
    shutdown_grace: Duration,
    fleet: Option<FleetOps>,
}

impl Running {
    /// Starts the host of `config` and serves its API, then writes the
    /// API's address to `STATE_DIR/api.addr`. Nothing starts when the API
    /// address or token cannot serve; when the API cannot listen, the host
    /// is stopped again.
    pub async fn start(config: &Config) -> Result<Running, RunError> {
        let api_config = api_config(config)?;
        let events = EventBus::default();
        // Subscribed before the tree starts, so its children are counted.
        let metrics = Metrics::subscribe(&events);
        let host = Host::start(config, events.clone()).await?;
        let catalog = StoreCatalog::new(host.store.clone(), host.runtime.clone());
        let state = ApiState::new(host.operations.clone(), events)
            .with_metrics(metrics)
            .with_audit(crate::builtin::RegistryAudit::sink(&host.registry))
            .with_components(Arc::new(catalog))
            .with_logs(Arc::new(HostLogs::new(
                host.router.logs().clone(),
                host.root.clone(),
            )))
            .with_snapshots(Arc::new(super::snapshots::SnapshotRoutes::new(
                host.snapshots.clone(),
                host.programs.clone(),
                host.reloader.clone(),
                config.snapshots.max_upload_bytes,
            )))
            .with_child_gauges(super::gauges::HostGauges::new(
                host.root.clone(),
                host.reloader.clone(),
            ));
        let server = match api::serve(api_config, state).await {
            Ok(server) => server,
            Err(err) => {
                host.stop().await;
                return Err(err.into());
            }
        };
        let fleet = match &config.fleet {
            None => None,
            Some(fleet) => {
                match FleetOps::start(fleet, host.operations.clone(), &host.events).await {
                    Ok(ops) => Some(ops),
                    Err(err) => {
                        server.shutdown().await;
                        host.stop().await;
                        return Err(RunError::Fleet(err));
                    }
                }
            }
        };
        let addr_file = config.host.state_dir.join("api.addr");
        publish_addr(&server, &addr_file);
        Ok(Running {
            host,
            server,
            addr_file,
            shutdown_grace: config.host.shutdown_grace,
            fleet,
        })
    }

    /// The running host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The API's base URL, `http://ADDR` with the port it really bound.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Serves until `shutdown` is requested (then stops in order and
    /// returns the trees' exit) or the root supervisor gives up (then stops
    /// and fails); see the module doc.
    pub async fn until(self, shutdown: Shutdown) -> Result<SupervisorExit, RunError> {
        let Running {
            host,
            server,
            addr_file,
            shutdown_grace,
            fleet,
        } = self;
        let mut requests = shutdown.requests.subscribe();
        tokio::select! {
            () = Shutdown::requested(&mut requests, 1) => {}
            exit = host.root.wait() => {
                tracing::error!(?exit, "the root supervisor gave up; stopping the host");
                if let Some(fleet) = fleet {
                    fleet.stop().await;
                }
                host.interrupt_guests();
                stop_api(server, &addr_file).await;
                return Err(RunError::RootExited {
                    root: host.root.path().to_string(),
                    exit,
                });
            }
        }
        // Off the bus first: the fleet's other hosts take the requests
        // while this one stops.
        if let Some(fleet) = fleet {
            fleet.stop().await;
        }
        let stopping = host.shutdown(shutdown_grace);
        tokio::pin!(stopping);
        let exit = tokio::select! {
            exit = &mut stopping => exit,
            () = Shutdown::requested(&mut requests, 2) => {
                // Permanent: guests started later are interrupted too.
                host.interrupt_guests();
                stopping.await
            }
        };
        tracing::info!(?exit, "all trees stopped");
        // The trees' last events reach the archive through the event log's
        // feeder task: let it catch up (until its count stands still for a
        // moment, 1 s at most) before the registry is flushed.
        let settle = std::time::Instant::now();
        let mut seen = host.event_log.last_seq();
        while settle.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_millis(25)).await;
            let now = host.event_log.last_seq();
            if now == seen {
                break;
            }
            seen = now;
        }
        // The workers' exits are queued to the registry's writer: commit
        // them before the embedder moves on (the writer thread does not
        // outlive the process).
        if let Err(e) = host.registry.flush().await {
            tracing::warn!(error = %e, "the registry did not record every exit");
        }
        stop_api(server, &addr_file).await;
        Ok(exit)
    }
}

/// Runs the host of `config` until `shutdown` is requested: [`Running::start`],
/// then [`Running::until`]. See the module doc.
pub async fn run(config: &Config, shutdown: Shutdown) -> Result<SupervisorExit, RunError> {
    Running::start(config).await?.until(shutdown).await
}

/// The API's address and tokens from the config; refuses a non-loopback
/// address without a token.
fn api_config(config: &Config) -> Result<ApiConfig, RunError> {
    let addr = config.host.api_addr;
    let token = config.host.token.clone();
    if token.is_none() && config.api.tokens.is_empty() && !addr.ip().is_loopback() {
        return Err(RunError::TokenRequired {
            file: config.file.clone(),
            addr,
        });
    }
    Ok(ApiConfig {
        addr,
        token,
        tokens: config.api.tokens.clone(),
        max_body_bytes: ApiConfig::DEFAULT_MAX_BODY_BYTES,
        allowed_hosts: config.api.allowed_hosts.clone(),
        allowed_origins: config.api.allowed_origins.clone(),
    })
}

/// Tells tools (`warden ctl`, tests) where the API listens.
fn publish_addr(server: &ApiServer, addr_file: &Path) {
    let written = addr_file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(addr_file, format!("{}\n", server.url())));
    if let Err(e) = written {
        tracing::warn!(file = %addr_file.display(), error = %e, "cannot write the API address file");
    }
}

async fn stop_api(server: ApiServer, addr_file: &Path) {
    server.shutdown().await;
    if let Err(e) = std::fs::remove_file(addr_file)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %addr_file.display(), error = %e, "cannot remove the API address file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::ExitReason;

    /// A host with one empty tree: no component, no worker, no plugin.
    const EMPTY_TREE: &str = "[host]\nstate_dir = \"state\"\napi_addr = \"127.0.0.1:0\"\n\
                              [supervisor.root]\nstrategy = \"one_for_one\"\n";

    /// The address `api.addr` holds, once it is written whole.
    async fn published(addr_file: &Path) -> String {
        loop {
            if let Ok(text) = std::fs::read_to_string(addr_file)
                && text.ends_with('\n')
            {
                return text.trim().to_string();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_host_runs_from_config_text_until_asked_to_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::config::parse(&dir.path().join("warden.toml"), EMPTY_TREE)
            .expect("the config is valid");
        let addr_file = config.host.state_dir.join("api.addr");
        let shutdown = Shutdown::new();
        let embedder = async {
            let url = tokio::time::timeout(Duration::from_secs(30), published(&addr_file))
                .await
                .expect("api.addr is written");
            let client = crate::api::client::ApiClient::new(&url, None).expect("a client");
            let tree = client.call("tree", serde_json::json!({})).await;
            shutdown.request();
            tree
        };
        let (exit, tree) = tokio::time::timeout(Duration::from_secs(60), async {
            tokio::join!(run(&config, shutdown.clone()), embedder)
        })
        .await
        .expect("the host stops when asked");
        let tree = tree.expect("the API answers");
        assert_eq!(tree["path"], "root", "{tree}");
        let exit = exit.expect("the host ran and stopped cleanly");
        assert_eq!(exit.reason, ExitReason::Shutdown);
        assert!(!addr_file.exists(), "api.addr is removed on a clean stop");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_made_while_the_host_starts_is_not_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::config::parse(&dir.path().join("warden.toml"), EMPTY_TREE)
            .expect("the config is valid");
        let shutdown = Shutdown::new();
        shutdown.request();
        let exit = tokio::time::timeout(Duration::from_secs(60), run(&config, shutdown))
            .await
            .expect("the host stops at once")
            .expect("the host ran and stopped cleanly");
        assert_eq!(exit.reason, ExitReason::Shutdown);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_root_that_gives_up_stops_the_host_with_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A worker that exits soon after it started, and no restart allowed.
        let text = format!(
            r#"{EMPTY_TREE}intensity = 0
[[supervisor.root.children]]
id = "brief"
kind = "process"
command = "/bin/sh"
cwd = "."
args = ["-c", "sleep 0.2; exit 3"]
[host.policy]
allow_commands = ["/bin/sh"]
allow_cwds = ["."]
"#
        );
        let config = crate::config::parse(&dir.path().join("warden.toml"), &text)
            .expect("the config is valid");
        let ran = tokio::time::timeout(Duration::from_secs(60), run(&config, Shutdown::new()))
            .await
            .expect("the host stops by itself");
        let err = match ran {
            Err(err) => err,
            Ok(exit) => panic!("the host stopped cleanly: {exit:?}"),
        };
        let RunError::RootExited { root, .. } = &err else {
            panic!("not the root's exit: {err}");
        };
        assert_eq!(root, "root");
        assert!(!err.is_bad_input(), "{err}");
        assert!(!config.host.state_dir.join("api.addr").exists());
    }

    #[tokio::test]
    async fn a_public_address_without_a_token_starts_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = EMPTY_TREE.replace("127.0.0.1:0", "0.0.0.0:0");
        let config = crate::config::parse(&dir.path().join("warden.toml"), &text)
            .expect("the config is valid");
        let err = match run(&config, Shutdown::new()).await {
            Err(err) => err,
            Ok(exit) => panic!("the host ran: {exit:?}"),
        };
        assert!(matches!(err, RunError::TokenRequired { .. }), "{err}");
        assert!(err.is_bad_input());
        assert!(
            err.to_string().ends_with(
                "warden.toml: host.api_addr `0.0.0.0:0` is not a loopback address, and no token \
                 is set: set [host] token or WARDEN_TOKEN, or add [[api.tokens]], or bind \
                 127.0.0.1"
            ),
            "{err}"
        );
        assert!(
            !config.host.state_dir.exists(),
            "nothing started, so no state was written"
        );
    }

    #[test]
    fn named_tokens_are_tokens_for_a_public_address() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = EMPTY_TREE.replace("127.0.0.1:0", "0.0.0.0:0")
            + "\n[[api.tokens]]\nname = \"viewer\"\nrole = \"read\"\ntoken = \"r\"\n";
        let config = crate::config::parse(&dir.path().join("warden.toml"), &text)
            .expect("the config is valid");
        let api = api_config(&config).expect("a named token is a token");
        assert_eq!(api.token, None);
        assert_eq!(api.tokens.len(), 1);
        assert_eq!(api.tokens[0].name, "viewer");
    }
}
