//! The running host: a validated [`Config`] turned into supervision trees
//! whose children are real components, plus what addresses them.
//!
//! This module is where the generic supervisor meets concrete child kinds:
//! [`build`] turns config into [`SupervisorSpec`]s (compiling and checking
//! every component first, so a bad file stops the start before anything
//! runs), [`component_child`] adapts actor instances to the supervisor's
//! child traits, and [`Router`] delivers messages to children by path.

mod build;
pub mod component_child;
mod router;

use crate::component::{ComponentError, PoolingConfig, Runtime, RuntimeConfig};
use crate::config::Config;
use crate::events::EventBus;
use crate::supervisor::{StartError, SupervisorExit, SupervisorHandle, start_root};

pub use build::{ProgramEntry, ProgramTable};
pub use router::{Router, SendError};

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A component named in the config cannot be used.
    #[error("{}: {key}: {source}", file.display())]
    Component {
        file: std::path::PathBuf,
        key: String,
        #[source]
        source: Box<ComponentError>,
    },
    /// The tree could not start (a child failed to start, an invalid spec).
    #[error("the supervision tree failed to start: {0}")]
    Start(#[from] StartError),
    #[error("cannot start the component runtime: {0}")]
    Runtime(ComponentError),
}

/// A running host.
pub struct Host {
    pub runtime: Runtime,
    pub router: Router,
    pub events: EventBus,
    /// The root supervisor (the single top-level tree, or an implicit
    /// `host` supervisor above several).
    pub root: SupervisorHandle,
    /// Every component's current program, by child path.
    pub programs: ProgramTable,
}

impl Host {
    /// Compiles every component, then starts the trees in file order.
    pub async fn start(config: &Config, events: EventBus) -> Result<Host, HostError> {
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(config.host.state_dir.join("cache")),
            epoch_tick: config.host.epoch_tick,
            pooling: (config.host.pooling_instances > 0).then_some(PoolingConfig {
                instances: config.host.pooling_instances,
                max_memory_bytes: 256 << 20,
            }),
            ..RuntimeConfig::default()
        })
        .map_err(HostError::Runtime)?;
        let router = Router::default();
        let programs = ProgramTable::default();
        let (name, spec) = build::root_spec(config, &runtime, &router, &programs)?;
        let root = start_root(&name, spec, events.clone()).await?;
        Ok(Host {
            runtime,
            router,
            events,
            root,
            programs,
        })
    }

    /// Stops every tree in reverse start order.
    pub async fn stop(&self) -> SupervisorExit {
        self.root.stop().await
    }
}
