//! Deterministic data parallelism for the offline provider's batch work (clustering
//! tens of thousands of keywords): the input is split into fixed contiguous chunks,
//! one thread per chunk, and the results are concatenated in input order, so the
//! output never depends on how many cores the machine has.

use std::ops::Range;

/// Upper bound on worker threads.
const MAX_THREADS: usize = 8;

/// Threads worth using for `n` items when fewer than `min` run faster on one: the
/// machine's cores, capped.
pub(crate) fn threads_for(n: usize, min: usize) -> usize {
    if n < min {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |p| p.get()).min(MAX_THREADS)
}

/// Runs `work` on `threads` contiguous ranges covering `0..n` and concatenates the
/// results in range order.
pub(crate) fn map_ranges<R: Send>(n: usize, threads: usize, work: impl Fn(Range<usize>) -> Vec<R> + Sync) -> Vec<R> {
    let threads = threads.clamp(1, MAX_THREADS);
    if threads == 1 || n < 2 {
        return work(0..n);
    }
    let chunk = n.div_ceil(threads);
    let parts = on_threads(threads, |p| work((p * chunk).min(n)..((p + 1) * chunk).min(n)));
    parts.into_iter().flatten().collect()
}

/// Runs `work(p)` for each worker `p` in `0..threads` (capped), each on its own thread
/// (on the caller's when there is one), and returns the results in worker order: the
/// fixed ranges of [`map_ranges`], or workers that share a queue of uneven pieces.
pub(crate) fn on_threads<R: Send>(threads: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, MAX_THREADS);
    if threads == 1 {
        return vec![work(0)];
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|p| scope.spawn(move || work(p))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// `items.iter().map(f)`, on as many threads as pay off for `items.len()` (at least
/// `min` items per run before a second thread is used), in input order.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], min: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_ranges(items.len(), threads_for(items.len(), min), |range| items[range].iter().map(&f).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order_whatever_the_thread_count() {
        let items: Vec<u64> = (0..1_003).collect();
        let one = map_ranges(items.len(), 1, |r| items[r].iter().map(|x| x * x).collect());
        for threads in [2, 3, 7, 8, 50] {
            assert_eq!(map_ranges(items.len(), threads, |r| items[r].iter().map(|x| x * x).collect()), one);
        }
        assert_eq!(one[1_002], 1_002 * 1_002);
        assert_eq!(map(&items, 10, |x| x + 1)[5], 6);
    }

    #[test]
    fn small_inputs_stay_on_one_thread() {
        assert_eq!(threads_for(10, 100), 1);
        assert!(threads_for(1_000, 100) >= 1);
        assert!(map_ranges(0, 4, |r: Range<usize>| r.collect::<Vec<_>>()).is_empty());
    }

    #[test]
    fn workers_answer_in_worker_order() {
        assert_eq!(on_threads(3, |p| p * 10), vec![0, 10, 20]);
        assert_eq!(on_threads(0, |p| p + 1), vec![1]);
        assert_eq!(on_threads(100, |p| p).len(), MAX_THREADS);
    }
}
