//! `watch = true`: a changed file reloads every watching child that runs it.

use std::path::PathBuf;
use std::time::Duration;

use crate::host::ProgramTable;
use crate::reload::{Reloader, WatchTarget, Watcher};

/// Starts watching the files of `watch = true` children (`None` when there
/// are none). Reloads run one after another on a task of their own; their
/// outcomes are reported as events.
pub fn watch_children(
    reloader: &Reloader,
    programs: &ProgramTable,
    debounce: Duration,
) -> notify::Result<Option<Watcher>> {
    let watched: Vec<_> = programs
        .paths()
        .iter()
        .filter_map(|p| programs.get(p))
        .filter(|e| e.watch)
        .collect();
    // The first save then finds a compile child (for the last metering
    // listed: there is one standby) and the Winch engine ready.
    let mut meterings = Vec::new();
    for entry in &watched {
        let metering = entry
            .slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .prepared()
            .metering();
        if !meterings.contains(&metering) {
            meterings.push(metering);
        }
    }
    let mut files: Vec<PathBuf> = watched.into_iter().map(|e| e.source).collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Ok(None);
    }
    let targets: Vec<WatchTarget> = files.into_iter().map(WatchTarget::File).collect();
    let (watcher, mut changes) = Watcher::start(&targets, debounce)?;
    let warming = reloader.clone();
    tokio::task::spawn_blocking(move || {
        for metering in meterings {
            warming.warm_baseline(metering);
        }
    });
    let reloader = reloader.clone();
    let programs = programs.clone();
    tokio::spawn(async move {
        while let Some(changed) = changes.recv().await {
            for file in changed {
                for path in reloader.children_of(&file) {
                    if programs.get(&path).is_some_and(|e| e.watch) {
                        // The outcome is an event; an unknown or stopped
                        // child has nothing to reload.
                        let _ = reloader.reload(&path, false).await;
                    }
                }
            }
        }
    });
    Ok(Some(watcher))
}
