//! Periodic jobs (`avb-worker`): a job that panics is counted and runs again; a cluster-wide
//! job runs on the replica holding the leader lease only, and moves to another replica when the
//! leader dies or stops.
#![allow(clippy::unwrap_used)]

use avb_core::services::leases;
use avb_testkit::{Db, fresh_database, spawn_app, spawn_on};
use avb_worker::leader::Leader;
use avb_worker::supervise::{self, Periodic, Run};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Waits up to `secs` for `cond`.
async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_panics_is_counted_and_runs_again() {
    let metrics = crate::support::prometheus();
    let app = spawn_app(Db::Sqlite).await;
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    let job = Periodic::new(
        "test_panicking_job",
        Duration::from_millis(20),
        move |run: Run| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                if run.round == 0 {
                    panic!("the first run fails");
                }
            }
        },
    );
    let (stop, rx) = watch::channel(false);
    let task = supervise::spawn(app.ctx.clone(), job.clone(), None, rx);
    eventually(10, "runs after the panic", || {
        runs.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(job.panics(), 1);
    let text = metrics.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("avb_job_panics_total{job=\"test_panicking_job\"} 1")),
        "{text}"
    );
    let _ = stop.send(true);
    task.await
        .expect("the supervisor itself survives the panic");
}

/// A cluster-wide test job on `app`'s replica under its own lease; each run records the replica.
fn start_gated(
    ctx: &avb_core::AppContext,
    lease: &'static str,
    ran_on: Arc<Mutex<Vec<String>>>,
) -> (watch::Sender<bool>, Vec<tokio::task::JoinHandle<()>>) {
    let (stop, rx) = watch::channel(false);
    let (leader, lease_task) =
        Leader::spawn(ctx.clone(), lease, Duration::from_secs(2), rx.clone());
    let job = Periodic::new(
        "test_cluster_job",
        Duration::from_millis(50),
        move |run: Run| {
            let ran_on = ran_on.clone();
            async move { ran_on.lock().unwrap().push(run.ctx.replica_id.to_string()) }
        },
    )
    .once_per_cluster();
    let job_task = supervise::spawn(ctx.clone(), job, Some(leader), rx);
    (stop, vec![lease_task, job_task])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_job_runs_on_one_replica_and_moves_when_the_leader_goes() {
    let (url, _) = fresh_database(Db::Postgres).await.unwrap();
    let a = spawn_on(&url, None, |c| c.jobs.leader_lease_secs = 2).await;
    let b = spawn_on(&url, None, |c| c.jobs.leader_lease_secs = 2).await;
    let ids = [a.ctx.replica_id.to_string(), b.ctx.replica_id.to_string()];

    // The test job runs on whichever replica leads, and only there.
    let ran_on = Arc::new(Mutex::new(Vec::new()));
    let (_stop_a, tasks_a) = start_gated(&a.ctx, "test-lease", ran_on.clone());
    let (_stop_b, tasks_b) = start_gated(&b.ctx, "test-lease", ran_on.clone());
    eventually(10, "five runs", || ran_on.lock().unwrap().len() >= 5).await;
    let leader = leases::holder(&a.ctx, "test-lease").await.unwrap().unwrap();
    assert!(ids.contains(&leader));
    assert!(
        ran_on.lock().unwrap().iter().all(|r| *r == leader),
        "ran on both replicas"
    );

    // The leader dies (its tasks end without giving the lease up): the other replica takes
    // over once the lease has run out, and from then on the job runs there only.
    let (dead, survivor) = if leader == ids[0] {
        (tasks_a, &ids[1])
    } else {
        (tasks_b, &ids[0])
    };
    for t in dead {
        t.abort();
    }
    let before = ran_on.lock().unwrap().len();
    eventually(10, "the survivor runs the job", || {
        ran_on.lock().unwrap()[before..]
            .iter()
            .any(|r| r == survivor)
    })
    .await;
    let after = ran_on.lock().unwrap().len();
    eventually(10, "more runs", || {
        ran_on.lock().unwrap().len() >= after + 3
    })
    .await;
    assert!(
        ran_on.lock().unwrap()[after..]
            .iter()
            .all(|r| r == survivor),
        "the dead leader kept running"
    );
    assert_eq!(
        leases::holder(&a.ctx, "test-lease").await.unwrap().as_ref(),
        Some(survivor)
    );

    // The production lease the apps' own jobs share: one of them holds it, and when that app
    // stops (giving the lease up) the other takes it over.
    let mut holder = None;
    for _ in 0..200 {
        holder = leases::holder(&a.ctx, avb_worker::LEADER_LEASE)
            .await
            .unwrap();
        if holder.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let holder = holder.expect("one replica leads the jobs");
    let (stopping, staying) = if holder == ids[0] { (a, b) } else { (b, a) };
    let staying_id = staying.ctx.replica_id.to_string();
    drop(stopping);
    let mut now = None;
    for _ in 0..500 {
        now = leases::holder(&staying.ctx, avb_worker::LEADER_LEASE)
            .await
            .unwrap();
        if now.as_ref() == Some(&staying_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(now, Some(staying_id));
}
