//! Runs that survive transient faults, long pauses and long histories (issue 10,
//! items 3–5), through the real `statemachines/automation.asl.json` on the interpreter:
//!
//! * the fault table: each fault kind (store, blob, queue, workflow, AI) injected as
//!   the port's transient error into the first call of that kind in each step (every
//!   stage task, finalize, the image worker), on the embedded family and on the AWS
//!   family (DynamoDB, S3, SQS on moto: `bash scripts/with_moto.sh cargo test -p
//!   igny8-tests --test automation_faults`); every run completes with the totals of an
//!   unfaulted run and a reconciled ledger;
//! * a pause longer than the lease, one longer than the pause lease (the run takes its
//!   lock again), and a lock another run took meanwhile (only that is `LockLost`);
//! * a pause asked for during the last stage-5 batch waits in the pause wait;
//! * continue-as-new: with a small history limit a run crosses several executions, each
//!   within the limit, with the totals of one execution, and the history the run counted
//!   for each execution equals the interpreter's.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use igny8_ai::{AiError, OfflineProvider};
use igny8_asl::{Definition, ExecutionStatus, Executor, ExecutorOptions, TaskContext, TaskError, TaskHandler};
use igny8_aws::{DynamoStore, S3Blobs, SqsQueue};
use igny8_core::automation::{
    AutomationError, AutomationPorts, AutomationService, Function, Route, IMAGE_DLQ, IMAGE_MAX_RECEIVES, IMAGE_QUEUE,
};
use igny8_core::domain::{AccountId, AutomationRun, RunId, RunStatus, SiteId};
use igny8_core::planner::{parse_keywords_csv, KeywordImporter};
use igny8_core::ports::workflow::{Workflow, WorkflowError};
use igny8_core::ports::{
    BlobError, BlobInfo, BlobStore, Clock, Condition, Item, ItemStore, Key, ManualClock, Page, Query, Queue,
    QueueError, QueueMessage, StoreError, SystemClock, UpdateAction, UuidIds, WriteOp,
};
use igny8_core::Services;
use igny8_embedded::workflow::{
    drain_image_queue, local_substitutions, workflow_error, AutomationTasks, AUTOMATION_ASL,
};
use igny8_embedded::{BlobDir, SqliteQueue, SqliteStore};
use igny8_tests::hooked_ai::{AiHooks, Call, HookedAi};
use igny8_tests::{emulator_endpoint, unique_name, EXAMPLE_KEYWORDS};
use serde_json::Value;

// ---------------------------------------------------------------------------------
// Which step a port call belongs to
// ---------------------------------------------------------------------------------

tokio::task_local! {
    /// The function (task) a port call is made for.
    static STEP: &'static str;
}

/// Calls outside any task: the image worker (its jobs run on spawned tasks).
const IMAGE_WORKER: &str = "image-worker";
/// The test's own driving loop: never faulted.
const DRIVER: &str = "driver";

fn current_step() -> &'static str {
    STEP.try_with(|s| *s).unwrap_or(IMAGE_WORKER)
}

/// Runs every task of the state machine inside a [`STEP`] scope named after its function.
struct Labeled {
    inner: Arc<AutomationTasks>,
}

#[async_trait]
impl TaskHandler for Labeled {
    async fn invoke(&self, resource: &str, input: Value, ctx: &TaskContext) -> Result<Value, TaskError> {
        let name = if resource.starts_with("arn:aws:states:::lambda:invoke") {
            input.get("FunctionName").and_then(Value::as_str).unwrap_or_default().to_owned()
        } else {
            resource.to_owned()
        };
        let step = Function::from_name(&name).map_or("unknown", Function::name);
        STEP.scope(step, self.inner.invoke(resource, input, ctx)).await
    }
}

// ---------------------------------------------------------------------------------
// Fault injection: each port wrapped, failing the first call of the armed kind in
// each step with that port's transient error
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Store,
    Blob,
    Queue,
    Workflow,
    Ai,
}

#[derive(Default)]
struct Faults {
    armed: Mutex<Option<Kind>>,
    fired: Mutex<BTreeSet<(Kind, &'static str)>>,
}

impl Faults {
    fn arm(&self, kind: Kind) {
        *self.armed.lock().unwrap() = Some(kind);
    }

