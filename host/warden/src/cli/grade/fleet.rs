//! `warden grade --nats URL …`: the batch is graded by `warden worker`s
//! (see `warden::fleet`); this side publishes it and prints what comes
//! back through the same sinks, progress line and summary as local
//! grading, so only where the grading ran differs.
//!
//! A submission whose bytes cannot be read here is never sent: it gets
//! the report local grading gives it, made here, stored with the others.

use warden::fleet::client::{self, Input};
use warden::fleet::{BatchRecord, blob};
use warden::grade::batch::grade_guarded;
use warden::grade::report::Renderer;
use warden::grade::{BatchSummary, Exercise, GradeOptions, LimitOverrides, ReportSink};

use super::super::out::{errln, out};
use super::{Args, Failure, expand, load_exercise, report_format, write_reports};
use crate::cli::CmdResult;

pub(super) fn run(args: &Args) -> CmdResult {
    let url = args.nats.as_deref().unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::failed)?;
    let bus = |e: warden::fleet::FleetError| Failure::failed(anyhow::anyhow!("{e}"));
    let limits = LimitOverrides {
        fuel: args.fuel,
        memory_mb: args.memory_mb,
        timeout_ms: args.timeout_ms,
        output_limit_bytes: args.output_limit,
    };
    if let Some(batch) = &args.collect {
        let scratch = tempfile::tempdir().map_err(Failure::failed)?;
        let (js, record, exercise) = rt
            .block_on(async {
                let client = warden::fleet::connect(url, "warden-grade", false).await?;
                let js = warden::fleet::context(client);
                let record = client::batch_record(&js, batch).await?;
                let store = blob::store(&js).await?;
                let exercise = blob::get_exercise(&store, &record.exercise, scratch.path()).await?;
                Ok::<_, warden::fleet::FleetError>((js, record, exercise))
            })
            .map_err(|e| match e {
                warden::fleet::FleetError::UnknownBatch(_) => {
                    Failure::bad_input(anyhow::anyhow!("--collect: {e}"))
                }
                other => bus(other),
            })?;
        let limits = record.limits.into();
        return print(args, &exercise, &record, |sink| {
            rt.block_on(client::collect(&js, &record, &exercise, limits, sink))
                .map_err(bus)
        });
    }

    let exercise = load_exercise(args)?;
    let submissions = expand(&args.submissions)?;
    // Workers grade components; sources need the runners only the command
    // line builds (`warden grade EXERCISE FILE.py` grades them here).
    if let Some(source) = submissions.iter().find(|s| {
        warden::grade::Language::of_path(std::path::Path::new(&s.name())).is_some()
            || args.language.is_some()
    }) {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "{}: a fleet grades components (.wasm); grade Python and JavaScript sources \
             without --nats",
            source.name()
        )));
    }
    let named = submissions.len() > 1 || args.submissions.iter().any(|p| p.is_dir());
    // Reading a file needs a runtime's size limit; a submission that
    // cannot be read is graded here, where its report says why.
    let runtime = args.cache.runtime()?;
    let local = GradeOptions {
        limits,
        fallback: None,
        interrupt: None,
        on_compile: None,
        language: None,
        runners: None,
    };
    let inputs: Vec<Input> = submissions
        .iter()
        .map(|s| match s.bytes(&runtime) {
            Ok(bytes) => Input::Bytes {
                name: s.name(),
                bytes: bytes.into_owned(),
            },
            Err(_) => Input::Graded(Box::new(grade_guarded(&runtime, &exercise, s, &local))),
        })
        .collect();
    let settings = args.fleet.settings();
    let (js, published) = rt
        .block_on(async {
            let client = warden::fleet::connect(url, "warden-grade", false).await?;
            let js = warden::fleet::context(client);
            let published =
                client::publish(&js, &settings, &exercise, inputs, limits, named).await?;
            Ok::<_, warden::fleet::FleetError>((js, published))
        })
        .map_err(bus)?;
    errln!(
        "batch {}: {} submission(s) published ({} blob(s) sent, {} already on the bus)",
        published.batch,
        submissions.len(),
        published.blobs_sent,
        published.blobs_present
    );
    if args.detach {
        out!("{}\n", published.batch)?;
        return Ok(());
    }
    let record = rt
        .block_on(client::batch_record(&js, &published.batch))
        .map_err(bus)?;
    print(args, &exercise, &record, |sink| {
        rt.block_on(client::collect(&js, &record, &exercise, limits, sink))
            .map_err(bus)
    })
}

/// Feeds the reports `collect` gets to the sink local grading would use.
fn print(
    args: &Args,
    exercise: &Exercise,
    record: &BatchRecord,
    collect: impl FnOnce(&mut dyn ReportSink) -> Result<BatchSummary, Failure>,
) -> CmdResult {
    let format = report_format(args);
    let mut renderer = Renderer::new(format, exercise);
    renderer.timing = !args.no_timing;
    renderer.named = record.named;
    write_reports(args, renderer, format, &record.names, collect)
}
