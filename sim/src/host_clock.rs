//! The current host's simulated time, read cheaply. turmoil's `sim_elapsed` finds the current
//! host in its world (a SipHash look-up of its address) on every call, and the simulator asks
//! for the time at every trace event, store call and lock event: about a twentieth of a run
//! went there. A host's simulated time is its tokio clock plus an offset that stays fixed for
//! the life of its runtime (turmoil advances both by exactly one tick per step, and a crash or
//! a restart gives the host a new runtime), so this module asks turmoil once per runtime and
//! adds the tokio clock's progress since.
//!
//! It answers from the anchor only while the world driver has said a step is under way
//! ([`InWorld::step`]); inside a crash or a restart, which the driver carries out between
//! steps, it asks turmoil itself ([`InWorld::between_steps`]: there turmoil counts the last
//! step twice, one tick ahead of the anchor, and the runs keep turmoil's reading); elsewhere —
//! between steps, and while a finished run's hosts are dropped — it answers `None`, as
//! turmoil does. Debug builds check every answer against turmoil's. It never reads the wall
//! clock.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Handle, Id};
use tokio::time::Instant;

/// Runtimes remembered per thread: a run has at most four hosts, each of which a crash and a
/// restart give new runtimes; older ones are forgotten first.
const ANCHORS_MAX: usize = 8;

/// Where one runtime's tokio clock stood against simulated time when first asked.
#[derive(Clone, Copy)]
struct Anchor {
    runtime: Id,
    tokio_at: Instant,
    sim_at: Duration,
}

/// Where the world driver is on this thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Between its calls into turmoil: no host is current.
    Outside,
    /// Inside a step: the current host's clock is its anchor's.
    Step,
    /// Inside a crash or a restart: turmoil's own reading.
    BetweenSteps,
}

thread_local! {
    static IN_WORLD: Cell<Where> = const { Cell::new(Where::Outside) };
    static ANCHORS: RefCell<Vec<Anchor>> = const { RefCell::new(Vec::new()) };
    /// Which host each runtime runs, as the hosts' software said when it started.
    static HOSTS: RefCell<Vec<(Id, Arc<str>)>> = const { RefCell::new(Vec::new()) };
}

/// Marks one of the driver's calls into turmoil on this thread while it lives; a host's time
/// is read only then.
pub(crate) struct InWorld(());

impl InWorld {
    /// Around `Sim::step`.
    pub fn step() -> InWorld {
        IN_WORLD.with(|at| at.set(Where::Step));
        InWorld(())
    }

    /// Around `Sim::crash` and `Sim::bounce`.
    pub fn between_steps() -> InWorld {
        IN_WORLD.with(|at| at.set(Where::BetweenSteps));
        InWorld(())
    }
}

impl Drop for InWorld {
    fn drop(&mut self) {
        IN_WORLD.with(|at| at.set(Where::Outside));
    }
}

/// Forgets the runtimes of earlier runs on this thread (their IDs never come back; this only
/// keeps the lists short).
pub(crate) fn forget_runtimes() {
    ANCHORS.with(|anchors| anchors.borrow_mut().clear());
    HOSTS.with(|hosts| hosts.borrow_mut().clear());
}

/// Notes that the current runtime runs host `name` (called by a host's software as it starts:
/// a crash and a restart give the host a new runtime).
pub(crate) fn name_runtime(name: &Arc<str>) {
    let Ok(handle) = Handle::try_current() else { return };
    let runtime = handle.id();
    HOSTS.with(|hosts| push_bounded(&mut hosts.borrow_mut(), (runtime, Arc::clone(name))));
}

/// The host the current runtime runs, if its software named it.
pub(crate) fn current_host() -> Option<Arc<str>> {
    let runtime = Handle::try_current().ok()?.id();
    HOSTS.with(|hosts| hosts.borrow().iter().rev().find(|(id, _)| *id == runtime).map(|(_, name)| Arc::clone(name)))
}

/// Appends `item`, forgetting the oldest entry once `ANCHORS_MAX` are kept.
fn push_bounded<T>(list: &mut Vec<T>, item: T) {
    if list.len() == ANCHORS_MAX {
        list.remove(0);
    }
    list.push(item);
}

/// Simulated time since the start of the run on the current host, as `turmoil::sim_elapsed`
/// gives it: `None` outside every host.
pub(crate) fn sim_elapsed() -> Option<Duration> {
    match IN_WORLD.with(Cell::get) {
        Where::Outside => return None,
        Where::BetweenSteps => return turmoil::sim_elapsed(),
        Where::Step => {}
    }
    let Ok(handle) = Handle::try_current() else { return turmoil::sim_elapsed() };
    let runtime = handle.id();
    drop(handle);
    let now = Instant::now();
    let known = ANCHORS.with(|anchors| anchors.borrow().iter().rev().find(|a| a.runtime == runtime).copied());
    let elapsed = match known {
        Some(anchor) => anchor.sim_at + (now - anchor.tokio_at),
        None => {
            let sim_at = turmoil::sim_elapsed()?;
            ANCHORS.with(|anchors| push_bounded(&mut anchors.borrow_mut(), Anchor { runtime, tokio_at: now, sim_at }));
            sim_at
        }
    };
    debug_assert_eq!(Some(elapsed), turmoil::sim_elapsed(), "a host's anchored clock left turmoil's");
    Some(elapsed)
}