    /// True (fail this call) for the first call of the armed kind in each step.
    fn hit(&self, kind: Kind) -> bool {
        if *self.armed.lock().unwrap() != Some(kind) {
            return false;
        }
        let step = current_step();
        step != DRIVER && self.fired.lock().unwrap().insert((kind, step))
    }

    fn fired(&self) -> BTreeSet<(Kind, &'static str)> {
        self.fired.lock().unwrap().clone()
    }
}

struct FaultyStore {
    inner: Arc<dyn ItemStore>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.faults.hit(Kind::Store) {
            return Err(StoreError::Throttled);
        }
        Ok(())
    }
}

#[async_trait]
impl ItemStore for FaultyStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.check()?;
        self.inner.get_many(keys).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.check()?;
        self.inner.query(query).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        actions: Vec<UpdateAction>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.check()?;
        self.inner.update(key, actions, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.delete(key, condition).await
    }
    async fn add(&self, key: &Key, attribute: &str, delta: i64) -> Result<i64, StoreError> {
        self.check()?;
        self.inner.add(key, attribute, delta).await
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.transact(writes).await
    }
}

struct FaultyBlobs {
    inner: Arc<dyn BlobStore>,
    faults: Arc<Faults>,
}

impl FaultyBlobs {
    fn check(&self) -> Result<(), BlobError> {
        if self.faults.hit(Kind::Blob) {
            return Err(BlobError::Throttled("injected: 503 SlowDown".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FaultyBlobs {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.check()?;
        self.inner.put(key, body, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>, BlobError> {
        self.check()?;
        self.inner.list(prefix).await
    }
    async fn presigned_get(&self, key: &str, expires_in: Duration) -> Result<String, BlobError> {
        self.check()?;
        self.inner.presigned_get(key, expires_in).await
    }
}

struct FaultyQueue {
    inner: Arc<dyn Queue>,
    faults: Arc<Faults>,
}

impl FaultyQueue {
    fn check(&self) -> Result<(), QueueError> {
        if self.faults.hit(Kind::Queue) {
            return Err(QueueError::Throttled("injected: RequestThrottled".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send_batch(&self, queue: &str, bodies: Vec<String>) -> Result<Vec<String>, QueueError> {
        self.check()?;
        self.inner.send_batch(queue, bodies).await
    }
    async fn receive(&self, queue: &str, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>, QueueError> {
        self.check()?;
        self.inner.receive(queue, max, visibility).await
    }
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        self.check()?;
        self.inner.delete(queue, receipt).await
    }
    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.check()?;
        self.inner.change_visibility(queue, receipt, visibility).await
    }
}

/// The workflow port over the interpreter, with faults.
struct FaultyWorkflow {
    executor: Executor,
    faults: Arc<Faults>,
}

impl FaultyWorkflow {
    fn check(&self) -> Result<(), WorkflowError> {
        if self.faults.hit(Kind::Workflow) {
            return Err(WorkflowError::Throttled("injected: ThrottlingException".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Workflow for FaultyWorkflow {
    async fn start_execution(&self, name: &str, input: Value) -> Result<(), WorkflowError> {
        self.check()?;
        self.executor.start_execution(name, input).map(drop).map_err(workflow_error)
    }
    async fn stop_execution(&self, name: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.check()?;
        self.executor.stop_execution(name, error, cause).map(drop).map_err(workflow_error)
    }
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.check()?;
        self.executor.send_task_success(token, output).map_err(workflow_error)
    }
    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.check()?;
        self.executor.send_task_failure(token, error, cause).map_err(workflow_error)
    }
}

/// What the AI provider does besides answering: fail (faults), or ask for a pause when
/// stage 5 calls it.
struct FaultyAi {
    faults: Arc<Faults>,
    pause_in_stage_5: Mutex<Option<(AutomationService, AccountId, RunId)>>,
}

#[async_trait]
impl AiHooks for FaultyAi {
    async fn before(&self, call: Call<'_>) -> Result<(), AiError> {
        if matches!(call, Call::PlanClusters { .. } | Call::Embed { .. }) {
            return Ok(());
        }
        if self.faults.hit(Kind::Ai) {
            return Err(AiError::RateLimited { retry_after: Duration::ZERO });
        }
        if matches!(call, Call::GenerateImagePrompts { .. }) {
            let pause = self.pause_in_stage_5.lock().unwrap().take();
            if let Some((service, account, run)) = pause {
                service.pause(&account, &run).await.expect("pause during the last stage-5 batch");
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// A whole platform on one adapter family, wired by hand so every port is wrapped
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Embedded,
    Aws,
}

struct Rig {
    services: Services,
    automation: AutomationService,
    executor: Executor,
    queue: Arc<dyn Queue>,
    faults: Arc<Faults>,
    ai: Arc<HookedAi<FaultyAi>>,
    account: AccountId,
    site: SiteId,
    _dir: tempfile::TempDir,
}

/// The adapters of a family: store, blobs, queue, and the image queue's name.
async fn adapters(
    family: Family,
    dir: &std::path::Path,
    clock: &Arc<dyn Clock>,
) -> (Arc<dyn ItemStore>, Arc<dyn BlobStore>, Arc<dyn Queue>, String) {
    match family {
        Family::Embedded => {
            let db = dir.join("igny8.sqlite");
            let store = Arc::new(SqliteStore::open(&db).expect("store"));
            let queue = SqliteQueue::open(&db, Arc::clone(clock)).expect("queue").with_redrive(
                IMAGE_QUEUE,
                IMAGE_DLQ,
                IMAGE_MAX_RECEIVES + 1,
            );
            let blobs = Arc::new(BlobDir::open(dir.join("blobs")).expect("blobs"));
            (store, blobs, Arc::new(queue), IMAGE_QUEUE.to_owned())
        }
        Family::Aws => {
            let endpoint = emulator_endpoint();
            let store = DynamoStore::connect(Some(&endpoint), &unique_name("t")).await.expect("dynamodb");
            store.ensure_table().await.expect("table");
            let blobs = S3Blobs::connect(Some(&endpoint), &unique_name("b")).await.expect("s3");
            blobs.ensure_bucket().await.expect("bucket");
            let queue = SqsQueue::connect(Some(&endpoint)).await.expect("sqs");
            let (name, dlq) = (unique_name("images"), unique_name("dlq"));
            queue.ensure_queue(&name, Some((&dlq, IMAGE_MAX_RECEIVES + 1))).await.expect("queue");
            (Arc::new(store), Arc::new(blobs), Arc::new(queue), name)
        }
    }
}

async fn rig(family: Family, keywords: usize, clock: Arc<dyn Clock>, options: ExecutorOptions) -> Rig {
    let dir = tempfile::tempdir().expect("dir");
    let faults = Arc::new(Faults::default());
    let (store, blobs, queue, image_queue) = adapters(family, dir.path(), &clock).await;
    let store: Arc<dyn ItemStore> = Arc::new(FaultyStore { inner: store, faults: Arc::clone(&faults) });
    let blobs: Arc<dyn BlobStore> = Arc::new(FaultyBlobs { inner: blobs, faults: Arc::clone(&faults) });
    let queue: Arc<dyn Queue> = Arc::new(FaultyQueue { inner: queue, faults: Arc::clone(&faults) });
    let hooks = FaultyAi { faults: Arc::clone(&faults), pause_in_stage_5: Mutex::new(None) };
    let ai = Arc::new(HookedAi::new(Arc::new(OfflineProvider::with_year(2026)), hooks));
    let ids = Arc::new(UuidIds);
    let services = Services::with(Arc::clone(&store), Arc::clone(&clock), ids.clone());
    let ports = AutomationPorts {
        store: Arc::clone(&store),
        blobs,
        queue: Arc::clone(&queue),
        ai: ai.clone(),
        clock: Arc::clone(&clock),
        ids,
    };
    let automation = AutomationService::new(ports, services.credits.clone());
    automation.set_image_queue(image_queue);
    let tasks = Arc::new(AutomationTasks::default());
    let definition = Definition::parse_with_substitutions(AUTOMATION_ASL, &local_substitutions()).expect("asl");
    let executor = Executor::new(definition, Arc::new(Labeled { inner: Arc::clone(&tasks) }), options);
    automation.set_workflow(Arc::new(FaultyWorkflow { executor: executor.clone(), faults: Arc::clone(&faults) }));
    tasks.bind(automation.clone());

    let (account, _) = services.account_service.create_account("Acme", 1_000_000).await.expect("account");
    let site = services.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let all = parse_keywords_csv(EXAMPLE_KEYWORDS).expect("keywords");
    KeywordImporter::new(store, clock).import(&account.id, &site.id, &all[..keywords]).await.expect("import");
    let mut config = automation.config(&account.id, &site.id).await.expect("config");
    config.batch_sizes = [200, 2, 3, 2, 3, 10];
    automation.save_config(&account.id, config).await.expect("save config");
    Rig { services, automation, executor, queue, faults, ai, account: account.id, site: site.id, _dir: dir }
}

/// A call of the test's own driver (no fault is injected into it), retried as a client
/// retries: the emulator under a loaded machine answers with real timeouts now and then.
async fn driver<T, F, Fut>(call: F) -> Result<T, AutomationError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, AutomationError>>,
{
    let mut attempt = 0;
    loop {
        match STEP.scope(DRIVER, call()).await {
            Err(e) if e.is_transient() && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

fn quick() -> ExecutorOptions {
    ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() }
}

impl Rig {
    async fn run(&self, id: &RunId) -> AutomationRun {
        driver(|| self.automation.run(&self.account, id)).await.expect("run")
    }

    /// Works the image queue and follows the run's executions until the last closes;
    /// its status. A throttled queue is worked again, as SQS redelivers.
    async fn drive(&self, run_id: &RunId) -> ExecutionStatus {
        let mut execution = run_id.to_string();
        for _ in 0..100_000 {
            let worked = STEP.scope(IMAGE_WORKER, drain_image_queue(&self.automation, self.queue.as_ref(), 10)).await;
            let worked = match worked {
                Ok(n) => n,
                Err(e) if e.is_transient() => 0,
                Err(e) => panic!("image queue: {e}"),
            };
            let run = self.run(run_id).await;
            if run.generation_of(&execution).is_none_or(|g| g < run.generation()) {
                execution = run.current_execution();
            }
            let d = self.executor.describe_execution(&execution).expect("execution");
            let next = d.output.as_ref().and_then(|o| o.get("next")).and_then(Value::as_str);
            if d.status == ExecutionStatus::Succeeded && next == Some(Route::Continued.as_str()) {
                execution = run.execution_name(run.generation_of(&execution).map_or(0, |g| g + 1));
                continue;
            }
            if run.pause_token.is_some() && (run.cancel_requested || !run.pause_requested) {
                driver(|| self.automation.wake_paused(run_id)).await.expect("wake");
            }
            if d.status != ExecutionStatus::Running {
                return d.status;
            }
            if worked == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        panic!("the run did not end");
    }

    async fn start(&self) -> RunId {
        self.automation.start(&self.account, &self.site, "manual").await.expect("start").id
    }

    /// The totals that must not depend on faults, pauses or executions.
    async fn totals(&self, run: &RunId) -> (RunStatus, u64, u64, u64, u64, u64, u64, u64, i64) {
        let s = driver(|| self.automation.summary(&self.account, run)).await.expect("summary");
        (s.status, s.clusters, s.ideas, s.tasks, s.articles, s.words, s.images, s.images_failed, s.credits_used)
    }

    /// The ledger reconciles, no hold is open, the site is free.
    async fn assert_clean(&self) {
        let r = self.services.credits.reconcile(&self.account).await.expect("reconcile");
        assert!(r.balanced, "ledger must reconcile: {r:?}");
        assert_eq!(r.held, 0, "no hold left behind");
        let lock = self.services.locks.status(&self.site).await.expect("lock");
        assert!(lock.as_ref().is_none_or(|l| l.holder.is_none()), "lock released: {lock:?}");
    }

    /// Waits until the paused run's site lock is extended for the pause (a day or more).
    async fn wait_for_pause_lease(&self) {
        let clock = self.automation.ports().clock.clone();
        for _ in 0..20_000 {
            let lease = self.services.locks.status(&self.site).await.expect("lock");
            if lease.is_some_and(|l| l.expires_at - clock.now_ms() > 24 * HOUR_MS) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the pause never extended the lease");
    }

    /// Waits (polling the record) until the run satisfies `ready`.
    async fn wait_for(&self, run: &RunId, ready: impl Fn(&AutomationRun) -> bool) -> AutomationRun {
        for _ in 0..20_000 {
            let r = self.run(run).await;
            if ready(&r) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("run never reached the expected state");
    }
}

// ---------------------------------------------------------------------------------
// The fault table
// ---------------------------------------------------------------------------------

const KEYWORDS: usize = 16;

const STAGES: [&str; 6] =
    ["stage-clusters", "stage-ideas", "stage-tasks", "stage-content", "stage-image-prompts", "stage-images"];

/// Where each kind of call happens in a run, so each must have been faulted there.
fn required(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Store | Kind::Blob => STAGES.iter().copied().chain(["run-finalize", IMAGE_WORKER]).collect(),
        Kind::Queue => vec!["stage-images", IMAGE_WORKER],
        Kind::Workflow => vec![IMAGE_WORKER],
        Kind::Ai => vec!["stage-clusters", "stage-ideas", "stage-content", "stage-image-prompts", IMAGE_WORKER],
    }
}

async fn fault_table(family: Family) {
    let plain = rig(family, KEYWORDS, Arc::new(SystemClock), quick()).await;
    let id = plain.start().await;
    assert_eq!(plain.drive(&id).await, ExecutionStatus::Succeeded);
    let expected = plain.totals(&id).await;
    assert_eq!(expected.0, RunStatus::Completed);
    assert!(expected.6 > 0, "the run reaches its images: {expected:?}");

    for kind in [Kind::Store, Kind::Blob, Kind::Queue, Kind::Workflow, Kind::Ai] {
        let r = rig(family, KEYWORDS, Arc::new(SystemClock), quick()).await;
        let id = r.start().await;
        r.faults.arm(kind);
        let status = r.drive(&id).await;
        let run = r.run(&id).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{kind:?}: {:?}", run.error);
        assert_eq!(r.totals(&id).await, expected, "{kind:?} faults change nothing");
        let fired = r.faults.fired();
        for step in required(kind) {
            assert!(fired.contains(&(kind, step)), "{kind:?} was injected in {step}: {fired:?}");
        }
        r.assert_clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_transient_fault_at_every_step_is_retried_embedded() {
    fault_table(Family::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_transient_fault_at_every_step_is_retried_aws() {
    fault_table(Family::Aws).await;
}

// ---------------------------------------------------------------------------------
// Pauses and the lock
// ---------------------------------------------------------------------------------

const HOUR_MS: i64 = 3_600_000;

/// Starts a run, pauses it in stage 4, lets `meanwhile` act on the paused run, resumes
/// it and drives it to its end.
async fn paused_run(r: &Rig, meanwhile: impl std::future::Future<Output = ()>) -> (RunId, ExecutionStatus) {
    let id = r.start().await;
    let drive = r.drive(&id);
    let control = async {
        r.wait_for(&id, |run| run.current_stage == 4 && run.stages.get(&4).is_some_and(|s| s.processed > 0)).await;
        r.automation.pause(&r.account, &id).await.expect("pause");
        r.wait_for(&id, |run| run.status == RunStatus::Paused).await;
        r.wait_for_pause_lease().await;
        meanwhile.await;
        r.automation.resume(&r.account, &id).await.expect("resume");
    };
    let (status, ()) = tokio::join!(drive, control);
    (id, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pauses_longer_than_the_lease_resume() {
    let plain = rig(Family::Embedded, KEYWORDS, Arc::new(ManualClock::at(1_795_687_200_000)), quick()).await;
    let id = plain.start().await;
    plain.drive(&id).await;
    let expected = plain.totals(&id).await;

    // Three hours: the lease is an hour, but a paused run keeps its site for the pause.
    let clock = Arc::new(ManualClock::at(1_795_687_200_000));
    let r = rig(Family::Embedded, KEYWORDS, clock.clone(), quick()).await;
    let (id, status) = paused_run(&r, async {
        clock.advance_ms(3 * HOUR_MS);
        let lock = r.services.locks.status(&r.site).await.expect("lock").expect("a lock");
        assert!(lock.is_held(clock.now_ms()), "the paused run still holds its site: {lock:?}");
    })
    .await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", r.run(&id).await.error);
    assert_eq!(r.totals(&id).await, expected);
    r.assert_clean().await;

    // Eight days: even the pause's lease ran out, and nobody took the site: the run
    // takes its lock again (a new fence) and goes on.
    let clock = Arc::new(ManualClock::at(1_795_687_200_000));
    let r = rig(Family::Embedded, KEYWORDS, clock.clone(), quick()).await;
    let fence = std::sync::atomic::AtomicI64::new(0);
    let (id, status) = paused_run(&r, async {
        let lease = r.services.locks.status(&r.site).await.expect("lock").expect("a lock");
        fence.store(lease.fence, std::sync::atomic::Ordering::SeqCst);
        clock.advance_ms(8 * 24 * HOUR_MS);
    })
    .await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", r.run(&id).await.error);
    assert_eq!(r.totals(&id).await, expected);
    assert!(r.run(&id).await.fence > fence.load(std::sync::atomic::Ordering::SeqCst), "the lock was taken again");
    r.assert_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_another_run_took_during_a_pause_is_a_lost_lock() {
    let clock = Arc::new(ManualClock::at(1_795_687_200_000));
    let r = rig(Family::Embedded, KEYWORDS, clock.clone(), quick()).await;
    let (id, status) = paused_run(&r, async {
        clock.advance_ms(8 * 24 * HOUR_MS);
        r.services.locks.acquire(&r.site, "someone-else", HOUR_MS).await.expect("the expired lock is free");
    })
    .await;
    assert_eq!(status, ExecutionStatus::Failed);
    let run = r.run(&id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().is_some_and(|e| e.starts_with("Igny8.LockLost")), "{:?}", run.error);
    let lock = r.services.locks.status(&r.site).await.expect("lock").expect("a lock");
    assert_eq!(lock.holder.as_deref(), Some("someone-else"), "the other holder keeps the site");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_during_the_last_stage_5_batch_waits_in_the_pause_wait() {
    let plain = rig(Family::Embedded, KEYWORDS, Arc::new(SystemClock), quick()).await;
    let id = plain.start().await;
    plain.drive(&id).await;
    let expected = plain.totals(&id).await;

    let r = rig(Family::Embedded, KEYWORDS, Arc::new(SystemClock), quick()).await;
    let mut config = r.automation.config(&r.account, &r.site).await.expect("config");
    config.batch_sizes[4] = 1000;
    r.automation.save_config(&r.account, config).await.expect("config");
    let id = r.start().await;
    *r.ai.hooks().pause_in_stage_5.lock().unwrap() = Some((r.automation.clone(), r.account.clone(), id.clone()));
    let drive = r.drive(&id);
    let control = async {
        let paused = r.wait_for(&id, |run| run.status == RunStatus::Paused).await;
        assert!(paused.stages.get(&5).is_some_and(|s| s.remaining == 0), "stage 5 was done: {:?}", paused.stages);
        let images_entered = || {
            let history = r.executor.history(id.as_str()).expect("history");
            history
                .iter()
                .filter(|e| {
                    e.event_type == igny8_asl::HistoryEventType::StateEntered
                        && e.state_name.as_deref() == Some("StageImages")
                })
                .count()
        };
        let before = images_entered();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(images_entered(), before, "stage 6 is not re-entered while paused");
        assert!(before <= 1, "stage 6 was entered {before} times");
        r.automation.resume(&r.account, &id).await.expect("resume");
    };
    let (status, ()) = tokio::join!(drive, control);
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(r.totals(&id).await, expected);
    r.assert_clean().await;
}

// ---------------------------------------------------------------------------------
// Continue-as-new
// ---------------------------------------------------------------------------------

/// An interpreter limit small enough for a run of a few dozen keywords to need
/// several executions, and the run's budget under it.
const LIMIT: u64 = 150;
const BUDGET: u64 = 140;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_run_continues_in_new_executions_with_the_same_totals() {
    let keywords = 40;
    let plain = rig(Family::Embedded, keywords, Arc::new(SystemClock), quick()).await;
    let id = plain.start().await;
    assert_eq!(plain.drive(&id).await, ExecutionStatus::Succeeded);
    let expected = plain.totals(&id).await;
    let one = plain.run(&id).await;
    assert_eq!(one.executions.len(), 1);
    let total = plain.executor.history_events(id.as_str()).expect("history");
    assert_eq!(one.executions[0].history_events, total, "the run counts its history as the interpreter does");
    assert!(total > LIMIT, "the run is too long for one execution under the limit: {total}");

    // Without continuing, the same limit kills the run's execution.
    let capped = ExecutorOptions { max_history_events: LIMIT, ..quick() };
    let dies = rig(Family::Embedded, keywords, Arc::new(SystemClock), capped.clone()).await;
    let id = dies.start().await;
    assert_eq!(dies.drive(&id).await, ExecutionStatus::Failed);
    let d = dies.executor.describe_execution(id.as_str()).expect("execution");
    assert_eq!(d.error.as_deref(), Some("States.Runtime"), "{:?}", d.cause);

    let r = rig(Family::Embedded, keywords, Arc::new(SystemClock), capped).await;
    r.automation.set_history_budget(BUDGET);
    let id = r.start().await;
    assert_eq!(r.drive(&id).await, ExecutionStatus::Succeeded);
    assert_eq!(r.totals(&id).await, expected);
    r.assert_clean().await;
    let run = r.run(&id).await;
    assert!(run.executions.len() >= 3, "several executions: {:?}", run.executions);
    for (generation, execution) in run.executions.iter().enumerate() {
        assert_eq!(execution.name, run.execution_name(u32::try_from(generation).unwrap()));
        let counted = r.executor.history_events(&execution.name).expect("history");
        assert_eq!(execution.history_events, counted, "{}: the run's count is the interpreter's", execution.name);
        assert!(counted < LIMIT, "{}: {counted} events", execution.name);
        let d = r.executor.describe_execution(&execution.name).expect("execution");
        assert_eq!(d.status, ExecutionStatus::Succeeded, "{}", execution.name);
        let next = d.output.as_ref().and_then(|o| o.get("next")).and_then(Value::as_str).map(str::to_owned);
        let last = generation + 1 == run.executions.len();
        assert_eq!(next.as_deref() == Some("continued"), !last, "{}: {next:?}", execution.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn continuing_runs_survive_faults_and_never_undercount_their_history() {
    let keywords = 40;
    let plain = rig(Family::Embedded, keywords, Arc::new(SystemClock), quick()).await;
    let id = plain.start().await;
    assert_eq!(plain.drive(&id).await, ExecutionStatus::Succeeded);
    let expected = plain.totals(&id).await;
    for kind in [Kind::Store, Kind::Workflow] {
        let r = rig(
            Family::Embedded,
            keywords,
            Arc::new(SystemClock),
            ExecutorOptions { max_history_events: LIMIT, ..quick() },
        )
        .await;
        r.automation.set_history_budget(BUDGET);
        let id = r.start().await;
        r.faults.arm(kind);
        assert_eq!(r.drive(&id).await, ExecutionStatus::Succeeded, "{kind:?}: {:?}", r.run(&id).await.error);
        assert_eq!(r.totals(&id).await, expected, "{kind:?}");
        assert!(r.faults.fired().iter().any(|(_, step)| step.starts_with("stage-")), "{kind:?} faulted a stage");
        let run = r.run(&id).await;
        assert!(run.executions.len() >= 3, "{kind:?}: {:?}", run.executions);
        for execution in &run.executions {
            let real = r.executor.history_events(&execution.name).expect("history");
            assert!(
                execution.history_events >= real,
                "{kind:?} {}: counted {} < {real}",
                execution.name,
                execution.history_events
            );
            assert!(real < LIMIT, "{kind:?} {}: {real}", execution.name);
        }
        r.assert_clean().await;
    }
}
