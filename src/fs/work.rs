//! Threads for work that waits for disks: opening files and plain reads, where one slow
//! or dead disk must stall nothing else, and files opened ahead of a reader (`ahead`).
//! Requests go first. Work ahead runs on at most `ahead_max` threads at once, so a
//! disk that hangs holds no more than those and the rest serve requests for other disks.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Jobs {
    requests: VecDeque<Job>,
    ahead: VecDeque<Job>,
    ahead_running: usize,
}

impl Jobs {
    /// The next job a free thread may take, and whether it is work ahead.
    fn next(&mut self, ahead_max: usize) -> Option<(Job, bool)> {
        if let Some(job) = self.requests.pop_front() {
            return Some((job, false));
        }
        if self.ahead_running < ahead_max
            && let Some(job) = self.ahead.pop_front()
        {
            self.ahead_running += 1;
            return Some((job, true));
        }
        None
    }
}

/// A pool of threads. Idle threads sleep on a condition variable and cost nothing
/// (receivers that spin before they park would take the CPU from the thread serving
/// each request).
#[derive(Clone)]
pub struct DiskWork {
    queue: Arc<(Mutex<Jobs>, Condvar)>,
    started: usize,
    ahead_max: usize,
}

impl DiskWork {
    pub fn start(threads: usize) -> DiskWork {
        let threads = threads.max(1);
        // Always one thread left for requests: with a single thread, no work ahead.
        let ahead_max = (threads * 3 / 4).max(1).min(threads - 1);
        let queue: Arc<(Mutex<Jobs>, Condvar)> = Arc::default();
        let mut started = 0;
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("dsbfs-disk-{i}"))
                .spawn(move || {
                    let (jobs, ready) = &*queue;
                    loop {
                        let (job, ahead) = {
                            let mut jobs = jobs.lock().unwrap();
                            loop {
                                match jobs.next(ahead_max) {
                                    Some(next) => break next,
                                    None => jobs = ready.wait(jobs).unwrap(),
                                }
                            }
                        };
                        job();
                        if ahead {
                            jobs.lock().unwrap().ahead_running -= 1;
                        }
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!("cannot start a disk thread: {e}"),
            }
        }
        DiskWork {
            queue,
            started,
            ahead_max,
        }
    }

    /// Runs a request's `job` on a disk thread (here, when none could be started).
    pub fn run(&self, job: impl FnOnce() + Send + 'static) {
        if self.started == 0 {
            return job();
        }
        self.push(|jobs| jobs.requests.push_back(Box::new(job)));
    }

    /// Queues work ahead of the readers, behind every request; without a disk thread
    /// to spare for it, it is not done at all.
    pub fn run_ahead(&self, job: impl FnOnce() + Send + 'static) -> bool {
        if self.started == 0 || self.ahead_max == 0 {
            return false;
        }
        self.push(|jobs| jobs.ahead.push_back(Box::new(job)));
        true
    }

    fn push(&self, add: impl FnOnce(&mut Jobs)) {
        let (jobs, ready) = &*self.queue;
        add(&mut jobs.lock().unwrap());
        ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn requests_go_before_work_ahead_and_work_ahead_is_capped() {
        let mut jobs = Jobs::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        for (tag, ahead) in [(1, true), (2, true), (3, false)] {
            let order = order.clone();
            let job: Job = Box::new(move || order.lock().unwrap().push(tag));
            if ahead {
                jobs.ahead.push_back(job);
            } else {
                jobs.requests.push_back(job);
            }
        }
        let (job, ahead) = jobs.next(1).unwrap();
        assert!(!ahead);
        job();
        let (job, ahead) = jobs.next(1).unwrap();
        assert!(ahead);
        job();
        // One job ahead is running: the second waits although it is queued.
        assert!(jobs.next(1).is_none());
        jobs.ahead_running -= 1;
        jobs.next(1).unwrap().0();
        assert_eq!(*order.lock().unwrap(), [3, 1, 2]);
    }

    #[test]
    fn a_single_thread_is_kept_for_requests() {
        assert!(!DiskWork::start(1).run_ahead(|| {}));
        assert!(DiskWork::start(2).run_ahead(|| {}));
    }

    #[test]
    fn a_stuck_disk_leaves_threads_for_requests() {
        let work = DiskWork::start(4);
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let stuck = Arc::new(Mutex::new(stuck));
        // Work ahead for a disk that hangs: it takes at most 3 of the 4 threads.
        for _ in 0..8 {
            let stuck = stuck.clone();
            assert!(work.run_ahead(move || {
                let _ = stuck.lock().unwrap().recv();
            }));
        }
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..3 {
            let (done, tx) = (done.clone(), tx.clone());
            work.run(move || {
                done.fetch_add(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            });
        }
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a request waited behind a stuck disk");
        }
        assert_eq!(done.load(Ordering::SeqCst), 3);
        for _ in 0..8 {
            release.send(()).unwrap();
        }
    }
}
