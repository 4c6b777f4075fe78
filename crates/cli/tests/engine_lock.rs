#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! One engine per local cluster: a second `local engine` is refused and names the first, a
//! SIGKILLed engine leaves its lock free at once, and a break-glass command stands in for the
//! detached engine (stops it, acts, starts it again) but never acts beside an engine running
//! in the foreground of another command.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use redis_stretch_local::testing::unique_state_dir;
use redis_stretch_local::{engine_lock_holder, engine_process_alive, StateDir};
use support::{root, run, text, Down, BIN};

mod support;

/// A command of ours that must end by itself: killed, and the test failed, if it runs past
/// `limit` (today's code ran a second engine forever).
fn run_for(args: &[&str], limit: Duration) -> Output {
    let mut child = spawn(args);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "`{}` still ran after {limit:?}: {}",
                args.join(" "),
                text(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .env_remove("REDIS_STRETCH_STATE_DIR")
        .env_remove("REDIS_STRETCH_NETNS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `local engine` in the foreground, killed when the test ends, passed or failed.
struct Foreground(Child);

impl Foreground {
    fn start(dir: &str) -> Self {
        Self(spawn(&["local", "engine", "--state-dir", dir]))
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A seed cluster in a fresh state dir, stopped when the guard drops.
fn up(label: &str, extra: &[&str]) -> (StateDir, String, Down) {
    let state = unique_state_dir(label);
    let dir = state.path().display().to_string();
    let down = Down(state.path().to_path_buf());
    let seed = root()
        .join("examples/seed-two-dc.yaml")
        .display()
        .to_string();
    let mut args = vec!["local", "up", "-f", &seed, "--detach", "--state-dir", &dir];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (state, dir, down)
}

/// The pid holding the engine lock, once it is `want` (any holder when `None`).
fn wait_holder(state: &StateDir, want: Option<u32>) -> u32 {
    let start = Instant::now();
    loop {
        let pid = engine_lock_holder(state).and_then(|h| h.pid);
        match (pid, want) {
            (Some(p), None) => return p,
            (Some(p), Some(w)) if p == w => return p,
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "engine lock holder {pid:?}, expected {want:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn masters(dir: &str, zone: &str) -> usize {
    let o = run(&["local", "status", "--output", "json", "--state-dir", dir]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["zone"] == zone && i["role"] == "master")
        .count()
}

#[test]
fn a_second_engine_is_refused_and_names_the_first() {
    let (state, dir, _down) = up("lock-second", &[]);
    let first = wait_holder(&state, None);

    let o = run_for(
        &["local", "engine", "--state-dir", &dir],
        Duration::from_secs(15),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("pid {first} (`local engine`)")),
        "{}",
        text(&o)
    );
    assert!(
        engine_process_alive(first),
        "the first engine keeps running"
    );
    assert_eq!(wait_holder(&state, None), first);
}

#[test]
fn a_killed_engine_leaves_its_lock_free_at_once() {
    let (state, dir, _down) = up("lock-killed", &[]);
    let first = wait_holder(&state, None);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(first).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    // No stale heartbeat to wait out, no file to clean: the next engine takes over at once.
    let mut second = Foreground::start(&dir);
    wait_holder(&state, Some(second.pid()));
    assert!(second.running());

    // `local up` on the running cluster finds that engine and starts none beside it.
    let seed = root()
        .join("examples/seed-two-dc.yaml")
        .display()
        .to_string();
    let o = run(&["local", "up", "-f", &seed, "--detach", "--state-dir", &dir]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("engine already running: pid {}", second.pid())),
        "{}",
        text(&o)
    );
    assert_eq!(wait_holder(&state, None), second.pid());
}

#[test]
fn evacuate_stands_in_for_the_detached_engine() {
    let (state, dir, _down) = up("lock-evacuate", &[]);
    let first = wait_holder(&state, None);

    let o = run_for(
        &["evacuate", "--zone", "dc-a", "--state-dir", &dir],
        Duration::from_secs(120),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("stopping the detached engine (pid {first}")),
        "{}",
        text(&o)
    );
    assert!(
        !engine_process_alive(first),
        "evacuate ran in the engine's place, not beside it"
    );
    assert_eq!(masters(&dir, "dc-a"), 0);

    // Started again afterwards, recorded as the detached engine (`local down` stops it).
    let second = wait_holder(&state, None);
    assert_ne!(second, first);
    assert!(
        text(&o).contains(&format!("engine started (pid {second})")),
        "{}",
        text(&o)
    );
    assert_eq!(state.load().unwrap().engine_pid, Some(second));

    // And `local down` knows it for this cluster's engine, and stops it.
    let o = run(&["local", "down", "--state-dir", &dir]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("engine (pid {second})")),
        "{}",
        text(&o)
    );
    assert!(!engine_process_alive(second));
}

#[test]
fn break_glass_is_refused_beside_a_foreground_engine() {
    let (state, dir, _down) = up("lock-foreground", &["--no-engine"]);
    let mut engine = Foreground::start(&dir);
    wait_holder(&state, Some(engine.pid()));

    for cmd in [
        &["evacuate", "--zone", "dc-a"][..],
        &["failback", "--force"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend_from_slice(&["--state-dir", &dir]);
        let o = run_for(&args, Duration::from_secs(30));
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert!(
            text(&o).contains(&format!("pid {} (`local engine`)", engine.pid())),
            "{}",
            text(&o)
        );
    }
    assert!(engine.running(), "the foreground engine is left alone");
    assert_eq!(masters(&dir, "dc-a"), 2, "nothing moved");
}

/// `local down` stops the detached engine by its recorded PID. Once that engine has exited, the
/// PID can belong to another `redis-stretch` command (a drill of another cluster, on a busy
/// machine the PIDs wrap within minutes): `down` must leave it alone. Found in CI, where one
/// test's `local down` stopped another test's drill with no word on its output.
#[test]
fn down_stops_no_other_redis_stretch_process_behind_a_reused_engine_pid() {
    let state = unique_state_dir("lock-reused-pid");
    std::fs::create_dir_all(state.path()).unwrap();
    // A process named like ours that is not this cluster's engine.
    let other = state.path().join("redis-stretch-other");
    std::os::unix::fs::symlink("/bin/sleep", &other).unwrap();
    let mut imposter = Command::new(&other).arg("60").spawn().unwrap();
    // Its command line appears once exec has set it up, a moment after spawn returns.
    let start = Instant::now();
    while !engine_process_alive(imposter.id()) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(engine_process_alive(imposter.id()), "named as ours");
    let dir = StateDir::new(state.path());
    dir.save(&redis_stretch_local::State {
        cluster: "reused".into(),
        zones: vec!["dc-a".into(), "dc-b".into()],
        instances: Vec::new(),
        engine_pid: Some(imposter.id()),
        held_zone: None,
        netns: None,
        revision: 0,
    })
    .unwrap();
    assert!(!redis_stretch_local::detached_engine_of(
        imposter.id(),
        state.path()
    ));

    let o = run(&[
        "local",
        "down",
        "--state-dir",
        &state.path().display().to_string(),
    ]);
    let alive = imposter.try_wait().unwrap().is_none();
    let _ = imposter.kill();
    let _ = imposter.wait();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        alive,
        "`local down` stopped a process that is not its engine"
    );
}
